/*
 * Integration tests of certificate revocation (issue 5, section 7): `careteamd revoke` writes
 * DIR/crl.pem signed by the data directory's CA and tells a running daemon (SIGHUP through
 * DIR/careteamd.pid), which reloads the list, closes the live sessions made with a revoked
 * certificate (audited session.revoked) and refuses new ones at the TLS handshake (audited
 * tls.handshake). Other members are not affected, earlier revocations are kept, and revoking
 * twice is harmless.
 *
 * Each test starts its own daemon (tests/support/daemon.h) and ends with ct_test_daemon_finish,
 * which stops it asserting exit status 0 and runs the leak check.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "careteam.h"
#include "daemon.h"
#include "envelope.h"
#include "err.h"
#include "testsupport.h"

#define CONNECT_MS 5000
#define PUSH_MS 5000

static ct_test_daemon_t g_d;

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

TestSuite(revoke, .init = ct_test_ignore_sigpipe, .fini = teardown, .timeout = 90);

/* Runs one count query (no parameters) read-only against the daemon's database. */
static long db_count(const char *sql)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/careteam.db", g_d.data);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    long n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    char msg[256];
    snprintf(msg, sizeof msg, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    cr_assert_geq(n, 0, "%s: %s", sql, msg);
    return n;
}

/* Waits up to 5 s for db_count(sql) to reach want. */
static void await_count(const char *sql, long want)
{
    long n = 0;
    for (int waited = 0; waited <= 5000; waited += 20) {
        if ((n = db_count(sql)) >= want)
            return;
        ct_test_sleep_ms(20);
    }
    cr_assert_fail("%ld rows after 5 s, expected %ld: %s", n, want, sql);
}

/* How many certificates DIR/crl.pem revokes (it must exist and be signed by DIR's CA). */
static int crl_entries(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/crl.pem", g_d.data);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no %s", path);
    X509_CRL *crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert_not_null(crl, "%s is not a PEM CRL", path);
    snprintf(path, sizeof path, "%s/ca.crt", g_d.data);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    X509 *ca = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert_not_null(ca);
    int verified = X509_CRL_verify(crl, X509_get0_pubkey(ca));
    int n = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl));
    n = n < 0 ? 0 : n; /* an empty list has no stack at all */
    X509_free(ca);
    X509_CRL_free(crl);
    cr_assert_eq(verified, 1, "crl.pem is not signed by the data directory's CA");
    return n;
}

/* Asserts that s (a live session of `who`) is told UNAUTHENTICATED and then closed. */
static void assert_revoked_and_closed(ct_sync_t *s, const char *who)
{
    bool told = false;
    for (int i = 0; i < 10 && !told; i++) {
        Careteam__V1__Envelope *p = NULL;
        if (ct_sync_next_push(s, PUSH_MS, &p) != 0)
            break;
        told = p->body_case == CARETEAM__V1__ENVELOPE__BODY_ERROR && p->request_id == 0 &&
               ct_response_status(p) == CT_EUNAUTHENTICATED;
        if (told)
            cr_log_info("%s was told: %s", who, ct_response_message(p));
        ct_envelope_free(p);
    }
    cr_assert(told, "%s's session was not told UNAUTHENTICATED (%s)", who, ct_sync_last_error(s));
    cr_assert_eq(ct_sync_wait_closed(s, PUSH_MS), 0, "%s's session stayed open", who);
}

/* Asserts that a new connection as id fails, and that the daemon audited a failed TLS handshake
 * (not a refusal after the handshake: the member check never ran) naming the verify error,
 * "certificate revoked", and the refused certificate's serial. The same certificate was welcomed
 * before the revocation, so the list is what refuses it. */
static void assert_new_connection_refused(const char *id)
{
    long revoked_before = db_count("SELECT count(*) FROM audit WHERE action = 'tls.handshake' AND "
                                   "outcome != 0 AND detail LIKE '%certificate serial %: "
                                   "certificate revoked%'");
    long before = ct_test_audit_failures(&g_d, "tls.handshake");
    long auth_before = ct_test_audit_failures(&g_d, "session.authenticate");
    ct_test_creds_t creds;
    ct_client_opts_t opts;
    ct_test_daemon_opts(&g_d, id, &creds, &opts);
    ct_sync_t *s = NULL;
    char err[512] = "";
    int rc = ct_sync_connect(&opts, CONNECT_MS, &s, err, sizeof err);
    if (rc == 0)
        ct_sync_close(s);
    cr_assert_neq(rc, 0, "%s connected with a revoked certificate", id);
    cr_assert_neq(rc, CT_ETIMEDOUT, "refused by timing out instead of failing: %s", err);
    cr_log_info("%s refused: %s (%s)", id, ct_errname(rc), err);
    ct_test_await_audit_failures(&g_d, "tls.handshake", before + 1);
    cr_assert_eq(ct_test_audit_failures(&g_d, "session.authenticate"), auth_before,
                 "the refusal must come from the TLS handshake, not the member check");
    cr_assert_eq(db_count("SELECT count(*) FROM audit WHERE action = 'tls.handshake' AND "
                          "outcome != 0 AND detail LIKE '%certificate serial %: certificate "
                          "revoked%'"),
                 revoked_before + 1, "the audit row does not name the revoked certificate");
}

/* A revoked member's live session is closed at once, new connections fail the handshake, and
 * other members are served throughout. */
Test(revoke, live_session_closed_and_new_connection_refused)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_sync_t *kim = ct_test_connect(&g_d, "pw.kim");
    ct_sync_t *sam = ct_test_connect(&g_d, "pw.sam");

    cr_assert_eq(ct_test_careteamd(&g_d, "revoke", g_d.data, "--id", "pw.kim", "--reason",
                                   "keyCompromise", NULL),
                 0);
    assert_revoked_and_closed(kim, "pw.kim");
    ct_sync_close(kim);
    await_count("SELECT count(*) FROM audit WHERE action = 'session.revoked' AND outcome != 0 AND "
                "detail LIKE '%certificate_revoked%'",
                1);
    cr_assert_eq(db_count("SELECT count(*) FROM audit WHERE action = 'member.revoke' AND "
                          "object_id = 'pw.kim' AND outcome = 0 AND detail LIKE "
                          "'%reason=keyCompromise%'"),
                 1);
    cr_assert_eq(crl_entries(), 1);

    assert_new_connection_refused("pw.kim");

    /* Others: the live session still answers, and a new one is welcomed. */
    ct_test_ping(sam, "pw.sam");
    ct_sync_t *lee = ct_test_connect(&g_d, "th.lee");
    ct_test_ping(lee, "th.lee");
    ct_sync_close(lee);
    ct_sync_close(sam);
    /* Revocation changes no membership. */
    cr_assert_eq(db_count("SELECT count(*) FROM members WHERE id = 'pw.kim' AND active = 1"), 1);
    ct_test_daemon_finish(&g_d);
}

/* Revoking twice is harmless: the list keeps one entry, the daemon keeps serving, and both
 * commands are audited. A second member's revocation keeps the first. */
Test(revoke, twice_is_harmless_and_earlier_entries_stay)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_sync_t *sam = ct_test_connect(&g_d, "pw.sam");
    cr_assert_eq(ct_test_careteamd(&g_d, "revoke", g_d.data, "--id", "pw.kim", NULL), 0);
    cr_assert_eq(ct_test_careteamd(&g_d, "revoke", g_d.data, "--id", "pw.kim", NULL), 0);
    cr_assert_eq(crl_entries(), 1);
    cr_assert_eq(db_count("SELECT count(*) FROM audit WHERE action = 'member.revoke' AND "
                          "object_id = 'pw.kim' AND outcome = 0"),
                 2);
    cr_assert_eq(db_count("SELECT count(*) FROM audit WHERE action = 'member.revoke' AND "
                          "detail LIKE '%new=0%'"),
                 1);
    ct_test_ping(sam, "pw.sam after two reloads");

    /* Another member, later: both stay revoked. Revoking th.lee also passes its certificate
     * file, the way members enrolled before serials were recorded are revoked. */
    char cert[4200];
    ct_test_daemon_cert_path(&g_d, "th.lee", cert, sizeof cert);
    cr_assert_eq(
        ct_test_careteamd(&g_d, "revoke", g_d.data, "--id", "th.lee", "--cert", cert, NULL), 0);
    cr_assert_eq(crl_entries(), 2);
    assert_new_connection_refused("pw.kim");
    assert_new_connection_refused("th.lee");
    ct_test_ping(sam, "pw.sam");
    ct_sync_close(sam);
    ct_test_daemon_finish(&g_d);
}

/* Refusals that change nothing: an unknown member, another member's certificate, a bad reason. */
Test(revoke, refusals_change_nothing)
{
    ct_test_daemon_launch(&g_d, NULL);
    cr_assert_eq(ct_test_careteamd(&g_d, "revoke", g_d.data, "--id", "no.such", NULL), 1);
    char cert[4200];
    ct_test_daemon_cert_path(&g_d, "pw.sam", cert, sizeof cert);
    cr_assert_eq(
        ct_test_careteamd(&g_d, "revoke", g_d.data, "--id", "pw.kim", "--cert", cert, NULL), 1);
    cr_assert_eq(
        ct_test_careteamd(&g_d, "revoke", g_d.data, "--id", "pw.kim", "--reason", "because", NULL),
        2);
    cr_assert_eq(ct_test_careteamd(&g_d, "revoke", g_d.data, NULL), 2);
    cr_assert_eq(crl_entries(), 0, "a refused revoke listed a certificate");
    cr_assert_eq(ct_test_audit_count(&g_d, "member.revoke"), 0);
    ct_sync_t *kim = ct_test_connect(&g_d, "pw.kim");
    ct_sync_close(kim);
    ct_test_daemon_finish(&g_d);
}

/* A revocation made while no daemon runs is honoured when it starts. */
Test(revoke, honoured_at_start)
{
    ct_test_daemon_init(&g_d, NULL);
    ct_test_daemon_start(&g_d);
    ct_sync_close(ct_test_connect(&g_d, "dr.ahmed")); /* welcomed before */
    cr_assert_eq(ct_test_daemon_stop(&g_d), 0);
    cr_assert_eq(ct_test_careteamd(&g_d, "revoke", g_d.data, "--id", "dr.ahmed", NULL), 0);
    ct_test_daemon_start(&g_d);
    assert_new_connection_refused("dr.ahmed");
    ct_sync_t *lee = ct_test_connect(&g_d, "th.lee");
    ct_sync_close(lee);
    ct_test_daemon_finish(&g_d);
}

/* `renew` issues a second certificate that connects; revoking the member then revokes both, the
 * enrolled one and the renewed one (their serials are in the trail). A deactivated or unknown
 * member gets none. */
Test(revoke, renewed_certificate_connects_and_is_revoked_with_the_first)
{
    ct_test_daemon_launch(&g_d, NULL);
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s/pw.kim-renewed", g_d.dir);
    cr_assert_eq(
        ct_test_careteamd(&g_d, "renew", g_d.data, "--id", "pw.kim", "--out", prefix, NULL), 0);
    cr_assert_eq(db_count("SELECT count(*) FROM audit WHERE action = 'member.renew' AND "
                          "object_id = 'pw.kim' AND detail LIKE '%serial=%'"),
                 1);
    /* The renewed certificate is welcomed. */
    ct_test_creds_t creds;
    ct_client_opts_t opts;
    ct_test_daemon_opts(&g_d, "pw.kim", &creds, &opts);
    char crt[4300], key[4300];
    snprintf(crt, sizeof crt, "%s.crt", prefix);
    snprintf(key, sizeof key, "%s.key", prefix);
    opts.cert = crt;
    opts.key = key;
    ct_sync_t *s = NULL;
    char err[512] = "";
    cr_assert_eq(ct_sync_connect(&opts, CONNECT_MS, &s, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(ct_sync_welcome(s)->member_id, "pw.kim");
    /* Revoking pw.kim revokes both certificates: the renewed session is closed. */
    cr_assert_eq(ct_test_careteamd(&g_d, "revoke", g_d.data, "--id", "pw.kim", NULL), 0);
    cr_assert_eq(crl_entries(), 2);
    assert_revoked_and_closed(s, "pw.kim (renewed)");
    ct_sync_close(s);
    assert_new_connection_refused("pw.kim");
    /* No certificate for a deactivated or unknown member. */
    cr_assert_eq(ct_test_careteamd(&g_d, "deactivate", g_d.data, "--id", "pw.sam", NULL), 0);
    snprintf(prefix, sizeof prefix, "%s/pw.sam-renewed", g_d.dir);
    cr_assert_neq(
        ct_test_careteamd(&g_d, "renew", g_d.data, "--id", "pw.sam", "--out", prefix, NULL), 0);
    cr_assert_neq(
        ct_test_careteamd(&g_d, "renew", g_d.data, "--id", "no.one", "--out", prefix, NULL), 0);
    snprintf(crt, sizeof crt, "%s.crt", prefix);
    cr_assert_neq(access(crt, F_OK), 0, "a refused renew left %s", crt);
    ct_test_daemon_finish(&g_d);
}

/* The list is applied even when the rest of a reload fails: with the server key unreadable, the
 * TLS context (and the list inside it) stays the old one, yet a member revoked at that SIGHUP is
 * closed, and a new connection of theirs, which the old context lets through its handshake, is
 * refused when the handshake completes (the check every completing handshake makes, also for
 * one that began before a reload). */
Test(revoke, honoured_when_the_tls_reload_fails)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_sync_t *kim = ct_test_connect(&g_d, "pw.kim");
    char key[4200], saved[4300];
    snprintf(key, sizeof key, "%s/server.key", g_d.data);
    snprintf(saved, sizeof saved, "%s/server.key.saved", g_d.dir);
    cr_assert_eq(rename(key, saved), 0);
    FILE *f = fopen(key, "w");
    cr_assert_not_null(f);
    fputs("not a key\n", f);
    fclose(f);

    cr_assert_eq(ct_test_careteamd(&g_d, "revoke", g_d.data, "--id", "pw.kim", NULL), 0);
    assert_revoked_and_closed(kim, "pw.kim");
    ct_sync_close(kim);

    long refused = db_count("SELECT count(*) FROM audit WHERE action = 'session.revoked'");
    ct_test_creds_t creds;
    ct_client_opts_t opts;
    ct_test_daemon_opts(&g_d, "pw.kim", &creds, &opts);
    ct_sync_t *s = NULL;
    char err[512] = "";
    int rc = ct_sync_connect(&opts, CONNECT_MS, &s, err, sizeof err);
    if (rc == 0)
        ct_sync_close(s);
    cr_assert_eq(rc, CT_EUNAUTHENTICATED,
                 "a revoked member connected, or failed otherwise: %s (%s)", ct_errname(rc), err);
    await_count("SELECT count(*) FROM audit WHERE action = 'session.revoked' AND outcome != 0 AND "
                "detail LIKE '%certificate_revoked%'",
                refused + 1);

    cr_assert_eq(rename(saved, key), 0);
    ct_sync_t *sam = ct_test_connect(&g_d, "pw.sam");
    ct_test_ping(sam, "pw.sam");
    ct_sync_close(sam);
    ct_test_daemon_finish(&g_d);
}
