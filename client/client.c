/*
 * libcareteam, asynchronous layer (see careteam.h).
 *
 * Lifecycle:
 *
 *   NEW -connect-> RESOLVING -> CONNECTING -> HANDSHAKE -Hello-> HELLO -Welcome-> READY
 *                      |              |             |               |                |
 *                      +--------------+-------------+---------------+----------------+
 *                                                   v
 *                                    CLOSED (socket closed; freed by ct_client_close)
 *
 * Invariants:
 *  - Each pending request has exactly one entry in `pending` until its callback runs.
 *  - connect_cb runs exactly once: with 0 on Welcome, or with the failure.
 *  - The client frees itself only after its socket is closed and ct_client_close was called,
 *    and never while one of its callbacks is on the stack (`in_callback` defers it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "careteam.h"
#include "frame.h"
#include "tls.h"

#define DEFAULT_PORT 7443

typedef enum client_state {
    CL_NEW = 0,
    CL_RESOLVING,
    CL_CONNECTING,
    CL_HANDSHAKE,
    CL_HELLO,
    CL_READY,
    CL_CLOSED,
} client_state_t;

typedef struct pending {
    struct pending *next;
    uint64_t request_id;
    ct_client_response_cb cb;
    void *arg;
} pending_t;

struct ct_client {
    uv_loop_t *loop;
    ct_tls_ctx_t *ctx; /* owned */
    ct_tls_t tls;
    bool tls_inited;
    uv_getaddrinfo_t gai;
    uv_connect_t creq;
    client_state_t state;
    char host[256];
    int port;
    char client_name[129];
    ct_frame_reader_t reader;
    size_t max_frame;
    uint64_t next_request_id;
    pending_t *pending, *pending_tail;
    size_t n_pending;
    Careteam__V1__Envelope *welcome_env; /* owned */
    ct_client_connect_cb connect_cb;
    void *connect_arg;
    ct_client_push_cb push_cb;
    void *push_arg;
    ct_client_closed_cb closed_cb;
    void *closed_arg;
    char server_error[256]; /* message of a connection-level Error from the server */
    int server_error_code;
    int in_callback;
    bool close_requested; /* ct_client_close was called: free when closed */
};

static void client_free(ct_client_t *c)
{
    ct_frame_reader_free(&c->reader);
    if (c->welcome_env != NULL)
        careteam__v1__envelope__free_unpacked(c->welcome_env, NULL);
    ct_tls_ctx_free(c->ctx);
    free(c);
}

int ct_response_status(const Careteam__V1__Envelope *resp)
{
    if (resp == NULL)
        return CT_ECLOSED;
    if (resp->body_case != CARETEAM__V1__ENVELOPE__BODY_ERROR)
        return 0;
    return ct_err_from_wire(resp->error != NULL ? (int)resp->error->code : 0);
}

const char *ct_response_message(const Careteam__V1__Envelope *resp)
{
    if (resp == NULL || resp->body_case != CARETEAM__V1__ENVELOPE__BODY_ERROR ||
        resp->error == NULL || resp->error->message == NULL)
        return "";
    return resp->error->message;
}

void ct_envelope_free(Careteam__V1__Envelope *env)
{
    if (env != NULL)
        careteam__v1__envelope__free_unpacked(env, NULL);
}

int ct_client_new(uv_loop_t *loop, const ct_client_opts_t *opts, ct_client_t **out, char *errbuf,
                  size_t errlen)
{
    *out = NULL;
    if (opts->server == NULL || opts->cert == NULL || opts->key == NULL || opts->ca == NULL) {
        if (errbuf != NULL)
            snprintf(errbuf, errlen, "server, certificate, key and CA must all be given");
        return CT_EINVAL;
    }
    ct_client_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return CT_ENOMEM;
    c->loop = loop;
    if (ct_addr_split(opts->server, c->host, sizeof c->host, &c->port, DEFAULT_PORT) != 0) {
        if (errbuf != NULL)
            snprintf(errbuf, errlen, "server address '%s' is not HOST, HOST:PORT or [V6]:PORT",
                     opts->server);
        free(c);
        return CT_EINVAL;
    }
    int r = ct_tls_ctx_new(false, opts->cert, opts->key, opts->ca, &c->ctx, errbuf, errlen);
    if (r != 0) {
        free(c);
        return r;
    }
    if (opts->crl != NULL && opts->crl[0] != '\0') {
        r = ct_tls_ctx_load_crl(c->ctx, opts->crl, errbuf, errlen);
        if (r != 0) {
            ct_tls_ctx_free(c->ctx);
            free(c);
            return r;
        }
    }
    snprintf(c->client_name, sizeof c->client_name, "%s",
             opts->client_name != NULL ? opts->client_name : CT_CLIENT_NAME);
    c->max_frame = opts->max_frame != 0 ? opts->max_frame : CT_FRAME_DEFAULT_MAX + 64 * 1024;
    ct_frame_reader_init(&c->reader, c->max_frame);
    c->next_request_id = 1;
    *out = c;
    return 0;
}

void ct_client_on_push(ct_client_t *c, ct_client_push_cb cb, void *arg)
{
    c->push_cb = cb;
    c->push_arg = arg;
}

void ct_client_on_closed(ct_client_t *c, ct_client_closed_cb cb, void *arg)
{
    c->closed_cb = cb;
    c->closed_arg = arg;
}

const Careteam__V1__Welcome *ct_client_welcome(const ct_client_t *c)
{
    return c->welcome_env != NULL ? c->welcome_env->welcome : NULL;
}

size_t ct_client_pending(const ct_client_t *c)
{
    return c->n_pending;
}

/* Reports the end of the connect attempt, once. */
static void finish_connect(ct_client_t *c, int status, const char *why)
{
    ct_client_connect_cb cb = c->connect_cb;
    c->connect_cb = NULL;
    if (cb != NULL) {
        c->in_callback++;
        cb(c, status, why, c->connect_arg);
        c->in_callback--;
    }
}

static void fail(ct_client_t *c, const char *why)
{
    (void)why;
    if (c->tls_inited)
        ct_tls_close(&c->tls, false);
}

/* ---- frames from the server ------------------------------------------------------------------ */

static pending_t *take_pending(ct_client_t *c, uint64_t id)
{
    pending_t **pp = &c->pending, *prev = NULL;
    for (; *pp != NULL; prev = *pp, pp = &(*pp)->next) {
        if ((*pp)->request_id == id) {
            pending_t *p = *pp;
            *pp = p->next;
            if (c->pending_tail == p)
                c->pending_tail = prev;
            c->n_pending--;
            return p;
        }
    }
    return NULL;
}

static void handle_envelope(ct_client_t *c, Careteam__V1__Envelope *env)
{
    if (c->state == CL_HELLO && env->request_id == 1) {
        if (env->body_case == CARETEAM__V1__ENVELOPE__BODY_WELCOME && env->welcome != NULL) {
            c->welcome_env = env;
            c->state = CL_READY;
            finish_connect(c, 0, "");
            return;
        }
        char why[300];
        snprintf(why, sizeof why, "the server refused Hello: %s", ct_response_message(env));
        c->server_error_code = ct_response_status(env);
        snprintf(c->server_error, sizeof c->server_error, "%s", why);
        careteam__v1__envelope__free_unpacked(env, NULL);
        fail(c, why);
        return;
    }
    if (env->request_id == 0) {
        if (env->body_case == CARETEAM__V1__ENVELOPE__BODY_ERROR) {
            /* A connection-level Error precedes the server closing: keep it as the reason. */
            c->server_error_code = ct_response_status(env);
            snprintf(c->server_error, sizeof c->server_error, "%s", ct_response_message(env));
        }
        if (c->push_cb != NULL && c->state == CL_READY) {
            c->in_callback++;
            c->push_cb(c, env, c->push_arg);
            c->in_callback--;
        }
        careteam__v1__envelope__free_unpacked(env, NULL);
        return;
    }
    pending_t *p = take_pending(c, env->request_id);
    if (p != NULL) {
        c->in_callback++;
        p->cb(c, 0, env, p->arg);
        c->in_callback--;
        free(p);
    }
    careteam__v1__envelope__free_unpacked(env, NULL);
}

static void on_tls_read(ct_tls_t *t, const uint8_t *data, size_t len)
{
    ct_client_t *c = (ct_client_t *)((char *)t - offsetof(ct_client_t, tls));
    if (ct_frame_reader_feed(&c->reader, data, len) != 0) {
        fail(c, "bad frame from server");
        return;
    }
    for (;;) {
        Careteam__V1__Envelope *env;
        int r = ct_frame_next_envelope(&c->reader, &env, NULL);
        if (r == 0)
            return;
        if (r < 0) {
            snprintf(c->server_error, sizeof c->server_error,
                     "the server sent a frame this client cannot read (%s)", ct_errname(r));
            fail(c, c->server_error);
            return;
        }
        handle_envelope(c, env);
        if (c->state == CL_CLOSED || c->tls.state != CT_TLS_OPEN)
            return;
    }
}

static int send_envelope(ct_client_t *c, const Careteam__V1__Envelope *env)
{
    ct_buf_t b = CT_BUF_INIT;
    int r = ct_frame_append_envelope(&b, env, UINT32_MAX);
    if (r == 0)
        r = ct_tls_write(&c->tls, b.data, b.len);
    ct_buf_free(&b);
    return r;
}

static void on_tls_handshake(ct_tls_t *t)
{
    ct_client_t *c = (ct_client_t *)((char *)t - offsetof(ct_client_t, tls));
    Careteam__V1__Hello h = CARETEAM__V1__HELLO__INIT;
    h.client_name = c->client_name;
    h.protocol_version = CARETEAM__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.request_id = 1;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    c->next_request_id = 2;
    c->state = CL_HELLO;
    if (send_envelope(c, &env) != 0)
        fail(c, "cannot send Hello");
}

static void on_tls_error(ct_tls_t *t, int err, const char *why)
{
    ct_client_t *c = (ct_client_t *)((char *)t - offsetof(ct_client_t, tls));
    (void)err;
    if (c->server_error[0] == '\0')
        snprintf(c->server_error, sizeof c->server_error, "%s", why);
}

static void on_tls_close(ct_tls_t *t)
{
    ct_client_t *c = (ct_client_t *)((char *)t - offsetof(ct_client_t, tls));
    bool was_ready = c->state == CL_READY;
    c->state = CL_CLOSED;
    const char *why = c->server_error[0] ? c->server_error : "the connection was closed";
    int err = c->server_error_code != 0 ? c->server_error_code : CT_ECLOSED;
    c->in_callback++;
    if (!was_ready)
        finish_connect(c, err, why);
    /* Requests that will never be answered. */
    while (c->pending != NULL) {
        pending_t *p = c->pending;
        c->pending = p->next;
        c->n_pending--;
        p->cb(c, CT_ECLOSED, NULL, p->arg);
        free(p);
    }
    c->pending_tail = NULL;
    if (was_ready && c->closed_cb != NULL)
        c->closed_cb(c, err, why, c->closed_arg);
    c->in_callback--;
    if (c->close_requested && c->in_callback == 0)
        client_free(c);
}

static const ct_tls_callbacks_t TLS_CALLBACKS = {
    .on_handshake = on_tls_handshake,
    .on_read = on_tls_read,
    .on_drain = NULL,
    .on_error = on_tls_error,
    .on_close = on_tls_close,
};

/* ---- connecting ---------------------------------------------------------------------------- */

static void on_connected(uv_connect_t *req, int status)
{
    ct_client_t *c = req->data;
    if (c->state == CL_CLOSED || c->tls.state == CT_TLS_CLOSING)
        return;
    if (status < 0) {
        snprintf(c->server_error, sizeof c->server_error, "cannot connect to %s:%d: %s", c->host,
                 c->port, uv_strerror(status));
        fail(c, c->server_error);
        return;
    }
    c->state = CL_HANDSHAKE;
    if (ct_tls_set_hostname(&c->tls, c->host) != 0 || ct_tls_start(&c->tls) != 0) {
        snprintf(c->server_error, sizeof c->server_error, "cannot start TLS");
        fail(c, c->server_error);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    ct_client_t *c = req->data;
    if (c->close_requested && c->state == CL_RESOLVING) {
        /* Closed while resolving: the TCP handle was never used. */
        uv_freeaddrinfo(res);
        ct_tls_close(&c->tls, false);
        return;
    }
    if (status < 0 || res == NULL) {
        snprintf(c->server_error, sizeof c->server_error, "cannot resolve '%s': %s", c->host,
                 uv_strerror(status));
        uv_freeaddrinfo(res);
        fail(c, c->server_error);
        return;
    }
    c->state = CL_CONNECTING;
    c->creq.data = c;
    int r = uv_tcp_connect(&c->creq, &c->tls.tcp, res->ai_addr, on_connected);
    uv_freeaddrinfo(res);
    if (r < 0) {
        snprintf(c->server_error, sizeof c->server_error, "cannot connect to %s:%d: %s", c->host,
                 c->port, uv_strerror(r));
        fail(c, c->server_error);
    }
}

int ct_client_connect(ct_client_t *c, ct_client_connect_cb cb, void *arg)
{
    if (c->state != CL_NEW)
        return CT_EPRECONDITION;
    int r = ct_tls_init(&c->tls, c->loop, c->ctx, false, &TLS_CALLBACKS);
    if (r != 0)
        return r;
    c->tls_inited = true;
    c->connect_cb = cb;
    c->connect_arg = arg;
    c->state = CL_RESOLVING;
    c->gai.data = c;
    char port[8];
    snprintf(port, sizeof port, "%d", c->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    r = uv_getaddrinfo(c->loop, &c->gai, on_resolved, c->host, port, &hints);
    if (r < 0) {
        snprintf(c->server_error, sizeof c->server_error, "cannot resolve '%s': %s", c->host,
                 uv_strerror(r));
        fail(c, c->server_error);
    }
    return 0;
}

int ct_client_request(ct_client_t *c, Careteam__V1__Envelope *env, ct_client_response_cb cb,
                      void *arg)
{
    if (c->state != CL_READY || c->tls.state != CT_TLS_OPEN)
        return CT_ECLOSED;
    pending_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return CT_ENOMEM;
    env->request_id = c->next_request_id++;
    int r = send_envelope(c, env);
    if (r != 0) {
        free(p);
        return r;
    }
    p->request_id = env->request_id;
    p->cb = cb;
    p->arg = arg;
    if (c->pending_tail != NULL)
        c->pending_tail->next = p;
    else
        c->pending = p;
    c->pending_tail = p;
    c->n_pending++;
    return 0;
}

int ct_client_send_raw(ct_client_t *c, const uint8_t *bytes, size_t len)
{
    if (c->tls.state != CT_TLS_OPEN)
        return CT_ECLOSED;
    return ct_tls_write(&c->tls, bytes, len);
}

void ct_client_close(ct_client_t *c)
{
    c->close_requested = true;
    if (!c->tls_inited) {
        client_free(c);
        return;
    }
    if (c->state == CL_CLOSED) {
        if (c->in_callback == 0)
            client_free(c);
        return; /* on_tls_close frees it when its callbacks return */
    }
    if (c->state == CL_RESOLVING)
        return; /* on_resolved closes the handle */
    ct_tls_close(&c->tls, true);
}
