/*
 * SendMessage -> Ack, then Deliver to every live session of each recipient.
 *
 * Life of one request:
 *  1. loop thread (ct_handle_send_message): validate everything that needs no storage (ids,
 *     UTF-8, sizes, recipient count and duplicates), copy the request into a send_job, submit it.
 *     It also notes which recipients are online now (their message.deliver records).
 *  2. writer thread (apply_send): inside the batch transaction, check that recipients are active
 *     members who may receive messages, then store the message, one pending delivery per
 *     recipient and the audit row together; then (deliver_rows) the message.deliver rows of the
 *     recipients that were online, so that their Deliver needs no commit of its own. A resend of
 *     the same client_msg_id (found when the insert or a check refuses it) gets the original
 *     receipt.
 *  3. loop thread (done_send), after COMMIT: Ack to the sender, Deliver to live recipients.
 *     Nothing is acknowledged before it is durable; a failed commit answers UNAVAILABLE. A
 *     recipient that came online after step 1 gets its Deliver once its own row is committed
 *     (ct_dispatch_deliver); one that went offline keeps the message pending for its replay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "authz.h"
#include "digest.h"
#include "dispatch.h"
#include "err.h"
#include "frame.h"
#include "replay.h"
#include "workflow.h"
#include "text.h"

typedef struct send_job {
    ct_job_t job; /* first member: container_of is a cast */
    const ct_handler_ctx_t *ctx;
    ct_session_t *session; /* referenced until done */
    uint64_t request_id;
    ct_message_t msg; /* owned copies of the request's strings */
    uint8_t hash[CT_SHA256_LEN];
    bool duplicate; /* set by apply: this resend matched an earlier message */
    ct_message_receipt_t receipt;
    /* Per recipient, parallel to msg.to: its message.deliver record if it was online at
     * submit, else NULL. Owned; apply keeps it in step when it drops recipients. */
    ct_audit_rec_t **online;
    size_t n_online_slots; /* the length of online: the request's recipient count */
    char why[256];         /* apply's message for a refusal */
} send_job_t;

static void send_job_free(send_job_t *j)
{
    if (j->online != NULL) {
        for (size_t i = 0; i < j->n_online_slots; i++)
            free(j->online[i]);
        free(j->online);
    }
    ct_message_clear(&j->msg);
    ct_message_receipt_clear(&j->receipt);
    free(j);
}

/* Content fingerprint: a resend with the same client_msg_id must carry the same content. */
static int hash_request(const Careteam__V1__SendMessage *m, uint8_t out[CT_SHA256_LEN])
{
    ct_digest_t *d = ct_digest_new();
    if (d == NULL)
        return CT_ENOMEM;
    ct_digest_u64(d, m->n_to);
    for (size_t i = 0; i < m->n_to; i++)
        ct_digest_str(d, m->to[i]);
    ct_digest_str(d, m->participant_id);
    ct_digest_str(d, m->subject);
    ct_digest_str(d, m->body);
    /* UNSPECIFIED is stored as ROUTINE, so the two must not make a resend look different. */
    ct_digest_u64(d, m->priority == CARETEAM__V1__PRIORITY__PRIORITY_UNSPECIFIED
                         ? (uint64_t)CARETEAM__V1__PRIORITY__PRIORITY_ROUTINE
                         : (uint64_t)m->priority);
    return ct_digest_final(d, out);
}

static bool text_ok(const char *s, size_t max, size_t *len_out)
{
    size_t len = s != NULL ? strlen(s) : 0;
    *len_out = len;
    return len <= max && (len == 0 || ct_utf8_valid(s, len));
}

/* Checks what can be checked without storage. Returns 0 or CT_E* with req->why set. */
static int validate(ct_request_t *req, const Careteam__V1__SendMessage *m)
{
    const ct_config_t *cfg = req->ctx->cfg;
    size_t len;
    if (m->client_msg_id == NULL || !ct_client_msg_id_valid(m->client_msg_id)) {
        snprintf(req->why, sizeof req->why,
                 "client_msg_id must be 1-64 printable ASCII characters without spaces");
        return CT_EINVAL;
    }
    if (m->n_to == 0) {
        snprintf(req->why, sizeof req->why, "'to' must name at least one recipient");
        return CT_EINVAL;
    }
    if (m->n_to > cfg->max_recipients) {
        snprintf(req->why, sizeof req->why, "%zu recipients; a message may have at most %u",
                 m->n_to, cfg->max_recipients);
        return CT_EINVAL;
    }
    for (size_t i = 0; i < m->n_to; i++) {
        if (!ct_id_valid(m->to[i])) {
            snprintf(req->why, sizeof req->why,
                     "recipient %zu is not a member id (1-64 characters of A-Z a-z 0-9 . _ -)",
                     i + 1);
            return CT_EINVAL;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(m->to[k], m->to[i]) == 0) {
                snprintf(req->why, sizeof req->why, "recipient '%s' is listed twice", m->to[i]);
                return CT_EINVAL;
            }
        }
    }
    if (m->participant_id != NULL && m->participant_id[0] != '\0' &&
        !ct_id_valid(m->participant_id)) {
        snprintf(req->why, sizeof req->why,
                 "participant_id must be 1-64 characters of A-Z a-z 0-9 . _ -");
        return CT_EINVAL;
    }
    if (!text_ok(m->subject, SIZE_MAX, &len) || len > cfg->max_subject) {
        snprintf(req->why, sizeof req->why,
                 len > cfg->max_subject ? "subject is %zu bytes; the limit is %u"
                                        : "subject is not valid UTF-8 (%zu bytes, limit %u)",
                 len, cfg->max_subject);
        return len > cfg->max_subject ? CT_ETOOBIG : CT_EINVAL;
    }
    if (!text_ok(m->body, SIZE_MAX, &len) || len > cfg->max_body) {
        snprintf(req->why, sizeof req->why,
                 len > cfg->max_body ? "body is %zu bytes; the limit is %u"
                                     : "body is not valid UTF-8 (%zu bytes, limit %u)",
                 len, cfg->max_body);
        return len > cfg->max_body ? CT_ETOOBIG : CT_EINVAL;
    }
    if (len == 0) {
        snprintf(req->why, sizeof req->why, "body is empty; a message needs some text");
        return CT_EINVAL;
    }
    if ((int)m->priority < 0 || m->priority > CARETEAM__V1__PRIORITY__PRIORITY_STAT) {
        snprintf(req->why, sizeof req->why, "priority %d is not a known Priority value",
                 (int)m->priority);
        return CT_EINVAL;
    }
    return 0;
}

int ct_send_message_validate(const ct_config_t *cfg, const Careteam__V1__SendMessage *m, char *why,
                             size_t whylen)
{
    ct_handler_ctx_t ctx = {.cfg = cfg};
    ct_request_t req = {.ctx = &ctx};
    int r = validate(&req, m);
    if (why != NULL && whylen > 0)
        ct_text_copy(why, whylen, req.why);
    return r;
}

static char *dup_or_empty(const char *s)
{
    return strdup(s != NULL ? s : "");
}

/* Copies the request into j->msg (the job outlives the decoded envelope). */
static int copy_request(send_job_t *j, const ct_session_t *s, const Careteam__V1__SendMessage *m)
{
    ct_message_t *msg = &j->msg;
    ct_text_copy(msg->sender_id, sizeof msg->sender_id, s->member_id);
    msg->sender_role = s->role;
    ct_text_copy(msg->client_msg_id, sizeof msg->client_msg_id, m->client_msg_id);
    ct_text_copy(msg->participant_id, sizeof msg->participant_id,
                 m->participant_id != NULL ? m->participant_id : "");
    msg->priority = m->priority == CARETEAM__V1__PRIORITY__PRIORITY_UNSPECIFIED
                        ? CARETEAM__V1__PRIORITY__PRIORITY_ROUTINE
                        : (int)m->priority;
    msg->subject = dup_or_empty(m->subject);
    msg->body = dup_or_empty(m->body);
    msg->to = calloc(m->n_to, sizeof *msg->to);
    if (msg->subject == NULL || msg->body == NULL || msg->to == NULL)
        return CT_ENOMEM;
    msg->body_len = strlen(msg->body);
    msg->n_to = m->n_to;
    for (size_t i = 0; i < m->n_to; i++)
        ct_text_copy(msg->to[i], sizeof msg->to[i], m->to[i]);
    return 0;
}

/* Loop thread, at submit: the message.deliver record of each recipient online now. */
static int note_online(send_job_t *j, const ct_handler_ctx_t *ctx)
{
    j->online = calloc(j->msg.n_to, sizeof *j->online);
    if (j->online == NULL)
        return CT_ENOMEM;
    j->n_online_slots = j->msg.n_to;
    ct_audit_rec_t rec;
    for (size_t i = 0; i < j->msg.n_to; i++) {
        if (!ct_dispatch_online_rec(ctx, j->msg.to[i], &rec))
            continue;
        j->online[i] = malloc(sizeof rec);
        if (j->online[i] == NULL)
            return CT_ENOMEM;
        *j->online[i] = rec;
    }
    return 0;
}

/*
 * Writer thread: a message about a participant goes only between members of that participant's
 * care team. The sender must be on it (FORBIDDEN otherwise); a recipient off the team makes the
 * request FORBIDDEN; a recipient the participant has restricted (lockbox) is dropped from the
 * message and named in the Ack's withheld list.
 */
static int apply_circle_of_care(send_job_t *j, ct_store_t *st)
{
    ct_message_t *msg = &j->msg;
    if (msg->participant_id[0] == '\0')
        return 0;
    ct_participant_t p;
    int r = ct_store_participant_get(st, msg->participant_id, &p);
    if (r == CT_ENOTFOUND) {
        snprintf(j->why, sizeof j->why,
                 "participant %s is not registered; check the id with your administrator",
                 msg->participant_id);
        ct_audit_rec_fail(&j->job.audit, r, "reason=unknown_participant");
        return r;
    }
    if (r != 0)
        return r;
    unsigned rel = 0;
    r = ct_wf_relation(st, msg->participant_id, msg->sender_id, &rel);
    if (r != 0)
        return r;
    if (!ct_authz_allowed(CARETEAM__V1__ENVELOPE__BODY_SEND_MESSAGE, msg->sender_role, rel)) {
        snprintf(j->why, sizeof j->why,
                 (rel & CT_REL_LOCKBOXED)
                     ? "participant %s has restricted you from their care (lockbox); you cannot "
                       "send anything about them"
                     : "you are not on participant %s's care team; only its members may send "
                       "messages about them",
                 msg->participant_id);
        ct_audit_rec_fail(&j->job.audit, CT_EFORBIDDEN,
                          (rel & CT_REL_LOCKBOXED) ? "reason=lockbox"
                                                   : "reason=sender_not_on_team");
        return CT_EFORBIDDEN;
    }
    size_t kept = 0, withheld_len = 0;
    char withheld[CT_WITHHELD_MAX]; /* not = "": that zeroes all 4 KiB */
    withheld[0] = '\0';
    for (size_t i = 0; i < msg->n_to; i++) {
        r = ct_wf_relation(st, msg->participant_id, msg->to[i], &rel);
        if (r != 0)
            return r;
        if (rel & CT_REL_LOCKBOXED) {
            int n = snprintf(withheld + withheld_len, sizeof withheld - withheld_len, "%s%s",
                             withheld_len ? "\n" : "", msg->to[i]);
            if (n > 0 && (size_t)n < sizeof withheld - withheld_len)
                withheld_len += (size_t)n;
            free(j->online[i]); /* nothing is delivered to them, so nothing is recorded */
            j->online[i] = NULL;
            continue;
        }
        if (!(rel & CT_REL_ON_TEAM)) {
            snprintf(j->why, sizeof j->why,
                     "recipient '%s' is not on participant %s's care team; messages about a "
                     "participant go only to their care team",
                     msg->to[i], msg->participant_id);
            ct_audit_rec_fail(&j->job.audit, CT_EFORBIDDEN, "reason=recipient_not_on_team");
            return CT_EFORBIDDEN;
        }
        if (kept != i) {
            memcpy(msg->to[kept], msg->to[i], sizeof msg->to[kept]);
            j->online[kept] = j->online[i];
            j->online[i] = NULL;
        }
        kept++;
    }
    if (withheld_len > 0) {
        free(msg->withheld);
        msg->withheld = strdup(withheld);
        if (msg->withheld == NULL)
            return CT_ENOMEM;
    }
    msg->n_to = kept;
    return 0;
}

/* Writer thread: answers a resend of an earlier client_msg_id. Returns 0 (the same content: the
 * original receipt, j->duplicate set), CT_ECONFLICT (different content), CT_ENOTFOUND (no earlier
 * message) or a store error. */
static int answer_resend(send_job_t *j, ct_store_t *st)
{
    ct_message_t *msg = &j->msg;
    bool same = false;
    int r =
        ct_store_message_find(st, msg->sender_id, msg->client_msg_id, j->hash, &j->receipt, &same);
    if (r != 0)
        return r;
    if (!same) {
        snprintf(j->why, sizeof j->why,
                 "client_msg_id '%s' was already used for a different message; send new "
                 "content with a new client_msg_id",
                 msg->client_msg_id);
        ct_audit_rec_fail(&j->job.audit, CT_ECONFLICT, "reason=client_msg_id_reused");
        return CT_ECONFLICT;
    }
    j->duplicate = true;
    ct_audit_rec_object(&j->job.audit, "message", j->receipt.message_id);
    snprintf(j->job.audit.detail, sizeof j->job.audit.detail, "duplicate=1");
    return 0;
}

/* Writer thread: checks the recipients and the circle of care, then stores the message. */
static int store_new(send_job_t *j, ct_store_t *st, const ct_writer_env_t *env)
{
    ct_message_t *msg = &j->msg;
    ct_job_t *job = &j->job;
    int r = 0;
    for (size_t i = 0; i < msg->n_to; i++) {
        ct_member_t m;
        r = ct_store_member_get(st, msg->to[i], &m);
        if (r == CT_ENOTFOUND || (r == 0 && !m.active)) {
            snprintf(j->why, sizeof j->why,
                     "recipient '%s' is not an active member; check the id with your "
                     "administrator",
                     msg->to[i]);
            ct_audit_rec_fail(&job->audit, CT_ENOTFOUND, "reason=recipient_not_active");
            return CT_ENOTFOUND;
        }
        if (r != 0)
            return r;
        if (!ct_authz_may_receive_messages(m.role)) {
            snprintf(j->why, sizeof j->why,
                     "recipient '%s' has role %s, which does not receive clinical messages",
                     msg->to[i], ct_role_name(m.role));
            ct_audit_rec_fail(&job->audit, CT_EFORBIDDEN, "reason=recipient_role");
            return CT_EFORBIDDEN;
        }
    }
    r = apply_circle_of_care(j, st);
    if (r != 0)
        return r;
    r = ct_uuid7_next(env->ids, (uint64_t)env->now_ms, msg->message_id);
    if (r != 0)
        return r;
    msg->stored_at_ms = env->now_ms;
    r = ct_store_message_insert(st, msg, j->hash, &j->receipt);
    if (r != 0)
        return r;
    msg->seq = j->receipt.seq;
    ct_audit_rec_object(&job->audit, "message", msg->message_id);
    size_t n_withheld = 0;
    for (const char *p = j->receipt.withheld; p != NULL && *p; p++)
        n_withheld += p == j->receipt.withheld || *p == '\n';
    snprintf(job->audit.detail, sizeof job->audit.detail, "recipients=%zu withheld=%zu priority=%d",
             msg->n_to, n_withheld, msg->priority);
    return 0;
}

/*
 * Writer thread. See the file comment, step 2. A new message is the common case, so it is checked
 * and inserted first, and an earlier message with this client_msg_id is looked for only when that
 * fails: the insert's unique (sender, client_msg_id) index finds a resend anyway, and a lookup
 * ahead of every insert was 3 % of the daemon's instructions (docs/performance.md). A refused
 * check is looked up too, so that a resend is answered with its original receipt whatever has
 * changed since (a recipient deactivated, a restriction added), as when the lookup came first;
 * the job's audit record is then put back as it was before the checks. A transient error before
 * the insert (a store read, the id generator, memory) is answered as such, not with the earlier
 * receipt: the client's retry gets that. Every refusal comes before the insert writes anything,
 * which is what lets this job run without a savepoint (writer.h, no_savepoint).
 */
static int apply_send(ct_job_t *job, ct_store_t *st, const ct_writer_env_t *env)
{
    send_job_t *j = (send_job_t *)job;
    ct_audit_rec_t before = job->audit;
    int r = store_new(j, st, env);
    if (r != CT_EEXISTS && r != CT_ENOTFOUND && r != CT_EFORBIDDEN)
        return r;
    ct_audit_rec_t refused = job->audit;
    job->audit = before;
    int found = answer_resend(j, st);
    if (found == CT_ENOTFOUND) {
        job->audit = refused; /* no earlier message: the refusal stands */
        return r;
    }
    if (found != CT_ECONFLICT)
        j->why[0] = '\0'; /* a duplicate, or the lookup's own error: not the refusal's text */
    return found;
}

/* Writer thread, after the message.send row: the deliveries to recipients online at submit. */
static int deliver_rows(ct_job_t *job, ct_store_t *st, const ct_writer_env_t *env)
{
    send_job_t *j = (send_job_t *)job;
    if (j->duplicate)
        return 0; /* a resend delivers nothing */
    for (size_t i = 0; i < j->msg.n_to; i++) {
        ct_audit_rec_t *rec = j->online[i];
        if (rec == NULL)
            continue;
        ct_audit_rec_object(rec, "message", j->msg.message_id);
        ct_text_copy(rec->participant_id, sizeof rec->participant_id, j->msg.participant_id);
        int r = ct_dispatch_delivery_append(st, env, rec);
        if (r != 0)
            return r;
    }
    return 0;
}

/* Loop thread. See the file comment, step 3. */
static void done_send(ct_job_t *job)
{
    send_job_t *j = (send_job_t *)job;
    ct_session_t *s = j->session;
    if (job->result != 0) {
        ct_session_send_error(s, j->request_id, job->result, j->why[0] ? j->why : NULL);
    } else {
        Careteam__V1__Ack ack = CARETEAM__V1__ACK__INIT;
        ack.client_msg_id = j->msg.client_msg_id;
        ack.message_id = j->receipt.message_id;
        ack.stored_at_ms = j->receipt.stored_at_ms;
        ack.duplicate = j->duplicate;
        /* The withheld list, from this request or (for a resend) the stored message. */
        Careteam__V1__Withheld wh[64];
        Careteam__V1__Withheld *whp[64];
        char *save = NULL;
        for (char *id = j->receipt.withheld != NULL ? strtok_r(j->receipt.withheld, "\n", &save)
                                                    : NULL;
             id != NULL && ack.n_withheld < 64; id = strtok_r(NULL, "\n", &save)) {
            careteam__v1__withheld__init(&wh[ack.n_withheld]);
            wh[ack.n_withheld].member_id = id;
            wh[ack.n_withheld].reason =
                "the participant has restricted this member (lockbox); nothing about them is "
                "sent to this member";
            whp[ack.n_withheld] = &wh[ack.n_withheld];
            ack.n_withheld++;
        }
        ack.withheld = whp;
        Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
        env.request_id = j->request_id;
        env.body_case = CARETEAM__V1__ENVELOPE__BODY_ACK;
        env.ack = &ack;
        ct_session_send_envelope(s, &env);
        if (!j->duplicate) {
            /* Encode once, send the same bytes to every live session of every recipient. A
             * recipient that is offline, or whose send fails, still has its pending row. */
            ct_buf_t frame = CT_BUF_INIT;
            if (ct_replay_encode_deliver(&j->msg, &frame, UINT32_MAX) == 0) {
                for (size_t i = 0; i < j->msg.n_to; i++)
                    ct_dispatch_deliver(j->ctx, j->msg.to[i], j->msg.seq, j->msg.message_id,
                                        j->msg.participant_id, frame.data, frame.len,
                                        j->online[i] != NULL);
            }
            ct_buf_free(&frame);
        }
    }
    s->ops->request_end(s);
    send_job_free(j);
}

int ct_handle_send_message(ct_request_t *req)
{
    const Careteam__V1__SendMessage *m = req->env->send_message;
    int r = validate(req, m);
    if (r != 0)
        return r;
    send_job_t *j = calloc(1, sizeof *j);
    if (j == NULL)
        return CT_ENOMEM;
    r = copy_request(j, req->session, m);
    if (r == 0)
        r = hash_request(m, j->hash);
    if (r == 0)
        r = note_online(j, req->ctx);
    if (r != 0) {
        send_job_free(j);
        return r;
    }
    j->ctx = req->ctx;
    j->session = req->session;
    j->request_id = req->request_id;
    j->job.apply = apply_send;
    j->job.audit_more = deliver_rows;
    j->job.no_savepoint = true; /* apply_send refuses before it writes (writer.h) */
    j->job.done = done_send;
    j->job.has_audit = true;
    ct_audit_rec_init(&j->job.audit, req->session, req->action);
    ct_text_copy(j->job.audit.participant_id, sizeof j->job.audit.participant_id,
                 j->msg.participant_id);
    req->session->ops->request_begin(req->session);
    ct_writer_submit(req->ctx->writer, &j->job);
    return 0;
}
