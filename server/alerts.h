/*
 * Safety-alert deadlines. An open alert must be acknowledged by a clinician on the team before
 * its deadline; at the deadline it escalates (referral.h does not apply; see handle_alert.c).
 *
 * Deadlines live in the store, not here: this module keeps one libuv timer set to the earliest
 * one. Every write job that touches alerts reports the store's earliest deadline after its
 * commit (ct_alerts_rearm), and at start the daemon runs one escalation pass, which escalates
 * whatever fell due while it was down and arms the timer: a restart never drops an alert.
 */
#ifndef CT_ALERTS_H
#define CT_ALERTS_H

#include <stdint.h>

#include "dispatch.h"

typedef struct ct_alerts ct_alerts_t;

/* Makes the timer on ctx->loop. Returns 0 or CT_E*. */
int ct_alerts_new(const ct_handler_ctx_t *ctx, ct_alerts_t **out);

/* Runs an escalation pass now (at start): escalates what is due, then arms the timer. */
void ct_alerts_start(ct_alerts_t *a);

/* The store's earliest pending deadline is now deadline_ms (0: none). Loop thread. */
void ct_alerts_rearm(ct_alerts_t *a, int64_t deadline_ms);

/* Shutting down: stops the timer; later re-arms are ignored. NULL ignored. */
void ct_alerts_stop(ct_alerts_t *a);

/* Stops the timer and frees a once its handle has closed (the loop must run). Only after the
 * writer has finished every job. NULL ignored. */
void ct_alerts_close(ct_alerts_t *a);

#endif
