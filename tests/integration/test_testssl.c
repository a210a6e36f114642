/*
 * Debian's testssl against a real careteamd on loopback (issue 5, section 7): TLS 1.3 only, only
 * AEAD suites, no finding rated worse than OK. The verdict comes from the JSON report
 * (tests/integration/testssl_check.py, run with /usr/bin/python3), never from testssl's exit
 * code (see ../shared/TOOLCHAIN.md).
 *
 * The scan: -p (protocols), -E (cipher suites per protocol), -S (server defaults and the
 * certificate), -U (known vulnerabilities), with DIR/ca.crt as an extra trusted CA (--add-ca) and
 * no DNS. About 30-40 s. The daemon requires a client certificate; testssl's own socket probes
 * get as far as the server's reply without one, but its openssl s_client runs need one: testssl
 * 3.2 takes it with --mtls, and for Debian 12's testssl 3.0.8, which lacks --mtls, the test gives
 * --openssl a small wrapper that adds -cert/-key to every `openssl s_client`.
 *
 * Skipped, with a message, when `testssl` is not installed (`scripts/deps.sh --test` installs
 * the Debian package testssl.sh, so CI runs it).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "process.h"
#include "testsupport.h"

#define SCAN_TIMEOUT_MS 200000
#define CHECK_TIMEOUT_MS 30000
#define PYTHON "/usr/bin/python3"

static ct_test_daemon_t g_d;

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

TestSuite(testssl, .init = ct_test_ignore_sigpipe, .fini = teardown, .timeout = 230);

/* The full path of `testssl` on PATH, in out; false when there is none. */
static bool find_testssl(char *out, size_t len)
{
    const char *path = getenv("PATH");
    char *copy = strdup(path != NULL ? path : "/usr/bin:/bin");
    cr_assert_not_null(copy);
    bool found = false;
    for (char *save = NULL, *dir = strtok_r(copy, ":", &save); dir != NULL && !found;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(out, len, "%s/testssl", dir);
        found = access(out, X_OK) == 0;
    }
    free(copy);
    return found;
}

/* True when this testssl knows --mtls (3.2 and later). */
static bool has_mtls(char *testssl)
{
    char log[4200];
    snprintf(log, sizeof log, "%s/testssl-help.txt", g_d.dir);
    char *argv[] = {testssl, "--help", NULL};
    (void)ct_test_run_to_files(argv, NULL, log, NULL, CHECK_TIMEOUT_MS);
    char *help = ct_test_read_file(log, NULL);
    bool has = help != NULL && strstr(help, "--mtls") != NULL;
    free(help);
    return has;
}

/* Writes the `openssl` wrapper for a testssl without --mtls: every s_client run presents the
 * member certificate; everything else is plain /usr/bin/openssl. */
static void write_openssl_wrapper(const char *path, const char *cert, const char *key)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot create %s", path);
    fprintf(f,
            "#!/bin/sh\n"
            "# testssl 3.0 has no --mtls: present a client certificate in s_client runs.\n"
            "if [ \"$1\" = s_client ]; then\n"
            "  shift\n"
            "  exec /usr/bin/openssl s_client -cert '%s' -key '%s' \"$@\"\n"
            "fi\n"
            "exec /usr/bin/openssl \"$@\"\n",
            cert, key);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(path, 0700), 0);
}

/* Writes cert and key, concatenated, to path (testssl --mtls takes one PEM file). */
static void write_cert_and_key(const char *path, const char *cert, const char *key)
{
    FILE *out = fopen(path, "w");
    cr_assert_not_null(out);
    const char *parts[] = {cert, key};
    for (int i = 0; i < 2; i++) {
        char *pem = ct_test_read_file(parts[i], NULL);
        cr_assert_not_null(pem, "cannot read %s", parts[i]);
        fputs(pem, out);
        free(pem);
    }
    cr_assert_eq(fclose(out), 0);
    cr_assert_eq(chmod(path, 0600), 0);
}

Test(testssl, tls13_only_aead_only_no_finding_worse_than_ok)
{
    char testssl[4200];
    if (!find_testssl(testssl, sizeof testssl)) {
        cr_log_warn("testssl is not installed: skipping the TLS scan (install the Debian package "
                    "testssl.sh; scripts/deps.sh --test does)");
        ct_test_leak_check();
        cr_skip_test("testssl is not installed (Debian package testssl.sh)");
    }
    ct_test_daemon_launch(&g_d, NULL);
    char cert[4200], key[4200], ca[4200], report[4200], log[4200], client[4200], check[4200];
    ct_test_daemon_cert_path(&g_d, "dr.ahmed", cert, sizeof cert);
    ct_test_daemon_key_path(&g_d, "dr.ahmed", key, sizeof key);
    ct_test_daemon_ca_path(&g_d, ca, sizeof ca);
    snprintf(report, sizeof report, "%s/testssl.json", g_d.dir);
    snprintf(log, sizeof log, "%s/testssl.log", g_d.dir);

    char *argv[32];
    int n = 0;
    argv[n++] = testssl;
    char *fixed[] = {"--quiet", "--color", "0",        "--warnings", "batch",
                     "--nodns", "none",    "--add-ca", ca,           "--jsonfile",
                     report,    "-p",      "-E",       "-S",         "-U"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        argv[n++] = fixed[i];
    if (has_mtls(testssl)) {
        snprintf(client, sizeof client, "%s/dr.ahmed.pem", g_d.dir);
        write_cert_and_key(client, cert, key);
        argv[n++] = "--mtls";
    } else {
        snprintf(client, sizeof client, "%s/openssl-mtls", g_d.dir);
        write_openssl_wrapper(client, cert, key);
        argv[n++] = "--openssl";
    }
    argv[n++] = client;
    argv[n++] = g_d.addr; /* 127.0.0.1:PORT: loopback only */
    argv[n] = NULL;

    int64_t t0 = ct_test_now_ms();
    int rc = ct_test_run_to_files(argv, NULL, log, NULL, SCAN_TIMEOUT_MS);
    cr_log_info("testssl exited %d after %lld ms (its exit code is not the verdict)", rc,
                (long long)(ct_test_now_ms() - t0));

    snprintf(check, sizeof check, "%s/tests/integration/testssl_check.py", CT_TEST_SOURCE_DIR);
    char verdict[4200];
    snprintf(verdict, sizeof verdict, "%s/testssl-verdict.txt", g_d.dir);
    char *cargv[] = {PYTHON, check, report, NULL};
    int crc = ct_test_run_to_files(cargv, NULL, verdict, NULL, CHECK_TIMEOUT_MS);
    char *text = ct_test_read_file(verdict, NULL);
    cr_log_info("testssl verdict:\n%s", text != NULL ? text : "(none)");
    if (crc != 0) {
        char *scan = ct_test_read_file(log, NULL);
        size_t len = scan != NULL ? strlen(scan) : 0;
        cr_log_error("testssl output (last bytes):\n%s",
                     scan != NULL && len > 4000 ? scan + len - 4000 : scan);
        free(scan);
    }
    cr_assert_eq(crc, 0, "the TLS scan found problems:\n%s", text != NULL ? text : "(no verdict)");
    free(text);
    ct_test_daemon_finish(&g_d);
}
