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

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "careteam.h"
#include "daemon.h"
#include "process.h"
#include "testsupport.h"

#define RUN_MS 30000
#define MAX_ENV 32
#define MAX_ARGS 40

static ct_test_daemon_t g_d;

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

TestSuite(cli_profile, .init = ct_test_ignore_sigpipe, .fini = teardown, .timeout = 120);

/* ---- running the CLI ------------------------------------------------------------------------- */

typedef struct cli_env {
    char *v[MAX_ENV + 1]; /* "KEY=VALUE", malloc'd; NULL-terminated */
    size_t n;
} cli_env_t;

static void env_set(cli_env_t *e, const char *key, const char *value)
{
    size_t klen = strlen(key);
    char *kv = NULL;
    cr_assert_geq(asprintf(&kv, "%s=%s", key, value), 0);
    for (size_t i = 0; i < e->n; i++) {
        if (strncmp(e->v[i], key, klen) == 0 && e->v[i][klen] == '=') {
            free(e->v[i]);
            e->v[i] = kv;
            return;
        }
    }
    cr_assert_lt(e->n, (size_t)MAX_ENV);
    e->v[e->n++] = kv;
    e->v[e->n] = NULL;
}

static void env_free(cli_env_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i]);
    e->n = 0;
    e->v[0] = NULL;
}

/* PATH, HOME and XDG_CONFIG_HOME in the test's directory, the sanitizer options if any. */
static void env_base(cli_env_t *e)
{
    char xdg[4200];
    memset(e, 0, sizeof *e);
    env_set(e, "PATH", "/usr/bin:/bin");
    env_set(e, "HOME", g_d.dir);
    snprintf(xdg, sizeof xdg, "%s/xdg", g_d.dir);
    env_set(e, "XDG_CONFIG_HOME", xdg);
    static const char *const pass[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
    for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++) {
        const char *v = getenv(pass[i]);
        if (v != NULL)
            env_set(e, pass[i], v);
    }
}

typedef struct cli_proc {
    char *out, *err; /* what it printed, NUL-terminated; malloc'd */
    size_t out_len, err_len;
    int status; /* exit code, or 128 + signal */
} cli_proc_t;

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void append(char **buf, size_t *len, const char *data, size_t n)
{
    char *grown = realloc(*buf, *len + n + 1);
    cr_assert_not_null(grown, "out of memory");
    memcpy(grown + *len, data, n);
    *len += n;
    grown[*len] = '\0';
    *buf = grown;
}

/*
 * Runs the CLI with args in env and working directory cwd to completion, stdin /dev/null. With
 * tty_cols > 0 its stdout is a pseudo-terminal that many columns wide (its "\r\n" line ends are
 * turned back into "\n"); otherwise a pipe.
 */
static void cli_run_in(cli_proc_t *p, const cli_env_t *env, const char *cwd, int tty_cols,
                       const char *const *args)
{
    memset(p, 0, sizeof *p);
    char *argv[MAX_ARGS + 2];
    size_t n = 0;
    argv[n++] = (char *)CT_TEST_CARETEAM_CLI;
    for (; args[n - 1] != NULL; n++) {
        cr_assert_lt(n, (size_t)MAX_ARGS + 1);
        argv[n] = (char *)args[n - 1];
    }
    argv[n] = NULL;
    int out[2], err[2];
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(in, 0);
    cr_assert_eq(pipe2(err, O_CLOEXEC), 0);
    if (tty_cols > 0) {
        struct winsize ws = {.ws_row = 40, .ws_col = (unsigned short)tty_cols};
        cr_assert_eq(openpty(&out[0], &out[1], NULL, NULL, &ws), 0, "openpty: %s", strerror(errno));
        fcntl(out[0], F_SETFD, FD_CLOEXEC);
        fcntl(out[1], F_SETFD, FD_CLOEXEC);
    } else {
        cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
    }
    ct_test_spawn_opts_t o = {.path = CT_TEST_CARETEAM_CLI,
                              .argv = argv,
                              .envp = env->v,
                              .in_fd = in,
                              .out_fd = out[1],
                              .err_fd = err[1],
                              .cwd = cwd != NULL ? cwd : "/"};
    pid_t pid = ct_test_spawn(&o);
    cr_assert_gt(pid, 0, "fork: %s", strerror(errno));
    close(in);
    close(out[1]);
    close(err[1]);
    append(&p->out, &p->out_len, "", 0);
    append(&p->err, &p->err_len, "", 0);
    int fds[2] = {out[0], err[0]};
    int64_t deadline = ct_test_now_ms() + RUN_MS;
    while (fds[0] >= 0 || fds[1] >= 0) {
        int left = (int)(deadline - ct_test_now_ms());
        if (left <= 0) {
            ct_test_kill_and_reap(pid);
            cr_assert_fail("the CLI did not finish within %d ms; stderr: %s", RUN_MS, p->err);
        }
        struct pollfd pfd[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
        int r = poll(pfd, 2, left);
        cr_assert(r >= 0 || errno == EINTR, "poll: %s", strerror(errno));
        for (int i = 0; r > 0 && i < 2; i++) {
            if (fds[i] < 0 || pfd[i].revents == 0)
                continue;
            char buf[4096];
            ssize_t got = read(fds[i], buf, sizeof buf);
            if (got > 0) {
                if (i == 0)
                    append(&p->out, &p->out_len, buf, (size_t)got);
                else
                    append(&p->err, &p->err_len, buf, (size_t)got);
            } else if (got == 0 || errno != EINTR) { /* a pty's master reads EIO at the end */
                close(fds[i]);
                fds[i] = -1;
            }
        }
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        cr_assert_eq(errno, EINTR, "waitpid: %s", strerror(errno));
    p->status = ct_test_exit_code(status);
    if (tty_cols > 0) { /* the terminal's "\r\n" back to "\n" */
        size_t w = 0;
        for (size_t r = 0; r < p->out_len; r++)
            if (!(p->out[r] == '\r' && p->out[r + 1] == '\n'))
                p->out[w++] = p->out[r];
        p->out[w] = '\0';
        p->out_len = w;
    }
}

static void cli_run(cli_proc_t *p, const cli_env_t *env, const char *const *args)
{
    cli_run_in(p, env, NULL, 0, args);
}

static void cli_free(cli_proc_t *p)
{
    free(p->out);
    free(p->err);
    p->out = p->err = NULL;
}

#define assert_exit(p, code)                                                                       \
    cr_assert_eq((p)->status, (code), "exit %d, expected %d\nstdout: %s\nstderr: %s", (p)->status, \
                 (code), (p)->out, (p)->err)

#define assert_has(hay, needle)                                                                    \
    cr_assert_not_null(strstr((hay), (needle)), "expected to find [%s] in:\n%s", (needle), (hay))

#define assert_lacks(hay, needle)                                                                  \
    cr_assert_null(strstr((hay), (needle)), "did not expect [%s] in:\n%s", (needle), (hay))

/* ---- files ----------------------------------------------------------------------------------- */

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    cr_assert_geq(fd, 0, "cannot create %s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    cr_assert_eq(fchmod(fd, mode), 0); /* whatever the umask */
    cr_assert_eq(close(fd), 0);
}

/* Copies member id's certificate and key, and the CA, into the directory dir (made here, 0700)
 * as ID.crt, ID.key (0600) and ca.crt. */
static void copy_creds(const char *id, const char *dir)
{
    char from[4096], to[4200];
    cr_assert_eq(mkdir(dir, 0700), 0, "mkdir %s: %s", dir, strerror(errno));
    static const struct {
        const char *fmt;
        mode_t mode;
    } files[] = {{"%s/%s.crt", 0644}, {"%s/%s.key", 0600}, {"%s/ca.crt", 0644}};
    for (size_t i = 0; i < 3; i++) {
        if (i == 0)
            ct_test_daemon_cert_path(&g_d, id, from, sizeof from);
        else if (i == 1)
            ct_test_daemon_key_path(&g_d, id, from, sizeof from);
        else
            ct_test_daemon_ca_path(&g_d, from, sizeof from);
        if (i == 2)
            snprintf(to, sizeof to, files[i].fmt, dir);
        else
            snprintf(to, sizeof to, files[i].fmt, dir, id);
        char *data = ct_test_read_file(from, NULL);
        cr_assert_not_null(data, "cannot read %s", from);
        write_file(to, data, files[i].mode);
        free(data);
    }
}

/* `careteam profile add NAME` for member id with credentials copied to DIR/creds-ID, run in that
 * directory with relative paths (the profile must store them absolute); extra is one more
 * argument (--default) or NULL. Asserts exit 0. */
static void add_profile(const cli_env_t *env, const char *name, const char *id, const char *extra)
{
    char creds[4300], crt[80], key[80];
    snprintf(creds, sizeof creds, "%s/creds-%s", g_d.dir, id);
    struct stat st;
    if (stat(creds, &st) != 0)
        copy_creds(id, creds);
    snprintf(crt, sizeof crt, "%s.crt", id);
    snprintf(key, sizeof key, "./%s.key", id);
    cli_proc_t p;
    if (extra != NULL)
        cli_run_in(&p, env, creds, 0,
                   ARGS("profile", "add", name, "--server", g_d.addr, "--cert", crt, "--key", key,
                        "--ca", "ca.crt", extra));
    else
        cli_run_in(&p, env, creds, 0,
                   ARGS("profile", "add", name, "--server", g_d.addr, "--cert", crt, "--key", key,
                        "--ca", "ca.crt"));
    assert_exit(&p, 0);
    cli_free(&p);
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
    cli_env_t env;
    env_base(&env);
    cli_proc_t p;

    cli_run(&p, &env, ARGS("profile", "list"));
    assert_exit(&p, 0);
    assert_has(p.out, "No profiles.");
    cli_free(&p);

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
    assert_has(text, want);
    snprintf(want, sizeof want, "key = %s/creds-dr.ahmed/dr.ahmed.key\n", g_d.dir);
    assert_has(text, want);
    free(text);

    cli_run(&p, &env, ARGS("profile", "list"));
    assert_exit(&p, 0);
    assert_has(p.out, "NAME");
    assert_has(p.out, "clinic  *");
    assert_has(p.out, "dr.ahmed");
    assert_has(p.out, "pw.sam");
    assert_lacks(p.out, "\033[");
    cli_free(&p);

    /* No --profile: the default's member; --profile: that one's. */
    cli_run(&p, &env, ARGS("whoami", "--json"));
    assert_exit(&p, 0);
    assert_has(p.out, "\"member_id\":\"dr.ahmed\"");
    cli_free(&p);
    cli_run(&p, &env, ARGS("--profile", "peer", "whoami", "--json"));
    assert_exit(&p, 0);
    assert_has(p.out, "\"member_id\":\"pw.sam\"");
    cli_free(&p);

    cli_run(&p, &env, ARGS("profile", "default", "peer"));
    assert_exit(&p, 0);
    cli_free(&p);
    cli_run(&p, &env, ARGS("profile", "default"));
    assert_exit(&p, 0);
    cr_assert_str_eq(p.out, "peer\n");
    cli_free(&p);
    cli_run(&p, &env, ARGS("whoami", "--json"));
    assert_exit(&p, 0);
    assert_has(p.out, "\"member_id\":\"pw.sam\"");
    cli_free(&p);

    cli_run(&p, &env, ARGS("profile", "show", "peer"));
    assert_exit(&p, 0);
    assert_has(p.out, "peer (the default)");
    assert_has(p.out, "pw.sam");
    assert_has(p.out, "expires");
    cli_free(&p);
    cli_run(&p, &env, ARGS("profile", "show", "nosuch"));
    assert_exit(&p, 2);
    assert_has(p.err, "no profile 'nosuch'");
    cli_free(&p);

    /* Removing the default leaves none; the credential files stay. */
    cli_run(&p, &env, ARGS("profile", "remove", "peer"));
    assert_exit(&p, 0);
    assert_has(p.out, "no default profile now");
    cli_free(&p);
    snprintf(path, sizeof path, "%s/creds-pw.sam/pw.sam.key", g_d.dir);
    cr_assert_eq(access(path, F_OK), 0);
    cli_run(&p, &env, ARGS("whoami"));
    assert_exit(&p, 2);
    assert_has(p.err, "careteam profile add");
    cli_free(&p);
    cli_run(&p, &env, ARGS("profile", "remove", "peer"));
    assert_exit(&p, 2);
    cli_free(&p);
    env_free(&env);
    ct_test_daemon_finish(&g_d);
}

Test(cli_profile, default_fills_only_what_flags_and_environment_leave_unset)
{
    ct_test_daemon_launch(&g_d, NULL);
    cli_env_t env;
    env_base(&env);
    add_profile(&env, "clinic", "dr.ahmed", NULL);
    cli_proc_t p;

    /* The environment's server wins over the default profile's (nothing listens on port 1). */
    env_set(&env, "CARETEAM_SERVER", "127.0.0.1:1");
    cli_run(&p, &env, ARGS("whoami"));
    assert_exit(&p, 3);
    assert_has(p.err, "CARETEAM_SERVER");
    cli_free(&p);
    /* ... and a flag over both. */
    cli_run(&p, &env, ARGS("--server", g_d.addr, "whoami", "--json"));
    assert_exit(&p, 0);
    assert_has(p.out, "\"member_id\":\"dr.ahmed\"");
    cli_free(&p);

    /* A command given every setting never reads the default profile, even a refused one. */
    char path[4300], cred[4300];
    profile_file("clinic", path, sizeof path);
    cr_assert_eq(chmod(path, 0666), 0);
    env_set(&env, "CARETEAM_SERVER", g_d.addr);
    ct_test_daemon_cert_path(&g_d, "th.lee", cred, sizeof cred);
    env_set(&env, "CARETEAM_CERT", cred);
    ct_test_daemon_key_path(&g_d, "th.lee", cred, sizeof cred);
    env_set(&env, "CARETEAM_KEY", cred);
    ct_test_daemon_ca_path(&g_d, cred, sizeof cred);
    env_set(&env, "CARETEAM_CA", cred);
    cli_run(&p, &env, ARGS("whoami", "--json"));
    assert_exit(&p, 0);
    assert_has(p.out, "\"member_id\":\"th.lee\"");
    cli_free(&p);
    env_free(&env);
    ct_test_daemon_finish(&g_d);
}

Test(cli_profile, unsafe_permissions_are_refused_with_the_chmod_to_run)
{
    ct_test_daemon_launch(&g_d, NULL);
    cli_env_t env;
    env_base(&env);
    add_profile(&env, "clinic", "dr.ahmed", NULL);
    char path[4300], dir[4300], key[4300], want[4500];
    profile_file("clinic", path, sizeof path);
    snprintf(dir, sizeof dir, "%s/xdg/careteam", g_d.dir);
    snprintf(key, sizeof key, "%s/creds-dr.ahmed/dr.ahmed.key", g_d.dir);
    cli_proc_t p;

    /* A group-writable profile. */
    cr_assert_eq(chmod(path, 0664), 0);
    cli_run(&p, &env, ARGS("whoami"));
    assert_exit(&p, 4);
    snprintf(want, sizeof want, "chmod 600 %s", path);
    assert_has(p.err, want);
    assert_has(p.err, "writable by its group");
    cli_free(&p);
    cli_run(&p, &env, ARGS("profile", "list", "--json"));
    assert_exit(&p, 0);
    assert_has(p.out, "\"problem\":\"profile ");
    cli_free(&p);
    cr_assert_eq(chmod(path, 0600), 0);

    /* A world-writable profile directory. */
    cr_assert_eq(chmod(dir, 0777), 0);
    cli_run(&p, &env, ARGS("whoami"));
    assert_exit(&p, 4);
    snprintf(want, sizeof want, "chmod 700 %s", dir);
    assert_has(p.err, want);
    cli_free(&p);
    cr_assert_eq(chmod(dir, 0700), 0);

    /* A private key others may write is refused; one they may read is a warning. */
    cr_assert_eq(chmod(key, 0666), 0);
    cli_run(&p, &env, ARGS("whoami"));
    assert_exit(&p, 4);
    snprintf(want, sizeof want, "chmod 600 %s", key);
    assert_has(p.err, want);
    cli_free(&p);
    cr_assert_eq(chmod(key, 0644), 0);
    cli_run(&p, &env, ARGS("whoami"));
    assert_exit(&p, 0);
    assert_has(p.err, "warning: your private key");
    assert_has(p.err, want);
    cli_free(&p);
    cr_assert_eq(chmod(key, 0600), 0);
    cli_run(&p, &env, ARGS("whoami"));
    assert_exit(&p, 0);
    cr_assert_str_empty(p.err);
    cli_free(&p);

    /* A profile given as a path is checked too. */
    char other[4300];
    snprintf(other, sizeof other, "%s/other.conf", g_d.dir);
    write_file(other, "server = 127.0.0.1:7443\n", 0646);
    cli_run(&p, &env, ARGS("--profile", other, "whoami"));
    assert_exit(&p, 4);
    assert_has(p.err, "writable by others");
    cli_free(&p);
    env_free(&env);
    ct_test_daemon_finish(&g_d);
}

Test(cli_profile, add_checks_before_writing)
{
    ct_test_daemon_launch(&g_d, NULL);
    cli_env_t env;
    env_base(&env);
    char creds[4300];
    snprintf(creds, sizeof creds, "%s/creds-pw.kim", g_d.dir);
    copy_creds("pw.kim", creds);
    cli_proc_t p;
    const struct {
        const char *const *args;
        int code;
        const char *says;
    } bad[] = {
        {ARGS("profile", "add", "../x", "--server", "h:1", "--cert", "pw.kim.crt", "--key",
              "pw.kim.key", "--ca", "ca.crt"),
         2, "not a profile name"},
        {ARGS("profile", "add", "x", "--server", "h:1", "--cert", "pw.kim.crt", "--ca", "ca.crt"),
         2, "missing --key"},
        {ARGS("profile", "add", "x", "--server", "h:1", "--cert", "nosuch.crt", "--key",
              "pw.kim.key", "--ca", "ca.crt"),
         4, "nosuch.crt"},
        {ARGS("profile", "add", "x", "--server", "h:1", "--cert", "pw.kim.key", "--key",
              "pw.kim.key", "--ca", "ca.crt"),
         4, "no PEM certificate"},
        {ARGS("profile", "add", "x", "--server", "[::1", "--cert", "pw.kim.crt", "--key",
              "pw.kim.key", "--ca", "ca.crt"),
         2, "--server"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cli_run_in(&p, &env, creds, 0, bad[i].args);
        assert_exit(&p, bad[i].code);
        assert_has(p.err, bad[i].says);
        cli_free(&p);
    }
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/xdg/careteam/x.conf", g_d.dir);
    cr_assert_neq(access(dir, F_OK), 0, "a refused add wrote %s", dir);

    /* An existing profile is replaced only with --force. */
    add_profile(&env, "kim", "pw.kim", NULL);
    cli_run_in(&p, &env, creds, 0,
               ARGS("profile", "add", "kim", "--server", "127.0.0.1:1", "--cert", "pw.kim.crt",
                    "--key", "pw.kim.key", "--ca", "ca.crt"));
    assert_exit(&p, 2);
    assert_has(p.err, "--force");
    cli_free(&p);
    add_profile(&env, "kim", "pw.kim", "--force");
    cli_run(&p, &env, ARGS("--json", "profile", "show", "kim"));
    assert_exit(&p, 0);
    assert_has(p.out, "\"type\":\"profile\",\"name\":\"kim\"");
    assert_has(p.out, "\"default\":true");
    assert_has(p.out, "\"member_id\":\"pw.kim\"");
    assert_has(p.out, "\"problem\":\"\"");
    cli_free(&p);
    env_free(&env);
    ct_test_daemon_finish(&g_d);
}

/* --crl is stored like the other paths (absolute, in the 0600 profile), shown by profile show,
 * and used by the commands; a file that is not a revocation list is refused before writing. */
Test(cli_profile, add_with_crl_stores_it_and_uses_it)
{
    ct_test_daemon_launch(&g_d, NULL);
    cli_env_t env;
    env_base(&env);
    char creds[4300], from[4300], to[4400];
    snprintf(creds, sizeof creds, "%s/creds-th.lee", g_d.dir);
    copy_creds("th.lee", creds);
    snprintf(from, sizeof from, "%s/crl.pem", g_d.data);
    snprintf(to, sizeof to, "%s/crl.pem", creds);
    char *data = ct_test_read_file(from, NULL);
    cr_assert_not_null(data);
    write_file(to, data, 0644);
    free(data);

    cli_proc_t p;
    cli_run_in(&p, &env, creds, 0,
               ARGS("profile", "add", "clinic", "--server", g_d.addr, "--cert", "th.lee.crt",
                    "--key", "th.lee.key", "--ca", "ca.crt", "--crl", "ca.crt"));
    assert_exit(&p, 4);
    assert_has(p.err, "--crl");
    assert_has(p.err, "not only a revocation list");
    cli_free(&p);

    add_profile(&env, "clinic", "th.lee", "--crl=crl.pem");
    char path[4300], want[4600];
    profile_file("clinic", path, sizeof path);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "profile mode %o", st.st_mode & 0777);
    char *text = ct_test_read_file(path, NULL);
    cr_assert_not_null(text);
    snprintf(want, sizeof want, "crl = %s\n", to);
    assert_has(text, want);
    free(text);

    cli_run(&p, &env, ARGS("--json", "profile", "show", "clinic"));
    assert_exit(&p, 0);
    snprintf(want, sizeof want, "\"crl\":\"%s\"", to);
    assert_has(p.out, want);
    assert_has(p.out, "\"problem\":\"\"");
    cli_free(&p);
    cli_run(&p, &env, ARGS("whoami", "--json"));
    assert_exit(&p, 0);
    assert_has(p.out, "\"member_id\":\"th.lee\"");
    cli_free(&p);

    /* A profile without --crl says so. */
    add_profile(&env, "plain", "th.lee", NULL);
    cli_run(&p, &env, ARGS("profile", "show", "plain"));
    assert_exit(&p, 0);
    assert_has(p.out, "not checked for revocation");
    cli_free(&p);
    env_free(&env);
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

    cli_env_t env;
    env_base(&env);
    env_set(&env, "CARETEAM_SERVER", g_d.addr);
    env_set(&env, "CARETEAM_CERT", crt);
    env_set(&env, "CARETEAM_KEY", key);
    env_set(&env, "CARETEAM_CA", ca);
    cli_proc_t p;
    cli_run(&p, &env, ARGS("inbox"));
    assert_exit(&p, 3);
    assert_has(p.err, "your certificate");
    assert_has(p.err, "member pw.old");
    assert_has(p.err, "expired on ");
    assert_has(p.err, day);
    assert_has(p.err, "hint: ask your careteam administrator to re-enroll you");
    assert_has(p.err, "careteam profile add");
    cli_free(&p);

    /* profile add refuses it before writing anything. */
    cli_run(&p, &env,
            ARGS("profile", "add", "old", "--server", g_d.addr, "--cert", crt, "--key", key, "--ca",
                 ca));
    assert_exit(&p, 4);
    assert_has(p.err, "expired on ");
    cli_free(&p);
    env_free(&env);
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

    cli_env_t e;
    env_base(&e);
    add_profile(&e, "sam", "pw.sam", NULL);
    cli_proc_t p;
    cli_run(&p, &e,
            ARGS("consent", "record", "--participant", "p-9", "--scope", "peer-support", "--method",
                 "verbal"));
    assert_exit(&p, 1);
    cr_assert_str_eq(p.err, want, "stderr is not the server's message verbatim:\n%s\nwanted:\n%s",
                     p.err, want);
    cr_assert_str_empty(p.out);
    cli_free(&p);
    env_free(&e);
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
    cli_env_t env;
    env_base(&env);
    add_profile(&env, "clinic", "dr.ahmed", NULL);
    cli_proc_t p;
    cli_run(&p, &env,
            ARGS("concern", "--participant", "p-7", "--urgent", "--text", "said goodbye"));
    assert_exit(&p, 0);
    cli_free(&p);

    /* A terminal: statuses and risk coloured, urgent in red. */
    env_set(&env, "TERM", "xterm");
    cli_run_in(&p, &env, NULL, 200, ARGS("alerts"));
    assert_exit(&p, 0);
    assert_has(p.out, "\033[1;31murgent\033[0m");
    assert_has(p.out, "\033[1;31mopen\033[0m");
    cli_free(&p);

    /* Piped, NO_COLOR, TERM=dumb: plain text; --json unchanged. */
    cli_run(&p, &env, ARGS("alerts"));
    assert_exit(&p, 0);
    assert_has(p.out, "urgent");
    assert_lacks(p.out, "\033[");
    cli_free(&p);
    env_set(&env, "NO_COLOR", "1");
    cli_run_in(&p, &env, NULL, 200, ARGS("alerts"));
    assert_exit(&p, 0);
    assert_has(p.out, "urgent");
    assert_lacks(p.out, "\033[");
    cli_free(&p);
    env_set(&env, "NO_COLOR", "");
    env_set(&env, "TERM", "dumb");
    cli_run_in(&p, &env, NULL, 200, ARGS("alerts"));
    assert_exit(&p, 0);
    assert_lacks(p.out, "\033[");
    cli_free(&p);
    env_set(&env, "TERM", "xterm");
    cli_run_in(&p, &env, NULL, 200, ARGS("alerts", "--json"));
    assert_exit(&p, 0);
    assert_lacks(p.out, "\033[");
    cr_assert_eq(strncmp(p.out, "{\"type\":\"alert\",", 16), 0, "%s", p.out);
    cli_free(&p);

    /* A long server name: on a 72-column terminal the table is cut to fit, with "…"; piped, it
     * is whole. */
    static const char long_server[] = "careteam-primary.community-mental-health.example.org:7443";
    char path[4300], text[8192], creds[4300];
    profile_file("wide", path, sizeof path);
    snprintf(creds, sizeof creds, "%s/creds-dr.ahmed", g_d.dir);
    snprintf(text, sizeof text,
             "server = %s\ncert = %s/dr.ahmed.crt\nkey = %s/dr.ahmed.key\nca = %s/ca.crt\n",
             long_server, creds, creds, creds);
    write_file(path, text, 0600);
    cli_run_in(&p, &env, NULL, 72, ARGS("profile", "list"));
    assert_exit(&p, 0);
    cr_assert_leq(widest_line(p.out), 72, "a line is wider than the terminal:\n%s", p.out);
    assert_has(p.out, "\xe2\x80\xa6");
    assert_lacks(p.out, long_server);
    assert_has(p.out, "\033[32mok\033[0m");
    cli_free(&p);
    cli_run(&p, &env, ARGS("profile", "list"));
    assert_exit(&p, 0);
    assert_has(p.out, long_server);
    cli_free(&p);
    env_free(&env);
    ct_test_daemon_finish(&g_d);
}
