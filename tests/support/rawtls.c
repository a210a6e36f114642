/*
 * The raw TLS client of integration tests (see rawtls.h). It is the only test code that calls
 * OpenSSL. Every SSL_* call that can fail is preceded by ERR_clear_error(), so the reason kept in
 * r->why belongs to that call and not to an earlier one.
 */
#include "rawtls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/err.h>

#include "frame.h"

int ct_test_raw_tcp_connect(const ct_test_daemon_t *d)
{
    const char *colon = strrchr(d->addr, ':');
    cr_assert_not_null(colon, "daemon address '%s'", d->addr);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct timeval tv = {.tv_sec = CT_TEST_RAW_IO_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0, "connect to %s: %s", d->addr,
                 strerror(errno));
    return fd;
}

/* Keeps "what: <first OpenSSL reason>" in r->why and clears the error queue. */
static void keep_reason(ct_test_raw_t *r, const char *what)
{
    unsigned long e = ERR_get_error();
    char reason[200] = "no OpenSSL reason";
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof reason);
    snprintf(r->why, sizeof r->why, "%s: %s", what, reason);
    ERR_clear_error();
}

bool ct_test_raw_connect(ct_test_raw_t *r, const ct_test_daemon_t *d, const char *id,
                         int min_version, int max_version)
{
    memset(r, 0, sizeof *r);
    r->fd = ct_test_raw_tcp_connect(d);
    ct_test_creds_t c;
    ct_test_daemon_ca_path(d, c.ca, sizeof c.ca);
    r->ctx = SSL_CTX_new(TLS_client_method());
    cr_assert_not_null(r->ctx);
    cr_assert_eq(SSL_CTX_set_min_proto_version(r->ctx, min_version), 1);
    cr_assert_eq(SSL_CTX_set_max_proto_version(r->ctx, max_version), 1);
    if (id != NULL) {
        ct_test_daemon_cert_path(d, id, c.cert, sizeof c.cert);
        ct_test_daemon_key_path(d, id, c.key, sizeof c.key);
        cr_assert_eq(SSL_CTX_use_certificate_chain_file(r->ctx, c.cert), 1);
        cr_assert_eq(SSL_CTX_use_PrivateKey_file(r->ctx, c.key, SSL_FILETYPE_PEM), 1);
    }
    cr_assert_eq(SSL_CTX_load_verify_locations(r->ctx, c.ca, NULL), 1);
    SSL_CTX_set_verify(r->ctx, SSL_VERIFY_PEER, NULL);
    r->ssl = SSL_new(r->ctx);
    cr_assert_not_null(r->ssl);
    cr_assert_eq(SSL_set_fd(r->ssl, r->fd), 1);
    ERR_clear_error();
    if (SSL_connect(r->ssl) == 1)
        return true;
    keep_reason(r, "handshake");
    return false;
}

void ct_test_raw_close(ct_test_raw_t *r)
{
    SSL_free(r->ssl);
    SSL_CTX_free(r->ctx);
    if (r->fd >= 0)
        close(r->fd);
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

bool ct_test_raw_write(ct_test_raw_t *r, const void *data, size_t len)
{
    size_t written = 0;
    ERR_clear_error();
    if (SSL_write_ex(r->ssl, data, len, &written) == 1)
        return true;
    keep_reason(r, "write");
    return false;
}

bool ct_test_raw_send_hello(ct_test_raw_t *r)
{
    Careteam__V1__Hello h = CARETEAM__V1__HELLO__INIT;
    h.client_name = "raw-test-client";
    h.protocol_version = CARETEAM__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.request_id = 1;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    ct_buf_t b = CT_BUF_INIT;
    cr_assert_eq(ct_frame_append_envelope(&b, &env, UINT32_MAX), 0);
    bool ok = ct_test_raw_write(r, b.data, b.len);
    ct_buf_free(&b);
    return ok;
}

/* Reads exactly n bytes. Returns false with r->why set if the connection ended or failed first. */
static bool read_full(ct_test_raw_t *r, uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t got = 0;
        ERR_clear_error();
        if (SSL_read_ex(r->ssl, p, n, &got) != 1) {
            keep_reason(r, "read");
            return false;
        }
        p += got;
        n -= got;
    }
    return true;
}

Careteam__V1__Envelope *ct_test_raw_read_envelope(ct_test_raw_t *r)
{
    uint8_t hdr[CT_FRAME_HEADER];
    if (!read_full(r, hdr, sizeof hdr))
        return NULL;
    size_t len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
    cr_assert(len > 0 && len <= CT_FRAME_DEFAULT_MAX, "frame length %zu from the server", len);
    uint8_t *buf = malloc(len);
    cr_assert_not_null(buf);
    bool ok = read_full(r, buf, len);
    Careteam__V1__Envelope *env = ok ? careteam__v1__envelope__unpack(NULL, len, buf) : NULL;
    free(buf);
    cr_assert(!ok || env != NULL, "the server sent a frame that is not an Envelope");
    return env;
}
