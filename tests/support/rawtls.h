/*
 * A raw TLS client for integration tests: OpenSSL directly over a blocking socket, for what
 * libcareteam deliberately cannot do (connect without a certificate or with TLS 1.2 only, send a
 * request before Hello, put bytes on the wire that no encoder would produce). Every read and write
 * is bounded by socket timeouts of CT_TEST_RAW_IO_TIMEOUT_S, so a silent server fails the test
 * instead of hanging it. The test process must ignore SIGPIPE (ct_test_ignore_sigpipe).
 */
#ifndef CT_TEST_RAWTLS_H
#define CT_TEST_RAWTLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "careteam.pb-c.h"
#include "daemon.h"

#define CT_TEST_RAW_IO_TIMEOUT_S 5 /* SO_RCVTIMEO and SO_SNDTIMEO of every raw socket */

typedef struct ct_test_raw {
    int fd;        /* the TCP socket; -1 when not connected; owned */
    SSL_CTX *ctx;  /* owned; NULL when closed */
    SSL *ssl;      /* owned; NULL when closed */
    char why[256]; /* the OpenSSL reason of the last failure, for failure messages */
} ct_test_raw_t;

/* Opens a TCP connection to d->addr with the I/O timeouts set. Returns the socket, which the
 * caller closes; fails the test if the connection cannot be made. */
int ct_test_raw_tcp_connect(const ct_test_daemon_t *d);

/*
 * Connects r to d and runs the TLS handshake offering protocol versions min_version to
 * max_version (TLS1_2_VERSION, TLS1_3_VERSION), as member id, or with no client certificate when
 * id is NULL. The client verifies the server against d's CA. Returns true when the client side of
 * the handshake completed (in TLS 1.3 that is before the server has judged the client's
 * certificate: a refusal then shows on the first read); false with r->why set otherwise. Either
 * way r owns what it holds until ct_test_raw_close.
 */
bool ct_test_raw_connect(ct_test_raw_t *r, const ct_test_daemon_t *d, const char *id,
                         int min_version, int max_version);

/* As ct_test_raw_connect with TLS 1.3 only, but everything the client writes from then on, its
 * handshake included, goes on the wire `piece` bytes per send() with pause_us after each (and
 * TCP_NODELAY), so that the server reads records cut anywhere. */
bool ct_test_raw_connect_in_pieces(ct_test_raw_t *r, const ct_test_daemon_t *d, const char *id,
                                   size_t piece, unsigned pause_us);

/* Frees the TLS state and closes the socket without close_notify; r is then empty (fd -1). */
void ct_test_raw_close(ct_test_raw_t *r);

/* Writes len bytes as they are. Returns false with r->why set if the write failed (the server
 * may already have closed). */
bool ct_test_raw_write(ct_test_raw_t *r, const void *data, size_t len);

/* Asks for a TLS 1.3 key update, requesting the server's too; OpenSSL sends the KeyUpdate
 * message with the next write. Returns false with r->why set if OpenSSL refused. */
bool ct_test_raw_key_update(ct_test_raw_t *r);

/* Appends the Hello frame ct_test_raw_send_hello sends to out. */
void ct_test_append_hello(ct_buf_t *out);

/* Sends Hello (request id 1, client name "raw-test-client", the current protocol version).
 * Returns false with r->why set if the write failed. */
bool ct_test_raw_send_hello(ct_test_raw_t *r);

/* Reads one frame. Returns the envelope (the caller frees it with
 * careteam__v1__envelope__free_unpacked), or NULL with r->why set once the connection ended or
 * failed. Fails the test on a bad length prefix or a frame that is not an Envelope. */
Careteam__V1__Envelope *ct_test_raw_read_envelope(ct_test_raw_t *r);

/* Reads envelopes until one that is not a push (request id 0) arrives and returns it (the caller
 * frees it); fails the test if the connection ends first or 1,000 pushes come without one. */
Careteam__V1__Envelope *ct_test_raw_read_response(ct_test_raw_t *r);

#endif
