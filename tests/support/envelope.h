/*
 * Envelopes as integration tests see them: a readable name for an envelope's body, for failure
 * messages, and the Ping round trip that proves a connection is alive and answering in order.
 */
#ifndef CT_TEST_ENVELOPE_H
#define CT_TEST_ENVELOPE_H

#include <stdint.h>

#include "buf.h"
#include "careteam.h"

/* The proto field name of env's body ("deliver", "error", ...), or "(none)". The string is
 * static. */
const char *ct_test_body_name(const Careteam__V1__Envelope *env);

/* Sends Ping on s and asserts a Pong that echoes its request id within 5 s; `who` names the
 * connection in failure messages. Frees the response. */
void ct_test_ping(ct_sync_t *s, const char *who);

/* Appends one Ping frame with this request id to out (for bytes sent past libcareteam: a
 * pipelined burst); asserts it could. */
void ct_test_append_ping(ct_buf_t *out, uint64_t request_id);

#endif
