/*
 * The session interface: what request handlers, the router and the writer's completions may do
 * with a client connection, without seeing the connection (conn.c) or TLS.
 *
 * conn.c embeds one ct_session_t in each connection and implements the operations. Everyone
 * else holds a ct_session_t * and, across any asynchronous step (a write job, a read on the
 * thread pool), a reference taken with ct_session_retain and dropped with ct_session_release:
 * the connection's memory lives until the last reference is gone, even after it closed.
 * Sending on a closed session is a silent no-op (the client is gone; what matters is stored).
 */
#ifndef CT_SESSION_H
#define CT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "role.h"

typedef struct ct_session ct_session_t;

typedef struct ct_session_ops {
    /* Queues one encoded frame (header included) for the client. Returns 0 or CT_ECLOSED. */
    int (*send)(ct_session_t *s, const uint8_t *frame, size_t len);
    /* Queues a live Deliver frame for message `seq`, in the order of the calls. `audited`: the
     * message.deliver row of this delivery is committed. A delivery whose row is not yet
     * committed is held, and every delivery after it with it, until deliver_audited(seq): no
     * member sees a message before the record that it was shown to them is durable. While the
     * session replays its inbox, live deliveries are held too and sent after the replay,
     * skipping those the replay already sent. */
    void (*deliver)(ct_session_t *s, int64_t seq, const uint8_t *frame, size_t len, bool audited);
    /* The row of the held delivery `seq` committed: send it and what waited behind it. */
    void (*deliver_audited)(ct_session_t *s, int64_t seq);
    /* The inbox replay sent everything up to replay_last_seq: flush held live deliveries. */
    void (*replay_done)(ct_session_t *s);
    /* Output queued but not yet written to the socket, in bytes. */
    size_t (*backlog)(ct_session_t *s);
    /* Calls cb(arg) once, from a later loop callback, when the output queue has emptied or the
     * connection has closed (then s->open is false). One waiter at a time. */
    void (*when_drained)(ct_session_t *s, void (*cb)(void *arg), void *arg);
    void (*retain)(ct_session_t *s);
    void (*release)(ct_session_t *s);
    /* A request is now waiting for a writer job or a read: like retain, and counted against the
     * connection's in-flight window (past it, the connection stops reading requests). */
    void (*request_begin)(ct_session_t *s);
    /* That request completed: like release, and may let the connection read again. */
    void (*request_end)(ct_session_t *s);
    /* Closes after what is queued is sent. */
    void (*close)(ct_session_t *s);
} ct_session_ops_t;

struct ct_session {
    const ct_session_ops_t *ops;
    uint64_t id; /* unique per daemon run; for logs */
    /* Identity, fixed once the certificate's member is looked up. */
    char member_id[CT_ID_MAX + 1];
    char display_name[129];
    ct_role_t role;
    /* The peer's "ip:port" and its certificate's SHA-256 in hex ("" until the handshake has
     * completed). Not owned: they point into the connection's TLS state (ct_tls_t peer_addr,
     * peer_fp), which lives as long as the session; never NULL. */
    const char *peer_addr;
    const char *cert_fp;
    bool open;     /* false once the connection is closing */
    bool welcomed; /* Hello answered; requests other than Hello are served only then */
    /* Inbox replay (see replay.c): while replaying, live deliveries are held by the session. */
    bool replaying;
    int64_t replay_last_seq;
    ct_session_t *router_next; /* link in the router's list for member_id; router-owned */
    /* Rate-limit refusals (dispatch.c): when the last one was recorded, and how many were
     * answered since without a record of their own. */
    uint64_t rate_limited_at_ms;
    uint64_t rate_limited_since;
};

static inline void ct_session_retain(ct_session_t *s)
{
    s->ops->retain(s);
}

static inline void ct_session_release(ct_session_t *s)
{
    s->ops->release(s);
}

/* Packs `env` (a Careteam__V1__Envelope *) into one frame and sends it. Returns 0 or CT_E*. */
int ct_session_send_envelope(ct_session_t *s, const void *env);

/* Sends Error{code for err, message} in answer to request_id (0 for a connection-level error).
 * msg NULL uses the table's default message for err. */
int ct_session_send_error(ct_session_t *s, uint64_t request_id, int err, const char *msg);

#endif
