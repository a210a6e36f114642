/*
 * Dispatch (see dispatch.h). The route table names, for every request a client may send, its
 * handler, its audit action code and whether it may come before Hello. Body cases missing from the
 * table are server-to-client messages or unknown: a client sending one violates the protocol.
 */
#include "dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "authz.h"
#include "err.h"
#include "frame.h"
#include "log.h"
#include "text.h"

typedef struct route {
    Careteam__V1__Envelope__BodyCase body;
    const char *action;
    ct_handler_fn handler;
    bool before_hello; /* may be sent before Hello is answered */
} route_t;

static const route_t ROUTES[] = {
    {CARETEAM__V1__ENVELOPE__BODY_HELLO, "session.hello", ct_handle_hello, true},
    {CARETEAM__V1__ENVELOPE__BODY_SEND_MESSAGE, "message.send", ct_handle_send_message, false},
    {CARETEAM__V1__ENVELOPE__BODY_DELIVERY_ACK, "message.delivery_ack", ct_handle_delivery_ack,
     false},
    {CARETEAM__V1__ENVELOPE__BODY_PING, "session.ping", ct_handle_ping, false},
    {CARETEAM__V1__ENVELOPE__BODY_RECORD_CONSENT, "consent.record", ct_handle_record_consent,
     false},
    {CARETEAM__V1__ENVELOPE__BODY_WITHDRAW_CONSENT, "consent.withdraw", ct_handle_withdraw_consent,
     false},
    {CARETEAM__V1__ENVELOPE__BODY_LIST_CONSENTS, "consent.list", ct_handle_list_consents, false},
    {CARETEAM__V1__ENVELOPE__BODY_RECORD_RESTRICTION, "restriction.record",
     ct_handle_record_restriction, false},
    {CARETEAM__V1__ENVELOPE__BODY_LIFT_RESTRICTION, "restriction.lift", ct_handle_lift_restriction,
     false},
    {CARETEAM__V1__ENVELOPE__BODY_CREATE_REFERRAL, "referral.create", ct_handle_create_referral,
     false},
    /* The audit action names the move ("referral.accept", ...); this one is for refusals that
     * come before the move is known. */
    {CARETEAM__V1__ENVELOPE__BODY_UPDATE_REFERRAL, "referral.update", ct_handle_update_referral,
     false},
    {CARETEAM__V1__ENVELOPE__BODY_LIST_REFERRALS, "referral.list", ct_handle_list_referrals, false},
    {CARETEAM__V1__ENVELOPE__BODY_POST_SUMMARY, "summary.post", ct_handle_post_summary, false},
    {CARETEAM__V1__ENVELOPE__BODY_LIST_SUMMARIES, "summary.list", ct_handle_list_summaries, false},
    {CARETEAM__V1__ENVELOPE__BODY_RAISE_CONCERN, "concern.raise", ct_handle_raise_concern, false},
    {CARETEAM__V1__ENVELOPE__BODY_ACKNOWLEDGE_ALERT, "alert.acknowledge",
     ct_handle_acknowledge_alert, false},
    {CARETEAM__V1__ENVELOPE__BODY_LIST_ALERTS, "alert.list", ct_handle_list_alerts, false},
    {CARETEAM__V1__ENVELOPE__BODY_AUDIT_QUERY, "audit.query", ct_handle_audit_query, false},
};

static const route_t *find_route(Careteam__V1__Envelope__BodyCase c)
{
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++) {
        if (ROUTES[i].body == c)
            return &ROUTES[i];
    }
    return NULL;
}

const char *ct_dispatch_action(Careteam__V1__Envelope__BodyCase c)
{
    const route_t *r = find_route(c);
    return r != NULL ? r->action : "protocol.violation";
}

/* The field name of a body case, for messages to people ("deliver", "welcome"). */
static const char *body_name(Careteam__V1__Envelope__BodyCase c)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&careteam__v1__envelope__descriptor, (unsigned)c);
    return f != NULL ? f->name : "unknown";
}

typedef struct audit_job {
    ct_job_t job; /* first member */
    ct_session_t *session;
} audit_job_t;

static void audit_done(ct_job_t *job)
{
    audit_job_t *a = (audit_job_t *)job;
    a->session->ops->request_end(a->session);
    free(a);
}

int ct_dispatch_audit(const ct_handler_ctx_t *ctx, ct_session_t *s, const ct_audit_rec_t *rec)
{
    audit_job_t *a = calloc(1, sizeof *a);
    if (a == NULL) {
        ct_log_error("audit.dropped", "action=%s reason=out_of_memory", rec->action);
        return CT_ENOMEM;
    }
    a->session = s;
    a->job.has_audit = true;
    a->job.audit = *rec;
    a->job.done = audit_done;
    s->ops->request_begin(s);
    ct_writer_submit(ctx->writer, &a->job);
    return 0;
}

void ct_dispatch_delivery_rec(ct_audit_rec_t *rec, const ct_session_t *s, const char *message_id,
                              const char *participant_id, const char *detail)
{
    ct_audit_rec_init(rec, s, "message.deliver");
    ct_audit_rec_object(rec, "message", message_id);
    ct_text_copy(rec->participant_id, sizeof rec->participant_id, participant_id);
    ct_text_copy(rec->detail, sizeof rec->detail, detail);
}

int ct_dispatch_delivery_append(ct_store_t *st, const ct_writer_env_t *env, ct_audit_rec_t *rec)
{
    rec->time_ms = env->now_ms;
    int64_t seq = ct_audit_rec_append(st, rec);
    return seq < 0 ? (int)seq : 0;
}

typedef struct online_probe {
    const ct_session_t *first;
    size_t n;
} online_probe_t;

static void probe_session(ct_session_t *s, void *arg)
{
    online_probe_t *p = arg;
    if (!s->open)
        return;
    if (p->first == NULL)
        p->first = s;
    p->n++;
}

bool ct_dispatch_online_rec(const ct_handler_ctx_t *ctx, const char *member_id, ct_audit_rec_t *rec)
{
    online_probe_t p = {0};
    ct_router_each(ctx->router, member_id, probe_session, &p);
    if (p.first == NULL)
        return false;
    char detail[32];
    snprintf(detail, sizeof detail, "sessions=%zu", p.n);
    ct_dispatch_delivery_rec(rec, p.first, "", "", detail);
    return true;
}

/* The row of a live delivery that was not audited in its message's own transaction: the
 * member's sessions hold the frame (and what comes after it) until this commits. */
typedef struct deliver_audit_job {
    ct_job_t job; /* first member */
    int64_t seq;
    size_t n;
    ct_session_t *sessions[]; /* referenced until done */
} deliver_audit_job_t;

static void deliver_audit_done(ct_job_t *job)
{
    deliver_audit_job_t *d = (deliver_audit_job_t *)job;
    for (size_t i = 0; i < d->n; i++) {
        ct_session_t *s = d->sessions[i];
        if (job->result == 0)
            s->ops->deliver_audited(s, d->seq);
        else if (s->open) {
            /* No record, no disclosure: the message stays pending and the reconnect replays it
             * (with its row). */
            ct_session_send_error(s, 0, CT_EUNAVAIL,
                                  "a delivery could not be recorded; reconnect to receive it");
            s->ops->close(s);
        }
        ct_session_release(s);
    }
    free(d);
}

typedef struct live_delivery {
    int64_t seq;
    const uint8_t *frame;
    size_t len;
    bool audited;
    deliver_audit_job_t *job; /* !audited: collects the sessions that hold the frame */
} live_delivery_t;

static void deliver_live(ct_session_t *s, void *arg)
{
    live_delivery_t *d = arg;
    if (!s->open)
        return;
    s->ops->deliver(s, d->seq, d->frame, d->len, d->audited);
    if (d->job != NULL && s->open) {
        ct_session_retain(s);
        d->job->sessions[d->job->n++] = s;
    }
}

static void count_session(ct_session_t *s, void *arg)
{
    (void)s;
    (void)arg;
}

static void close_session(ct_session_t *s, void *arg)
{
    (void)arg;
    s->ops->close(s);
}

void ct_dispatch_deliver(const ct_handler_ctx_t *ctx, const char *member_id, int64_t seq,
                         const char *message_id, const char *participant_id, const uint8_t *frame,
                         size_t len, bool audited)
{
    live_delivery_t d = {.seq = seq, .frame = frame, .len = len, .audited = audited};
    if (audited) {
        ct_router_each(ctx->router, member_id, deliver_live, &d);
        return;
    }
    size_t n = ct_router_each(ctx->router, member_id, count_session, NULL);
    if (n == 0)
        return; /* offline: the pending inbox row waits for the replay, which records it */
    d.job = calloc(1, sizeof *d.job + n * sizeof d.job->sessions[0]);
    if (d.job == NULL) {
        /* Without a record the frame may not go out. The message stays pending; the sessions
         * reconnect and the replay delivers and records it. */
        ct_log_error("audit.dropped", "action=message.deliver reason=out_of_memory");
        ct_router_each(ctx->router, member_id, close_session, NULL);
        return;
    }
    ct_router_each(ctx->router, member_id, deliver_live, &d);
    if (d.job->n == 0) {
        free(d.job);
        return;
    }
    char detail[32];
    snprintf(detail, sizeof detail, "sessions=%zu", d.job->n);
    ct_dispatch_delivery_rec(&d.job->job.audit, d.job->sessions[0], message_id, participant_id,
                             detail);
    d.job->seq = seq;
    d.job->job.has_audit = true;
    d.job->job.done = deliver_audit_done;
    ct_writer_submit(ctx->writer, &d.job->job);
}

/* Answers a refused request: Error to the client, an audit row of the refusal, a log line. */
static void refuse(const ct_handler_ctx_t *ctx, ct_session_t *s, uint64_t request_id,
                   const char *action, int err, const char *why)
{
    ct_session_send_error(s, request_id, err, why);
    ct_audit_rec_t rec;
    ct_audit_rec_init(&rec, s, action);
    ct_audit_rec_fail(&rec, err, NULL);
    (void)ct_dispatch_audit(ctx, s, &rec);
    ct_log_info("request.refused", "conn=%llu member=%s action=%s code=%s",
                (unsigned long long)s->id, s->member_id[0] ? s->member_id : "-", action,
                ct_wire_code_name(ct_err_to_wire(err)));
}

ct_dispatch_result_t ct_dispatch(const ct_handler_ctx_t *ctx, ct_session_t *s,
                                 const Careteam__V1__Envelope *env, bool text_ok)
{
    char why[256];
    const route_t *route = find_route(env->body_case);
    if (route == NULL) {
        if (env->body_case == CARETEAM__V1__ENVELOPE__BODY__NOT_SET)
            snprintf(why, sizeof why, "the envelope carries no request");
        else
            snprintf(why, sizeof why, "'%s' is sent by the server, never by a client",
                     body_name(env->body_case));
        refuse(ctx, s, env->request_id, "protocol.violation", CT_EPROTO, why);
        return CT_DISPATCH_CLOSE;
    }
    if (!s->welcomed && !route->before_hello) {
        refuse(ctx, s, env->request_id, route->action, CT_EPRECONDITION,
               "the first request on a connection must be Hello");
        return CT_DISPATCH_CLOSE;
    }
    if (s->welcomed && route->before_hello) {
        refuse(ctx, s, env->request_id, route->action, CT_EPRECONDITION,
               "Hello was already answered on this connection");
        return CT_DISPATCH_CLOSE;
    }
    if (!ct_authz_request(env->body_case, s->role)) {
        snprintf(why, sizeof why, "a member with role %s may not send %s requests",
                 ct_role_name(s->role) ? ct_role_name(s->role) : "unknown",
                 body_name(env->body_case));
        refuse(ctx, s, env->request_id, route->action, CT_EFORBIDDEN, why);
        return route->before_hello ? CT_DISPATCH_CLOSE : CT_DISPATCH_CONTINUE;
    }
    if (!text_ok) {
        refuse(ctx, s, env->request_id, route->action, CT_EINVAL,
               "a text field is not valid UTF-8 or contains a NUL byte; text fields must be "
               "UTF-8 without NUL");
        return route->before_hello ? CT_DISPATCH_CLOSE : CT_DISPATCH_CONTINUE;
    }
    ct_request_t req = {.ctx = ctx,
                        .session = s,
                        .request_id = env->request_id,
                        .env = env,
                        .action = route->action};
    int r = route->handler(&req);
    if (r < 0) {
        refuse(ctx, s, env->request_id, route->action, r, req.why[0] ? req.why : NULL);
        /* A Hello that was refused leaves the connection useless. */
        return route->before_hello ? CT_DISPATCH_CLOSE : CT_DISPATCH_CONTINUE;
    }
    return CT_DISPATCH_CONTINUE;
}

ct_dispatch_result_t ct_dispatch_rate_limited(const ct_handler_ctx_t *ctx, ct_session_t *s,
                                              const Careteam__V1__Envelope *env)
{
    char why[160];
    snprintf(why, sizeof why,
             "more than %u requests per second on this connection; slow down and retry",
             ctx->cfg->rate_limit);
    ct_session_send_error(s, env->request_id, CT_ERATELIMIT, why);
    /* A client that ignores RATE_LIMITED must not turn each refusal into a log line and an audit
     * row: one of each per second, counting the refusals in between. */
    uint64_t now = uv_now(ctx->loop);
    if (s->rate_limited_at_ms != 0 && now - s->rate_limited_at_ms < 1000) {
        s->rate_limited_since++;
        return CT_DISPATCH_CONTINUE;
    }
    const char *action = ct_dispatch_action(env->body_case);
    char detail[64];
    snprintf(detail, sizeof detail, "refused_before=%llu",
             (unsigned long long)s->rate_limited_since);
    ct_audit_rec_t rec;
    ct_audit_rec_init(&rec, s, action);
    ct_audit_rec_fail(&rec, CT_ERATELIMIT, detail);
    (void)ct_dispatch_audit(ctx, s, &rec);
    ct_log_info("request.refused", "conn=%llu member=%s action=%s code=RATE_LIMITED %s",
                (unsigned long long)s->id, s->member_id, action, detail);
    s->rate_limited_at_ms = now;
    s->rate_limited_since = 0;
    return CT_DISPATCH_CONTINUE;
}

void ct_dispatch_bad_frame(const ct_handler_ctx_t *ctx, ct_session_t *s, int err, const char *why)
{
    refuse(ctx, s, 0, err == CT_ETOOBIG ? "protocol.frame_too_large" : "protocol.bad_frame", err,
           why);
}
