/*
 * Inbox replay (see replay.h). Pages of pending messages are read on the thread pool and sent
 * from the loop. Sending pauses whenever the connection's output backlog reaches
 * REPLAY_BACKLOG_MAX and resumes when it has drained, so a member with a large inbox neither
 * blocks the loop, nor holds more than one page in memory, nor trips the slow-consumer limit
 * (max_output) that protects the daemon from clients that do not read.
 *
 * A page goes out in chunks that fit the room left under that limit. Each chunk's frames are
 * encoded first and its message.deliver rows committed (one writer job, one row per message)
 * before its bytes are queued: no message is shown before its delivery is on record.
 */
#include "replay.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "frame.h"
#include "log.h"

/* Messages per page: enough to amortise a read, small enough to bound one callback's work. */
#define REPLAY_PAGE 256
/* Output queued before the replay waits for the socket to drain (see backlog_limit). */
#define REPLAY_BACKLOG_MAX (256u * 1024u)

typedef struct replay {
    const ct_handler_ctx_t *ctx;
    ct_session_t *session; /* referenced until the replay ends */
    int64_t after_seq;     /* last seq sent */
    uint64_t sent;
    int n;          /* messages in page, or a negative CT_E* from the read */
    int next;       /* index of the next message of the page to send */
    ct_buf_t chunk; /* the Deliver frames of page[next - chunk_n .. next), waiting for their rows */
    int chunk_n;
    ct_message_t page[REPLAY_PAGE];
} replay_t;

/* The message.deliver rows of one chunk. */
typedef struct chunk_job {
    ct_job_t job; /* first member */
    replay_t *rp;
    int n;
    ct_audit_rec_t recs[];
} chunk_job_t;

int ct_replay_encode_deliver(const ct_message_t *m, ct_buf_t *out, size_t max_frame)
{
    Careteam__V1__Message msg = CARETEAM__V1__MESSAGE__INIT;
    char *to[256];
    char **tov = m->n_to <= 256 ? to : calloc(m->n_to, sizeof *tov);
    if (tov == NULL)
        return CT_ENOMEM;
    for (size_t i = 0; i < m->n_to; i++)
        tov[i] = (char *)m->to[i];
    msg.message_id = (char *)m->message_id;
    msg.sender_id = (char *)m->sender_id;
    msg.sender_role = (Careteam__V1__Role)m->sender_role;
    msg.n_to = m->n_to;
    msg.to = tov;
    msg.participant_id = (char *)m->participant_id;
    msg.subject = m->subject != NULL ? m->subject : "";
    msg.body = m->body != NULL ? m->body : "";
    msg.priority = (Careteam__V1__Priority)m->priority;
    msg.stored_at_ms = m->stored_at_ms;
    msg.kind = m->kind != 0 ? (Careteam__V1__MessageKind)m->kind
                            : CARETEAM__V1__MESSAGE_KIND__MESSAGE_KIND_TEXT;
    msg.event = (char *)m->event;
    /* A workflow event carries its object as the bytes the handler packed; unpack them into the
     * matching field (a payload that does not decode is left out rather than failing the
     * delivery: the event and its ids still reach the member). */
    ProtobufCMessage *obj = NULL;
    if (m->payload_len > 0) {
        switch (m->kind) {
        case CT_MSG_REFERRAL:
            msg.referral = careteam__v1__referral__unpack(NULL, m->payload_len, m->payload);
            obj = (ProtobufCMessage *)msg.referral;
            break;
        case CT_MSG_SUMMARY:
            msg.summary = careteam__v1__summary__unpack(NULL, m->payload_len, m->payload);
            obj = (ProtobufCMessage *)msg.summary;
            break;
        case CT_MSG_ALERT:
            msg.alert = careteam__v1__alert__unpack(NULL, m->payload_len, m->payload);
            obj = (ProtobufCMessage *)msg.alert;
            break;
        default:
            break;
        }
    }
    Careteam__V1__Deliver d = CARETEAM__V1__DELIVER__INIT;
    d.message = &msg;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_DELIVER;
    env.deliver = &d;
    int r = ct_frame_append_envelope(out, &env, max_frame);
    if (tov != to)
        free(tov);
    if (obj != NULL)
        protobuf_c_message_free_unpacked(obj, NULL);
    return r;
}

static void read_page(ct_store_t *st, void *arg)
{
    replay_t *rp = arg;
    rp->n = ct_store_inbox_page(st, rp->session->member_id, rp->after_seq, rp->page, REPLAY_PAGE);
}

static void replay_end(replay_t *rp)
{
    ct_session_t *s = rp->session;
    if (s->open) {
        Careteam__V1__ReplayComplete rc = CARETEAM__V1__REPLAY_COMPLETE__INIT;
        rc.replayed = rp->sent;
        Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
        env.body_case = CARETEAM__V1__ENVELOPE__BODY_REPLAY_COMPLETE;
        env.replay_complete = &rc;
        ct_session_send_envelope(s, &env);
        s->ops->replay_done(s);
    }
    for (int i = rp->next; i < rp->n; i++)
        ct_message_clear(&rp->page[i]); /* closed mid-page (no chunk is in flight here) */
    ct_buf_free(&rp->chunk);
    ct_session_release(s);
    free(rp);
}

static void page_done(void *arg);
static void send_page(void *arg);

/* Output the replay may leave queued: below REPLAY_BACKLOG_MAX, and low enough that one more
 * frame (at most max_frame) still fits under the slow-consumer limit max_output (the config
 * guarantees max_output >= max_frame; at equality the replay sends one frame at a time). */
static size_t backlog_limit(const ct_config_t *cfg)
{
    uint64_t room = cfg->max_output - cfg->max_frame;
    return room < REPLAY_BACKLOG_MAX ? (size_t)room : REPLAY_BACKLOG_MAX;
}

static int chunk_apply(ct_job_t *job, ct_store_t *st, const ct_writer_env_t *env)
{
    chunk_job_t *c = (chunk_job_t *)job;
    for (int i = 0; i < c->n; i++) {
        int r = ct_dispatch_delivery_append(st, env, &c->recs[i]);
        if (r != 0)
            return r;
    }
    return 0;
}

static void chunk_send(void *arg);

/* Loop thread: the chunk's rows are committed (or not); send it and go on. */
static void chunk_done(ct_job_t *job)
{
    chunk_job_t *c = (chunk_job_t *)job;
    replay_t *rp = c->rp;
    ct_session_t *s = rp->session;
    int result = job->result;
    free(c);
    if (result != 0 && s->open) {
        /* Not on record, so not sent: the messages stay pending for the next replay. */
        ct_log_error("replay.audit_failed", "conn=%llu code=%s", (unsigned long long)s->id,
                     ct_errname(result));
        ct_session_send_error(s, 0, CT_EUNAVAIL, "your inbox could not be sent; reconnect later");
        s->ops->close(s);
    }
    chunk_send(rp);
}

/* Queues the recorded chunk, once it fits under max_output: replies queued while its rows were
 * committed (DeliveryAck answers) may have taken the room it was sized for. */
static void chunk_send(void *arg)
{
    replay_t *rp = arg;
    ct_session_t *s = rp->session;
    size_t backlog = s->open ? s->ops->backlog(s) : 0;
    if (backlog > 0 && backlog + rp->chunk.len > rp->ctx->cfg->max_output) {
        s->ops->when_drained(s, chunk_send, rp);
        return;
    }
    if (s->open && s->ops->send(s, rp->chunk.data, rp->chunk.len) == 0) {
        rp->sent += (uint64_t)rp->chunk_n;
        rp->after_seq = rp->page[rp->next - 1].seq;
        s->replay_last_seq = rp->after_seq;
    }
    for (int i = rp->next - rp->chunk_n; i < rp->next; i++)
        ct_message_clear(&rp->page[i]);
    rp->chunk_n = 0;
    ct_buf_reset(&rp->chunk);
    send_page(rp);
}

/* Encodes the next chunk of the page into rp->chunk, up to `room` bytes (at least one frame),
 * and submits its rows. Returns 0, or CT_E* (the session is then closed). */
static int chunk_submit(replay_t *rp, size_t room)
{
    ct_session_t *s = rp->session;
    int n = 0;
    while (rp->next + n < rp->n && (n == 0 || rp->chunk.len < room)) {
        if (ct_replay_encode_deliver(&rp->page[rp->next + n], &rp->chunk, UINT32_MAX) != 0) {
            /* Skipping it would show this session a gap in the order; the message stays
             * pending, so end the session and let the client reconnect. */
            ct_log_error("replay.encode_failed", "conn=%llu", (unsigned long long)s->id);
            return CT_ENOMEM;
        }
        n++;
    }
    chunk_job_t *c = calloc(1, sizeof *c + (size_t)n * sizeof c->recs[0]);
    if (c == NULL)
        return CT_ENOMEM;
    for (int i = 0; i < n; i++) {
        const ct_message_t *m = &rp->page[rp->next + i];
        ct_dispatch_delivery_rec(&c->recs[i], s, m->message_id, m->participant_id, "replay=1");
    }
    c->rp = rp;
    c->n = n;
    c->job.apply = chunk_apply;
    c->job.done = chunk_done;
    rp->next += n;
    rp->chunk_n = n;
    ct_writer_submit(rp->ctx->writer, &c->job);
    return 0;
}

/* Sends the rest of the page chunk by chunk, pausing on a full output queue; then reads the next
 * page or ends the replay. */
static void send_page(void *arg)
{
    replay_t *rp = arg;
    ct_session_t *s = rp->session;
    if (rp->next < rp->n && s->open) {
        size_t backlog = s->ops->backlog(s);
        size_t limit = backlog_limit(rp->ctx->cfg);
        if (backlog > 0 && backlog >= limit) {
            s->ops->when_drained(s, send_page, rp);
            return;
        }
        if (chunk_submit(rp, limit - backlog) == 0)
            return; /* chunk_done goes on */
        ct_buf_reset(&rp->chunk);
        s->ops->close(s);
    }
    if (rp->n == REPLAY_PAGE && s->open) {
        rp->n = rp->next = 0;
        if (ct_readers_submit(rp->ctx->readers, read_page, page_done, rp) == 0)
            return;
        s->ops->close(s);
    }
    replay_end(rp);
}

static void page_done(void *arg)
{
    replay_t *rp = arg;
    ct_session_t *s = rp->session;
    if (rp->n < 0) {
        ct_log_error("replay.read_failed", "conn=%llu code=%s", (unsigned long long)s->id,
                     ct_errname(rp->n));
        ct_session_send_error(s, 0, CT_EUNAVAIL, "your inbox could not be read; reconnect later");
        s->ops->close(s);
        ct_session_release(s);
        ct_buf_free(&rp->chunk);
        free(rp);
        return;
    }
    rp->next = 0;
    send_page(rp);
}

int ct_replay_start(const ct_handler_ctx_t *ctx, ct_session_t *s)
{
    replay_t *rp = calloc(1, sizeof *rp);
    if (rp == NULL)
        return CT_ENOMEM;
    rp->ctx = ctx;
    rp->session = s;
    s->replaying = true;
    s->replay_last_seq = 0;
    ct_session_retain(s);
    int r = ct_readers_submit(ctx->readers, read_page, page_done, rp);
    if (r != 0) {
        s->replaying = false;
        ct_session_release(s);
        free(rp);
    }
    return r;
}
