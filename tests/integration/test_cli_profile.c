/*
 * Integration tests of the careteam CLI's everyday comforts (issue 7, section 4): profiles made
 * with `careteam profile` and their permission checks, the default profile, colour and table
 * width on a terminal (a pseudo-terminal here) and plain text when piped, the expired-certificate
 * message, and a server refusal shown verbatim.
 *
 * The built binary (CT_TEST_CARETEAM_CLI) runs as a subprocess with a fresh environment (never
 * the test's own), HOME and XDG_CONFIG_HOME inside the test's directory, against a real careteamd
 * with the demo team (tests/support/daemon.h). Tests end with ct_test_daemon_finish (daemon exit
 * status 0, then ct_test_leak_check); the suite's .fini cleans up after a failed assertion.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "careteam.h"
#include "cli_run.h"
#include "daemon.h"
#include "testsupport.h"

static ct_test_daemon_t g_d;

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

TestSuite(cli_profile, .init = ct_test_ignore_sigpipe, .fini = teardown, .timeout = 120);

/* ---- the CLI's environment ------------------------------------------------------------------- */

/* ct_test_cli_env_init with HOME the test's directory, plus XDG_CONFIG_HOME in it (where named
 * profiles live). The caller frees e. */
static void env_base(ct_test_cli_env_t *e)
{
    char xdg[4200];
    ct_test_cli_env_init(e, g_d.dir);
    snprintf(xdg, sizeof xdg, "%s/xdg", g_d.dir);
    ct_test_cli_env_set(e, "XDG_CONFIG_HOME", xdg);
}

/* ---- adding profiles ------------------------------------------------------------------------- */

/* `careteam profile add NAME` for member id with credentials copied to DIR/creds-ID, run in that
 * directory with relative paths (the profile must store them absolute); extra is one more
 * argument (--default) or NULL. Asserts exit 0. */
static void add_profile(const ct_test_cli_env_t *env, const char *name, const char *id,
                        const char *extra)
{
    char creds[4300], crt[80], key[80];
    snprintf(creds, sizeof creds, "%s/creds-%s", g_d.dir, id);
    struct stat st;
    if (stat(creds, &st) != 0)
        ct_test_daemon_copy_creds(&g_d, id, creds);
    snprintf(crt, sizeof crt, "%s.crt", id);
    snprintf(key, sizeof key, "./%s.key", id);
    ct_test_cli_t p;
    if (extra != NULL)
        ct_test_cli_run_with(&p, &(ct_test_cli_opts_t){.env = env, .cwd = creds},
                             CT_TEST_ARGS("profile", "add", name, "--server", g_d.addr, "--cert",
                                          crt, "--key", key, "--ca", "ca.crt", extra));
    else
        ct_test_cli_run_with(&p, &(ct_test_cli_opts_t){.env = env, .cwd = creds},
                             CT_TEST_ARGS("profile", "add", name, "--server", g_d.addr, "--cert",
                                          crt, "--key", key, "--ca", "ca.crt"));
    ct_test_assert_exit(&p, 0);
    ct_test_cli_free(&p);
}

/* The path of profile name under the test's XDG_CONFIG_HOME. */
static void profile_file(const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/xdg/careteam/%s.conf", g_d.dir, name);
}

/* ---- profiles -------------------------------------------------------------------------------- */

Test(cli_profile, add_list_show_default_remove)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_cli_env_t env;
    env_base(&env);
    ct_test_cli_t p;

    ct_test_cli_run(&p, &env, CT_TEST_ARGS("profile", "list"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "No profiles.");
    ct_test_cli_free(&p);

    /* The first profile becomes the default; the directory is 0700, the file 0600, the paths
     * absolute. */
    add_profile(&env, "clinic", "dr.ahmed", NULL);
    add_profile(&env, "peer", "pw.sam", NULL);
    char path[4300], dir[4300];
    profile_file("clinic", path, sizeof path);
    snprintf(dir, sizeof dir, "%s/xdg/careteam", g_d.dir);
    struct stat st;
    cr_assert_eq(stat(dir, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700, "directory mode %o", st.st_mode & 0777);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "profile mode %o", st.st_mode & 0777);
    char *text = ct_test_read_file(path, NULL);
    cr_assert_not_null(text);
    char want[4400];
    snprintf(want, sizeof want, "cert = %s/creds-dr.ahmed/dr.ahmed.crt\n", g_d.dir);
    ct_test_assert_has(text, want);
    snprintf(want, sizeof want, "key = %s/creds-dr.ahmed/dr.ahmed.key\n", g_d.dir);
    ct_test_assert_has(text, want);
    free(text);

    ct_test_cli_run(&p, &env, CT_TEST_ARGS("profile", "list"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "NAME");
    ct_test_assert_has(p.out, "clinic  *");
    ct_test_assert_has(p.out, "dr.ahmed");
    ct_test_assert_has(p.out, "pw.sam");
    ct_test_assert_lacks(p.out, "\033[");
    ct_test_cli_free(&p);

    /* No --profile: the default's member; --profile: that one's. */
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami", "--json"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "\"member_id\":\"dr.ahmed\"");
    ct_test_cli_free(&p);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("--profile", "peer", "whoami", "--json"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "\"member_id\":\"pw.sam\"");
    ct_test_cli_free(&p);

    ct_test_cli_run(&p, &env, CT_TEST_ARGS("profile", "default", "peer"));
    ct_test_assert_exit(&p, 0);
    ct_test_cli_free(&p);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("profile", "default"));
    ct_test_assert_exit(&p, 0);
    cr_assert_str_eq(p.out, "peer\n");
    ct_test_cli_free(&p);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami", "--json"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "\"member_id\":\"pw.sam\"");
    ct_test_cli_free(&p);

    ct_test_cli_run(&p, &env, CT_TEST_ARGS("profile", "show", "peer"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "peer (the default)");
    ct_test_assert_has(p.out, "pw.sam");
    ct_test_assert_has(p.out, "expires");
    ct_test_cli_free(&p);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("profile", "show", "nosuch"));
    ct_test_assert_exit(&p, 2);
    ct_test_assert_has(p.err, "no profile 'nosuch'");
    ct_test_cli_free(&p);

    /* Removing the default leaves none; the credential files stay. */
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("profile", "remove", "peer"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "no default profile now");
    ct_test_cli_free(&p);
    snprintf(path, sizeof path, "%s/creds-pw.sam/pw.sam.key", g_d.dir);
    cr_assert_eq(access(path, F_OK), 0);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami"));
    ct_test_assert_exit(&p, 2);
    ct_test_assert_has(p.err, "careteam profile add");
    ct_test_cli_free(&p);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("profile", "remove", "peer"));
    ct_test_assert_exit(&p, 2);
    ct_test_cli_free(&p);
    ct_test_cli_env_free(&env);
    ct_test_daemon_finish(&g_d);
}

Test(cli_profile, default_fills_only_what_flags_and_environment_leave_unset)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_cli_env_t env;
    env_base(&env);
    add_profile(&env, "clinic", "dr.ahmed", NULL);
    ct_test_cli_t p;

    /* The environment's server wins over the default profile's (nothing listens on port 1). */
    ct_test_cli_env_set(&env, "CARETEAM_SERVER", "127.0.0.1:1");
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami"));
    ct_test_assert_exit(&p, 3);
    ct_test_assert_has(p.err, "CARETEAM_SERVER");
    ct_test_cli_free(&p);
    /* ... and a flag over both. */
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("--server", g_d.addr, "whoami", "--json"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "\"member_id\":\"dr.ahmed\"");
    ct_test_cli_free(&p);

    /* A command given every setting never reads the default profile, even a refused one. */
    char path[4300], cred[4300];
    profile_file("clinic", path, sizeof path);
    cr_assert_eq(chmod(path, 0666), 0);
    ct_test_cli_env_set(&env, "CARETEAM_SERVER", g_d.addr);
    ct_test_daemon_cert_path(&g_d, "th.lee", cred, sizeof cred);
    ct_test_cli_env_set(&env, "CARETEAM_CERT", cred);
    ct_test_daemon_key_path(&g_d, "th.lee", cred, sizeof cred);
    ct_test_cli_env_set(&env, "CARETEAM_KEY", cred);
    ct_test_daemon_ca_path(&g_d, cred, sizeof cred);
    ct_test_cli_env_set(&env, "CARETEAM_CA", cred);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami", "--json"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "\"member_id\":\"th.lee\"");
    ct_test_cli_free(&p);
    ct_test_cli_env_free(&env);
    ct_test_daemon_finish(&g_d);
}

Test(cli_profile, unsafe_permissions_are_refused_with_the_chmod_to_run)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_cli_env_t env;
    env_base(&env);
    add_profile(&env, "clinic", "dr.ahmed", NULL);
    char path[4300], dir[4300], key[4300], want[4500];
    profile_file("clinic", path, sizeof path);
    snprintf(dir, sizeof dir, "%s/xdg/careteam", g_d.dir);
    snprintf(key, sizeof key, "%s/creds-dr.ahmed/dr.ahmed.key", g_d.dir);
    ct_test_cli_t p;

    /* A group-writable profile. */
    cr_assert_eq(chmod(path, 0664), 0);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami"));
    ct_test_assert_exit(&p, 4);
    snprintf(want, sizeof want, "chmod 600 %s", path);
    ct_test_assert_has(p.err, want);
    ct_test_assert_has(p.err, "writable by its group");
    ct_test_cli_free(&p);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("profile", "list", "--json"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "\"problem\":\"profile ");
    ct_test_cli_free(&p);
    cr_assert_eq(chmod(path, 0600), 0);

    /* A world-writable profile directory. */
    cr_assert_eq(chmod(dir, 0777), 0);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami"));
    ct_test_assert_exit(&p, 4);
    snprintf(want, sizeof want, "chmod 700 %s", dir);
    ct_test_assert_has(p.err, want);
    ct_test_cli_free(&p);
    cr_assert_eq(chmod(dir, 0700), 0);

    /* A private key others may write is refused; one they may read is a warning. */
    cr_assert_eq(chmod(key, 0666), 0);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami"));
    ct_test_assert_exit(&p, 4);
    snprintf(want, sizeof want, "chmod 600 %s", key);
    ct_test_assert_has(p.err, want);
    ct_test_cli_free(&p);
    cr_assert_eq(chmod(key, 0644), 0);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.err, "warning: your private key");
    ct_test_assert_has(p.err, want);
    ct_test_cli_free(&p);
    cr_assert_eq(chmod(key, 0600), 0);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami"));
    ct_test_assert_exit(&p, 0);
    cr_assert_str_empty(p.err);
    ct_test_cli_free(&p);

    /* A profile given as a path is checked too. */
    char other[4300];
    snprintf(other, sizeof other, "%s/other.conf", g_d.dir);
    ct_test_write_file(other, "server = 127.0.0.1:7443\n", 0646);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("--profile", other, "whoami"));
    ct_test_assert_exit(&p, 4);
    ct_test_assert_has(p.err, "writable by others");
    ct_test_cli_free(&p);
    ct_test_cli_env_free(&env);
    ct_test_daemon_finish(&g_d);
}

Test(cli_profile, add_checks_before_writing)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_cli_env_t env;
    env_base(&env);
    char creds[4300];
    snprintf(creds, sizeof creds, "%s/creds-pw.kim", g_d.dir);
    ct_test_daemon_copy_creds(&g_d, "pw.kim", creds);
    ct_test_cli_t p;
    const struct {
        const char *const *args;
        int code;
        const char *says;
    } bad[] = {
        {CT_TEST_ARGS("profile", "add", "../x", "--server", "h:1", "--cert", "pw.kim.crt", "--key",
                      "pw.kim.key", "--ca", "ca.crt"),
         2, "not a profile name"},
        {CT_TEST_ARGS("profile", "add", "x", "--server", "h:1", "--cert", "pw.kim.crt", "--ca",
                      "ca.crt"),
         2, "missing --key"},
        {CT_TEST_ARGS("profile", "add", "x", "--server", "h:1", "--cert", "nosuch.crt", "--key",
                      "pw.kim.key", "--ca", "ca.crt"),
         4, "nosuch.crt"},
        {CT_TEST_ARGS("profile", "add", "x", "--server", "h:1", "--cert", "pw.kim.key", "--key",
                      "pw.kim.key", "--ca", "ca.crt"),
         4, "no PEM certificate"},
        {CT_TEST_ARGS("profile", "add", "x", "--server", "[::1", "--cert", "pw.kim.crt", "--key",
                      "pw.kim.key", "--ca", "ca.crt"),
         2, "--server"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ct_test_cli_run_with(&p, &(ct_test_cli_opts_t){.env = &env, .cwd = creds}, bad[i].args);
        ct_test_assert_exit(&p, bad[i].code);
        ct_test_assert_has(p.err, bad[i].says);
        ct_test_cli_free(&p);
    }
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/xdg/careteam/x.conf", g_d.dir);
    cr_assert_neq(access(dir, F_OK), 0, "a refused add wrote %s", dir);

    /* An existing profile is replaced only with --force. */
    add_profile(&env, "kim", "pw.kim", NULL);
    ct_test_cli_run_with(&p, &(ct_test_cli_opts_t){.env = &env, .cwd = creds},
                         CT_TEST_ARGS("profile", "add", "kim", "--server", "127.0.0.1:1", "--cert",
                                      "pw.kim.crt", "--key", "pw.kim.key", "--ca", "ca.crt"));
    ct_test_assert_exit(&p, 2);
    ct_test_assert_has(p.err, "--force");
    ct_test_cli_free(&p);
    add_profile(&env, "kim", "pw.kim", "--force");
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("--json", "profile", "show", "kim"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "\"type\":\"profile\",\"name\":\"kim\"");
    ct_test_assert_has(p.out, "\"default\":true");
    ct_test_assert_has(p.out, "\"member_id\":\"pw.kim\"");
    ct_test_assert_has(p.out, "\"problem\":\"\"");
    ct_test_cli_free(&p);
    ct_test_cli_env_free(&env);
    ct_test_daemon_finish(&g_d);
}

/* --crl is stored like the other paths (absolute, in the 0600 profile), shown by profile show,
 * and used by the commands; a file that is not a revocation list is refused before writing. */
Test(cli_profile, add_with_crl_stores_it_and_uses_it)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_cli_env_t env;
    env_base(&env);
    char creds[4300], from[4300], to[4400];
    snprintf(creds, sizeof creds, "%s/creds-th.lee", g_d.dir);
    ct_test_daemon_copy_creds(&g_d, "th.lee", creds);
    snprintf(from, sizeof from, "%s/crl.pem", g_d.data);
    snprintf(to, sizeof to, "%s/crl.pem", creds);
    ct_test_copy_file(from, to, 0644);

    ct_test_cli_t p;
    ct_test_cli_run_with(&p, &(ct_test_cli_opts_t){.env = &env, .cwd = creds},
                         CT_TEST_ARGS("profile", "add", "clinic", "--server", g_d.addr, "--cert",
                                      "th.lee.crt", "--key", "th.lee.key", "--ca", "ca.crt",
                                      "--crl", "ca.crt"));
    ct_test_assert_exit(&p, 4);
    ct_test_assert_has(p.err, "--crl");
    ct_test_assert_has(p.err, "not only a revocation list");
    ct_test_cli_free(&p);

    add_profile(&env, "clinic", "th.lee", "--crl=crl.pem");
    char path[4300], want[4600];
    profile_file("clinic", path, sizeof path);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "profile mode %o", st.st_mode & 0777);
    char *text = ct_test_read_file(path, NULL);
    cr_assert_not_null(text);
    snprintf(want, sizeof want, "crl = %s\n", to);
    ct_test_assert_has(text, want);
    free(text);

    ct_test_cli_run(&p, &env, CT_TEST_ARGS("--json", "profile", "show", "clinic"));
    ct_test_assert_exit(&p, 0);
    snprintf(want, sizeof want, "\"crl\":\"%s\"", to);
    ct_test_assert_has(p.out, want);
    ct_test_assert_has(p.out, "\"problem\":\"\"");
    ct_test_cli_free(&p);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami", "--json"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "\"member_id\":\"th.lee\"");
    ct_test_cli_free(&p);

    /* A profile without --crl says so. */
    add_profile(&env, "plain", "th.lee", NULL);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("profile", "show", "plain"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "not checked for revocation");
    ct_test_cli_free(&p);
    ct_test_cli_env_free(&env);
    ct_test_daemon_finish(&g_d);
}

/* ---- errors ---------------------------------------------------------------------------------- */

/* Writes a self-signed certificate for CN cn that expired a day ago, and its key, to crt_path and
 * key_path (0600). */
static void write_expired_cert(const char *cn, const char *crt_path, const char *key_path)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    cr_assert_not_null(pkey);
    X509 *x = X509_new();
    cr_assert_not_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), -2 * 86400L);
    X509_gmtime_adj(X509_getm_notAfter(x), -86400L);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, pkey);
    cr_assert_gt(X509_sign(x, pkey, EVP_sha256()), 0);
    FILE *f = fopen(crt_path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(PEM_write_X509(f, x), 1);
    fclose(f);
    int fd = open(key_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    f = fdopen(fd, "w");
    cr_assert_not_null(f);
    cr_assert_eq(PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pkey);
}

Test(cli_profile, expired_certificate_says_when_and_how_to_re_enroll)
{
    ct_test_daemon_launch(&g_d, NULL);
    char crt[4300], key[4300], ca[4300];
    snprintf(crt, sizeof crt, "%s/old.crt", g_d.dir);
    snprintf(key, sizeof key, "%s/old.key", g_d.dir);
    ct_test_daemon_ca_path(&g_d, ca, sizeof ca);
    write_expired_cert("pw.old", crt, key);
    /* The date it expired, as the CLI prints it (to the day: the test may cross a second). */
    char day[16];
    time_t t = time(NULL) - 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);

    ct_test_cli_env_t env;
    env_base(&env);
    ct_test_cli_env_set(&env, "CARETEAM_SERVER", g_d.addr);
    ct_test_cli_env_set(&env, "CARETEAM_CERT", crt);
    ct_test_cli_env_set(&env, "CARETEAM_KEY", key);
    ct_test_cli_env_set(&env, "CARETEAM_CA", ca);
    ct_test_cli_t p;
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("inbox"));
    ct_test_assert_exit(&p, 3);
    ct_test_assert_has(p.err, "your certificate");
    ct_test_assert_has(p.err, "member pw.old");
    ct_test_assert_has(p.err, "expired on ");
    ct_test_assert_has(p.err, day);
    ct_test_assert_has(p.err, "hint: ask your careteam administrator to re-enroll you");
    ct_test_assert_has(p.err, "careteam profile add");
    ct_test_cli_free(&p);

    /* profile add refuses it before writing anything. */
    ct_test_cli_run(&p, &env,
                    CT_TEST_ARGS("profile", "add", "old", "--server", g_d.addr, "--cert", crt,
                                 "--key", key, "--ca", ca));
    ct_test_assert_exit(&p, 4);
    ct_test_assert_has(p.err, "expired on ");
    ct_test_cli_free(&p);
    ct_test_cli_env_free(&env);
    ct_test_daemon_finish(&g_d);
}

Test(cli_profile, refusal_is_shown_verbatim_with_the_rule)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_daemon_care_team(&g_d, "p-9", "dr.ahmed", "pw.sam", NULL);
    /* The server's own words, through the library: a peer worker may not record consent. */
    ct_sync_t *s = ct_test_connect(&g_d, "pw.sam");
    Careteam__V1__RecordConsent req = CARETEAM__V1__RECORD_CONSENT__INIT;
    req.participant_id = "p-9";
    req.scope = CARETEAM__V1__CONSENT_SCOPE__CONSENT_SCOPE_PEER_SUPPORT;
    req.method = CARETEAM__V1__CONSENT_METHOD__CONSENT_METHOD_VERBAL;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_RECORD_CONSENT;
    env.record_consent = &req;
    Careteam__V1__Envelope *resp = NULL;
    cr_assert_eq(ct_sync_call(s, &env, 5000, &resp), 0);
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR);
    char want[1200];
    snprintf(want, sizeof want, "careteam: FORBIDDEN: %s\n", ct_response_message(resp));
    cr_assert_gt(strlen(ct_response_message(resp)), 10, "the server gave no reason");
    ct_envelope_free(resp);
    ct_sync_close(s);

    ct_test_cli_env_t e;
    env_base(&e);
    add_profile(&e, "sam", "pw.sam", NULL);
    ct_test_cli_t p;
    ct_test_cli_run(&p, &e,
                    CT_TEST_ARGS("consent", "record", "--participant", "p-9", "--scope",
                                 "peer-support", "--method", "verbal"));
    ct_test_assert_exit(&p, 1);
    cr_assert_str_eq(p.err, want, "stderr is not the server's message verbatim:\n%s\nwanted:\n%s",
                     p.err, want);
    cr_assert_str_empty(p.out);
    ct_test_cli_free(&p);
    ct_test_cli_env_free(&e);
    ct_test_daemon_finish(&g_d);
}

/* ---- terminals ------------------------------------------------------------------------------- */

/* The widest line of s in characters, not counting SGR escape sequences. */
static size_t widest_line(const char *s)
{
    size_t widest = 0, w = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
        if (*c == '\033') {
            while (*c != '\0' && *c != 'm')
                c++;
            if (*c == '\0')
                break;
            continue;
        }
        if (*c == '\n') {
            w = 0;
            continue;
        }
        if ((*c & 0xc0) != 0x80 && ++w > widest)
            widest = w;
    }
    return widest;
}

Test(cli_profile, colour_only_on_a_terminal_and_tables_fit_its_width)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_daemon_care_team(&g_d, "p-7", "dr.ahmed", NULL);
    ct_test_cli_env_t env;
    env_base(&env);
    add_profile(&env, "clinic", "dr.ahmed", NULL);
    ct_test_cli_t p;
    ct_test_cli_run(
        &p, &env,
        CT_TEST_ARGS("concern", "--participant", "p-7", "--urgent", "--text", "said goodbye"));
    ct_test_assert_exit(&p, 0);
    ct_test_cli_free(&p);

    /* A terminal: statuses and risk coloured, urgent in red. */
    ct_test_cli_env_set(&env, "TERM", "xterm");
    ct_test_cli_run_with(&p, &(ct_test_cli_opts_t){.env = &env, .tty_cols = 200},
                         CT_TEST_ARGS("alerts"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "\033[1;31murgent\033[0m");
    ct_test_assert_has(p.out, "\033[1;31mopen\033[0m");
    ct_test_cli_free(&p);

    /* Piped, NO_COLOR, TERM=dumb: plain text; --json unchanged. */
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("alerts"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "urgent");
    ct_test_assert_lacks(p.out, "\033[");
    ct_test_cli_free(&p);
    ct_test_cli_env_set(&env, "NO_COLOR", "1");
    ct_test_cli_run_with(&p, &(ct_test_cli_opts_t){.env = &env, .tty_cols = 200},
                         CT_TEST_ARGS("alerts"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "urgent");
    ct_test_assert_lacks(p.out, "\033[");
    ct_test_cli_free(&p);
    ct_test_cli_env_set(&env, "NO_COLOR", "");
    ct_test_cli_env_set(&env, "TERM", "dumb");
    ct_test_cli_run_with(&p, &(ct_test_cli_opts_t){.env = &env, .tty_cols = 200},
                         CT_TEST_ARGS("alerts"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_lacks(p.out, "\033[");
    ct_test_cli_free(&p);
    ct_test_cli_env_set(&env, "TERM", "xterm");
    ct_test_cli_run_with(&p, &(ct_test_cli_opts_t){.env = &env, .tty_cols = 200},
                         CT_TEST_ARGS("alerts", "--json"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_lacks(p.out, "\033[");
    cr_assert_eq(strncmp(p.out, "{\"type\":\"alert\",", 16), 0, "%s", p.out);
    ct_test_cli_free(&p);

    /* A long server name: on a 72-column terminal the table is cut to fit, with "…"; piped, it
     * is whole. */
    static const char long_server[] = "careteam-primary.community-mental-health.example.org:7443";
    char path[4300], text[8192], creds[4300];
    profile_file("wide", path, sizeof path);
    snprintf(creds, sizeof creds, "%s/creds-dr.ahmed", g_d.dir);
    snprintf(text, sizeof text,
             "server = %s\ncert = %s/dr.ahmed.crt\nkey = %s/dr.ahmed.key\nca = %s/ca.crt\n",
             long_server, creds, creds, creds);
    ct_test_write_file(path, text, 0600);
    ct_test_cli_run_with(&p, &(ct_test_cli_opts_t){.env = &env, .tty_cols = 72},
                         CT_TEST_ARGS("profile", "list"));
    ct_test_assert_exit(&p, 0);
    cr_assert_leq(widest_line(p.out), 72, "a line is wider than the terminal:\n%s", p.out);
    ct_test_assert_has(p.out, "\xe2\x80\xa6");
    ct_test_assert_lacks(p.out, long_server);
    ct_test_assert_has(p.out, "\033[32mok\033[0m");
    ct_test_cli_free(&p);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("profile", "list"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, long_server);
    ct_test_cli_free(&p);
    ct_test_cli_env_free(&env);
    ct_test_daemon_finish(&g_d);
}
