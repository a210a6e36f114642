/*
 * What the careteam CLI prints: human text or JSON Lines on stdout, errors on stderr.
 *
 * The JSON schema is documented at the top of output.c; keep it in step with the code there.
 * Every printer writes one complete record (one JSON line, or one human block) so that a reader
 * of a stream (`careteam watch --json | ...`) never sees half a record after a flush.
 */
#ifndef CT_CLI_OUTPUT_H
#define CT_CLI_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "careteam.pb-c.h"

typedef enum ct_out_format {
    CT_OUT_HUMAN = 0,
    CT_OUT_JSON,
} ct_out_format_t;

typedef struct ct_out {
    FILE *f; /* stdout, or a test's stream; not owned */
    ct_out_format_t format;
} ct_out_t;

/* whoami: who the server says we are, and where. */
void ct_out_whoami(ct_out_t *o, const Careteam__V1__Welcome *w, const char *server);

/* send: the server's Ack for a message to the n_to recipients in to. */
void ct_out_sent(ct_out_t *o, const Careteam__V1__Ack *ack, const char *const *to, size_t n_to);

/* inbox, watch: one delivered message. */
void ct_out_message(ct_out_t *o, const Careteam__V1__Message *m);

/* inbox: the closing line after n messages (human only; JSON prints nothing). */
void ct_out_inbox_end(ct_out_t *o, size_t n, bool acked);

/* Flushes o. Returns 0, or the errno of a failed write (then nothing may be acknowledged, since
 * the reader did not get it). */
int ct_out_flush(ct_out_t *o);

/* "careteam: " + the formatted text + newline, on stderr; control characters in the text (which
 * may come from the server) are shown escaped rather than sent to the terminal. */
void ct_cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "routine", "urgent", "asap", "stat" (UNSPECIFIED is "routine"; unknown values "unknown"). */
const char *ct_cli_priority_name(int priority);

/* Parses a name above into a Careteam__V1__Priority value. Returns 0 or -1. */
int ct_cli_priority_parse(const char *name, int *out);

/* "unknown" for a role without a name, else ct_role_name. */
const char *ct_cli_role_name(int role);

/* Unix milliseconds as UTC ISO 8601 with milliseconds: "2026-01-31T09:05:00.123Z". */
#define CT_CLI_TIME_LEN 32
void ct_cli_format_time(int64_t ms, char out[CT_CLI_TIME_LEN]);

#endif
