/*
 * libcareteam, blocking layer (see careteam.h): one private loop per connection, run until the
 * awaited event or a timer fires.
 *
 * Ownership: responses and pushes are copied out of the callbacks (re-packed and unpacked, as
 * the callbacks' envelopes die with the callback) and belong to the caller once returned.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careteam.h"

/* How long ct_sync_close waits for queued output to reach the server before dropping it. */
#define CLOSE_GRACE_MS 3000

typedef struct push_node {
    struct push_node *next;
    Careteam__V1__Envelope *env;
} push_node_t;

struct ct_sync {
    uv_loop_t loop;
    uv_timer_t timer;
    ct_client_t *client;
    bool connected;
    bool closed;
    bool timed_out;
    int connect_status;
    char last_error[300];
    push_node_t *push_head, *push_tail;
    /* The call in progress. A response to an earlier call that timed out is dropped: it must not
     * be taken for the answer to this one. */
    bool waiting;
    uint64_t call_id;
    Careteam__V1__Envelope *resp;
    int resp_status;
};

/* Copies an envelope that is only valid during a callback. */
static Careteam__V1__Envelope *copy_envelope(const Careteam__V1__Envelope *env)
{
    size_t n = careteam__v1__envelope__get_packed_size(env);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL)
        return NULL;
    careteam__v1__envelope__pack(env, buf);
    Careteam__V1__Envelope *copy = careteam__v1__envelope__unpack(NULL, n, buf);
    free(buf);
    return copy;
}

static void on_timer(uv_timer_t *t)
{
    ct_sync_t *s = t->data;
    s->timed_out = true;
    uv_stop(t->loop); /* UV_RUN_ONCE may otherwise go on to block in poll */
}

static void arm(ct_sync_t *s, int timeout_ms)
{
    s->timed_out = false;
    /* The loop's clock is cached: after the caller spent time elsewhere it is stale, and a timer
     * started from it would already be due and let the next poll block without a deadline. */
    uv_update_time(&s->loop);
    uv_timer_start(&s->timer, on_timer, timeout_ms > 0 ? (uint64_t)timeout_ms : 1, 0);
}

/*
 * One loop iteration with SIGPIPE blocked on this thread. A write to a socket the server has
 * just closed raises SIGPIPE, whose default action would kill the caller's process; a library
 * must not impose a signal disposition on its host, so the signal is blocked while we run and
 * any instance of it we caused is consumed before it is unblocked.
 */
static void run_once(ct_sync_t *s)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    uv_run(&s->loop, UV_RUN_ONCE);
    sigset_t pending;
    if (!sigismember(&old, SIGPIPE) && sigpending(&pending) == 0 &&
        sigismember(&pending, SIGPIPE)) {
        struct timespec zero = {0, 0};
        (void)sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Runs the loop until *flag is true, the timer fires, or the connection closes. */
static void run_until(ct_sync_t *s, const bool *flag)
{
    while (!*flag && !s->timed_out && !s->closed)
        run_once(s);
    uv_timer_stop(&s->timer);
}

static void on_connect(ct_client_t *c, int status, const char *why, void *arg)
{
    (void)c;
    ct_sync_t *s = arg;
    s->connect_status = status;
    if (status == 0)
        s->connected = true;
    else {
        snprintf(s->last_error, sizeof s->last_error, "%s", why);
        s->closed = true;
    }
}

static void on_push(ct_client_t *c, const Careteam__V1__Envelope *env, void *arg)
{
    (void)c;
    ct_sync_t *s = arg;
    push_node_t *n = calloc(1, sizeof *n);
    if (n == NULL)
        return;
    n->env = copy_envelope(env);
    if (n->env == NULL) {
        free(n);
        return;
    }
    if (s->push_tail != NULL)
        s->push_tail->next = n;
    else
        s->push_head = n;
    s->push_tail = n;
}

static void on_closed(ct_client_t *c, int err, const char *why, void *arg)
{
    (void)c;
    (void)err;
    ct_sync_t *s = arg;
    s->closed = true;
    snprintf(s->last_error, sizeof s->last_error, "%s", why);
}

static void free_sync(ct_sync_t *s)
{
    while (s->push_head != NULL) {
        push_node_t *n = s->push_head;
        s->push_head = n->next;
        ct_envelope_free(n->env);
        free(n);
    }
    uv_close((uv_handle_t *)&s->timer, NULL);
    while (uv_loop_alive(&s->loop)) /* lets every handle finish closing */
        run_once(s);
    uv_loop_close(&s->loop);
    free(s);
}

int ct_sync_connect(const ct_client_opts_t *opts, int timeout_ms, ct_sync_t **out, char *errbuf,
                    size_t errlen)
{
    *out = NULL;
    ct_sync_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return CT_ENOMEM;
    uv_loop_init(&s->loop);
    uv_timer_init(&s->loop, &s->timer);
    s->timer.data = s;
    int r = ct_client_new(&s->loop, opts, &s->client, errbuf, errlen);
    if (r == 0) {
        ct_client_on_push(s->client, on_push, s);
        ct_client_on_closed(s->client, on_closed, s);
        r = ct_client_connect(s->client, on_connect, s);
    }
    if (r != 0) {
        if (s->client != NULL)
            ct_client_close(s->client);
        free_sync(s);
        return r;
    }
    arm(s, timeout_ms);
    run_until(s, &s->connected);
    if (!s->connected) {
        if (errbuf != NULL)
            snprintf(errbuf, errlen, "%s",
                     s->timed_out ? "timed out connecting to the server" : s->last_error);
        r = s->timed_out ? CT_ETIMEDOUT : (s->connect_status != 0 ? s->connect_status : CT_ECLOSED);
        ct_client_close(s->client);
        free_sync(s);
        return r;
    }
    *out = s;
    return 0;
}

static void on_response(ct_client_t *c, int status, const Careteam__V1__Envelope *resp, void *arg)
{
    (void)c;
    ct_sync_t *s = arg;
    if (!s->waiting || (resp != NULL && resp->request_id != s->call_id))
        return; /* the answer to a call that already gave up */
    s->resp_status = status;
    s->resp = resp != NULL ? copy_envelope(resp) : NULL;
    if (status == 0 && s->resp == NULL)
        s->resp_status = CT_ENOMEM;
    s->waiting = false;
}

int ct_sync_call(ct_sync_t *s, Careteam__V1__Envelope *req, int timeout_ms,
                 Careteam__V1__Envelope **resp)
{
    *resp = NULL;
    if (s->closed)
        return CT_ECLOSED;
    s->waiting = true;
    s->resp = NULL;
    s->resp_status = 0;
    int r = ct_client_request(s->client, req, on_response, s);
    if (r != 0) {
        s->waiting = false;
        return r;
    }
    s->call_id = req->request_id; /* set by ct_client_request */
    arm(s, timeout_ms);
    while (s->waiting && !s->timed_out && !s->closed)
        run_once(s);
    uv_timer_stop(&s->timer);
    if (s->waiting) {
        /* Timed out, or closed before the response. Stop waiting, so that a late answer (or the
         * CT_ECLOSED callback) is dropped by on_response. */
        s->waiting = false;
        return s->closed ? CT_ECLOSED : CT_ETIMEDOUT;
    }
    if (s->resp_status != 0)
        return s->resp_status;
    *resp = s->resp;
    s->resp = NULL;
    return 0;
}

int ct_sync_next_push(ct_sync_t *s, int timeout_ms, Careteam__V1__Envelope **push)
{
    *push = NULL;
    if (s->push_head == NULL && !s->closed) {
        arm(s, timeout_ms);
        while (s->push_head == NULL && !s->timed_out && !s->closed)
            run_once(s);
        uv_timer_stop(&s->timer);
    }
    if (s->push_head == NULL)
        return s->closed ? CT_ECLOSED : CT_ETIMEDOUT;
    push_node_t *n = s->push_head;
    s->push_head = n->next;
    if (s->push_head == NULL)
        s->push_tail = NULL;
    *push = n->env;
    free(n);
    return 0;
}

int ct_sync_wait_closed(ct_sync_t *s, int timeout_ms)
{
    bool never = false;
    arm(s, timeout_ms);
    run_until(s, &never);
    return s->closed ? 0 : CT_ETIMEDOUT;
}

bool ct_sync_is_closed(const ct_sync_t *s)
{
    return s->closed;
}

const char *ct_sync_last_error(const ct_sync_t *s)
{
    return s->last_error;
}

int ct_sync_send_raw(ct_sync_t *s, const uint8_t *bytes, size_t len)
{
    return ct_client_send_raw(s->client, bytes, len);
}

const Careteam__V1__Welcome *ct_sync_welcome(const ct_sync_t *s)
{
    return ct_client_welcome(s->client);
}

void ct_sync_close(ct_sync_t *s)
{
    if (s == NULL)
        return;
    /* Callbacks of requests still pending (CT_ECLOSED) run while the loop finishes closing;
     * with no call waiting, on_response ignores them. */
    s->waiting = false;
    ct_client_close(s->client);
    /* A server that stopped reading would keep the graceful close waiting forever: after
     * CLOSE_GRACE_MS the second ct_client_close drops what is still queued. */
    arm(s, CLOSE_GRACE_MS);
    while (!s->closed && !s->timed_out)
        run_once(s);
    uv_timer_stop(&s->timer);
    if (!s->closed)
        ct_client_close(s->client);
    free_sync(s);
}

int ct_sync_send_message(ct_sync_t *s, const ct_send_args_t *a, int timeout_ms,
                         Careteam__V1__Envelope **resp)
{
    Careteam__V1__SendMessage m = CARETEAM__V1__SEND_MESSAGE__INIT;
    m.client_msg_id = (char *)a->client_msg_id;
    m.n_to = a->n_to;
    m.to = (char **)a->to;
    m.participant_id = (char *)(a->participant_id != NULL ? a->participant_id : "");
    m.subject = (char *)(a->subject != NULL ? a->subject : "");
    m.body = (char *)(a->body != NULL ? a->body : "");
    m.priority = (Careteam__V1__Priority)a->priority;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_SEND_MESSAGE;
    env.send_message = &m;
    return ct_sync_call(s, &env, timeout_ms, resp);
}

int ct_sync_delivery_ack(ct_sync_t *s, const char *const *ids, size_t n, int timeout_ms,
                         Careteam__V1__Envelope **resp)
{
    Careteam__V1__DeliveryAck d = CARETEAM__V1__DELIVERY_ACK__INIT;
    d.n_message_ids = n;
    d.message_ids = (char **)ids;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_DELIVERY_ACK;
    env.delivery_ack = &d;
    return ct_sync_call(s, &env, timeout_ms, resp);
}
