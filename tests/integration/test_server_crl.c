/*
 * Integration tests of the server certificate's revocation (issue 5, section 7: no testssl
 * finding, and a revocation that clients can really check): `careteamd init` writes an empty
 * DIR/crl.pem signed by the CA and keeps where it is published as crl_url in careteamd.conf
 * (--crl-url, by default file:// and the list's absolute path); the server certificate and every
 * member certificate issued by enroll and renew name that URL in a CRL Distribution Points
 * extension. A client given the list (ct_client_opts_t.crl, the CLI's --crl) refuses a server
 * whose certificate the list revokes; a client without it does not check, and still connects.
 *
 * The server certificate is revoked with `careteamd revoke DIR --server` (audited server.revoke);
 * the list is read back with server/pki.h.
 *
 * Each test starts its own daemon (tests/support/daemon.h) and ends with ct_test_daemon_finish,
 * which stops it asserting exit status 0 and runs the leak check.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "careteam.h"
#include "daemon.h"
#include "envelope.h"
#include "err.h"
#include "pki.h"
#include "testsupport.h"

#define CONNECT_MS 5000
#define URL "https://ca.clinic.example/careteam/crl.pem"

static ct_test_daemon_t g_d;

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

TestSuite(server_crl, .init = ct_test_ignore_sigpipe, .fini = teardown, .timeout = 90);

/* The one URI of the CRL Distribution Points of the certificate at path, into out ("" when the
 * certificate has no such extension). */
static void cert_crl_url(const char *path, char *out, size_t len)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert_not_null(x, "%s is not a PEM certificate", path);
    out[0] = '\0';
    CRL_DIST_POINTS *dps = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
    if (dps != NULL) {
        cr_assert_eq(sk_DIST_POINT_num(dps), 1);
        DIST_POINT *dp = sk_DIST_POINT_value(dps, 0);
        cr_assert(dp->distpoint != NULL && dp->distpoint->type == 0);
        cr_assert_eq(sk_GENERAL_NAME_num(dp->distpoint->name.fullname), 1);
        int type;
        ASN1_IA5STRING *uri =
            GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(dp->distpoint->name.fullname, 0), &type);
        cr_assert_eq(type, GEN_URI);
        snprintf(out, len, "%.*s", ASN1_STRING_length(uri),
                 (const char *)ASN1_STRING_get0_data(uri));
    }
    CRL_DIST_POINTS_free(dps);
    X509_free(x);
}

/* The value of `key = ` on the last line that sets it in DIR/careteamd.conf, into out ("" when
 * no line sets it). */
static void conf_value(const char *dir, const char *key, char *out, size_t len)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/careteamd.conf", dir);
    char *text = ct_test_read_file(path, NULL);
    cr_assert_not_null(text, "cannot read %s", path);
    out[0] = '\0';
    size_t klen = strlen(key);
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, key, klen) == 0 && strncmp(line + klen, " = ", 3) == 0)
            snprintf(out, len, "%s", line + klen + 3);
    }
    free(text);
}

/* Appends a line to DIR/careteamd.conf (a key given twice takes its last value). */
static void conf_append(const char *dir, const char *line)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/careteamd.conf", dir);
    FILE *f = fopen(path, "a");
    cr_assert_not_null(f);
    fprintf(f, "%s\n", line);
    cr_assert_eq(fclose(f), 0);
}

/* How many certificates the list at path revokes; asserts it is signed by the CA at ca_path. */
static size_t crl_entries(const char *path, const char *ca_path)
{
    ct_pki_crl_t *crl = NULL;
    char err[512];
    int rc = ct_pki_crl_load(path, ca_path, &crl, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    size_t n = ct_pki_crl_count(crl);
    ct_pki_crl_free(crl);
    return n;
}

/* `careteamd revoke DIR --server`, as an administrator whose server key leaked would run it; the
 * list then names DIR/server.crt's serial, and the command is audited. */
static void revoke_server_cert(void)
{
    char ca_crt[4200], crt[4200], crl[4200], err[512];
    char serial[CT_PKI_SERIAL_HEX_MAX + 1];
    long before = ct_test_audit_count(&g_d, "server.revoke");
    cr_assert_eq(
        ct_test_careteamd(&g_d, "revoke", g_d.data, "--server", "--reason", "keyCompromise", NULL),
        0);
    snprintf(ca_crt, sizeof ca_crt, "%s/ca.crt", g_d.data);
    snprintf(crt, sizeof crt, "%s/server.crt", g_d.data);
    snprintf(crl, sizeof crl, "%s/crl.pem", g_d.data);
    cr_assert_eq(ct_pki_cert_serial(ca_crt, crt, serial, NULL, 0, err, sizeof err), 0, "%s", err);
    ct_pki_crl_t *list = NULL;
    cr_assert_eq(ct_pki_crl_load(crl, ca_crt, &list, err, sizeof err), 0, "%s", err);
    bool listed = ct_pki_crl_has(list, serial);
    ct_pki_crl_free(list);
    cr_assert(listed, "crl.pem does not list the server certificate %s", serial);
    cr_assert_eq(ct_test_audit_count(&g_d, "server.revoke"), before + 1);
}

/* Connects as id, checking the server's certificate against the list at crl (NULL: no check).
 * Returns the ct_sync_connect result, with its reason in err; closes a connection made. */
static int connect_with_crl(const char *id, const char *crl, char *err, size_t errlen)
{
    ct_test_creds_t creds;
    ct_client_opts_t opts;
    ct_test_daemon_opts(&g_d, id, &creds, &opts);
    opts.crl = crl;
    ct_sync_t *s = NULL;
    err[0] = '\0';
    int rc = ct_sync_connect(&opts, CONNECT_MS, &s, err, errlen);
    if (rc == 0) {
        ct_test_ping(s, id);
        ct_sync_close(s);
    }
    return rc;
}

/* init makes the list and names it: crl_url is file:// and the absolute path of DIR/crl.pem, the
 * list is empty and signed by the CA, the server and member certificates name it, the daemon
 * starts with it and check-config accepts the directory. */
Test(server_crl, init_publishes_an_empty_list_that_every_certificate_names)
{
    ct_test_daemon_init(&g_d, NULL);
    char abs[PATH_MAX], want[PATH_MAX + 32], got[2048], path[4200], crl[4200], ca[4200];
    cr_assert_not_null(realpath(g_d.data, abs));
    snprintf(want, sizeof want, "file://%s/crl.pem", abs);
    conf_value(g_d.data, "crl_url", got, sizeof got);
    cr_assert_str_eq(got, want);

    snprintf(crl, sizeof crl, "%s/crl.pem", g_d.data);
    snprintf(ca, sizeof ca, "%s/ca.crt", g_d.data);
    cr_assert_eq(crl_entries(crl, ca), 0);
    struct stat st;
    cr_assert_eq(stat(crl, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0644, "crl.pem mode %o", st.st_mode & 0777);

    snprintf(path, sizeof path, "%s/server.crt", g_d.data);
    cert_crl_url(path, got, sizeof got);
    cr_assert_str_eq(got, want, "server.crt");
    ct_test_daemon_cert_path(&g_d, "dr.ahmed", path, sizeof path);
    cert_crl_url(path, got, sizeof got);
    cr_assert_str_eq(got, want, "dr.ahmed.crt");

    cr_assert_eq(ct_test_careteamd(&g_d, "check-config", g_d.data, NULL), 0);
    /* The daemon loads the empty list (it checks members' certificates against it) and serves;
     * a client that checks the server against the same list is welcomed. */
    ct_test_daemon_start(&g_d);
    char err[512];
    cr_assert_eq(connect_with_crl("dr.ahmed", crl, err, sizeof err), 0, "%s", err);
    cr_assert_eq(connect_with_crl("pw.sam", NULL, err, sizeof err), 0, "%s", err);
    ct_test_daemon_finish(&g_d);
}

/* Once the list revokes the server's certificate, a client that checks it refuses the server
 * ("certificate revoked") before sending anything; a client without the list does not check and
 * still connects: revocation of the server protects only clients given the list. */
Test(server_crl, revoked_server_certificate_fails_clients_that_check)
{
    ct_test_daemon_launch(&g_d, NULL);
    char crl[4200], ca[4200], err[512];
    snprintf(crl, sizeof crl, "%s/crl.pem", g_d.data);
    snprintf(ca, sizeof ca, "%s/ca.crt", g_d.data);
    cr_assert_eq(connect_with_crl("th.lee", crl, err, sizeof err), 0, "%s", err);

    revoke_server_cert();
    /* Revoking again is harmless; --server takes no member options. */
    cr_assert_eq(ct_test_careteamd(&g_d, "revoke", g_d.data, "--server", NULL), 0);
    cr_assert_eq(crl_entries(crl, ca), 1);
    cr_assert_eq(ct_test_careteamd(&g_d, "revoke", g_d.data, "--server", "--id", "th.lee", NULL),
                 2);
    int rc = connect_with_crl("th.lee", crl, err, sizeof err);
    cr_log_info("with the list: %s (%s)", ct_errname(rc), err);
    cr_assert_neq(rc, 0, "connected to a server whose certificate the list revokes");
    cr_assert_neq(rc, CT_ETIMEDOUT, "refused by timing out instead of failing: %s", err);
    /* The client's own verification said so, in the handshake, before any Hello. */
    cr_assert(strstr(err, "tls handshake") != NULL && strstr(err, "certificate revoked") != NULL,
              "%s", err);

    cr_assert_eq(connect_with_crl("th.lee", NULL, err, sizeof err), 0,
                 "a client without the list must still connect: %s", err);
    ct_test_daemon_finish(&g_d);
}

/* A list that is not the server CA's cannot vouch for its certificate: the connection fails
 * rather than going unchecked. A file that is not a list at all fails before connecting. */
Test(server_crl, list_of_another_ca_or_no_list_fails_the_connection)
{
    ct_test_daemon_launch(&g_d, NULL);
    char other[4200], crl[4300], err[512];
    snprintf(other, sizeof other, "%s/other", g_d.dir);
    cr_assert_eq(ct_test_careteamd(&g_d, "init", other, NULL), 0);
    snprintf(crl, sizeof crl, "%s/crl.pem", other);
    int rc = connect_with_crl("pw.kim", crl, err, sizeof err);
    cr_log_info("another CA's list: %s (%s)", ct_errname(rc), err);
    cr_assert_neq(rc, 0, "connected with another CA's revocation list");
    cr_assert(strstr(err, "CRL") != NULL, "%s", err);

    snprintf(crl, sizeof crl, "%s/no-such-crl.pem", g_d.dir);
    rc = connect_with_crl("pw.kim", crl, err, sizeof err);
    cr_assert_eq(rc, CT_ETLS, "%s", err);
    cr_assert(strstr(err, crl) != NULL, "%s", err);
    ct_test_daemon_finish(&g_d);
}

/* The server certificate's serial, from DIR/server.crt. */
static void server_serial(char serial[CT_PKI_SERIAL_HEX_MAX + 1])
{
    char ca[4200], crt[4200], err[512];
    snprintf(ca, sizeof ca, "%s/ca.crt", g_d.data);
    snprintf(crt, sizeof crt, "%s/server.crt", g_d.data);
    cr_assert_eq(ct_pki_cert_serial(ca, crt, serial, NULL, 0, err, sizeof err), 0, "%s", err);
}

/*
 * After `revoke --server` (its key leaked), `careteamd renew DIR --server` gives the daemon a new
 * certificate from the same CA, for the same hosts plus any --host, naming the same list: the
 * running daemon reloads it, and clients that check the list connect again with nothing new on
 * their side. The trail names both serials. No new data directory, no member enrolled again.
 */
Test(server_crl, renew_server_replaces_a_revoked_certificate)
{
    ct_test_daemon_init(&g_d, NULL);
    char dir[4200], path[4300], crl[4300], url[2048], err[512];
    /* A directory of its own, made with a --host to carry over; the demo team is enrolled in
     * g_d.data, so serve that and renew there, and check the hosts on this one. */
    snprintf(dir, sizeof dir, "%s/clinic", g_d.dir);
    cr_assert_eq(ct_test_careteamd(&g_d, "init", dir, "--host", "care.example.org", NULL), 0);
    /* As root on a directory that belongs to the daemon's account (here nobody's), the new pair
     * is that account's, or the daemon could not read the key when it reloads. */
    bool as_root = geteuid() == 0;
    if (as_root)
        cr_assert_eq(chown(dir, 65534, 65534), 0, "%s", strerror(errno));
    cr_assert_eq(ct_test_careteamd(&g_d, "renew", dir, "--server", "--host", "10.20.30.40", NULL),
                 0);
    struct stat sb;
    snprintf(path, sizeof path, "%s/server.key", dir);
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600, "server.key mode %o", sb.st_mode & 0777);
    if (as_root)
        cr_assert(sb.st_uid == 65534 && sb.st_gid == 65534, "server.key belongs to %d:%d",
                  (int)sb.st_uid, (int)sb.st_gid);
    snprintf(path, sizeof path, "%s/server.crt", dir);
    char **hosts = NULL;
    size_t n = 0;
    cr_assert_eq(ct_pki_cert_hosts(path, &hosts, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 2, "the old certificate's host and the new --host");
    cr_assert_str_eq(hosts[0], "care.example.org");
    cr_assert_str_eq(hosts[1], "10.20.30.40");
    ct_pki_hosts_free(hosts, n);

    ct_test_daemon_start(&g_d);
    snprintf(crl, sizeof crl, "%s/crl.pem", g_d.data);
    snprintf(path, sizeof path, "%s/server.crt", g_d.data);
    char old_url[2048];
    cert_crl_url(path, old_url, sizeof old_url);
    char old[CT_PKI_SERIAL_HEX_MAX + 1], fresh[CT_PKI_SERIAL_HEX_MAX + 1];
    server_serial(old);
    revoke_server_cert();
    cr_assert_neq(connect_with_crl("th.lee", crl, err, sizeof err), 0, "revoked, yet connected");

    cr_assert_eq(ct_test_careteamd(&g_d, "renew", g_d.data, "--server", NULL), 0);
    server_serial(fresh);
    cr_assert_str_neq(fresh, old);
    cert_crl_url(path, url, sizeof url);
    cr_assert_str_eq(url, old_url, "the new certificate names the same list");
    cr_assert_eq(ct_test_audit_count(&g_d, "server.renew"), 1);
    /* renew told the daemon (SIGHUP); the reload is asynchronous. */
    int rc = -1;
    for (int i = 0; i < 100 && rc != 0; i++) {
        rc = connect_with_crl("th.lee", crl, err, sizeof err);
        if (rc != 0)
            usleep(50 * 1000);
    }
    cr_assert_eq(rc, 0, "the daemon did not take the new certificate: %s", err);

    /* --server takes no member options, and --host goes with --server only. */
    cr_assert_eq(ct_test_careteamd(&g_d, "renew", g_d.data, "--server", "--id", "th.lee", NULL), 2);
    cr_assert_eq(ct_test_careteamd(&g_d, "renew", g_d.data, "--id", "th.lee", "--out", path,
                                   "--host", "x.example.org", NULL),
                 2);
    ct_test_daemon_finish(&g_d);
}

/* --crl-url is kept as crl_url and named by the server certificate and by every certificate that
 * enroll and renew issue later; changing crl_url changes what later certificates name. */
Test(server_crl, init_crl_url_is_named_by_enroll_and_renew)
{
    ct_test_daemon_init(&g_d, NULL);
    char dir[4200], got[2048], path[4300], prefix[4300];
    snprintf(dir, sizeof dir, "%s/clinic", g_d.dir);
    cr_assert_eq(ct_test_careteamd(&g_d, "init", dir, "--crl-url", URL, NULL), 0);
    conf_value(dir, "crl_url", got, sizeof got);
    cr_assert_str_eq(got, URL);
    snprintf(path, sizeof path, "%s/server.crt", dir);
    cert_crl_url(path, got, sizeof got);
    cr_assert_str_eq(got, URL);
    snprintf(path, sizeof path, "%s/crl.pem", dir);
    cr_assert_eq(access(path, R_OK), 0, "init made no %s", path);
    cr_assert_eq(ct_test_careteamd(&g_d, "check-config", dir, NULL), 0);

    snprintf(prefix, sizeof prefix, "%s/nurse", g_d.dir);
    cr_assert_eq(ct_test_careteamd(&g_d, "enroll", dir, "--id", "nurse.one", "--name", "N One",
                                   "--role", "therapist", "--out", prefix, NULL),
                 0);
    snprintf(path, sizeof path, "%s.crt", prefix);
    cert_crl_url(path, got, sizeof got);
    cr_assert_str_eq(got, URL, "enrolled certificate");

    conf_append(dir, "crl_url = http://ca2.clinic.example/crl.pem");
    snprintf(prefix, sizeof prefix, "%s/nurse-renewed", g_d.dir);
    cr_assert_eq(ct_test_careteamd(&g_d, "renew", dir, "--id", "nurse.one", "--out", prefix, NULL),
                 0);
    snprintf(path, sizeof path, "%s.crt", prefix);
    cert_crl_url(path, got, sizeof got);
    cr_assert_str_eq(got, "http://ca2.clinic.example/crl.pem", "renewed certificate");

    /* A data directory whose settings name no list (made before crl_url existed; an empty
     * careteamd.conf means every default) issues certificates without one. */
    char conf[4300];
    snprintf(conf, sizeof conf, "%s/careteamd.conf", dir);
    cr_assert_eq(truncate(conf, 0), 0);
    snprintf(prefix, sizeof prefix, "%s/nurse-plain", g_d.dir);
    cr_assert_eq(ct_test_careteamd(&g_d, "renew", dir, "--id", "nurse.one", "--out", prefix, NULL),
                 0);
    snprintf(path, sizeof path, "%s.crt", prefix);
    cert_crl_url(path, got, sizeof got);
    cr_assert_str_eq(got, "");
    ct_test_daemon_cleanup(&g_d);
    ct_test_leak_check();
}

/* A --crl-url that is not an absolute http, https or file URL is refused as a usage error
 * (exit 2) that says what is expected, before anything is made; so is a bad crl_url in
 * careteamd.conf, by check-config, naming its line. */
Test(server_crl, bad_crl_url_is_refused_with_what_is_expected)
{
    ct_test_daemon_init(&g_d, NULL);
    static const char *const bad[] = {"ftp://ca.example/crl.pem", "crl.pem",
                                      "https://ca.example/my crl.pem", "https://", ""};
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/refused", g_d.dir);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(truncate(g_d.log, 0), 0);
        cr_assert_eq(ct_test_careteamd(&g_d, "init", dir, "--crl-url", bad[i], NULL), 2,
                     "--crl-url \"%s\" was not a usage error", bad[i]);
        char *log = ct_test_read_file(g_d.log, NULL);
        cr_assert_not_null(log);
        cr_log_info("--crl-url \"%s\": %s", bad[i], log);
        cr_assert(strstr(log, "invalid --crl-url") != NULL, "%s", log);
        cr_assert(strstr(log, "https://") != NULL, "%s", log);
        free(log);
        cr_assert_neq(access(dir, F_OK), 0, "a refused init made %s", dir);
    }

    conf_append(g_d.data, "crl_url = ldap://ca.example/cn=careteam");
    cr_assert_eq(truncate(g_d.log, 0), 0);
    cr_assert_neq(ct_test_careteamd(&g_d, "check-config", g_d.data, NULL), 0);
    char *log = ct_test_read_file(g_d.log, NULL);
    cr_assert_not_null(log);
    cr_assert(strstr(log, "invalid crl_url \"ldap://ca.example/cn=careteam\"") != NULL, "%s", log);
    free(log);
    ct_test_daemon_cleanup(&g_d);
    ct_test_leak_check();
}
