/*
 * Inbox replay (see replay.h). Pages of pending messages are read on the thread pool and sent
 * from the loop. Sending pauses whenever the connection's output backlog reaches
 * REPLAY_BACKLOG_MAX and resumes when it has drained, so a member with a large inbox neither
 * blocks the loop, nor holds more than one page in memory, nor trips the slow-consumer limit
 * (max_output) that protects the daemon from clients that do not read.
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
    int n;    /* messages in page, or a negative CT_E* from the read */
    int next; /* index of the next message of the page to send */
    ct_message_t page[REPLAY_PAGE];
} replay_t;

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
    ct_session_release(s);
    free(rp);
}

static void page_done(void *arg);

/* Output the replay may leave queued: below REPLAY_BACKLOG_MAX, and low enough that one more
 * frame (at most max_frame) still fits under the slow-consumer limit max_output (the config
 * guarantees max_output >= max_frame; at equality the replay sends one frame at a time). */
static size_t backlog_limit(const ct_config_t *cfg)
{
    uint64_t room = cfg->max_output - cfg->max_frame;
    return room < REPLAY_BACKLOG_MAX ? (size_t)room : REPLAY_BACKLOG_MAX;
}

/* Sends what is left of the page, pausing on a full output queue; then reads the next page or
 * ends the replay. */
static void send_page(void *arg)
{
    replay_t *rp = arg;
    ct_session_t *s = rp->session;
    ct_buf_t frame = CT_BUF_INIT;
    while (rp->next < rp->n && s->open) {
        size_t backlog = s->ops->backlog(s);
        if (backlog > 0 && backlog >= backlog_limit(rp->ctx->cfg)) {
            ct_buf_free(&frame);
            s->ops->when_drained(s, send_page, rp);
            return;
        }
        ct_message_t *m = &rp->page[rp->next++];
        ct_buf_reset(&frame);
        if (ct_replay_encode_deliver(m, &frame, UINT32_MAX) != 0) {
            /* Skipping it would show this session a gap in the order; the message stays
             * pending, so end the session and let the client reconnect. */
            ct_log_error("replay.encode_failed", "conn=%llu", (unsigned long long)s->id);
            s->ops->close(s);
        } else if (s->ops->send(s, frame.data, frame.len) == 0) {
            ct_dispatch_audit_delivery(rp->ctx, s, m->message_id, m->participant_id, "replay=1");
            rp->sent++;
            rp->after_seq = m->seq;
            s->replay_last_seq = m->seq;
        }
        ct_message_clear(m);
    }
    ct_buf_free(&frame);
    for (int i = rp->next; i < rp->n; i++)
        ct_message_clear(&rp->page[i]); /* closed mid-page */
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
