/*
 * The shared job of workflow requests (see workflow.h).
 */
#include "workflow.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "audit.h"
#include "authz.h"
#include "err.h"
#include "frame.h"
#include "log.h"
#include "replay.h"
#include "text.h"

/* Copies a decoded envelope by packing and unpacking it: the copy owns all its strings and
 * repeated fields and is freed with one call. */
static Careteam__V1__Envelope *envelope_dup(const Careteam__V1__Envelope *env)
{
    size_t len = careteam__v1__envelope__get_packed_size(env);
    uint8_t *bytes = malloc(len > 0 ? len : 1);
    if (bytes == NULL)
        return NULL;
    careteam__v1__envelope__pack(env, bytes);
    Careteam__V1__Envelope *copy = careteam__v1__envelope__unpack(NULL, len, bytes);
    free(bytes);
    return copy;
}

static ct_wf_t *wf_alloc(const ct_handler_ctx_t *ctx, ct_wf_run_fn run)
{
    ct_wf_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->ctx = ctx;
    w->run = run;
    w->job.has_audit = true;
    return w;
}

ct_wf_t *ct_wf_new(ct_request_t *req, ct_wf_run_fn run, const char *participant_id)
{
    ct_wf_t *w = wf_alloc(req->ctx, run);
    if (w == NULL)
        return NULL;
    w->req = envelope_dup(req->env);
    if (w->req == NULL) {
        free(w);
        return NULL;
    }
    w->session = req->session;
    w->request_id = req->request_id;
    ct_text_copy(w->actor_id, sizeof w->actor_id, req->session->member_id);
    w->actor_role = req->session->role;
    ct_audit_rec_init(&w->job.audit, req->session, req->action);
    if (participant_id != NULL)
        ct_wf_set_participant(w, participant_id);
    return w;
}

void ct_wf_set_participant(ct_wf_t *w, const char *participant_id)
{
    ct_text_copy(w->job.audit.participant_id, sizeof w->job.audit.participant_id, participant_id);
}

int ct_wf_check_participant_id(ct_request_t *req, const char *participant_id, bool optional)
{
    if ((optional && participant_id[0] == '\0') || ct_id_valid(participant_id))
        return 0;
    snprintf(req->why, sizeof req->why,
             "participant_id must be 1-64 characters of A-Z a-z 0-9 . _ -%s",
             optional ? ", or empty" : "");
    return CT_EINVAL;
}

ct_wf_t *ct_wf_new_system(const ct_handler_ctx_t *ctx, const char *action, ct_wf_run_fn run)
{
    ct_wf_t *w = wf_alloc(ctx, run);
    if (w == NULL)
        return NULL;
    /* The daemon itself acts, as in its start and stop records. */
    snprintf(w->actor_id, sizeof w->actor_id, "careteamd");
    w->actor_role = CT_ROLE_UNSPECIFIED;
    ct_audit_rec_t *a = &w->job.audit;
    memset(a, 0, sizeof *a);
    a->time_ms = ct_now_ms();
    snprintf(a->actor_id, sizeof a->actor_id, "careteamd");
    snprintf(a->peer_addr, sizeof a->peer_addr, "local");
    ct_text_copy(a->action, sizeof a->action, action);
    return w;
}

static void wf_free(ct_wf_t *w)
{
    if (w->req != NULL)
        careteam__v1__envelope__free_unpacked(w->req, NULL);
    ct_buf_free(&w->reply);
    for (size_t i = 0; i < w->n_events; i++) {
        ct_buf_free(&w->events[i].frame);
        free(w->events[i].to);
    }
    free(w->events);
    if (w->arg_free != NULL)
        w->arg_free(w->arg);
    free(w);
}

/* Loop thread: the reply, then the pushes of a committed job. */
static void wf_finish(ct_wf_t *w, int result)
{
    ct_session_t *s = w->session;
    if (s != NULL) {
        if (result != 0)
            ct_session_send_error(s, w->request_id, result, w->why[0] ? w->why : NULL);
        else if (w->reply.len > 0)
            s->ops->send(s, w->reply.data, w->reply.len);
    }
    if (result == 0) {
        for (size_t i = 0; i < w->n_events; i++) {
            const ct_wf_event_t *ev = &w->events[i];
            for (size_t k = 0; k < ev->n_to; k++)
                ct_dispatch_deliver(w->ctx, ev->to[k], ev->seq, ev->message_id, ev->participant_id,
                                    ev->frame.data, ev->frame.len, false);
        }
        if (w->alerts_changed && w->ctx->alerts != NULL)
            ct_alerts_rearm(w->ctx->alerts, w->next_deadline_ms);
    }
}

static int wf_apply(ct_job_t *job, ct_store_t *st, const ct_writer_env_t *env)
{
    ct_wf_t *w = (ct_wf_t *)job;
    w->ids = env->ids;
    int r = w->run(w, st, env->now_ms);
    if (r == 0 && w->alerts_changed)
        r = ct_store_alert_next_deadline(st, &w->next_deadline_ms);
    w->ids = NULL;
    return r;
}

static void wf_write_done(ct_job_t *job)
{
    ct_wf_t *w = (ct_wf_t *)job;
    wf_finish(w, job->result);
    if (w->on_done != NULL)
        w->on_done(w, job->result);
    if (w->session != NULL)
        w->session->ops->request_end(w->session);
    wf_free(w);
}

void ct_wf_write(ct_wf_t *w)
{
    w->job.apply = wf_apply;
    w->job.done = wf_write_done;
    if (w->session != NULL)
        w->session->ops->request_begin(w->session);
    ct_writer_submit(w->ctx->writer, &w->job);
}

static void wf_read_work(ct_store_t *st, void *arg)
{
    ct_wf_t *w = arg;
    w->job.result = w->run(w, st, ct_now_ms());
}

static void wf_read_done(void *arg)
{
    ct_wf_t *w = arg;
    ct_session_t *s = w->session;
    wf_finish(w, w->job.result);
    /* A read is audited after the fact, allowed or refused; the row still counts against the
     * connection's window until it is written. */
    if (w->job.result != 0 && w->job.audit.outcome == CT_AUDIT_SUCCESS)
        ct_audit_rec_fail(&w->job.audit, w->job.result, NULL);
    (void)ct_dispatch_audit(w->ctx, s, &w->job.audit);
    s->ops->request_end(s);
    wf_free(w);
}

int ct_wf_read(ct_wf_t *w)
{
    w->session->ops->request_begin(w->session);
    int r = ct_readers_submit(w->ctx->readers, wf_read_work, wf_read_done, w);
    if (r != 0) {
        w->session->ops->request_end(w->session);
        wf_free(w);
    }
    return r;
}

int ct_wf_reply(ct_wf_t *w, Careteam__V1__Envelope *env)
{
    env->request_id = w->request_id;
    ct_buf_reset(&w->reply);
    return ct_frame_append_envelope(&w->reply, env, UINT32_MAX);
}

int ct_wf_reply_body(ct_wf_t *w, Careteam__V1__Envelope__BodyCase body, const void *msg)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
        &careteam__v1__envelope__descriptor, (unsigned)body);
    if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return CT_EINTERNAL;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = body;
    /* The oneof's members share one pointer slot at the field's offset. */
    memcpy((char *)&env + f->offset, &msg, sizeof msg);
    return ct_wf_reply(w, &env);
}

int ct_wf_refuse(ct_wf_t *w, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->why, sizeof w->why, fmt, ap);
    va_end(ap);
    return err;
}

int ct_wf_relation(ct_store_t *st, const char *participant_id, const char *member_id, unsigned *rel)
{
    unsigned r = 0;
    int err = ct_store_relation(st, participant_id, member_id, &r);
    if (err != 0)
        return err;
    *rel = ((r & CT_STORE_REL_ON_TEAM) ? CT_REL_ON_TEAM : 0) |
           ((r & CT_STORE_REL_LOCKBOXED) ? CT_REL_LOCKBOXED : 0);
    return 0;
}

/* Keeps recipients who may receive this event: each once, and within the circle of care. */
static int event_recipients(ct_store_t *st, int kind, const char *participant_id,
                            const char *const *to, size_t n_to, char (*out)[CT_ID_MAX + 1],
                            size_t *n_out)
{
    size_t n = 0;
    for (size_t i = 0; i < n_to; i++) {
        if (to[i] == NULL || to[i][0] == '\0')
            continue;
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++)
            seen = strcmp(out[k], to[i]) == 0;
        if (seen)
            continue;
        unsigned rel = 0;
        int err = ct_wf_relation(st, participant_id, to[i], &rel);
        if (err != 0)
            return err;
        if ((rel & CT_REL_LOCKBOXED) || (kind != CT_MSG_REFERRAL && !(rel & CT_REL_ON_TEAM)))
            continue;
        ct_text_copy(out[n], sizeof out[n], to[i]);
        n++;
    }
    *n_out = n;
    return 0;
}

int ct_wf_emit(ct_wf_t *w, ct_store_t *st, int64_t now_ms, int kind, const char *event,
               const char *participant_id, const ProtobufCMessage *obj, const char *const *to,
               size_t n_to)
{
    if (n_to == 0)
        return 0;
    char(*rcpt)[CT_ID_MAX + 1] = calloc(n_to, sizeof *rcpt);
    if (rcpt == NULL)
        return CT_ENOMEM;
    size_t n = 0;
    int err = event_recipients(st, kind, participant_id, to, n_to, rcpt, &n);
    if (err != 0 || n == 0) {
        free(rcpt);
        return err;
    }
    ct_wf_event_t *grown = realloc(w->events, (w->n_events + 1) * sizeof *grown);
    if (grown == NULL) {
        free(rcpt);
        return CT_ENOMEM;
    }
    w->events = grown;
    ct_wf_event_t *ev = &w->events[w->n_events];
    memset(ev, 0, sizeof *ev);
    ev->to = rcpt;
    ev->n_to = n;
    w->n_events++; /* owned by w from here, whatever happens below */

    size_t plen = protobuf_c_message_get_packed_size(obj);
    uint8_t *payload = malloc(plen > 0 ? plen : 1);
    if (payload == NULL)
        return CT_ENOMEM;
    protobuf_c_message_pack(obj, payload);

    ct_message_t m;
    memset(&m, 0, sizeof m);
    err = ct_uuid7_next(w->ids, (uint64_t)now_ms, m.message_id);
    if (err == 0) {
        ct_text_copy(m.sender_id, sizeof m.sender_id, w->actor_id);
        m.sender_role = w->actor_role;
        /* Unique per sender, and not a valid client_msg_id of a client's (those have no
         * spaces), so a client can never collide with or replay an event. */
        snprintf(m.client_msg_id, sizeof m.client_msg_id, "event %s", m.message_id);
        ct_text_copy(m.participant_id, sizeof m.participant_id, participant_id);
        m.subject = "";
        m.body = "";
        m.priority = CARETEAM__V1__PRIORITY__PRIORITY_ROUTINE;
        m.stored_at_ms = now_ms;
        m.to = rcpt;
        m.n_to = n;
        m.kind = kind;
        ct_text_copy(m.event, sizeof m.event, event);
        m.payload = payload;
        m.payload_len = plen;
        static const uint8_t no_hash[32];
        ct_message_receipt_t receipt = {0};
        err = ct_store_message_insert(st, &m, no_hash, &receipt);
        ct_message_receipt_clear(&receipt); /* events withhold nobody; only the seq is used */
        if (err == 0) {
            m.seq = receipt.seq;
            ev->seq = receipt.seq;
            memcpy(ev->message_id, m.message_id, sizeof ev->message_id);
            memcpy(ev->participant_id, m.participant_id, sizeof ev->participant_id);
            err = ct_replay_encode_deliver(&m, &ev->frame, UINT32_MAX);
        }
    }
    free(payload);
    return err;
}

int ct_wf_audit(ct_wf_t *w, ct_store_t *st, int64_t now_ms, const char *action,
                const char *object_type, const char *object_id, const char *participant_id,
                const char *detail)
{
    ct_audit_t a = {
        .time_ms = now_ms,
        .actor_id = w->actor_id,
        .actor_role = w->actor_role,
        .cert_fp = w->job.audit.cert_fp,
        .peer_addr = w->job.audit.peer_addr,
        .action = action,
        .object_type = object_type,
        .object_id = object_id,
        .participant_id = participant_id,
        .outcome = CT_AUDIT_SUCCESS,
        .detail = detail != NULL ? detail : "",
    };
    int64_t seq = ct_store_audit_append(st, &a);
    return seq < 0 ? (int)seq : 0;
}

/* Names the relations of a grant, for refusals: "on the care team or the referral's assignee". */
static void describe_grant(unsigned grant, const char *participant_id, char *out, size_t len)
{
    static const struct {
        unsigned bit;
        const char *what;
    } names[] = {
        {CT_REL_ON_TEAM, "on participant %s's care team"},
        {CT_REL_REFERRER, "the referral's referrer"},
        {CT_REL_ADDRESSEE, "the referral's addressee"},
        {CT_REL_ASSIGNEE, "the referral's assignee"},
        {CT_REL_SUPERVISOR, "the supervisor of its peer worker"},
    };
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(grant & names[i].bit))
            continue;
        if (used > 0 && used < len)
            used += (size_t)snprintf(out + used, len - used, " or ");
        if (used < len) {
            int n = names[i].bit == CT_REL_ON_TEAM
                        ? snprintf(out + used, len - used, names[i].what, participant_id)
                        : snprintf(out + used, len - used, "%s", names[i].what);
            used += n > 0 ? (size_t)n : 0;
        }
    }
}

int ct_wf_authorize(ct_wf_t *w, ct_store_t *st, const char *participant_id, unsigned extra,
                    unsigned *rel_out)
{
    ct_participant_t p;
    int err = ct_store_participant_get(st, participant_id, &p);
    if (err == CT_ENOTFOUND)
        return ct_wf_refuse(w, CT_ENOTFOUND,
                            "participant %s is not registered; check the id with your "
                            "administrator",
                            participant_id);
    if (err != 0)
        return err;
    unsigned rel = 0;
    err = ct_wf_relation(st, participant_id, w->actor_id, &rel);
    if (err != 0)
        return err;
    rel |= extra;
    if (rel_out != NULL)
        *rel_out = rel;
    Careteam__V1__Envelope__BodyCase request = w->req->body_case;
    if (ct_authz_allowed(request, w->actor_role, rel))
        return 0;
    ct_audit_rec_fail(&w->job.audit, CT_EFORBIDDEN,
                      (rel & CT_REL_LOCKBOXED) ? "reason=lockbox" : "reason=relation");
    if (rel & CT_REL_LOCKBOXED)
        return ct_wf_refuse(w, CT_EFORBIDDEN,
                            "participant %s has restricted you from their care (lockbox); you "
                            "cannot send, receive or read anything about them",
                            participant_id);
    unsigned grant = ct_authz_grant(request, w->actor_role);
    if (grant == CT_REL_ON_TEAM)
        return ct_wf_refuse(w, CT_EFORBIDDEN,
                            "you are not on participant %s's care team; ask the administrator to "
                            "add you (careteamd team add) or accept a referral for them",
                            participant_id);
    char need[200];
    describe_grant(grant, participant_id, need, sizeof need);
    return ct_wf_refuse(w, CT_EFORBIDDEN, "this request needs you to be %s", need);
}

int ct_wf_split_lines(const char *text, char **buf, char ***v, size_t *n)
{
    *buf = NULL;
    *v = NULL;
    *n = 0;
    if (text == NULL || text[0] == '\0')
        return 0;
    size_t count = 1;
    for (const char *p = text; *p; p++)
        count += *p == '\n';
    *buf = strdup(text);
    *v = calloc(count, sizeof **v);
    if (*buf == NULL || *v == NULL) {
        free(*buf);
        free(*v);
        *buf = NULL;
        *v = NULL;
        return CT_ENOMEM;
    }
    char *save = NULL;
    for (char *tok = strtok_r(*buf, "\n", &save); tok != NULL; tok = strtok_r(NULL, "\n", &save))
        (*v)[(*n)++] = tok;
    return 0;
}

int ct_wf_join_lines(char *why, size_t whylen, const char *field, char *const *v, size_t n,
                     size_t n_max, size_t item_max, char *out, size_t outlen)
{
    if (n > n_max) {
        snprintf(why, whylen, "%s has %zu items; at most %zu", field, n, n_max);
        return CT_EINVAL;
    }
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(v[i]);
        if (len == 0 || len > item_max || strpbrk(v[i], "\r\n") != NULL) {
            snprintf(why, whylen, "%s item %zu must be 1-%zu bytes on one line", field, i + 1,
                     item_max);
            return CT_EINVAL;
        }
        if (used + len + 2 > outlen) {
            snprintf(why, whylen, "%s is too long in total (at most %zu bytes)", field, outlen - 1);
            return CT_EINVAL;
        }
        if (i > 0)
            out[used++] = '\n';
        memcpy(out + used, v[i], len);
        used += len;
        out[used] = '\0';
    }
    return 0;
}

typedef struct clinicians {
    char (*ids)[CT_ID_MAX + 1];
    size_t n, cap;
} clinicians_t;

static int collect_clinician(const ct_team_entry_t *e, void *arg)
{
    clinicians_t *c = arg;
    if (!e->member.active || !ct_authz_is_clinician(e->member.role))
        return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        void *grown = realloc(c->ids, cap * sizeof *c->ids);
        if (grown == NULL)
            return CT_ENOMEM;
        c->ids = grown;
        c->cap = cap;
    }
    ct_text_copy(c->ids[c->n], sizeof c->ids[c->n], e->member.id);
    c->n++;
    return 0;
}

int ct_wf_team_clinicians(ct_store_t *st, const char *participant_id, char (**ids)[CT_ID_MAX + 1],
                          size_t *n)
{
    clinicians_t c = {0};
    int err = ct_store_team_list(st, participant_id, collect_clinician, &c);
    *ids = c.ids;
    *n = c.n;
    return err < 0 ? err : 0;
}
