/*
 * libcareteam: the C client of careteamd.
 *
 * Two layers:
 *  - ct_client_*: asynchronous, on a libuv loop the caller runs. Connect (TCP, mutual TLS 1.3,
 *    Hello/Welcome), requests matched to responses by request id, a callback for server pushes.
 *    Load generators and long-running clients use this.
 *  - ct_sync_*: blocking calls with timeouts on a private loop, for the CLI, scripts and tests.
 *
 * Messages are the generated protobuf-c types of proto/careteam.proto (careteam.pb-c.h).
 * Envelopes handed to callbacks are valid only during the callback; envelopes returned by
 * ct_sync_* belong to the caller, who frees them with ct_envelope_free.
 *
 * Errors are CT_E* codes (err.h). A response that is an Error frame is not a transport failure:
 * ct_response_status() maps it to the CT_E* code of its wire ErrorCode.
 *
 * SIGPIPE: writing to a connection the server has just closed raises SIGPIPE. The blocking layer
 * blocks it while it runs its loop. Programs that run ct_client_* on their own loop must ignore
 * it (signal(SIGPIPE, SIG_IGN)), as every libuv program that writes to sockets must.
 */
#ifndef CARETEAM_H
#define CARETEAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "careteam.pb-c.h"
#include "err.h"

#define CT_CLIENT_NAME "libcareteam/0.1"

typedef struct ct_client_opts {
    const char *server; /* "HOST:PORT", "[V6]:PORT" or "HOST" (port 7443) */
    const char *cert;   /* member certificate (PEM) */
    const char *key;    /* member private key (PEM) */
    const char *ca;     /* the careteam CA certificate (PEM) */
    /* The CA's revocation list (PEM, the server's DIR/crl.pem as published at the URL its
     * certificates name), or NULL / "": the server's certificate is then not checked for
     * revocation. When set, a server certificate the list revokes fails the connection ("...
     * certificate revoked"), and so does a list that is not the server CA's or has expired. */
    const char *crl;
    const char *client_name; /* sent in Hello; NULL for CT_CLIENT_NAME */
    size_t max_frame;        /* largest frame accepted from the server; 0 for 1 MiB + 64 KiB */
} ct_client_opts_t;

typedef struct ct_client ct_client_t;

/* The connection is ready (status 0, Welcome received) or failed (status < 0, why says how:
 * the server's Error message when it sent one, else the TLS or network reason). */
typedef void (*ct_client_connect_cb)(ct_client_t *c, int status, const char *why, void *arg);
/* A response to a request: status 0 with resp, or CT_ECLOSED with resp NULL if the connection
 * ended first. An Error response comes with status 0; use ct_response_status(resp). */
typedef void (*ct_client_response_cb)(ct_client_t *c, int status,
                                      const Careteam__V1__Envelope *resp, void *arg);
/* A server push (request_id 0): Deliver, ReplayComplete, or a connection-level Error. */
typedef void (*ct_client_push_cb)(ct_client_t *c, const Careteam__V1__Envelope *push, void *arg);
/* The connection ended (after connect succeeded). err is CT_ECLOSED for an orderly close. */
typedef void (*ct_client_closed_cb)(ct_client_t *c, int err, const char *why, void *arg);

/*
 * Makes a client on loop: loads the certificate, key, CA and revocation list if any (errors name
 * the file). Returns 0 and *out, or CT_E* with errbuf set (CT_ETLS for a file that cannot be
 * loaded). Nothing is sent until ct_client_connect.
 */
int ct_client_new(uv_loop_t *loop, const ct_client_opts_t *opts, ct_client_t **out, char *errbuf,
                  size_t errlen);

/* Resolves, connects, handshakes and says Hello; cb runs exactly once. Returns 0 or CT_E*. */
int ct_client_connect(ct_client_t *c, ct_client_connect_cb cb, void *arg);

void ct_client_on_push(ct_client_t *c, ct_client_push_cb cb, void *arg);
void ct_client_on_closed(ct_client_t *c, ct_client_closed_cb cb, void *arg);

/*
 * Sends a request. The client assigns env->request_id (any value set is overwritten); cb runs
 * once with the response. Returns 0, CT_ECLOSED if not connected, or CT_ETOOBIG / CT_ENOMEM.
 * CT_ETOOBIG, and CT_ENOMEM before anything was queued, leave the connection as it was; CT_ENOMEM
 * from queuing the bytes closes it (the closed callback follows), since part of the frame may
 * have been queued.
 */
int ct_client_request(ct_client_t *c, Careteam__V1__Envelope *env, ct_client_response_cb cb,
                      void *arg);

/* Writes bytes as they are, without framing: for diagnostics and protocol tests only. */
int ct_client_send_raw(ct_client_t *c, const uint8_t *bytes, size_t len);

/* The server's Welcome (valid while the client lives), or NULL before it arrived. */
const Careteam__V1__Welcome *ct_client_welcome(const ct_client_t *c);

/* Requests not yet answered. */
size_t ct_client_pending(const ct_client_t *c);

/*
 * Closes the connection (what is queued is sent first) and frees the client once the socket is
 * closed. After this call the only callbacks are: each request still pending gets its response
 * callback with CT_ECLOSED (so its owner can free what it attached), then the closed callback,
 * once. Safe from any callback of this client. Calling it again while the close is still sending
 * drops what is queued and closes at once (for a server that has stopped reading).
 */
void ct_client_close(ct_client_t *c);

/* ---- results -------------------------------------------------------------------------------- */

/* 0 for a success response, the CT_E* code of an Error response. */
int ct_response_status(const Careteam__V1__Envelope *resp);

/* The Error message of an Error response, or "" for anything else. */
const char *ct_response_message(const Careteam__V1__Envelope *resp);

void ct_envelope_free(Careteam__V1__Envelope *env);

/* ---- blocking layer ---------------------------------------------------------------------------
 */

typedef struct ct_sync ct_sync_t;

/*
 * Connects and waits for Welcome, at most timeout_ms. Returns 0 and *out, or CT_E* with errbuf
 * holding why (the server's own message when it refused us).
 */
int ct_sync_connect(const ct_client_opts_t *opts, int timeout_ms, ct_sync_t **out, char *errbuf,
                    size_t errlen);

/* Sends req and waits for its response (*resp, caller frees). Pushes arriving meanwhile are
 * queued for ct_sync_next_push. Returns 0, CT_ETIMEDOUT or CT_ECLOSED. */
int ct_sync_call(ct_sync_t *s, Careteam__V1__Envelope *req, int timeout_ms,
                 Careteam__V1__Envelope **resp);

/* Waits for the next push (*push, caller frees). Returns 0, CT_ETIMEDOUT or CT_ECLOSED. */
int ct_sync_next_push(ct_sync_t *s, int timeout_ms, Careteam__V1__Envelope **push);

/* Waits until the connection closes (e.g. after a fatal Error) or timeout_ms. Returns 0 if it
 * closed, CT_ETIMEDOUT otherwise. */
int ct_sync_wait_closed(ct_sync_t *s, int timeout_ms);

/* True once the connection has ended. */
bool ct_sync_is_closed(const ct_sync_t *s);

/* Why the connection ended or failed ("" while open). */
const char *ct_sync_last_error(const ct_sync_t *s);

int ct_sync_send_raw(ct_sync_t *s, const uint8_t *bytes, size_t len);
const Careteam__V1__Welcome *ct_sync_welcome(const ct_sync_t *s);

/* Closes gracefully (queued requests are written first) and frees s. */
void ct_sync_close(ct_sync_t *s);

/* ---- request helpers (blocking) ----------------------------------------------------------------
 */

typedef struct ct_send_args {
    const char *client_msg_id;
    const char *const *to;
    size_t n_to;
    const char *participant_id; /* NULL or "" for none */
    const char *subject;        /* NULL for none */
    const char *body;
    int priority; /* Careteam__V1__Priority; 0 for routine */
} ct_send_args_t;

/* SendMessage; *resp is the Ack or Error (caller frees). Returns as ct_sync_call. */
int ct_sync_send_message(ct_sync_t *s, const ct_send_args_t *a, int timeout_ms,
                         Careteam__V1__Envelope **resp);

/* DeliveryAck for ids; *resp is Ok or Error (caller frees). Returns as ct_sync_call. */
int ct_sync_delivery_ack(ct_sync_t *s, const char *const *ids, size_t n, int timeout_ms,
                         Careteam__V1__Envelope **resp);

#endif
