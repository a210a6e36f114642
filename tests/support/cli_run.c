/*
 * The careteam CLI as a child process of a test (see cli_run.h).
 *
 * Invariants:
 *  1. The child's environment is exactly the ct_test_cli_env_t given, never the test's own.
 *  2. Only the PID ct_test_spawn returned is signalled or reaped, and it is reaped exactly once:
 *     by ct_test_cli_finish, or (killed first) by ct_test_cli_free; p->pid is 0 afterwards.
 *  3. Every wait is bounded: p->run_ms for a whole run, the caller's timeout for the others.
 *  4. p->out and p->err are NUL-terminated strings from ct_test_cli_start until ct_test_cli_free,
 *     so a test may print or search them at any point.
 */
#include "cli_run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "process.h"
#include "testsupport.h"

/* Input written to the pipe before the child runs must fit the pipe's buffer (64 KiB on Linux),
 * or the write would block with no reader. */
#define STDIN_PIPE_MAX 60000

/* ---- the CLI's environment ------------------------------------------------------------------- */

/* The index of key's "KEY=" string in e, or e->n when it is not set. */
static size_t env_find(const ct_test_cli_env_t *e, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < e->n; i++)
        if (strncmp(e->v[i], key, klen) == 0 && e->v[i][klen] == '=')
            return i;
    return e->n;
}

void ct_test_cli_env_set(ct_test_cli_env_t *e, const char *key, const char *value)
{
    char *kv = NULL;
    cr_assert_geq(asprintf(&kv, "%s=%s", key, value), 0, "out of memory");
    size_t i = env_find(e, key);
    if (i < e->n) {
        free(e->v[i]);
        e->v[i] = kv;
        return;
    }
    cr_assert_lt(e->n, (size_t)CT_TEST_CLI_MAX_ENV, "more than %d variables", CT_TEST_CLI_MAX_ENV);
    e->v[e->n++] = kv;
    e->v[e->n] = NULL;
}

void ct_test_cli_env_unset(ct_test_cli_env_t *e, const char *key)
{
    size_t i = env_find(e, key);
    if (i == e->n)
        return;
    free(e->v[i]);
    e->v[i] = e->v[--e->n];
    e->v[e->n] = NULL;
}

void ct_test_cli_env_free(ct_test_cli_env_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i]);
    e->n = 0;
    e->v[0] = NULL;
}

void ct_test_cli_env_init(ct_test_cli_env_t *e, const char *home)
{
    memset(e, 0, sizeof *e);
    ct_test_cli_env_set(e, "PATH", "/usr/bin:/bin");
    ct_test_cli_env_set(e, "HOME", home);
    static const char *const pass[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
    for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++) {
        const char *v = getenv(pass[i]);
        if (v != NULL)
            ct_test_cli_env_set(e, pass[i], v);
    }
}

void ct_test_cli_env_member(ct_test_cli_env_t *e, const ct_test_daemon_t *d, const char *id)
{
    char path[4096];
    ct_test_cli_env_init(e, d->dir);
    ct_test_cli_env_set(e, "CARETEAM_SERVER", d->addr);
    ct_test_daemon_cert_path(d, id, path, sizeof path);
    ct_test_cli_env_set(e, "CARETEAM_CERT", path);
    ct_test_daemon_key_path(d, id, path, sizeof path);
    ct_test_cli_env_set(e, "CARETEAM_KEY", path);
    ct_test_daemon_ca_path(d, path, sizeof path);
    ct_test_cli_env_set(e, "CARETEAM_CA", path);
}

/* ---- running the CLI ------------------------------------------------------------------------- */

/* args joined by spaces into p->cmd (cut short if long): failure messages name the command. */
static void set_cmd(ct_test_cli_t *p, const char *const *args)
{
    size_t used = 0;
    p->cmd[0] = '\0';
    for (size_t i = 0; args[i] != NULL && used < sizeof p->cmd; i++) {
        int w = snprintf(p->cmd + used, sizeof p->cmd - used, "%s%s", i > 0 ? " " : "", args[i]);
        used += w > 0 ? (size_t)w : 0;
    }
}

/* The child's stdout: a pseudo-terminal cols wide when cols > 0, else a pipe. fds[0] is ours to
 * read, fds[1] the child's; both close on exec (ct_test_spawn dups fds[1] onto stdout). */
static void open_stdout(int fds[2], int cols)
{
    if (cols <= 0) {
        cr_assert_eq(pipe2(fds, O_CLOEXEC), 0, "pipe: %s", strerror(errno));
        return;
    }
    struct winsize ws = {.ws_row = 40, .ws_col = (unsigned short)cols};
    cr_assert_eq(openpty(&fds[0], &fds[1], NULL, NULL, &ws), 0, "openpty: %s", strerror(errno));
    cr_assert_eq(fcntl(fds[0], F_SETFD, FD_CLOEXEC), 0);
    cr_assert_eq(fcntl(fds[1], F_SETFD, FD_CLOEXEC), 0);
}

/* The child's stdin as o says. Returns the child's end; *feed is the pipe's write end when
 * o->stdin_data is to be written, else -1. */
static int open_stdin(const ct_test_cli_opts_t *o, int *feed)
{
    *feed = -1;
    if (o->stdin_data != NULL) {
        int in[2];
        cr_assert_lt(strlen(o->stdin_data), (size_t)STDIN_PIPE_MAX,
                     "stdin_data must fit the pipe; use stdin_path");
        cr_assert_eq(pipe2(in, O_CLOEXEC), 0, "pipe: %s", strerror(errno));
        *feed = in[1];
        return in[0];
    }
    const char *path = o->stdin_path != NULL ? o->stdin_path : "/dev/null";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
    return fd;
}

void ct_test_cli_start(ct_test_cli_t *p, const ct_test_cli_opts_t *o, const char *const *args)
{
    memset(p, 0, sizeof *p);
    p->out_fd = p->err_fd = -1;
    p->tty = o->tty_cols > 0;
    p->run_ms = o->run_ms > 0 ? o->run_ms : CT_TEST_CLI_RUN_MS;
    set_cmd(p, args);
    ct_test_append(&p->out, &p->out_len, "", 0);
    ct_test_append(&p->err, &p->err_len, "", 0);

    char *argv[CT_TEST_CLI_MAX_ARGS + 2];
    size_t n = 0;
    argv[n++] = (char *)CT_TEST_CARETEAM_CLI;
    for (; args[n - 1] != NULL; n++) {
        cr_assert_lt(n, (size_t)CT_TEST_CLI_MAX_ARGS + 1, "more than %d arguments",
                     CT_TEST_CLI_MAX_ARGS);
        argv[n] = (char *)args[n - 1];
    }
    argv[n] = NULL;

    int out[2], err[2], feed;
    open_stdout(out, o->tty_cols);
    cr_assert_eq(pipe2(err, O_CLOEXEC), 0, "pipe: %s", strerror(errno));
    int in = open_stdin(o, &feed);
    ct_test_spawn_opts_t so = {.path = CT_TEST_CARETEAM_CLI,
                               .argv = argv,
                               .envp = o->env->v,
                               .in_fd = in,
                               .out_fd = out[1],
                               .err_fd = err[1],
                               .cwd = o->cwd != NULL ? o->cwd : "/"};
    pid_t pid = ct_test_spawn(&so);
    cr_assert_gt(pid, 0, "fork: %s", strerror(errno));
    p->pid = pid;
    p->out_fd = out[0];
    p->err_fd = err[0];
    close(out[1]);
    close(err[1]);
    close(in);
    if (feed >= 0) {
        size_t len = strlen(o->stdin_data);
        ssize_t w = len > 0 ? write(feed, o->stdin_data, len) : 0;
        close(feed);
        cr_assert_eq(w, (ssize_t)len, "writing the CLI's stdin: %s", strerror(errno));
    }
}

/* Appends got bytes to stream i (0 stdout, 1 stderr) of p. */
static void take(ct_test_cli_t *p, int i, const char *buf, size_t got)
{
    if (i == 0)
        ct_test_append(&p->out, &p->out_len, buf, got);
    else
        ct_test_append(&p->err, &p->err_len, buf, got);
}

void ct_test_cli_pump(ct_test_cli_t *p, int timeout_ms)
{
    int *fd[2] = {&p->out_fd, &p->err_fd};
    struct pollfd pfd[2] = {{.fd = p->out_fd, .events = POLLIN},
                            {.fd = p->err_fd, .events = POLLIN}};
    if (p->out_fd < 0 && p->err_fd < 0)
        return;
    int r = poll(pfd, 2, timeout_ms);
    cr_assert(r >= 0 || errno == EINTR, "poll: %s", strerror(errno));
    for (int i = 0; r > 0 && i < 2; i++) {
        if (*fd[i] < 0 || pfd[i].revents == 0)
            continue;
        char buf[4096];
        ssize_t got = read(*fd[i], buf, sizeof buf);
        if (got > 0) {
            take(p, i, buf, (size_t)got);
        } else if (got == 0 || errno != EINTR) { /* a pty's master reads EIO at the end */
            close(*fd[i]);
            *fd[i] = -1;
        }
    }
}

size_t ct_test_count_lines(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

void ct_test_cli_wait_lines(ct_test_cli_t *p, size_t lines, int timeout_ms)
{
    int64_t deadline = ct_test_now_ms() + timeout_ms;
    while (ct_test_count_lines(p->out) < lines) {
        int left = (int)(deadline - ct_test_now_ms());
        cr_assert_gt(left, 0, "careteam %s printed %zu lines, not %zu, within %d ms; stderr: %s",
                     p->cmd, ct_test_count_lines(p->out), lines, timeout_ms, p->err);
        cr_assert(p->out_fd >= 0, "careteam %s closed stdout after %zu lines; stderr: %s", p->cmd,
                  ct_test_count_lines(p->out), p->err);
        ct_test_cli_pump(p, left);
    }
}

/* A terminal ends lines with "\r\n": back to "\n", so that tests compare output alike. */
static void untty(ct_test_cli_t *p)
{
    size_t w = 0;
    for (size_t r = 0; r < p->out_len; r++)
        if (!(p->out[r] == '\r' && p->out[r + 1] == '\n'))
            p->out[w++] = p->out[r];
    p->out[w] = '\0';
    p->out_len = w;
}

/* Kills and reaps the child of a run that took too long, and fails the test. */
static void fail_slow(ct_test_cli_t *p)
{
    ct_test_kill_and_reap(p->pid);
    p->pid = 0;
    cr_assert_fail("careteam %s did not finish within %d ms; stdout: %s\nstderr: %s", p->cmd,
                   p->run_ms, p->out, p->err);
}

void ct_test_cli_finish(ct_test_cli_t *p)
{
    int64_t deadline = ct_test_now_ms() + p->run_ms;
    while (p->out_fd >= 0 || p->err_fd >= 0) {
        int left = (int)(deadline - ct_test_now_ms());
        if (left <= 0)
            fail_slow(p);
        ct_test_cli_pump(p, left);
    }
    /* Both streams are at their end: the child has exited, or is about to. */
    int left = (int)(deadline - ct_test_now_ms()), status;
    if (!ct_test_wait_bounded(p->pid, left > 0 ? left : 0, &status))
        fail_slow(p);
    p->pid = 0;
    p->status = ct_test_exit_code(status);
    if (p->tty)
        untty(p);
}

void ct_test_cli_run_with(ct_test_cli_t *p, const ct_test_cli_opts_t *o, const char *const *args)
{
    ct_test_cli_start(p, o, args);
    ct_test_cli_finish(p);
}

void ct_test_cli_run(ct_test_cli_t *p, const ct_test_cli_env_t *env, const char *const *args)
{
    ct_test_cli_opts_t o = {.env = env};
    ct_test_cli_run_with(p, &o, args);
}

void ct_test_cli_as(ct_test_cli_t *p, const ct_test_daemon_t *d, const char *id,
                    const char *const *args)
{
    ct_test_cli_env_t env;
    ct_test_cli_env_member(&env, d, id);
    ct_test_cli_run(p, &env, args);
    ct_test_cli_env_free(&env);
}

void ct_test_cli_free(ct_test_cli_t *p)
{
    if (p->out_fd >= 0)
        close(p->out_fd);
    if (p->err_fd >= 0)
        close(p->err_fd);
    p->out_fd = p->err_fd = -1;
    if (p->pid > 0)
        ct_test_kill_and_reap(p->pid);
    p->pid = 0;
    free(p->out);
    free(p->err);
    p->out = p->err = NULL;
    p->out_len = p->err_len = 0;
}
