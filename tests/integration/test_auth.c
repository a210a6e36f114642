/*
 * Integration tests of authentication: who may connect to a real careteamd, and that every
 * refusal is audited. Clients are libcareteam's blocking layer where it can express the case, and
 * otherwise a raw OpenSSL client over a blocking socket (no certificate, TLS 1.2, a connection
 * that never says Hello), which libcareteam deliberately cannot be.
 *
 * Each test starts its own daemon (tests/support/daemon.h), frees what it made, stops the daemon
 * asserting exit status 0 (a sanitizer build exits non-zero on a leak) and ends with
 * ct_test_leak_check(). The suite's .fini only cleans up after a failed assertion.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sqlite3.h>

#include "careteam.h"
#include "daemon.h"
#include "frame.h"
#include "testsupport.h"

#define CONNECT_MS 5000 /* ct_sync_connect timeout */
#define AUDIT_MS 5000   /* longest wait for an audit row to be committed */
#define IO_TIMEOUT_S 5  /* raw client socket timeouts */

static ct_test_daemon_t g_d;

/*
 * libcareteam 0.1 (and the raw client here) can write to a socket the server has just closed,
 * e.g. Hello or close_notify after a refusal; with SIGPIPE at its default that kills the test
 * process ("CRASH") instead of returning CT_ECLOSED. Real clients must ignore SIGPIPE too (the
 * careteam CLI does); reported as a libcareteam issue.
 */
static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
}

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

TestSuite(auth, .init = setup, .fini = teardown, .timeout = 60);

static void start_daemon(const char *extra_conf)
{
    ct_test_daemon_init(&g_d, extra_conf);
    ct_test_daemon_start(&g_d);
}

static void finish(void)
{
    int status = ct_test_daemon_stop(&g_d);
    cr_assert_eq(status, 0, "careteamd exited with status %d (sanitizer report in its log?)",
                 status);
    ct_test_daemon_cleanup(&g_d);
    ct_test_leak_check();
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- audit ----------------------------------------------------------------------------------- */

/* Audit rows of action whose outcome is a failure. */
static long audit_failures(const char *action)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/careteam.db", g_d.data);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long n = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        if (sqlite3_prepare_v2(db, "SELECT count(*) FROM audit WHERE action = ? AND outcome != 0",
                               -1, &st, NULL) == SQLITE_OK &&
            sqlite3_bind_text(st, 1, action, -1, SQLITE_STATIC) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            n = (long)sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    cr_assert_geq(n, 0, "cannot count audit rows in %s", path);
    return n;
}

/* Waits until at least `want` failed audit rows of action are committed (the daemon's writer
 * thread commits them asynchronously). */
static void await_audit_failures(const char *action, long want)
{
    long n = 0;
    for (int waited = 0; waited <= AUDIT_MS; waited += 20) {
        n = audit_failures(action);
        if (n >= want)
            return;
        sleep_ms(20);
    }
    cr_assert_fail("%ld failed '%s' audit rows after %d ms, expected %ld", n, action, AUDIT_MS,
                   want);
}

/* ---- a raw TLS client ------------------------------------------------------------------------ */

typedef struct raw_tls {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char why[256]; /* the OpenSSL reason of the last failure */
} raw_tls_t;

/* A TCP connection to the daemon with bounded blocking reads and writes. */
static int tcp_connect(void)
{
    const char *colon = strrchr(g_d.addr, ':');
    cr_assert_not_null(colon, "daemon address '%s'", g_d.addr);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0, "connect to %s: %s", g_d.addr,
                 strerror(errno));
    return fd;
}

static void keep_reason(raw_tls_t *r, const char *what)
{
    unsigned long e = ERR_get_error();
    char reason[200] = "no OpenSSL reason";
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof reason);
    snprintf(r->why, sizeof r->why, "%s: %s", what, reason);
    ERR_clear_error();
}

/*
 * Connects and runs the TLS handshake: as member id (NULL for no client certificate), with TLS
 * versions up to max_version. The client verifies the server against our CA. Returns true when
 * the client side of the handshake completed (in TLS 1.3 that is before the server has judged
 * the client's certificate: a refusal then shows on the first read).
 */
static bool raw_connect(raw_tls_t *r, const char *id, int max_version)
{
    memset(r, 0, sizeof *r);
    r->fd = tcp_connect();
    char cert[4096], key[4096], ca[4096];
    ct_test_daemon_ca_path(&g_d, ca, sizeof ca);
    r->ctx = SSL_CTX_new(TLS_client_method());
    cr_assert_not_null(r->ctx);
    SSL_CTX_set_min_proto_version(r->ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(r->ctx, max_version);
    if (id != NULL) {
        ct_test_daemon_cert_path(&g_d, id, cert, sizeof cert);
        ct_test_daemon_key_path(&g_d, id, key, sizeof key);
        cr_assert_eq(SSL_CTX_use_certificate_chain_file(r->ctx, cert), 1);
        cr_assert_eq(SSL_CTX_use_PrivateKey_file(r->ctx, key, SSL_FILETYPE_PEM), 1);
    }
    cr_assert_eq(SSL_CTX_load_verify_locations(r->ctx, ca, NULL), 1);
    SSL_CTX_set_verify(r->ctx, SSL_VERIFY_PEER, NULL);
    r->ssl = SSL_new(r->ctx);
    cr_assert_not_null(r->ssl);
    SSL_set_fd(r->ssl, r->fd);
    ERR_clear_error();
    if (SSL_connect(r->ssl) == 1)
        return true;
    keep_reason(r, "handshake");
    return false;
}

static void raw_close(raw_tls_t *r)
{
    SSL_free(r->ssl);
    SSL_CTX_free(r->ctx);
    if (r->fd > 0)
        close(r->fd);
    memset(r, 0, sizeof *r);
}

static bool raw_read_full(raw_tls_t *r, uint8_t *p, size_t n)
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

/* Reads one frame: the envelope (caller frees), or NULL once the connection ended or failed. */
static Careteam__V1__Envelope *raw_read_envelope(raw_tls_t *r)
{
    uint8_t hdr[4];
    if (!raw_read_full(r, hdr, sizeof hdr))
        return NULL;
    size_t len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
    cr_assert(len > 0 && len <= CT_FRAME_DEFAULT_MAX, "frame length %zu from the server", len);
    uint8_t *buf = malloc(len);
    cr_assert_not_null(buf);
    bool ok = raw_read_full(r, buf, len);
    Careteam__V1__Envelope *env = ok ? careteam__v1__envelope__unpack(NULL, len, buf) : NULL;
    free(buf);
    cr_assert(!ok || env != NULL, "the server sent a frame that is not an Envelope");
    return env;
}

/* Sends Hello; false if the write failed (the server may already have closed). */
static bool raw_send_hello(raw_tls_t *r)
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
    size_t written = 0;
    ERR_clear_error();
    int ok = SSL_write_ex(r->ssl, b.data, b.len, &written);
    ct_buf_free(&b);
    if (ok != 1)
        keep_reason(r, "write");
    return ok == 1;
}

/*
 * Asserts the raw client is refused: the handshake fails, or (TLS 1.3 decides on the client
 * certificate after the client's side is done) Hello gets no Welcome because the connection
 * fails or ends.
 */
static void assert_raw_refused(raw_tls_t *r, bool handshake_ok, const char *who)
{
    if (!handshake_ok) {
        cr_log_info("%s refused during the handshake (%s)", who, r->why);
        return;
    }
    Careteam__V1__Envelope *env = NULL;
    if (raw_send_hello(r))
        env = raw_read_envelope(r);
    if (env != NULL) {
        int bc = (int)env->body_case;
        careteam__v1__envelope__free_unpacked(env, NULL);
        cr_assert_neq(bc, CARETEAM__V1__ENVELOPE__BODY_WELCOME, "%s was welcomed", who);
        cr_assert_fail("%s got an answer (body %d) instead of a closed connection", who, bc);
    }
    cr_log_info("%s refused after the handshake (%s)", who, r->why);
}

/* ---- the positive control -------------------------------------------------------------------- */

/* An enrolled, active member with its own certificate is welcomed under its id and role. */
Test(auth, enrolled_member_welcomed)
{
    start_daemon(NULL);
    ct_sync_t *s = ct_test_connect(&g_d, "pw.sam");
    const Careteam__V1__Welcome *w = ct_sync_welcome(s);
    cr_assert_not_null(w);
    cr_assert_str_eq(w->member_id, "pw.sam");
    cr_assert_str_eq(w->display_name, "Sam Rivera");
    cr_assert_eq(w->role, CARETEAM__V1__ROLE__ROLE_PEER_WORKER);
    cr_assert_eq(w->protocol_version, CARETEAM__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT);
    ct_sync_close(s);

    /* The raw client used below is a faithful client too: TLS 1.3 with a certificate works. */
    raw_tls_t r;
    cr_assert(raw_connect(&r, "th.lee", TLS1_3_VERSION), "%s", r.why);
    cr_assert(raw_send_hello(&r), "%s", r.why);
    Careteam__V1__Envelope *env = raw_read_envelope(&r);
    cr_assert_not_null(env, "no Welcome: %s", r.why);
    cr_assert_eq(env->body_case, CARETEAM__V1__ENVELOPE__BODY_WELCOME);
    cr_assert_str_eq(env->welcome->member_id, "th.lee");
    careteam__v1__envelope__free_unpacked(env, NULL);
    raw_close(&r);
    finish();
}

/* ---- refusals -------------------------------------------------------------------------------- */

/* A client without a certificate is refused, and the failed handshake is audited. */
Test(auth, no_client_certificate_refused)
{
    start_daemon(NULL);
    long before = audit_failures("tls.handshake");
    raw_tls_t r;
    bool ok = raw_connect(&r, NULL, TLS1_3_VERSION);
    assert_raw_refused(&r, ok, "a client without a certificate");
    raw_close(&r);
    await_audit_failures("tls.handshake", before + 1);
    finish();
}

/* A certificate from another careteam CA, even one naming a real member, is refused. */
Test(auth, certificate_from_another_ca_refused)
{
    start_daemon(NULL);
    char other[4096], prefix[4096];
    snprintf(other, sizeof other, "%s/other", g_d.dir);
    snprintf(prefix, sizeof prefix, "%s/impostor", g_d.dir);
    cr_assert_eq(ct_test_careteamd(&g_d, "init", other, NULL), 0);
    cr_assert_eq(ct_test_careteamd(&g_d, "enroll", other, "--id", "dr.ahmed", "--name",
                                   "Not Dr Ahmed", "--role", "psychiatrist", "--out", prefix, NULL),
                 0);
    long before = audit_failures("tls.handshake");

    char cert[4200], key[4200], ca[4096];
    snprintf(cert, sizeof cert, "%s.crt", prefix);
    snprintf(key, sizeof key, "%s.key", prefix);
    ct_test_daemon_ca_path(&g_d, ca, sizeof ca); /* the client trusts the real server */
    ct_client_opts_t opts = {.server = g_d.addr, .cert = cert, .key = key, .ca = ca};
    ct_sync_t *s = NULL;
    char err[512] = "";
    int rc = ct_sync_connect(&opts, CONNECT_MS, &s, err, sizeof err);
    if (rc == 0)
        ct_sync_close(s);
    cr_assert_neq(rc, 0, "a certificate from another CA was accepted");
    cr_assert_null(s);
    cr_assert_neq(rc, CT_ETIMEDOUT, "refused by timing out instead of failing: %s", err);
    cr_log_info("foreign CA refused: %s (%s)", ct_errname(rc), err);
    await_audit_failures("tls.handshake", before + 1);
    finish();
}

/* A member deactivated while the daemon serves is refused UNAUTHENTICATED, by name. */
Test(auth, deactivated_member_refused)
{
    start_daemon(NULL);
    ct_sync_t *s = ct_test_connect(&g_d, "pw.kim"); /* fine before */
    ct_sync_close(s);
    cr_assert_eq(ct_test_careteamd(&g_d, "deactivate", g_d.data, "--id", "pw.kim", NULL), 0);
    long before = audit_failures("session.authenticate");

    ct_test_creds_t creds;
    ct_client_opts_t opts;
    ct_test_daemon_opts(&g_d, "pw.kim", &creds, &opts);
    char err[512] = "";
    s = NULL;
    int rc = ct_sync_connect(&opts, CONNECT_MS, &s, err, sizeof err);
    if (rc == 0)
        ct_sync_close(s);
    cr_assert_eq(rc, CT_EUNAUTHENTICATED, "connect returned %s (%s)", ct_errname(rc), err);
    cr_assert_null(s);
    cr_assert(strstr(err, "pw.kim") != NULL, "the refusal should name the member: '%s'", err);
    await_audit_failures("session.authenticate", before + 1);

    /* Everyone else is unaffected. */
    s = ct_test_connect(&g_d, "pw.sam");
    ct_sync_close(s);
    finish();
}

/* Reactivating a member lets it connect again, without restarting the daemon. */
Test(auth, reactivated_member_welcomed)
{
    start_daemon(NULL);
    cr_assert_eq(ct_test_careteamd(&g_d, "deactivate", g_d.data, "--id", "th.lee", NULL), 0);
    ct_test_creds_t creds;
    ct_client_opts_t opts;
    ct_test_daemon_opts(&g_d, "th.lee", &creds, &opts);
    char err[512] = "";
    ct_sync_t *s = NULL;
    int rc = ct_sync_connect(&opts, CONNECT_MS, &s, err, sizeof err);
    if (rc == 0)
        ct_sync_close(s);
    cr_assert_eq(rc, CT_EUNAUTHENTICATED, "connect returned %s (%s)", ct_errname(rc), err);

    cr_assert_eq(ct_test_careteamd(&g_d, "activate", g_d.data, "--id", "th.lee", NULL), 0);
    s = ct_test_connect(&g_d, "th.lee");
    cr_assert_str_eq(ct_sync_welcome(s)->member_id, "th.lee");
    ct_sync_close(s);
    finish();
}

/* A client offering at most TLS 1.2 is refused, even with a valid member certificate. */
Test(auth, tls12_client_refused)
{
    start_daemon(NULL);
    long before = audit_failures("tls.handshake");
    raw_tls_t r;
    bool ok = raw_connect(&r, "dr.ahmed", TLS1_2_VERSION);
    cr_assert_not(ok, "a TLS 1.2 handshake completed (version %s)", SSL_get_version(r.ssl));
    cr_log_info("TLS 1.2 refused: %s", r.why);
    raw_close(&r);
    await_audit_failures("tls.handshake", before + 1);
    finish();
}

/* ---- deadlines ------------------------------------------------------------------------------- */

#define DEADLINE_CONF "handshake_timeout_ms = 500"
#define DEADLINE_MS 500

/* A connection that completes TLS but never says Hello is closed at the deadline, audited. */
Test(auth, no_hello_closed_at_deadline)
{
    start_daemon(DEADLINE_CONF);
    raw_tls_t r;
    int64_t t0 = now_ms();
    cr_assert(raw_connect(&r, "pw.sam", TLS1_3_VERSION), "%s", r.why);
    /* The server may say why (an Error push) before it closes; nothing else may come. */
    Careteam__V1__Envelope *env = raw_read_envelope(&r); /* blocks until the server acts */
    if (env != NULL) {
        int bc = (int)env->body_case;
        uint64_t rid = env->request_id;
        cr_log_info("before closing: %s", ct_response_message(env));
        careteam__v1__envelope__free_unpacked(env, NULL);
        cr_assert_eq(bc, CARETEAM__V1__ENVELOPE__BODY_ERROR,
                     "the server sent body %d to a client that never said Hello", bc);
        cr_assert_eq(rid, 0, "a connection-level Error has request_id 0");
        env = raw_read_envelope(&r);
        cr_assert_null(env, "the connection stayed open after the deadline Error");
    }
    int64_t waited = now_ms() - t0;
    cr_assert_geq(waited, DEADLINE_MS - 100, "closed after %lld ms, before the deadline",
                  (long long)waited);
    cr_assert_lt(waited, IO_TIMEOUT_S * 1000 - 500, "not closed at the deadline (%lld ms)",
                 (long long)waited);
    raw_close(&r);
    await_audit_failures("session.deadline", 1);

    /* A client that does say Hello is not subject to the deadline once welcomed. */
    ct_sync_t *s = ct_test_connect(&g_d, "pw.kim");
    sleep_ms(2 * DEADLINE_MS);
    Careteam__V1__Ping p = CARETEAM__V1__PING__INIT;
    Careteam__V1__Envelope ping = CARETEAM__V1__ENVELOPE__INIT;
    ping.body_case = CARETEAM__V1__ENVELOPE__BODY_PING;
    ping.ping = &p;
    Careteam__V1__Envelope *resp = NULL;
    int rc = ct_sync_call(s, &ping, CONNECT_MS, &resp);
    cr_assert_eq(rc, 0, "a welcomed connection was closed: %s (%s)", ct_errname(rc),
                 ct_sync_last_error(s));
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_PONG);
    ct_envelope_free(resp);
    ct_sync_close(s);
    finish();
}

/* A TCP connection that never starts TLS is closed at the same deadline, audited. */
Test(auth, no_tls_closed_at_deadline)
{
    start_daemon(DEADLINE_CONF);
    int64_t t0 = now_ms();
    int fd = tcp_connect();
    char c;
    ssize_t n = recv(fd, &c, 1, 0); /* 0 at EOF, -1 on reset; SO_RCVTIMEO bounds it */
    int e = errno;
    int64_t waited = now_ms() - t0;
    close(fd);
    cr_assert(n == 0 || (n < 0 && e == ECONNRESET), "recv returned %zd (%s) after %lld ms", n,
              n < 0 ? strerror(e) : "data", (long long)waited);
    cr_assert_geq(waited, DEADLINE_MS - 100, "closed after %lld ms", (long long)waited);
    cr_assert_lt(waited, IO_TIMEOUT_S * 1000 - 500, "closed after %lld ms", (long long)waited);
    await_audit_failures("session.deadline", 1);
    cr_assert_eq(ct_test_audit_count(&g_d, "session.deadline"), 1);
    finish();
}
