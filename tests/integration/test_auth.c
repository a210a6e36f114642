/*
 * Integration tests of authentication: who may connect to a real careteamd, and that every
 * refusal is audited. Clients are libcareteam's blocking layer where it can express the case, and
 * otherwise the raw TLS client of tests/support/rawtls.h (no certificate, TLS 1.2, a connection
 * that never says Hello), which libcareteam deliberately cannot be.
 *
 * Each test starts its own daemon (tests/support/daemon.h), frees what it made, stops the daemon
 * asserting exit status 0 (a sanitizer build exits non-zero on a leak) and ends with
 * ct_test_leak_check(). The suite's .fini only cleans up after a failed assertion.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "careteam.h"
#include "daemon.h"
#include "envelope.h"
#include "rawtls.h"
#include "testsupport.h"

#define CONNECT_MS 5000 /* ct_sync_connect timeout */

static ct_test_daemon_t g_d;

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

/* SIGPIPE is ignored: the raw client and libcareteam may write after a refusal (testsupport.h). */
TestSuite(auth, .init = ct_test_ignore_sigpipe, .fini = teardown, .timeout = 60);

/* ---- the raw client -------------------------------------------------------------------------- */

/*
 * Asserts the raw client is refused: the handshake fails, or (TLS 1.3 decides on the client
 * certificate after the client's side is done) Hello gets no Welcome because the connection
 * fails or ends.
 */
static void assert_raw_refused(ct_test_raw_t *r, bool handshake_ok, const char *who)
{
    if (!handshake_ok) {
        cr_log_info("%s refused during the handshake (%s)", who, r->why);
        return;
    }
    Careteam__V1__Envelope *env = NULL;
    if (ct_test_raw_send_hello(r))
        env = ct_test_raw_read_envelope(r);
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
    ct_test_daemon_launch(&g_d, NULL);
    ct_sync_t *s = ct_test_connect(&g_d, "pw.sam");
    const Careteam__V1__Welcome *w = ct_sync_welcome(s);
    cr_assert_not_null(w);
    cr_assert_str_eq(w->member_id, "pw.sam");
    cr_assert_str_eq(w->display_name, "Sam Rivera");
    cr_assert_eq(w->role, CARETEAM__V1__ROLE__ROLE_PEER_WORKER);
    cr_assert_eq(w->protocol_version, CARETEAM__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT);
    ct_sync_close(s);

    /* The raw client used below is a faithful client too: TLS 1.3 with a certificate works. */
    ct_test_raw_t r;
    cr_assert(ct_test_raw_connect(&r, &g_d, "th.lee", TLS1_2_VERSION, TLS1_3_VERSION), "%s", r.why);
    cr_assert(ct_test_raw_send_hello(&r), "%s", r.why);
    Careteam__V1__Envelope *env = ct_test_raw_read_envelope(&r);
    cr_assert_not_null(env, "no Welcome: %s", r.why);
    cr_assert_eq(env->body_case, CARETEAM__V1__ENVELOPE__BODY_WELCOME);
    cr_assert_str_eq(env->welcome->member_id, "th.lee");
    careteam__v1__envelope__free_unpacked(env, NULL);
    ct_test_raw_close(&r);
    ct_test_daemon_finish(&g_d);
}

/* ---- refusals -------------------------------------------------------------------------------- */

/* A client without a certificate is refused, and the failed handshake is audited. */
Test(auth, no_client_certificate_refused)
{
    ct_test_daemon_launch(&g_d, NULL);
    long before = ct_test_audit_failures(&g_d, "tls.handshake");
    ct_test_raw_t r;
    bool ok = ct_test_raw_connect(&r, &g_d, NULL, TLS1_2_VERSION, TLS1_3_VERSION);
    assert_raw_refused(&r, ok, "a client without a certificate");
    ct_test_raw_close(&r);
    ct_test_await_audit_failures(&g_d, "tls.handshake", before + 1);
    ct_test_daemon_finish(&g_d);
}

/* A certificate from another careteam CA, even one naming a real member, is refused. */
Test(auth, certificate_from_another_ca_refused)
{
    ct_test_daemon_launch(&g_d, NULL);
    char other[4096], prefix[4096];
    snprintf(other, sizeof other, "%s/other", g_d.dir);
    snprintf(prefix, sizeof prefix, "%s/impostor", g_d.dir);
    cr_assert_eq(ct_test_careteamd(&g_d, "init", other, NULL), 0);
    cr_assert_eq(ct_test_careteamd(&g_d, "enroll", other, "--id", "dr.ahmed", "--name",
                                   "Not Dr Ahmed", "--role", "psychiatrist", "--out", prefix, NULL),
                 0);
    long before = ct_test_audit_failures(&g_d, "tls.handshake");

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
    ct_test_await_audit_failures(&g_d, "tls.handshake", before + 1);
    ct_test_daemon_finish(&g_d);
}

/* A member deactivated while the daemon serves is refused UNAUTHENTICATED, by name. */
Test(auth, deactivated_member_refused)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_sync_t *s = ct_test_connect(&g_d, "pw.kim"); /* fine before */
    ct_sync_close(s);
    cr_assert_eq(ct_test_careteamd(&g_d, "deactivate", g_d.data, "--id", "pw.kim", NULL), 0);
    long before = ct_test_audit_failures(&g_d, "session.authenticate");

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
    ct_test_await_audit_failures(&g_d, "session.authenticate", before + 1);

    /* Everyone else is unaffected. */
    s = ct_test_connect(&g_d, "pw.sam");
    ct_sync_close(s);
    ct_test_daemon_finish(&g_d);
}

/* Deactivating a member who is connected closes their live connections at once: `careteamd
 * deactivate` tells the daemon (SIGHUP through DIR/careteamd.pid), which looks the members of live
 * sessions up again. Other members stay connected. */
Test(auth, deactivation_closes_live_connections)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_sync_t *kim = ct_test_connect(&g_d, "pw.kim");
    ct_sync_t *sam = ct_test_connect(&g_d, "pw.sam");
    cr_assert_eq(ct_test_careteamd(&g_d, "deactivate", g_d.data, "--id", "pw.kim", NULL), 0);

    /* pw.kim's connection gets a connection-level UNAUTHENTICATED Error, then closes. */
    bool refused = false;
    for (int i = 0; i < 10 && !refused; i++) {
        Careteam__V1__Envelope *p = NULL;
        int r = ct_sync_next_push(kim, 5000, &p);
        if (r != 0)
            break;
        refused = p->body_case == CARETEAM__V1__ENVELOPE__BODY_ERROR && p->request_id == 0 &&
                  ct_response_status(p) == CT_EUNAUTHENTICATED;
        ct_envelope_free(p);
    }
    cr_assert(refused, "the deactivated member's session was told why it is closed");
    cr_assert_eq(ct_sync_wait_closed(kim, 5000), 0, "and then closed");
    ct_test_await_audit_failures(&g_d, "session.revoked", 1);

    ct_test_ping(sam, "pw.sam"); /* still served */
    ct_sync_close(kim);
    ct_sync_close(sam);
    ct_test_daemon_finish(&g_d);
}

/* Reactivating a member lets it connect again, without restarting the daemon. */
Test(auth, reactivated_member_welcomed)
{
    ct_test_daemon_launch(&g_d, NULL);
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
    ct_test_daemon_finish(&g_d);
}

/* A client offering at most TLS 1.2 is refused, even with a valid member certificate. */
Test(auth, tls12_client_refused)
{
    ct_test_daemon_launch(&g_d, NULL);
    long before = ct_test_audit_failures(&g_d, "tls.handshake");
    ct_test_raw_t r;
    bool ok = ct_test_raw_connect(&r, &g_d, "dr.ahmed", TLS1_2_VERSION, TLS1_2_VERSION);
    cr_assert_not(ok, "a TLS 1.2 handshake completed (version %s)", SSL_get_version(r.ssl));
    cr_log_info("TLS 1.2 refused: %s", r.why);
    ct_test_raw_close(&r);
    ct_test_await_audit_failures(&g_d, "tls.handshake", before + 1);
    ct_test_daemon_finish(&g_d);
}

/* ---- deadlines ------------------------------------------------------------------------------- */

#define DEADLINE_CONF "handshake_timeout_ms = 500"
#define DEADLINE_MS 500

/* A connection that completes TLS but never says Hello is closed at the deadline, audited. */
Test(auth, no_hello_closed_at_deadline)
{
    ct_test_daemon_launch(&g_d, DEADLINE_CONF);
    ct_test_raw_t r;
    int64_t t0 = ct_test_now_ms();
    cr_assert(ct_test_raw_connect(&r, &g_d, "pw.sam", TLS1_2_VERSION, TLS1_3_VERSION), "%s", r.why);
    /* The server may say why (an Error push) before it closes; nothing else may come. */
    Careteam__V1__Envelope *env = ct_test_raw_read_envelope(&r); /* blocks until the server acts */
    if (env != NULL) {
        int bc = (int)env->body_case;
        uint64_t rid = env->request_id;
        cr_log_info("before closing: %s", ct_response_message(env));
        careteam__v1__envelope__free_unpacked(env, NULL);
        cr_assert_eq(bc, CARETEAM__V1__ENVELOPE__BODY_ERROR,
                     "the server sent body %d to a client that never said Hello", bc);
        cr_assert_eq(rid, 0, "a connection-level Error has request_id 0");
        env = ct_test_raw_read_envelope(&r);
        cr_assert_null(env, "the connection stayed open after the deadline Error");
    }
    int64_t waited = ct_test_now_ms() - t0;
    cr_assert_geq(waited, DEADLINE_MS - 100, "closed after %lld ms, before the deadline",
                  (long long)waited);
    cr_assert_lt(waited, CT_TEST_RAW_IO_TIMEOUT_S * 1000 - 500,
                 "not closed at the deadline (%lld ms)", (long long)waited);
    ct_test_raw_close(&r);
    ct_test_await_audit_failures(&g_d, "session.deadline", 1);

    /* A client that does say Hello is not subject to the deadline once welcomed. */
    ct_sync_t *s = ct_test_connect(&g_d, "pw.kim");
    ct_test_sleep_ms(2 * DEADLINE_MS);
    ct_test_ping(s, "pw.kim, welcomed before the deadline");
    ct_sync_close(s);
    ct_test_daemon_finish(&g_d);
}

/* A TCP connection that never starts TLS is closed at the same deadline, audited. */
Test(auth, no_tls_closed_at_deadline)
{
    ct_test_daemon_launch(&g_d, DEADLINE_CONF);
    int64_t t0 = ct_test_now_ms();
    int fd = ct_test_raw_tcp_connect(&g_d);
    char c;
    ssize_t n = recv(fd, &c, 1, 0); /* 0 at EOF, -1 on reset; SO_RCVTIMEO bounds it */
    int e = errno;
    int64_t waited = ct_test_now_ms() - t0;
    close(fd);
    cr_assert(n == 0 || (n < 0 && e == ECONNRESET), "recv returned %zd (%s) after %lld ms", n,
              n < 0 ? strerror(e) : "data", (long long)waited);
    cr_assert_geq(waited, DEADLINE_MS - 100, "closed after %lld ms", (long long)waited);
    cr_assert_lt(waited, CT_TEST_RAW_IO_TIMEOUT_S * 1000 - 500, "closed after %lld ms",
                 (long long)waited);
    ct_test_await_audit_failures(&g_d, "session.deadline", 1);
    cr_assert_eq(ct_test_audit_count(&g_d, "session.deadline"), 1);
    ct_test_daemon_finish(&g_d);
}

/* A data directory whose private key others could read is refused at start, with the command
 * that fixes it; after the fix the daemon serves. */
Test(auth, unsafe_key_permissions_refused_at_start)
{
    ct_test_daemon_init(&g_d, NULL);
    char key[4200];
    snprintf(key, sizeof key, "%s/server.key", g_d.data);
    cr_assert_eq(chmod(key, 0644), 0);
    int rc = ct_test_careteamd(&g_d, "serve", g_d.data, "--listen", "127.0.0.1:0", NULL);
    cr_assert_eq(rc, 1, "serve must refuse, got exit %d", rc);
    char *log = ct_test_read_file(g_d.log, NULL);
    cr_assert_not_null(log);
    char want[4300];
    snprintf(want, sizeof want, "chmod 600 %s", key);
    cr_assert(strstr(log, want) != NULL, "the message names the fix: %s", log);
    free(log);

    cr_assert_eq(chmod(key, 0600), 0);
    ct_test_daemon_start(&g_d);
    ct_sync_t *s = ct_test_connect(&g_d, "pw.sam");
    ct_sync_close(s);
    ct_test_daemon_finish(&g_d);
}
