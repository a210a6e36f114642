/*
 * One client connection of careteamd: TLS handshake, the certificate's member looked up off the
 * loop, framing, dispatch of requests, timers, and the session interface for handlers.
 *
 * Lifecycle:
 *
 *   accept -> HANDSHAKE --TLS ok, CN is an id--> LOOKUP --active member--> ACTIVE
 *                 |                                 |                        |
 *                 | TLS error,                      | unknown or inactive    | protocol violation,
 *                 | deadline                        | member, deadline       | idle, peer gone
 *                 v                                 v                        v
 *                 +------------------------------> CLOSING <-----------------+
 *                                                     |
 *                                          last reference dropped -> freed
 *
 *   state      | reads requests | timer                              | leaves by
 *   HANDSHAKE  | no             | handshake deadline (TLS + Hello)   | on_handshake / on_error
 *   LOOKUP     | no (paused)    | handshake deadline                 | lookup_done
 *   ACTIVE     | yes            | deadline until Welcome, then idle  | conn_close
 *   CLOSING    | no             | close grace (then abortive close)  | last reference dropped
 *
 * Memory: a connection holds one reference for its TCP handle, one for its timer handle, and one
 * per asynchronous operation (writer job, read, replay) through ct_session_retain. It is freed
 * when the count reaches zero, never inside its own callback chain (only from a close callback
 * or a job's completion).
 *
 * Until Hello is answered the frame reader accepts at most PRE_HELLO_MAX_FRAME bytes, so an
 * unauthenticated or not yet welcomed peer cannot make us buffer a full-size frame.
 */
#include "conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "err.h"
#include "frame.h"
#include "log.h"
#include "text.h"

#define PRE_HELLO_MAX_FRAME (16u * 1024u)

/* A graceful close that has not finished sending after this long is made abortive: a peer that
 * stops reading must not hold a socket and its buffers indefinitely. */
#define CLOSE_GRACE_MS 5000

/* Requests of one connection that may wait for the writer (or a read) at once. Past it the
 * connection stops reading; it resumes when half have completed. Bounds the memory and writer
 * work one client can queue, however fast it sends. */
#define MAX_INFLIGHT 64

typedef enum conn_state {
    CONN_HANDSHAKE = 0,
    CONN_LOOKUP,
    CONN_ACTIVE,
    CONN_CLOSING,
} conn_state_t;

struct ct_conn {
    ct_tls_t tls;
    ct_session_t session;
    uv_timer_t timer;
    ct_conn_env_t *env;
    conn_state_t state;
    ct_frame_reader_t reader;
    int refs;
    bool in_list;
    bool over_limit; /* accepted beyond max_connections: refused once TLS can carry the Error */
    int inflight;    /* requests waiting for a writer job or a read (see MAX_INFLIGHT) */
    bool throttled;  /* reading paused because inflight reached MAX_INFLIGHT */
    bool rechecking; /* a re-check of the member (ct_conn_recheck_members) is in flight */
    /* Token bucket for rate_limit requests per second: `tokens` requests may be made now; it
     * refills at rate_limit per second up to rate_limit (a one-second burst). */
    double tokens;
    uint64_t tokens_at_ms;  /* loop time of the last refill */
    ct_conn_t *prev, *next; /* env->conns */
    /* Live deliveries held during a replay or behind an uncommitted audit row, in order from
     * held_off: [seq u64][len u32][audited u32][frame] (see session_deliver). */
    ct_buf_t held;
    size_t held_off;
    void (*drain_cb)(void *arg); /* one waiter for an empty output queue (see when_drained) */
    void *drain_arg;
    /* Member lookup result, written by the reader thread, read by lookup_done or recheck_done on
     * the loop. `member` is allocated by each lookup and freed when it is done (lookup_finished):
     * an idle connection does not carry a member record it read once. */
    int lookup_rc;
    ct_member_t *member;
};

static const ct_session_ops_t SESSION_OPS;

#define CONN_OF_TLS(t) ((ct_conn_t *)((char *)(t)-offsetof(ct_conn_t, tls)))
#define CONN_OF_SESSION(s) ((ct_conn_t *)((char *)(s)-offsetof(ct_conn_t, session)))

static void conn_unref(ct_conn_t *c)
{
    if (--c->refs > 0)
        return;
    ct_frame_reader_free(&c->reader);
    ct_buf_free(&c->held);
    free(c);
}

static void audit_conn_failure(ct_conn_t *c, const char *action, int err, const char *detail)
{
    ct_audit_rec_t rec;
    ct_audit_rec_init(&rec, &c->session, action);
    ct_audit_rec_object(&rec, "connection", NULL);
    ct_audit_rec_fail(&rec, err, detail);
    if (ct_writer_audit(c->env->handlers.writer, &rec) != 0)
        ct_log_error("audit.dropped", "action=%s reason=out_of_memory", action);
}

static void on_timer_closed(uv_handle_t *h)
{
    conn_unref(h->data);
}

static void on_close_deadline(uv_timer_t *t)
{
    ct_conn_t *c = t->data;
    ct_log_info("session.close_forced", "conn=%llu backlog=%zu", (unsigned long long)c->session.id,
                ct_tls_backlog(&c->tls));
    ct_tls_close(&c->tls, false);
}

/* Starts closing: no more requests, sends become no-ops, the router forgets the session. */
static void conn_close(ct_conn_t *c, bool graceful)
{
    if (c->state == CONN_CLOSING) {
        if (!graceful)
            ct_tls_close(&c->tls, false); /* escalate a graceful close still draining */
        return;
    }
    c->state = CONN_CLOSING;
    c->session.open = false;
    if (c->session.welcomed)
        ct_router_remove(c->env->handlers.router, &c->session);
    /* The timer now bounds the close itself; on_tls_close closes it. */
    if (graceful)
        uv_timer_start(&c->timer, on_close_deadline, CLOSE_GRACE_MS, 0);
    else
        uv_timer_stop(&c->timer);
    ct_tls_close(&c->tls, graceful);
}

static void on_timer(uv_timer_t *t)
{
    ct_conn_t *c = t->data;
    if (!c->session.welcomed) {
        ct_log_info("session.deadline", "conn=%llu peer=%s state=%d",
                    (unsigned long long)c->session.id, c->tls.peer_addr, (int)c->state);
        audit_conn_failure(c, "session.deadline", CT_ETIMEDOUT, "reason=no_hello_in_time");
        if (c->state == CONN_HANDSHAKE) {
            conn_close(c, false); /* no TLS yet to carry an Error */
            return;
        }
        ct_session_send_error(&c->session, 0, CT_ETIMEDOUT,
                              "no Hello within the handshake deadline; closing");
        conn_close(c, true);
        return;
    }
    ct_log_info("session.idle", "conn=%llu member=%s", (unsigned long long)c->session.id,
                c->session.member_id);
    /* Audited: the end of a session is part of the record, and a client that stops halfway
     * through a frame is bad input like any other. */
    char detail[64];
    snprintf(detail, sizeof detail, "reason=idle partial_frame_bytes=%zu",
             ct_frame_reader_buffered(&c->reader));
    audit_conn_failure(c, "session.idle", CT_ETIMEDOUT, detail);
    ct_session_send_error(&c->session, 0, CT_ETIMEDOUT,
                          "closing an idle connection; send Ping to keep a connection open");
    conn_close(c, true);
}

/* Takes one request's token from the connection's bucket; false when the client is over
 * rate_limit requests per second. */
static bool take_token(ct_conn_t *c)
{
    double rate = (double)c->env->handlers.cfg->rate_limit;
    uint64_t now = uv_now(c->tls.tcp.loop);
    c->tokens += (double)(now - c->tokens_at_ms) * rate / 1000.0;
    if (c->tokens > rate)
        c->tokens = rate;
    c->tokens_at_ms = now;
    if (c->tokens < 1.0)
        return false;
    c->tokens -= 1.0;
    return true;
}

/* Dispatches every complete frame buffered. Stops at the first violation (and closes). */
static void process_frames(ct_conn_t *c)
{
    const ct_handler_ctx_t *ctx = &c->env->handlers;
    while (c->state == CONN_ACTIVE) {
        if (c->inflight >= MAX_INFLIGHT) {
            /* Leave the rest buffered (bounded by one socket read); resumed by inflight_end. */
            if (!c->throttled) {
                c->throttled = true;
                ct_tls_pause(&c->tls);
            }
            return;
        }
        Careteam__V1__Envelope *env;
        bool text_ok = false;
        int r = ct_frame_next_envelope(&c->reader, &env, &text_ok);
        if (r == 0)
            return;
        if (r < 0) {
            char why[128];
            if (r == CT_ETOOBIG)
                snprintf(why, sizeof why, "frame larger than the limit of %zu bytes",
                         c->reader.max_frame);
            else if (r == CT_EPROTO)
                snprintf(why, sizeof why, "a frame length of 0 is not allowed");
            else
                snprintf(why, sizeof why, "the frame is not a valid careteam.v1.Envelope");
            ct_dispatch_bad_frame(ctx, &c->session, r == CT_EINVAL ? CT_EPROTO : r, why);
            conn_close(c, true);
            return;
        }
        if (c->session.welcomed)
            uv_timer_start(&c->timer, on_timer, ctx->cfg->idle_timeout_ms, 0);
        bool was_welcomed = c->session.welcomed;
        /* Before Welcome only Hello is served (anything else closes), so only requests after it
         * count against the rate. */
        ct_dispatch_result_t res = !was_welcomed || take_token(c)
                                       ? ct_dispatch(ctx, &c->session, env, text_ok)
                                       : ct_dispatch_rate_limited(ctx, &c->session, env);
        careteam__v1__envelope__free_unpacked(env, NULL);
        if (res == CT_DISPATCH_CLOSE) {
            conn_close(c, true);
            return;
        }
        if (!was_welcomed && c->session.welcomed) {
            /* Hello answered: full-size frames allowed, the idle clock replaces the deadline. */
            c->reader.max_frame = ctx->cfg->max_frame;
            uv_timer_start(&c->timer, on_timer, ctx->cfg->idle_timeout_ms, 0);
        }
    }
}

static void lookup_work(ct_store_t *st, void *arg)
{
    ct_conn_t *c = arg;
    c->member = malloc(sizeof *c->member);
    c->lookup_rc =
        c->member == NULL ? CT_ENOMEM : ct_store_member_get(st, c->session.member_id, c->member);
}

/* Loop thread, after lookup_done or recheck_done has read the result. */
static void lookup_finished(ct_conn_t *c)
{
    free(c->member);
    c->member = NULL;
}

static void lookup_done(void *arg)
{
    ct_conn_t *c = arg;
    if (c->state == CONN_LOOKUP && c->env->stopping) {
        conn_close(c, true); /* the daemon is draining: no new sessions */
    } else if (c->state == CONN_LOOKUP) {
        if (c->lookup_rc == 0 && c->member->active) {
            ct_text_copy(c->session.display_name, sizeof c->session.display_name,
                         c->member->display_name);
            c->session.role = c->member->role;
            c->state = CONN_ACTIVE;
            ct_tls_resume(&c->tls);
            process_frames(c);
        } else {
            const char *reason = c->lookup_rc == CT_ENOTFOUND ? "unknown_member"
                                 : c->lookup_rc == 0          ? "inactive_member"
                                                              : "lookup_failed";
            int err = c->lookup_rc == 0 || c->lookup_rc == CT_ENOTFOUND ? CT_EUNAUTHENTICATED
                                                                        : CT_EUNAVAIL;
            char detail[64];
            snprintf(detail, sizeof detail, "reason=%s", reason);
            ct_log_info("session.refused", "conn=%llu member=%s peer=%s reason=%s",
                        (unsigned long long)c->session.id, c->session.member_id, c->tls.peer_addr,
                        reason);
            audit_conn_failure(c, "session.authenticate", err, detail);
            char msg[200];
            if (err == CT_EUNAUTHENTICATED)
                snprintf(msg, sizeof msg,
                         "member '%s' is not an active member of this server; ask your "
                         "administrator",
                         c->session.member_id);
            else
                snprintf(msg, sizeof msg, "the member registry could not be read; retry later");
            ct_session_send_error(&c->session, 0, err, msg);
            conn_close(c, true);
        }
    }
    lookup_finished(c);
    conn_unref(c);
}

/* ---- TLS callbacks ------------------------------------------------------------------------ */

/* If the server's current revocation list names c's certificate: tells the client, audits
 * session.revoked and closes c. Returns whether it did. The session's member id must be set. */
static bool refuse_if_revoked(ct_conn_t *c)
{
    ct_conn_env_t *env = c->env;
    if (env->revoked == NULL || c->tls.peer_serial[0] == '\0' ||
        !env->revoked(c->tls.peer_serial, env->revoked_arg))
        return false;
    ct_log_info("session.revoked", "conn=%llu member=%s serial=%s",
                (unsigned long long)c->session.id, c->session.member_id, c->tls.peer_serial);
    char detail[128];
    snprintf(detail, sizeof detail, "reason=certificate_revoked serial=%s", c->tls.peer_serial);
    audit_conn_failure(c, "session.revoked", CT_EUNAUTHENTICATED, detail);
    ct_session_send_error(&c->session, 0, CT_EUNAUTHENTICATED,
                          "your certificate was revoked; ask your administrator");
    /* A member lookup still in flight finds the connection closing and lets it go. */
    conn_close(c, true);
    return true;
}

static void on_tls_handshake(ct_tls_t *t)
{
    ct_conn_t *c = CONN_OF_TLS(t);
    ct_session_t *s = &c->session;
    if (!ct_id_valid(t->peer_cn)) {
        ct_log_info("session.refused", "conn=%llu peer=%s reason=certificate_cn_not_an_id",
                    (unsigned long long)s->id, t->peer_addr);
        audit_conn_failure(c, "session.authenticate", CT_EUNAUTHENTICATED,
                           "reason=certificate_cn_not_an_id");
        s->open = true;
        ct_session_send_error(s, 0, CT_EUNAUTHENTICATED,
                              "the certificate's subject CN is not a member id");
        conn_close(c, true);
        return;
    }
    ct_text_copy(s->member_id, sizeof s->member_id, t->peer_cn);
    s->open = true;
    if (refuse_if_revoked(c))
        return;
    if (c->over_limit) {
        const ct_config_t *cfg = c->env->handlers.cfg;
        ct_log_warn("session.refused", "conn=%llu member=%s reason=max_connections limit=%u",
                    (unsigned long long)s->id, s->member_id, cfg->max_connections);
        audit_conn_failure(c, "session.refused", CT_EUNAVAIL, "reason=max_connections");
        ct_session_send_error(s, 0, CT_EUNAVAIL,
                              "the server is at its connection limit; retry in a moment");
        conn_close(c, true);
        return;
    }
    c->state = CONN_LOOKUP;
    ct_tls_pause(t);
    c->refs++;
    if (ct_readers_submit(c->env->handlers.readers, lookup_work, lookup_done, c) != 0) {
        c->refs--;
        conn_close(c, false);
    }
}

static void on_tls_read(ct_tls_t *t, const uint8_t *data, size_t len)
{
    ct_conn_t *c = CONN_OF_TLS(t);
    if (c->state == CONN_CLOSING)
        return;
    int r = ct_frame_reader_feed(&c->reader, data, len);
    if (r != 0 && r != CT_ETOOBIG && r != CT_EPROTO) {
        conn_close(c, false);
        return;
    }
    if (c->state == CONN_ACTIVE)
        process_frames(c);
}

static void on_tls_error(ct_tls_t *t, int err, const char *why)
{
    ct_conn_t *c = CONN_OF_TLS(t);
    if (c->state == CONN_HANDSHAKE && err != CT_ECLOSED) {
        ct_log_info("tls.handshake_failed", "conn=%llu peer=%s reason=\"%s\"",
                    (unsigned long long)c->session.id, t->peer_addr, why);
        char detail[200];
        snprintf(detail, sizeof detail, "reason=\"%s\"", why);
        audit_conn_failure(c, "tls.handshake", err, detail);
    } else {
        ct_log_debug("session.closed", "conn=%llu member=%s reason=\"%s\"",
                     (unsigned long long)c->session.id,
                     c->session.member_id[0] ? c->session.member_id : "-", why);
    }
}

static void run_drain_waiter(ct_conn_t *c)
{
    void (*cb)(void *) = c->drain_cb;
    c->drain_cb = NULL;
    if (cb != NULL)
        cb(c->drain_arg);
}

static void on_tls_drain(ct_tls_t *t)
{
    run_drain_waiter(CONN_OF_TLS(t));
}

static void on_tls_close(ct_tls_t *t)
{
    ct_conn_t *c = CONN_OF_TLS(t);
    if (c->state != CONN_CLOSING)
        conn_close(c, false); /* the peer went away: leave the router */
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    run_drain_waiter(c); /* it sees the session closed and lets go of it */
    ct_conn_env_t *env = c->env;
    if (c->in_list) {
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            env->conns = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
        c->in_list = false;
        env->n_conns--;
    }
    conn_unref(c);
    if (env->n_conns == 0 && env->on_last_close != NULL)
        env->on_last_close(env);
}

static const ct_tls_callbacks_t TLS_CALLBACKS = {
    .on_handshake = on_tls_handshake,
    .on_read = on_tls_read,
    .on_drain = on_tls_drain,
    .on_error = on_tls_error,
    .on_close = on_tls_close,
};

/* ---- session operations -------------------------------------------------------------------- */

static int session_send(ct_session_t *s, const uint8_t *frame, size_t len)
{
    ct_conn_t *c = CONN_OF_SESSION(s);
    if (!s->open || c->state == CONN_CLOSING)
        return CT_ECLOSED;
    if (ct_tls_backlog(&c->tls) + len > c->env->handlers.cfg->max_output) {
        /* A consumer this far behind is cut off; what it has not acknowledged stays pending in
         * its inbox and is replayed when it reconnects. */
        ct_log_warn("session.slow_consumer", "conn=%llu member=%s backlog=%zu",
                    (unsigned long long)s->id, s->member_id, ct_tls_backlog(&c->tls));
        audit_conn_failure(c, "session.slow_consumer", CT_EUNAVAIL, "reason=output_queue_full");
        conn_close(c, false);
        return CT_ECLOSED;
    }
    int r = ct_tls_write(&c->tls, frame, len);
    if (r != 0)
        conn_close(c, false);
    return r;
}

#define HELD_HEAD 16 /* seq u64, len u32, audited u32 */

/* Sends held deliveries from the front while they may go: not during a replay, and only up to
 * the first whose audit row is not committed yet. Those the replay already sent are dropped. */
static void held_flush(ct_conn_t *c)
{
    ct_session_t *s = &c->session;
    while (!s->replaying && s->open && c->held_off + HELD_HEAD <= c->held.len) {
        uint8_t *e = c->held.data + c->held_off;
        uint64_t seq;
        uint32_t len, audited;
        memcpy(&seq, e, sizeof seq);
        memcpy(&len, e + 8, sizeof len);
        memcpy(&audited, e + 12, sizeof audited);
        if (!audited)
            break;
        c->held_off += HELD_HEAD + len;
        if ((int64_t)seq > s->replay_last_seq)
            session_send(s, e + HELD_HEAD, len);
    }
    if (!s->open || c->held_off == c->held.len) {
        ct_buf_free(&c->held); /* all sent, or the session closed */
        c->held_off = 0;
    } else if (c->held_off > c->held.len / 2) {
        /* Some were sent, more wait: drop what was sent so the buffer does not creep. */
        memmove(c->held.data, c->held.data + c->held_off, c->held.len - c->held_off);
        c->held.len -= c->held_off;
        c->held_off = 0;
    }
}

static void session_deliver(ct_session_t *s, int64_t seq, const uint8_t *frame, size_t len,
                            bool audited)
{
    ct_conn_t *c = CONN_OF_SESSION(s);
    if (!s->open)
        return;
    if (!s->replaying && c->held_off == c->held.len) {
        if (audited) {
            if (seq > s->replay_last_seq) /* else the replay already sent it */
                session_send(s, frame, len);
            return;
        }
    }
    if (c->held.len - c->held_off + len > c->env->handlers.cfg->max_output) {
        /* As for a full output queue: cut off; the messages stay pending. */
        ct_log_warn("session.slow_consumer", "conn=%llu member=%s held=%zu",
                    (unsigned long long)s->id, s->member_id, c->held.len - c->held_off);
        audit_conn_failure(c, "session.slow_consumer", CT_EUNAVAIL,
                           s->replaying ? "reason=held_during_replay" : "reason=held_for_audit");
        conn_close(c, false);
        return;
    }
    uint64_t useq = (uint64_t)seq;
    uint32_t head[2] = {(uint32_t)len, audited ? 1u : 0u};
    if (ct_buf_append(&c->held, &useq, sizeof useq) != 0 ||
        ct_buf_append(&c->held, head, sizeof head) != 0 ||
        ct_buf_append(&c->held, frame, len) != 0) {
        conn_close(c, false); /* the message stays pending; the client reconnects */
    }
}

static void session_deliver_audited(ct_session_t *s, int64_t seq)
{
    ct_conn_t *c = CONN_OF_SESSION(s);
    for (size_t off = c->held_off; off + HELD_HEAD <= c->held.len;) {
        uint64_t eseq;
        uint32_t len;
        memcpy(&eseq, c->held.data + off, sizeof eseq);
        memcpy(&len, c->held.data + off + 8, sizeof len);
        if ((int64_t)eseq == seq) {
            uint32_t yes = 1;
            memcpy(c->held.data + off + 12, &yes, sizeof yes);
            break;
        }
        off += HELD_HEAD + len;
    }
    held_flush(c);
}

static void session_replay_done(ct_session_t *s)
{
    s->replaying = false;
    held_flush(CONN_OF_SESSION(s));
}

static size_t session_backlog(ct_session_t *s)
{
    return ct_tls_backlog(&CONN_OF_SESSION(s)->tls);
}

static void session_when_drained(ct_session_t *s, void (*cb)(void *arg), void *arg)
{
    ct_conn_t *c = CONN_OF_SESSION(s);
    c->drain_cb = cb;
    c->drain_arg = arg;
}

static void session_retain(ct_session_t *s)
{
    CONN_OF_SESSION(s)->refs++;
}

static void session_release(ct_session_t *s)
{
    conn_unref(CONN_OF_SESSION(s));
}

static void session_request_begin(ct_session_t *s)
{
    ct_conn_t *c = CONN_OF_SESSION(s);
    c->refs++;
    c->inflight++;
}

/* A request finished. Once half the window is free again, a throttled connection reads on: the
 * frames it buffered are dispatched from here (a completion callback, not the conn's own read
 * chain), then the socket is read again. */
static void session_request_end(ct_session_t *s)
{
    ct_conn_t *c = CONN_OF_SESSION(s);
    c->inflight--;
    if (c->throttled && c->inflight <= MAX_INFLIGHT / 2 && c->state == CONN_ACTIVE &&
        !c->env->stopping) {
        c->throttled = false;
        c->refs++; /* process_frames may close c; keep it alive until we return */
        process_frames(c);
        if (!c->throttled && c->state == CONN_ACTIVE)
            ct_tls_resume(&c->tls);
        conn_unref(c);
    }
    conn_unref(c);
}

static void session_close(ct_session_t *s)
{
    conn_close(CONN_OF_SESSION(s), true);
}

static const ct_session_ops_t SESSION_OPS = {
    .send = session_send,
    .deliver = session_deliver,
    .deliver_audited = session_deliver_audited,
    .replay_done = session_replay_done,
    .backlog = session_backlog,
    .when_drained = session_when_drained,
    .retain = session_retain,
    .release = session_release,
    .request_begin = session_request_begin,
    .request_end = session_request_end,
    .close = session_close,
};

/* ---- accepting ------------------------------------------------------------------------------ */

static void on_refused_closed(uv_handle_t *h)
{
    free(h);
}

/* Takes the pending connection off the listener and closes it. libuv stops watching a listener
 * until its pending connection is accepted, so a connection we cannot serve must still be
 * accepted, or the daemon would never accept again. */
static void refuse_pending(uv_stream_t *listener)
{
    uv_tcp_t *tmp = malloc(sizeof *tmp);
    if (tmp == NULL || uv_tcp_init(listener->loop, tmp) != 0) {
        free(tmp);
        return;
    }
    (void)uv_accept(listener, (uv_stream_t *)tmp);
    uv_close((uv_handle_t *)tmp, on_refused_closed);
}

int ct_conn_accept(ct_conn_env_t *env, uv_stream_t *listener)
{
    const ct_config_t *cfg = env->handlers.cfg;
    ct_conn_t *c = calloc(1, sizeof *c);
    int r = c != NULL ? ct_tls_init(&c->tls, listener->loop, env->tls, true, &TLS_CALLBACKS)
                      : CT_ENOMEM;
    if (r != 0) {
        free(c);
        refuse_pending(listener);
        return r;
    }
    c->env = env;
    c->refs = 1; /* the TCP handle */
    c->session.ops = &SESSION_OPS;
    c->session.id = ++env->next_id;
    c->session.peer_addr = c->tls.peer_addr; /* filled by ct_tls_start */
    c->session.cert_fp = c->tls.peer_fp;     /* filled when the handshake completes */
    c->tokens = (double)cfg->rate_limit;
    c->tokens_at_ms = uv_now(listener->loop);
    ct_frame_reader_init(&c->reader, PRE_HELLO_MAX_FRAME < cfg->max_frame ? PRE_HELLO_MAX_FRAME
                                                                          : cfg->max_frame);
    uv_timer_init(listener->loop, &c->timer);
    c->timer.data = c;
    c->refs++; /* the timer handle */
    c->next = env->conns;
    if (env->conns != NULL)
        env->conns->prev = c;
    env->conns = c;
    c->in_list = true;
    env->n_conns++;

    /* Over the limit, the connection still completes TLS so that the client learns why it is
     * refused (an Error UNAVAILABLE), as DESIGN.md section 6 asks. */
    c->over_limit = env->n_conns > cfg->max_connections;
    r = uv_accept(listener, (uv_stream_t *)&c->tls.tcp) == 0 ? ct_tls_start(&c->tls) : CT_ESYS;
    if (r != 0) {
        conn_close(c, false);
        return r;
    }
    uv_timer_start(&c->timer, on_timer, cfg->handshake_timeout_ms, 0);
    return 0;
}

static void recheck_done(void *arg)
{
    ct_conn_t *c = arg;
    c->rechecking = false;
    if (c->state == CONN_ACTIVE && c->lookup_rc != CT_EUNAVAIL &&
        (c->lookup_rc == CT_ENOTFOUND || (c->lookup_rc == 0 && !c->member->active))) {
        ct_log_info("session.revoked", "conn=%llu member=%s", (unsigned long long)c->session.id,
                    c->session.member_id);
        audit_conn_failure(c, "session.revoked", CT_EUNAUTHENTICATED, "reason=inactive_member");
        ct_session_send_error(&c->session, 0, CT_EUNAUTHENTICATED,
                              "your membership was deactivated; ask your administrator");
        conn_close(c, true);
    }
    lookup_finished(c);
    conn_unref(c);
}

void ct_conn_recheck_members(ct_conn_env_t *env)
{
    for (ct_conn_t *c = env->conns; c != NULL; c = c->next) {
        if (c->state != CONN_ACTIVE || c->rechecking)
            continue;
        c->rechecking = true;
        c->refs++;
        if (ct_readers_submit(env->handlers.readers, lookup_work, recheck_done, c) != 0) {
            c->rechecking = false;
            c->refs--;
        }
    }
}

size_t ct_conn_close_revoked(ct_conn_env_t *env)
{
    size_t closed = 0;
    for (ct_conn_t *c = env->conns; c != NULL; c = c->next) {
        if ((c->state == CONN_LOOKUP || c->state == CONN_ACTIVE) && refuse_if_revoked(c))
            closed++;
    }
    return closed;
}

void ct_conn_pause_all(ct_conn_env_t *env)
{
    env->stopping = true;
    for (ct_conn_t *c = env->conns; c != NULL; c = c->next)
        ct_tls_pause(&c->tls);
}

void ct_conn_close_all(ct_conn_env_t *env, bool now)
{
    ct_conn_t *c = env->conns;
    while (c != NULL) {
        ct_conn_t *next = c->next;
        conn_close(c, !now);
        c = next;
    }
}
