/*
 * Inbox replay: right after Welcome, a session receives every message still pending for its
 * member, oldest first, in pages read off the loop; then a ReplayComplete push. Live deliveries
 * that arrive meanwhile are held by the session and sent after, without duplicates.
 */
#ifndef CT_REPLAY_H
#define CT_REPLAY_H

#include "buf.h"
#include "dispatch.h"

/* Starts the replay for a welcomed session (takes a session reference until it ends).
 * Returns 0 or CT_ENOMEM. */
int ct_replay_start(const ct_handler_ctx_t *ctx, ct_session_t *s);

/* Encodes a stored message as one Deliver frame (request_id 0) appended to out. */
int ct_replay_encode_deliver(const ct_message_t *m, ct_buf_t *out, size_t max_frame);

#endif
