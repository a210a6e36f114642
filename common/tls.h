/*
 * TLS over libuv, written once for the server and the client library.
 *
 * OpenSSL never touches the socket: it reads the bytes of each uv_read in place through a BIO of
 * ours, SSL_read yields plaintext, and the ciphertext OpenSSL writes goes through the same BIO
 * straight into an output queue, written with uv_write. This file is the only one that calls SSL_*
 * on a connection; callers deal in plaintext and callbacks.
 *
 * Writes: one uv_write in flight at a time. Ciphertext produced while a write is in flight
 * accumulates in `out` and goes in the next write, so a burst of small messages becomes few
 * syscalls. The `inflight` buffer is owned by the pending uv_write until its callback.
 *
 * Lifecycle (one enum, driven only here):
 *
 *   HANDSHAKE --handshake ok--> OPEN --ct_tls_close(graceful)--> DRAINING
 *       |                         |                                  |
 *       |  error, or              |  error, or                       |  output sent
 *       |  ct_tls_close(abort)    |  ct_tls_close(abort)             |
 *       v                         v                                  v
 *       +-----------------------> CLOSING <--------------------------+
 *                                    |
 *                          uv_close callback: on_error (if any), then on_close
 *
 * Callbacks never run inside the ct_tls_* call that caused them (no synchronous upcalls): they
 * run from libuv callbacks. After on_error, the connection is closing; on_close is the last
 * callback and the owner may free the memory holding the ct_tls_t then, not before.
 */
#ifndef CT_TLS_H
#define CT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "buf.h"

typedef struct ct_tls_ctx ct_tls_ctx_t;
typedef struct ct_tls ct_tls_t;

/*
 * A TLS 1.3-only context with mutual authentication: our certificate and key, and the CA that
 * peers' certificates must chain to. A server context requires a client certificate. A client
 * context verifies the server's certificate and its name (see ct_tls_set_hostname).
 * Returns 0, or CT_ETLS with errbuf naming the file or the OpenSSL reason.
 */
int ct_tls_ctx_new(bool server, const char *cert_path, const char *key_path, const char *ca_path,
                   ct_tls_ctx_t **out, char *errbuf, size_t errlen);

/*
 * A client context for a peer that is not careteam's (the syslog collector, syslog_fwd.c): TLS
 * 1.2 or 1.3, the server's certificate verified against ca_path and, with ct_tls_set_hostname,
 * its name. Our certificate and key are presented only when cert_path is neither NULL nor ""
 * (mutual TLS); then key_path is required. Returns 0, or CT_ETLS with errbuf naming the file or
 * the OpenSSL reason.
 */
int ct_tls_ctx_new_collector(const char *cert_path, const char *key_path, const char *ca_path,
                             ct_tls_ctx_t **out, char *errbuf, size_t errlen);
void ct_tls_ctx_free(ct_tls_ctx_t *ctx);

/*
 * Loads the CRLs of a PEM file (at least one; any certificate in the file is ignored, never
 * trusted) into the context's trust store and turns on CRL checking for peer leaf certificates.
 * Returns 0 or CT_ETLS.
 */
int ct_tls_ctx_load_crl(ct_tls_ctx_t *ctx, const char *crl_path, char *errbuf, size_t errlen);

typedef enum ct_tls_state {
    CT_TLS_HANDSHAKE = 0,
    CT_TLS_OPEN,
    CT_TLS_DRAINING,
    CT_TLS_CLOSING,
} ct_tls_state_t;

typedef struct ct_tls_callbacks {
    /* The handshake completed; peer identity is available (peer_cn, peer_fp, peer_serial). */
    void (*on_handshake)(ct_tls_t *t);
    /* Plaintext arrived. data is valid only until the callback returns. */
    void (*on_read)(ct_tls_t *t, const uint8_t *data, size_t len);
    /* The output queue became empty (optional; may be NULL). */
    void (*on_drain)(ct_tls_t *t);
    /*
     * The connection failed (err is a CT_E* code; why is a short reason for logs and audit,
     * valid only during the call). EOF from the peer is reported as CT_ECLOSED. The connection is
     * already closing when this runs; no more reads follow.
     */
    void (*on_error)(ct_tls_t *t, int err, const char *why);
    /* The socket handle is closed: the last callback. The owner may free t now. */
    void (*on_close)(ct_tls_t *t);
} ct_tls_callbacks_t;

struct ssl_st;

/* The longest failure reason tls.c composes, with its NUL. */
#define CT_TLS_WHY_MAX 160

/*
 * One TLS connection. Embed it in the owner's connection struct and recover the owner with
 * container_of in the callbacks. Fields are private to tls.c except where noted.
 */
struct ct_tls {
    uv_tcp_t tcp; /* the socket; tcp.data is free for the owner's use */
    struct ssl_st *ssl;
    /* During on_uv_read only: the bytes of that read OpenSSL has not taken yet (not owned). */
    const uint8_t *in;
    size_t in_len;
    ct_tls_state_t state;
    const ct_tls_callbacks_t *cb;
    ct_buf_t out;      /* ciphertext waiting for the next uv_write */
    ct_buf_t inflight; /* ciphertext owned by the uv_write in flight */
    /* Plaintext written while a uv_write was in flight: sealed into as few records as its size
     * allows when that write completes (seal_plain), instead of one record per ct_tls_write. */
    ct_buf_t plain;
    bool writing;       /* a uv_write is in flight */
    bool reading;       /* uv_read_start is active */
    bool drain_wanted;  /* on_drain is owed once the backlog empties */
    bool out_oom;       /* ciphertext did not fit in `out`: the connection fails */
    int err;            /* first failure (CT_E*), reported in on_error; 0 if none */
    char *why;          /* its reason (owned; at most CT_TLS_WHY_MAX bytes as made here) */
    char peer_addr[64]; /* "ip:port" of the peer; readable by the owner */
    char peer_cn[65];   /* the peer certificate's subject CN after the handshake; readable */
    char peer_fp[65];   /* SHA-256 of the peer certificate, hex; readable */
    /* The peer certificate's serial in upper-case hex without leading zeros (BN_bn2hex), ""
     * if longer; readable, for revocation checks (server/pki.h). On a server, after a failed
     * handshake, the serial of the client certificate verification rejected. */
    char peer_serial[65];
};

/*
 * Prepares t on loop with the context and callbacks. On a server, call this, then
 * uv_accept(listener, (uv_stream_t *)&t->tcp), then ct_tls_start. On a client, call this, then
 * uv_tcp_connect on &t->tcp and ct_tls_start in the connect callback.
 * Returns 0 or a CT_E* code (then nothing needs freeing).
 */
int ct_tls_init(ct_tls_t *t, uv_loop_t *loop, ct_tls_ctx_t *ctx, bool server,
                const ct_tls_callbacks_t *cb);

/* Client only, before ct_tls_start: the name the server certificate must carry (DNS or IP). */
int ct_tls_set_hostname(ct_tls_t *t, const char *host);

/* Starts reading and the handshake (a client sends its ClientHello). Returns 0 or CT_E*. */
int ct_tls_start(ct_tls_t *t);

/*
 * Queues len bytes of plaintext for writing, in order. With no write in flight they are
 * encrypted and written at once; otherwise they wait, as plaintext, for that write to complete
 * and then go out with everything else written meanwhile, in as few TLS records as fit (a reply
 * batch of a busy connection costs one record, not one per frame). Returns 0, CT_ECLOSED if the
 * connection is no longer open, or CT_ENOMEM. After an error the connection is closing: on_error
 * and on_close follow from libuv callbacks, never synchronously.
 */
int ct_tls_write(ct_tls_t *t, const uint8_t *data, size_t len);

/* Bytes queued (plaintext waiting to be sealed, ciphertext) or in flight: the connection's
 * output backlog. */
size_t ct_tls_backlog(const ct_tls_t *t);

/* Stops / resumes reading from the socket without closing. A pause made during a read (in
 * on_handshake or on_read) does not hold back the rest of that read: OpenSSL has taken its bytes,
 * and their plaintext still reaches on_read before the pause takes effect. */
void ct_tls_pause(ct_tls_t *t);
void ct_tls_resume(ct_tls_t *t);

/*
 * Closes the connection. graceful: send close_notify and what is queued, then close the socket;
 * otherwise close the socket at once (queued output is dropped). Safe to call more than once and
 * from any callback; on_close follows exactly once.
 */
void ct_tls_close(ct_tls_t *t, bool graceful);

#endif
