/*
 * The raw TLS client of integration tests (see rawtls.h). It is the only test code that calls
 * OpenSSL. Every SSL_* call that can fail is preceded by ERR_clear_error(), so the reason kept in
 * r->why belongs to that call and not to an earlier one.
 */
#include "rawtls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

/*
 * A filter BIO that passes at most `piece` bytes to the socket per write and pauses after each,
 * so that the server reads record headers and bodies cut anywhere. OpenSSL writes the rest of a
 * short write itself. The BIO's data is its cut_t, freed with it.
 */
typedef struct cut {
    size_t piece;
    unsigned pause_us;
} cut_t;

static int piece_write(BIO *b, const char *data, size_t len, size_t *put)
{
    const cut_t *cut = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    int ok = BIO_write_ex(BIO_next(b), data, len < cut->piece ? len : cut->piece, put);
    if (!ok)
        BIO_copy_next_retry(b);
    else if (cut->pause_us > 0)
        usleep(cut->pause_us);
    return ok;
}

static int piece_read(BIO *b, char *out, size_t len, size_t *got)
{
    BIO_clear_retry_flags(b);
    int ok = BIO_read_ex(BIO_next(b), out, len, got);
    if (!ok)
        BIO_copy_next_retry(b);
    return ok;
}

static long piece_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    return BIO_ctrl(BIO_next(b), cmd, num, ptr);
}

static int piece_destroy(BIO *b)
{
    free(BIO_get_data(b));
    BIO_set_data(b, NULL);
    return 1;
}

/* The filter over a socket BIO on fd; the SSL that gets it owns both. */
static BIO *piece_bio_new(int fd, size_t piece, unsigned pause_us)
{
    static BIO_METHOD *m;
    if (m == NULL) { /* test processes call this from one thread */
        m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_FILTER, "test pieces");
        cr_assert_not_null(m);
        BIO_meth_set_write_ex(m, piece_write);
        BIO_meth_set_read_ex(m, piece_read);
        BIO_meth_set_ctrl(m, piece_ctrl);
        BIO_meth_set_destroy(m, piece_destroy);
    }
    int one = 1; /* each piece its own segment, not gathered by Nagle's algorithm */
    cr_assert_eq(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), 0);
    BIO *f = BIO_new(m);
    BIO *sock = BIO_new_socket(fd, BIO_NOCLOSE);
    cr_assert(f != NULL && sock != NULL);
    cut_t *cut = malloc(sizeof *cut);
    cr_assert_not_null(cut);
    cut->piece = piece;
    cut->pause_us = pause_us;
    BIO_set_data(f, cut);
    BIO_set_init(f, 1);
    return BIO_push(f, sock);
}

static bool raw_connect(ct_test_raw_t *r, const ct_test_daemon_t *d, const char *id,
                        int min_version, int max_version, size_t piece, unsigned pause_us)
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
    if (piece == 0) {
        cr_assert_eq(SSL_set_fd(r->ssl, r->fd), 1);
    } else {
        BIO *b = piece_bio_new(r->fd, piece, pause_us);
        SSL_set_bio(r->ssl, b, b);
    }
    ERR_clear_error();
    if (SSL_connect(r->ssl) == 1)
        return true;
    keep_reason(r, "handshake");
    return false;
}

bool ct_test_raw_connect(ct_test_raw_t *r, const ct_test_daemon_t *d, const char *id,
                         int min_version, int max_version)
{
    return raw_connect(r, d, id, min_version, max_version, 0, 0);
}

bool ct_test_raw_connect_in_pieces(ct_test_raw_t *r, const ct_test_daemon_t *d, const char *id,
                                   size_t piece, unsigned pause_us)
{
    cr_assert(piece > 0);
    return raw_connect(r, d, id, TLS1_3_VERSION, TLS1_3_VERSION, piece, pause_us);
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

bool ct_test_raw_key_update(ct_test_raw_t *r)
{
    ERR_clear_error();
    if (SSL_key_update(r->ssl, SSL_KEY_UPDATE_REQUESTED) == 1)
        return true;
    keep_reason(r, "key update");
    return false;
}

void ct_test_append_hello(ct_buf_t *out)
{
    Careteam__V1__Hello h = CARETEAM__V1__HELLO__INIT;
    h.client_name = "raw-test-client";
    h.protocol_version = CARETEAM__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.request_id = 1;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    cr_assert_eq(ct_frame_append_envelope(out, &env, UINT32_MAX), 0);
}

bool ct_test_raw_send_hello(ct_test_raw_t *r)
{
    ct_buf_t b = CT_BUF_INIT;
    ct_test_append_hello(&b);
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

Careteam__V1__Envelope *ct_test_raw_read_response(ct_test_raw_t *r)
{
    for (int i = 0; i < 1000; i++) {
        Careteam__V1__Envelope *e = ct_test_raw_read_envelope(r);
        cr_assert_not_null(e, "connection ended: %s", r->why);
        if (e->request_id != 0)
            return e;
        careteam__v1__envelope__free_unpacked(e, NULL);
    }
    cr_assert_fail("no response among 1000 pushes");
    return NULL;
}
