/*
 * Dispatch: one table from request type (the Envelope's body case) to its handler, the one place
 * where handler errors become Error frames and refusals become audit rows.
 *
 * A handler either answers (now, or later from a writer job or a read) and returns 0, or returns a
 * CT_E* code and may write a specific message into req->why; dispatch then sends Error{code,
 * message}, audits the refusal, and tells the connection whether to close.
 */
#ifndef CT_DISPATCH_H
#define CT_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "careteam.pb-c.h"
#include "config.h"
#include "readers.h"
#include "router.h"
#include "session.h"
#include "writer.h"

struct ct_alerts;

/* What handlers may use: everything but connections. Owned by the server, lives as long. */
typedef struct ct_handler_ctx {
    uv_loop_t *loop;
    const ct_config_t *cfg;
    ct_writer_t *writer;
    ct_readers_t *readers;
    ct_router_t *router;
    struct ct_alerts *alerts; /* the alert deadline timer (alerts.h); NULL in some tests */
} ct_handler_ctx_t;

/* One request being handled. Valid only during the handler call. */
typedef struct ct_request {
    const ct_handler_ctx_t *ctx;
    ct_session_t *session;
    uint64_t request_id;
    const Careteam__V1__Envelope *env;
    const char *action; /* the route's audit action code */
    char why[256];      /* a handler's specific error message; "" for the table's default */
} ct_request_t;

typedef int (*ct_handler_fn)(ct_request_t *req);

/* Handlers, one file each (handle_<request>.c). */
int ct_handle_hello(ct_request_t *req);
int ct_handle_send_message(ct_request_t *req);
int ct_handle_delivery_ack(ct_request_t *req);
int ct_handle_ping(ct_request_t *req);
/* The care-team workflow (workflow.h). */
int ct_handle_record_consent(ct_request_t *req);
int ct_handle_withdraw_consent(ct_request_t *req);
int ct_handle_list_consents(ct_request_t *req);
int ct_handle_record_restriction(ct_request_t *req);
int ct_handle_lift_restriction(ct_request_t *req);
int ct_handle_create_referral(ct_request_t *req);
int ct_handle_update_referral(ct_request_t *req);
int ct_handle_list_referrals(ct_request_t *req);
int ct_handle_post_summary(ct_request_t *req);
int ct_handle_list_summaries(ct_request_t *req);
int ct_handle_raise_concern(ct_request_t *req);
int ct_handle_acknowledge_alert(ct_request_t *req);
int ct_handle_list_alerts(ct_request_t *req);
/* The audit log, compliance only (handle_audit_query.c). */
int ct_handle_audit_query(ct_request_t *req);

/*
 * The checks SendMessage passes before it touches storage (ids, UTF-8, sizes, recipients), as
 * ct_handle_send_message applies them against cfg. Returns 0, or CT_EINVAL / CT_ETOOBIG with a
 * message for the sender in why. Exported for the fuzz harness (tests/fuzz/fuzz_send_message.c).
 */
int ct_send_message_validate(const ct_config_t *cfg, const Careteam__V1__SendMessage *m, char *why,
                             size_t whylen);

typedef enum ct_dispatch_result {
    CT_DISPATCH_CONTINUE = 0, /* keep reading requests */
    CT_DISPATCH_CLOSE = 1,    /* a protocol violation: close after the Error is sent */
} ct_dispatch_result_t;

/* Handles one decoded envelope from a client; text_ok says whether all its string fields are
 * valid text (ct_frame_text_valid). Never frees env (the caller does). */
ct_dispatch_result_t ct_dispatch(const ct_handler_ctx_t *ctx, ct_session_t *s,
                                 const Careteam__V1__Envelope *env, bool text_ok);

/* Queues an audit row for a request of session s. The row counts against the connection's
 * in-flight window until it is written, so a flood of cheap requests (pings, refusals) cannot
 * queue unbounded work. Returns 0 or CT_ENOMEM (the row is then only logged as dropped). */
int ct_dispatch_audit(const ct_handler_ctx_t *ctx, ct_session_t *s, const ct_audit_rec_t *rec);

/* Fills in the message.deliver record of a stored message handed to session s (actor the
 * recipient member). detail: "sessions=N" for a live push, "replay=1" for an inbox replay. */
void ct_dispatch_delivery_rec(ct_audit_rec_t *rec, const ct_session_t *s, const char *message_id,
                              const char *participant_id, const char *detail);

/* Writer thread, inside a job's apply or audit_more: appends rec, a delivery record, stamped
 * with the batch's time. Returns 0 or CT_E*. */
int ct_dispatch_delivery_append(ct_store_t *st, const ct_writer_env_t *env, ct_audit_rec_t *rec);

/* If member_id has a live session, fills in rec as ct_dispatch_delivery_rec would for them,
 * with the object left empty (the message id is not known yet), and returns true. */
bool ct_dispatch_online_rec(const ct_handler_ctx_t *ctx, const char *member_id,
                            ct_audit_rec_t *rec);

/*
 * Pushes the Deliver frame of stored message `seq` to every live session of member_id, with one
 * message.deliver row for the member. No session sends the frame before that row is committed:
 * `audited` says the caller's own transaction already committed it (SendMessage writes the rows
 * of the recipients online when it was submitted); otherwise the sessions hold the frame, and
 * what follows it, until an audit job commits the row (ct_session_ops_t.deliver). If that job
 * fails the sessions are closed: the message stays pending and the replay records it.
 */
void ct_dispatch_deliver(const ct_handler_ctx_t *ctx, const char *member_id, int64_t seq,
                         const char *message_id, const char *participant_id, const uint8_t *frame,
                         size_t len, bool audited);

/* Answers a request that came over the connection's rate_limit with Error RATE_LIMITED. At most
 * one refusal per connection per second is audited (under the request's action) and logged, with
 * refused_before=N counting those answered since the previous record. The connection stays
 * open. */
ct_dispatch_result_t ct_dispatch_rate_limited(const ct_handler_ctx_t *ctx, ct_session_t *s,
                                              const Careteam__V1__Envelope *env);

/* Sends Error for a frame that could not be decoded or framed (err: CT_EPROTO, CT_ETOOBIG),
 * audits it; the caller closes the connection. */
void ct_dispatch_bad_frame(const ct_handler_ctx_t *ctx, ct_session_t *s, int err, const char *why);

/* The action code for a body case ("message.send", ...), "protocol.violation" if none. */
const char *ct_dispatch_action(Careteam__V1__Envelope__BodyCase c);

#endif
