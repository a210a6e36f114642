/*
 * Integration tests of the careteam CLI: the built binary (CT_TEST_CARETEAM_CLI) run as a
 * subprocess against a real careteamd (tests/support/daemon.h), with its stdout, stderr and exit
 * code captured.
 *
 * Each test starts its own daemon with the demo team (dr.ahmed psychiatrist, th.lee therapist,
 * pw.sam and pw.kim peer workers, co.jones compliance). The CLI runs with a fresh environment
 * (never the test's own: a developer's CARETEAM_* or ~/.config must not leak in), HOME inside the
 * test's directory and the working directory "/", so relative paths only work when the CLI
 * resolves them itself. A sanitizer build of the CLI exits non-zero on a leak or error, which
 * fails the exit-code assertions. Tests end by stopping the daemon (status 0 expected) and with
 * ct_test_leak_check(); the suite's .fini only cleans up after a failed assertion.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "careteam.h"
#include "daemon.h"
#include "process.h"
#include "testsupport.h"

#define RUN_MS 30000 /* longest a CLI run may take */
#define PUSH_MS 5000 /* longest wait for an expected push or output line */
#define CALL_MS 5000 /* longest wait for a response */
#define MAX_ENV 32
#define MAX_ARGS 32

static ct_test_daemon_t g_d;

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

TestSuite(cli, .fini = teardown, .timeout = 90);

/* ---- the CLI's environment ------------------------------------------------------------------- */

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

static void env_unset(cli_env_t *e, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < e->n; i++) {
        if (strncmp(e->v[i], key, klen) == 0 && e->v[i][klen] == '=') {
            free(e->v[i]);
            e->v[i] = e->v[--e->n];
            e->v[e->n] = NULL;
            return;
        }
    }
}

static void env_free(cli_env_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i]);
    e->n = 0;
    e->v[0] = NULL;
}

/* A minimal environment: PATH, HOME in the test's directory, the sanitizer options if any. */
static void env_base(cli_env_t *e)
{
    memset(e, 0, sizeof *e);
    env_set(e, "PATH", "/usr/bin:/bin");
    env_set(e, "HOME", g_d.dir);
    static const char *const pass[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
    for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++) {
        const char *v = getenv(pass[i]);
        if (v != NULL)
            env_set(e, pass[i], v);
    }
}

/* The base environment plus CARETEAM_SERVER/CERT/KEY/CA for member id. */
static void env_member(cli_env_t *e, const char *id)
{
    char path[4096];
    env_base(e);
    env_set(e, "CARETEAM_SERVER", g_d.addr);
    ct_test_daemon_cert_path(&g_d, id, path, sizeof path);
    env_set(e, "CARETEAM_CERT", path);
    ct_test_daemon_key_path(&g_d, id, path, sizeof path);
    env_set(e, "CARETEAM_KEY", path);
    ct_test_daemon_ca_path(&g_d, path, sizeof path);
    env_set(e, "CARETEAM_CA", path);
}

/* ---- running the CLI ------------------------------------------------------------------------- */

typedef struct cli_proc {
    pid_t pid;
    int out_fd, err_fd; /* read ends; -1 once at EOF */
    char *out, *err;    /* what it printed so far, NUL-terminated; malloc'd */
    size_t out_len, err_len;
    int status; /* exit code, or 128 + signal; valid after cli_finish */
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
 * Starts the CLI with args (NULL-terminated, without argv[0]) in environment env, with stdin
 * fed from stdin_data (NULL: /dev/null). The child dies with the test process.
 */
static void cli_start(cli_proc_t *p, const cli_env_t *env, const char *stdin_data,
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
    int out[2], err[2], in[2];
    cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(err, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
    size_t in_len = stdin_data != NULL ? strlen(stdin_data) : 0;
    /* Written whole before the child reads: it must fit the pipe buffer. */
    cr_assert_lt(in_len, (size_t)60000);
    ct_test_spawn_opts_t o = {.path = CT_TEST_CARETEAM_CLI,
                              .argv = argv,
                              .envp = env->v,
                              .in_fd = in[0],
                              .out_fd = out[1],
                              .err_fd = err[1],
                              .cwd = "/"};
    pid_t pid = ct_test_spawn(&o);
    cr_assert_gt(pid, 0, "fork: %s", strerror(errno));
    close(out[1]);
    close(err[1]);
    close(in[0]);
    if (in_len > 0)
        cr_assert_eq(write(in[1], stdin_data, in_len), (ssize_t)in_len);
    close(in[1]);
    p->pid = pid;
    p->out_fd = out[0];
    p->err_fd = err[0];
    append(&p->out, &p->out_len, "", 0);
    append(&p->err, &p->err_len, "", 0);
}

/* Reads whatever is available within timeout_ms (one poll). */
static void cli_pump(cli_proc_t *p, int timeout_ms)
{
    struct pollfd fds[2] = {{.fd = p->out_fd, .events = POLLIN},
                            {.fd = p->err_fd, .events = POLLIN}};
    if (p->out_fd < 0 && p->err_fd < 0)
        return;
    int r = poll(fds, 2, timeout_ms);
    cr_assert(r >= 0 || errno == EINTR, "poll: %s", strerror(errno));
    for (int i = 0; r > 0 && i < 2; i++) {
        if (fds[i].fd < 0 || fds[i].revents == 0)
            continue;
        char buf[4096];
        ssize_t got = read(fds[i].fd, buf, sizeof buf);
        if (got > 0) {
            if (i == 0)
                append(&p->out, &p->out_len, buf, (size_t)got);
            else
                append(&p->err, &p->err_len, buf, (size_t)got);
        } else if (got == 0 || errno != EINTR) {
            close(fds[i].fd);
            if (i == 0)
                p->out_fd = -1;
            else
                p->err_fd = -1;
        }
    }
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/* Waits until stdout holds at least `lines` lines; fails the test after timeout_ms. */
static void cli_wait_lines(cli_proc_t *p, size_t lines, int timeout_ms)
{
    int64_t deadline = ct_test_now_ms() + timeout_ms;
    while (count_lines(p->out) < lines) {
        int left = (int)(deadline - ct_test_now_ms());
        cr_assert_gt(left, 0, "the CLI printed %zu lines, not %zu, within %d ms; stderr: %s",
                     count_lines(p->out), lines, timeout_ms, p->err);
        cr_assert(p->out_fd >= 0, "the CLI closed stdout after %zu lines; stderr: %s",
                  count_lines(p->out), p->err);
        cli_pump(p, left);
    }
}

/* Reads both streams to EOF and reaps the child; kills it and fails after RUN_MS. */
static void cli_finish(cli_proc_t *p)
{
    int64_t deadline = ct_test_now_ms() + RUN_MS;
    while (p->out_fd >= 0 || p->err_fd >= 0) {
        int left = (int)(deadline - ct_test_now_ms());
        if (left <= 0) {
            ct_test_kill_and_reap(p->pid);
            cr_assert_fail("the CLI did not finish within %d ms; stdout: %s\nstderr: %s", RUN_MS,
                           p->out, p->err);
        }
        cli_pump(p, left);
    }
    int status;
    while (waitpid(p->pid, &status, 0) < 0)
        cr_assert_eq(errno, EINTR, "waitpid: %s", strerror(errno));
    p->status = ct_test_exit_code(status);
}

static void cli_free(cli_proc_t *p)
{
    free(p->out);
    free(p->err);
    p->out = p->err = NULL;
}

/* Runs the CLI to completion. */
static void cli_run(cli_proc_t *p, const cli_env_t *env, const char *stdin_data,
                    const char *const *args)
{
    cli_start(p, env, stdin_data, args);
    cli_finish(p);
}

/* Runs the CLI as member id (credentials in the environment). */
static void cli_as(cli_proc_t *p, const char *id, const char *const *args)
{
    cli_env_t env;
    env_member(&env, id);
    cli_run(p, &env, NULL, args);
    env_free(&env);
}

#define assert_exit(p, code)                                                                       \
    cr_assert_eq((p)->status, (code), "exit %d, expected %d\nstdout: %s\nstderr: %s", (p)->status, \
                 (code), (p)->out, (p)->err)

#define assert_has(hay, needle)                                                                    \
    cr_assert_not_null(strstr((hay), (needle)), "expected to find [%s] in:\n%s", (needle), (hay))

#define assert_lacks(hay, needle)                                                                  \
    cr_assert_null(strstr((hay), (needle)), "did not expect [%s] in:\n%s", (needle), (hay))

/* True when s starts with "YYYY-MM-DDTHH:MM:SS.mmmZ". */
static bool is_iso_time(const char *s)
{
    static const char pattern[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; pattern[i] != '\0'; i++) {
        if (pattern[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pattern[i])
            return false;
    }
    return true;
}

/* Checks that out is exactly `lines` lines, each one JSON object of the given type. */
static void assert_json_lines(const char *out, size_t lines, const char *type)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "{\"type\":\"%s\",", type);
    cr_assert_eq(count_lines(out), lines, "expected %zu JSON lines in:\n%s", lines, out);
    for (const char *line = out; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        cr_assert_not_null(nl);
        cr_assert(strncmp(line, prefix, strlen(prefix)) == 0, "line does not start %s: %.*s",
                  prefix, (int)(nl - line), line);
        cr_assert_eq(nl[-1], '}', "line does not end with }: %.*s", (int)(nl - line), line);
        line = nl + 1;
    }
}

/* ---- other clients --------------------------------------------------------------------------- */

/* Sends body from `from` to `to` through libcareteam and asserts the Ack. */
static void lib_send(const char *from, const char *to, const char *client_msg_id, const char *body)
{
    ct_sync_t *s = ct_test_connect(&g_d, from);
    const char *rcpt[] = {to};
    ct_send_args_t a = {.client_msg_id = client_msg_id, .to = rcpt, .n_to = 1, .body = body};
    Careteam__V1__Envelope *resp = NULL;
    int r = ct_sync_send_message(s, &a, CALL_MS, &resp);
    cr_assert_eq(r, 0, "send: %s", ct_errname(r));
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ACK, "send refused: %s",
                 ct_response_message(resp));
    ct_envelope_free(resp);
    ct_sync_close(s);
}

/* Writes text to path (0600). */
static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot create %s: %s", path, strerror(errno));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

static void copy_file(const char *from, const char *to)
{
    char *data = ct_test_read_file(from, NULL);
    cr_assert_not_null(data, "cannot read %s", from);
    write_file(to, data);
    free(data);
}

/* Copies member id's certificate and key, and the CA, into dir as ID.crt, ID.key, ca.crt. */
static void copy_creds(const char *id, const char *dir)
{
    char from[4096], to[4200];
    cr_assert_eq(mkdir(dir, 0700), 0, "mkdir %s: %s", dir, strerror(errno));
    ct_test_daemon_cert_path(&g_d, id, from, sizeof from);
    snprintf(to, sizeof to, "%s/%s.crt", dir, id);
    copy_file(from, to);
    ct_test_daemon_key_path(&g_d, id, from, sizeof from);
    snprintf(to, sizeof to, "%s/%s.key", dir, id);
    copy_file(from, to);
    ct_test_daemon_ca_path(&g_d, from, sizeof from);
    snprintf(to, sizeof to, "%s/ca.crt", dir);
    copy_file(from, to);
}

/* ---- whoami ---------------------------------------------------------------------------------- */

Test(cli, whoami_human)
{
    ct_test_daemon_launch(&g_d, NULL);
    cli_proc_t p;
    cli_as(&p, "dr.ahmed", ARGS("whoami"));
    assert_exit(&p, 0);
    assert_has(p.out, "dr.ahmed");
    assert_has(p.out, "Dr Amira Ahmed");
    assert_has(p.out, "psychiatrist");
    assert_has(p.out, g_d.addr);
    cr_assert_eq(p.err[0], '\0', "stderr: %s", p.err);
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, whoami_json)
{
    ct_test_daemon_launch(&g_d, NULL);
    cli_proc_t p;
    cli_as(&p, "pw.sam", ARGS("whoami", "--json"));
    assert_exit(&p, 0);
    assert_json_lines(p.out, 1, "whoami");
    assert_has(p.out, "\"member_id\":\"pw.sam\"");
    assert_has(p.out, "\"display_name\":\"Sam Rivera\"");
    assert_has(p.out, "\"role\":\"peer_worker\"");
    char server[200];
    snprintf(server, sizeof server, "\"server\":\"%s\"", g_d.addr);
    assert_has(p.out, server);
    assert_has(p.out, "\"protocol_version\":1");
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

/* ---- send and inbox -------------------------------------------------------------------------- */

Test(cli, send_then_inbox_human)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_daemon_care_team(&g_d, "p-001", "dr.ahmed", "pw.sam", NULL);
    cli_proc_t p;
    cli_as(&p, "dr.ahmed",
           ARGS("send", "--to", "pw.sam", "--subject", "Check-in", "--participant", "p-001",
                "--priority", "urgent", "--body", "Please call Jo today.\nThanks."));
    assert_exit(&p, 0);
    assert_has(p.out, "sent ");
    assert_has(p.out, " to pw.sam (stored ");
    const char *t = strstr(p.out, "(stored ");
    cr_assert(t != NULL && is_iso_time(t + 8), "no stored time in: %s", p.out);
    cli_free(&p);

    cli_as(&p, "pw.sam", ARGS("inbox"));
    assert_exit(&p, 0);
    assert_has(p.out, "Please call Jo today.");
    assert_has(p.out, "Thanks.");
    assert_has(p.out, "dr.ahmed (psychiatrist)");
    assert_has(p.out, "Check-in");
    assert_has(p.out, "p-001");
    assert_has(p.out, "urgent");
    assert_has(p.out, "1 message, marked as received.");
    cli_free(&p);

    /* Acknowledged: the next inbox is empty. */
    cli_as(&p, "pw.sam", ARGS("inbox"));
    assert_exit(&p, 0);
    assert_lacks(p.out, "Please call Jo");
    assert_has(p.out, "No pending messages.");
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, send_then_inbox_json_escapes_body)
{
    ct_test_daemon_launch(&g_d, NULL);
    /* Quotes, backslash, newline, tab, C0 controls, DEL, multi-byte UTF-8 and U+2028. */
    const char *body = "say \"hi\" \\ now\n\ttab \x01\x1b[31m \x7f caf\xc3\xa9 \xe2\x98\x95 "
                       "\xf0\x9f\x98\x80 sep\xe2\x80\xa8.";
    const char *json = "\"body\":\"say \\\"hi\\\" \\\\ now\\n\\ttab \\u0001\\u001b[31m \\u007f "
                       "caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80 sep\\u2028.\"";
    cli_proc_t p;
    cli_as(&p, "th.lee", ARGS("send", "--json", "--to", "pw.kim,pw.sam", "--body", body));
    assert_exit(&p, 0);
    assert_json_lines(p.out, 1, "sent");
    assert_has(p.out, "\"to\":[\"pw.kim\",\"pw.sam\"]");
    assert_has(p.out, "\"duplicate\":false");
    assert_has(p.out, "\"client_msg_id\":\"cli-");
    cli_free(&p);

    cli_as(&p, "pw.kim", ARGS("--json", "inbox"));
    assert_exit(&p, 0);
    assert_json_lines(p.out, 1, "message");
    assert_has(p.out, json);
    assert_has(p.out, "\"sender_id\":\"th.lee\"");
    assert_has(p.out, "\"sender_role\":\"therapist\"");
    assert_has(p.out, "\"priority\":\"routine\"");
    assert_has(p.out, "\"participant_id\":\"\"");
    const char *t = strstr(p.out, "\"stored_at\":\"");
    cr_assert(t != NULL && is_iso_time(t + 13), "no stored_at in: %s", p.out);
    cli_free(&p);

    cli_as(&p, "pw.kim", ARGS("inbox", "--json"));
    assert_exit(&p, 0);
    cr_assert_eq(p.out[0], '\0', "second inbox not empty: %s", p.out);
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, inbox_no_ack_leaves_messages_pending)
{
    ct_test_daemon_launch(&g_d, NULL);
    lib_send("dr.ahmed", "pw.sam", "m1", "first");
    lib_send("dr.ahmed", "pw.sam", "m2", "second");
    cli_proc_t p;
    for (int round = 0; round < 2; round++) {
        cli_as(&p, "pw.sam", ARGS("inbox", "--no-ack", "--json"));
        assert_exit(&p, 0);
        assert_json_lines(p.out, 2, "message");
        /* Oldest first. */
        const char *a = strstr(p.out, "\"body\":\"first\""),
                   *b = strstr(p.out, "\"body\":\"second\"");
        cr_assert(a != NULL && b != NULL && a < b, "round %d: %s", round, p.out);
        cli_free(&p);
    }
    cli_as(&p, "pw.sam", ARGS("inbox", "--json"));
    assert_exit(&p, 0);
    assert_json_lines(p.out, 2, "message");
    cli_free(&p);
    cli_as(&p, "pw.sam", ARGS("inbox", "--json"));
    assert_exit(&p, 0);
    cr_assert_eq(p.out[0], '\0', "acknowledged messages came back: %s", p.out);
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, send_body_from_stdin)
{
    ct_test_daemon_launch(&g_d, NULL);
    cli_env_t env;
    env_member(&env, "dr.ahmed");
    cli_proc_t p;
    cli_run(&p, &env, "typed on stdin\nsecond line\n",
            ARGS("send", "--to", "pw.sam", "--body-file", "-"));
    env_free(&env);
    assert_exit(&p, 0);
    cli_free(&p);

    cli_as(&p, "pw.sam", ARGS("inbox", "--json"));
    assert_exit(&p, 0);
    assert_has(p.out, "\"body\":\"typed on stdin\\nsecond line\\n\"");
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, send_same_client_msg_id_twice_reports_duplicate)
{
    ct_test_daemon_launch(&g_d, NULL);
    cli_proc_t p;
    cli_as(&p, "dr.ahmed",
           ARGS("send", "--to", "pw.sam", "--client-msg-id", "note-7", "--body", "x"));
    assert_exit(&p, 0);
    assert_lacks(p.out, "already sent");
    cli_free(&p);
    cli_as(&p, "dr.ahmed",
           ARGS("send", "--to", "pw.sam", "--client-msg-id", "note-7", "--body", "x"));
    assert_exit(&p, 0);
    assert_has(p.out, "(already sent earlier: same client_msg_id)");
    cli_free(&p);
    cli_as(&p, "pw.sam", ARGS("inbox", "--json"));
    assert_exit(&p, 0);
    assert_json_lines(p.out, 1, "message");
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, send_to_unknown_member_exits_1_with_server_message)
{
    ct_test_daemon_launch(&g_d, NULL);
    cli_proc_t p;
    cli_as(&p, "dr.ahmed", ARGS("send", "--to", "nobody.here", "--body", "hello"));
    assert_exit(&p, 1);
    assert_has(p.err, "careteam: NOT_FOUND: ");
    assert_has(p.err, "nobody.here");
    cr_assert_eq(p.out[0], '\0', "stdout: %s", p.out);
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, unreadable_body_file_exits_4)
{
    ct_test_daemon_launch(&g_d, NULL);
    cli_proc_t p;
    cli_as(&p, "dr.ahmed", ARGS("send", "--to", "pw.sam", "--body-file", "/nonexistent/body.txt"));
    assert_exit(&p, 4);
    assert_has(p.err, "/nonexistent/body.txt");
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

/* ---- settings -------------------------------------------------------------------------------- */

Test(cli, missing_cert_names_the_setting)
{
    ct_test_daemon_launch(&g_d, NULL);
    cli_env_t env;
    env_member(&env, "dr.ahmed");
    env_unset(&env, "CARETEAM_CERT");
    cli_proc_t p;
    cli_run(&p, &env, NULL, ARGS("whoami"));
    env_free(&env);
    assert_exit(&p, 2);
    assert_has(p.err, "'cert'");
    assert_has(p.err, "--cert");
    assert_has(p.err, "CARETEAM_CERT");
    assert_has(p.err, "profile");
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, wrong_ca_exits_3_with_hint)
{
    ct_test_daemon_launch(&g_d, NULL);
    char other[4200], ca[4300];
    snprintf(other, sizeof other, "%s/other", g_d.dir);
    cr_assert_eq(ct_test_careteamd(&g_d, "init", other, NULL), 0);
    snprintf(ca, sizeof ca, "%s/ca.crt", other);
    cli_env_t env;
    env_member(&env, "dr.ahmed");
    env_set(&env, "CARETEAM_CA", ca);
    cli_proc_t p;
    cli_run(&p, &env, NULL, ARGS("whoami"));
    env_free(&env);
    assert_exit(&p, 3);
    assert_has(p.err, "cannot connect to");
    assert_has(p.err, "hint:");
    assert_has(p.err, ca);
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

/* --crl (or CARETEAM_CRL) checks the server's certificate against the CA's list: with the empty
 * list init writes, the CLI connects; once the list revokes the server's certificate it exits 3
 * saying so, which list said it, and what to do; without --crl it does not check. */
Test(cli, crl_refuses_a_revoked_server_saying_so)
{
    ct_test_daemon_launch(&g_d, NULL);
    char crl[4200];
    snprintf(crl, sizeof crl, "%s/crl.pem", g_d.data);
    cli_env_t env;
    env_member(&env, "dr.ahmed");
    env_set(&env, "CARETEAM_CRL", crl);
    cli_proc_t p;
    cli_run(&p, &env, NULL, ARGS("whoami"));
    assert_exit(&p, 0);
    assert_has(p.out, "dr.ahmed");
    cli_free(&p);

    cr_assert_eq(ct_test_careteamd(&g_d, "revoke", g_d.data, "--server", NULL), 0);
    cli_run(&p, &env, NULL, ARGS("whoami"));
    assert_exit(&p, 3);
    cr_log_info("what the user sees:\n%s", p.err);
    assert_has(p.err, "the server's certificate is revoked by");
    assert_has(p.err, crl);
    assert_has(p.err, "CARETEAM_CRL");
    assert_has(p.err, "hint:");
    assert_has(p.err, "ask your careteam administrator");
    assert_lacks(p.err, "not signed by your CA");
    assert_lacks(p.out, "dr.ahmed");
    cli_free(&p);

    /* The flag names itself as the origin; without any list nothing is checked. */
    env_unset(&env, "CARETEAM_CRL");
    cli_run(&p, &env, NULL, ARGS("--crl", crl, "whoami"));
    assert_exit(&p, 3);
    assert_has(p.err, "(from --crl)");
    cli_free(&p);
    cli_run(&p, &env, NULL, ARGS("whoami"));
    assert_exit(&p, 0);
    cli_free(&p);

    /* A file that is not a revocation list is refused before connecting: a certificate in it
     * would be trusted. */
    char ca[4200];
    ct_test_daemon_ca_path(&g_d, ca, sizeof ca);
    cli_run(&p, &env, NULL, ARGS("--crl", ca, "whoami"));
    assert_exit(&p, 4);
    assert_has(p.err, "not only a revocation list");
    cli_free(&p);
    cli_run(&p, &env, NULL, ARGS("--crl", "/nonexistent/crl.pem", "whoami"));
    assert_exit(&p, 4);
    assert_has(p.err, "/nonexistent/crl.pem");
    cli_free(&p);
    env_free(&env);
    ct_test_daemon_finish(&g_d);
}

Test(cli, deactivated_member_exits_3)
{
    ct_test_daemon_launch(&g_d, NULL);
    cr_assert_eq(ct_test_careteamd(&g_d, "deactivate", g_d.data, "--id", "pw.kim", NULL), 0);
    cli_proc_t p;
    cli_as(&p, "pw.kim", ARGS("inbox"));
    assert_exit(&p, 3);
    assert_has(p.err, "not an active member");
    assert_has(p.err, "hint:");
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, profile_path_with_relative_paths)
{
    ct_test_daemon_launch(&g_d, NULL);
    char dir[4200], creds[4300], profile[4300], text[8192];
    snprintf(dir, sizeof dir, "%s/prof", g_d.dir);
    cr_assert_eq(mkdir(dir, 0700), 0);
    snprintf(creds, sizeof creds, "%s/creds", dir);
    copy_creds("pw.sam", creds);
    snprintf(profile, sizeof profile, "%s/clinic.conf", dir);
    snprintf(text, sizeof text,
             "# the clinic's server\n"
             "server = %s\n"
             "\n"
             "  cert = creds/pw.sam.crt\n"
             "key=creds/pw.sam.key\n"
             "ca = creds/ca.crt\n",
             g_d.addr);
    write_file(profile, text);
    cli_env_t env;
    env_base(&env); /* nothing but the profile; the CLI runs in "/" */
    cli_proc_t p;
    cli_run(&p, &env, NULL, ARGS("--profile", profile, "whoami", "--json"));
    env_free(&env);
    assert_exit(&p, 0);
    assert_has(p.out, "\"member_id\":\"pw.sam\"");
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, profile_name_from_env_under_xdg_config_home)
{
    ct_test_daemon_launch(&g_d, NULL);
    char xdg[4200], dir[4300], profile[4400], text[8192];
    snprintf(xdg, sizeof xdg, "%s/xdg", g_d.dir);
    cr_assert_eq(mkdir(xdg, 0700), 0);
    snprintf(dir, sizeof dir, "%s/careteam", xdg);
    copy_creds("co.jones", dir);
    snprintf(profile, sizeof profile, "%s/audit.conf", dir);
    snprintf(text, sizeof text,
             "server = %s\ncert = co.jones.crt\nkey = co.jones.key\nca = ca.crt\n", g_d.addr);
    write_file(profile, text);
    cli_env_t env;
    env_base(&env);
    env_set(&env, "XDG_CONFIG_HOME", xdg);
    env_set(&env, "CARETEAM_PROFILE", "audit");
    cli_proc_t p;
    cli_run(&p, &env, NULL, ARGS("whoami"));
    env_free(&env);
    assert_exit(&p, 0);
    assert_has(p.out, "co.jones");
    assert_has(p.out, "compliance");
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, flag_beats_env_beats_profile)
{
    ct_test_daemon_launch(&g_d, NULL);
    char dir[4200], profile[4300], text[8192];
    snprintf(dir, sizeof dir, "%s/prof", g_d.dir);
    copy_creds("th.lee", dir);
    snprintf(profile, sizeof profile, "%s/p.conf", dir);
    /* Nothing listens on port 1: the profile's server must lose. */
    snprintf(text, sizeof text,
             "server = 127.0.0.1:1\ncert = th.lee.crt\nkey = th.lee.key\nca = ca.crt\n");
    write_file(profile, text);
    cli_env_t env;
    env_base(&env);
    env_set(&env, "CARETEAM_PROFILE", profile);
    env_set(&env, "CARETEAM_SERVER", g_d.addr);
    cli_proc_t p;
    cli_run(&p, &env, NULL, ARGS("whoami"));
    assert_exit(&p, 0);
    assert_has(p.out, "th.lee");
    cli_free(&p);

    env_set(&env, "CARETEAM_SERVER", "127.0.0.1:1");
    cli_run(&p, &env, NULL, ARGS("whoami", "--server", g_d.addr));
    assert_exit(&p, 0);
    assert_has(p.out, "th.lee");
    cli_free(&p);

    /* And the profile's own value is used when nothing overrides it. */
    env_unset(&env, "CARETEAM_SERVER");
    cli_run(&p, &env, NULL, ARGS("whoami"));
    assert_exit(&p, 3);
    assert_has(p.err, "127.0.0.1:1");
    cli_free(&p);
    env_free(&env);
    ct_test_daemon_finish(&g_d);
}

Test(cli, missing_profile_exits_4)
{
    ct_test_daemon_launch(&g_d, NULL);
    cli_env_t env;
    env_base(&env);
    cli_proc_t p;
    cli_run(&p, &env, NULL, ARGS("--profile", "nosuch", "whoami"));
    env_free(&env);
    assert_exit(&p, 4);
    assert_has(p.err, "/.config/careteam/nosuch.conf");
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, profile_with_unknown_key_exits_4_naming_the_line)
{
    ct_test_daemon_launch(&g_d, NULL);
    char profile[4200];
    snprintf(profile, sizeof profile, "%s/bad.conf", g_d.dir);
    write_file(profile, "server = 127.0.0.1:7443\n# comment\nsevrer = x\n");
    cli_env_t env;
    env_base(&env);
    cli_proc_t p;
    cli_run(&p, &env, NULL, ARGS("--profile", profile, "whoami"));
    env_free(&env);
    assert_exit(&p, 4);
    assert_has(p.err, "line 3");
    assert_has(p.err, "sevrer");
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

/* ---- command line ---------------------------------------------------------------------------- */

Test(cli, help_exits_0_for_every_command)
{
    ct_test_daemon_launch(&g_d, NULL);
    static const char *const cmds[] = {"whoami", "send", "inbox", "watch", "help"};
    cli_env_t env;
    env_base(&env); /* no settings: help needs none */
    cli_proc_t p;
    cli_run(&p, &env, NULL, ARGS("--help"));
    assert_exit(&p, 0);
    assert_has(p.out, "usage: careteam");
    assert_has(p.out, "exit codes:");
    cli_free(&p);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char usage[64];
        snprintf(usage, sizeof usage, "usage: careteam %s", cmds[i]);
        cli_run(&p, &env, NULL, ARGS(cmds[i], "--help"));
        assert_exit(&p, 0);
        assert_has(p.out, usage);
        cli_free(&p);
        cli_run(&p, &env, NULL, ARGS("help", cmds[i]));
        assert_exit(&p, 0);
        assert_has(p.out, usage);
        cli_free(&p);
    }
    cli_run(&p, &env, NULL, ARGS("--version"));
    assert_exit(&p, 0);
    assert_has(p.out, "careteam ");
    cli_free(&p);
    env_free(&env);
    ct_test_daemon_finish(&g_d);
}

Test(cli, unknown_option_or_command_exits_2)
{
    ct_test_daemon_launch(&g_d, NULL);
    cli_env_t env;
    env_member(&env, "dr.ahmed");
    cli_proc_t p;
    cli_run(&p, &env, NULL, ARGS("send", "--to", "pw.sam", "--body", "x", "--bogus"));
    assert_exit(&p, 2);
    assert_has(p.err, "unknown option '--bogus'");
    assert_has(p.err, "careteam send --help");
    cli_free(&p);
    cli_run(&p, &env, NULL, ARGS("--bogus", "whoami"));
    assert_exit(&p, 2);
    cli_free(&p);
    cli_run(&p, &env, NULL, ARGS("frobnicate"));
    assert_exit(&p, 2);
    assert_has(p.err, "unknown command 'frobnicate'");
    cli_free(&p);
    cli_run(&p, &env, NULL, ARGS("send", "--to", "pw.sam"));
    assert_exit(&p, 2);
    assert_has(p.err, "--body");
    cli_free(&p);
    cli_run(&p, &env, NULL, ARGS("watch", "--count", "zero"));
    assert_exit(&p, 2);
    cli_free(&p);
    cli_run(&p, &env, NULL, (const char *const[]){NULL});
    assert_exit(&p, 2);
    cli_free(&p);
    env_free(&env);
    /* Nothing was sent. */
    cli_as(&p, "pw.sam", ARGS("inbox", "--json"));
    assert_exit(&p, 0);
    cr_assert_eq(p.out[0], '\0', "%s", p.out);
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

/* ---- watch ----------------------------------------------------------------------------------- */

Test(cli, watch_count_receives_messages_sent_while_running)
{
    ct_test_daemon_launch(&g_d, NULL);
    cli_env_t env;
    env_member(&env, "pw.kim");
    cli_proc_t p;
    cli_start(&p, &env, NULL, ARGS("watch", "--count", "2", "--json"));
    env_free(&env);
    lib_send("dr.ahmed", "pw.kim", "w1", "first while watching");
    cli_wait_lines(&p, 1, PUSH_MS);
    /* The watcher has printed the first: the second is certainly sent while it runs. */
    lib_send("th.lee", "pw.kim", "w2", "second while watching");
    cli_finish(&p);
    assert_exit(&p, 0);
    assert_json_lines(p.out, 2, "message");
    assert_has(p.out, "\"body\":\"first while watching\"");
    assert_has(p.out, "\"body\":\"second while watching\",");
    assert_has(p.out, "\"sender_id\":\"th.lee\"");
    cli_free(&p);

    /* watch acknowledged both. */
    cli_as(&p, "pw.kim", ARGS("inbox", "--json"));
    assert_exit(&p, 0);
    cr_assert_eq(p.out[0], '\0', "%s", p.out);
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, watch_reports_server_closing_the_connection)
{
    ct_test_daemon_launch(&g_d, NULL);
    lib_send("dr.ahmed", "pw.sam", "before", "waiting for you");
    cli_env_t env;
    env_member(&env, "pw.sam");
    cli_proc_t p;
    cli_start(&p, &env, NULL, ARGS("watch"));
    env_free(&env);
    cli_wait_lines(&p, 1, PUSH_MS);
    /* The replayed message is out; give the ack a moment, then take the server away. */
    int64_t until = ct_test_now_ms() + 300;
    while (ct_test_now_ms() < until)
        cli_pump(&p, 50);
    int status = ct_test_daemon_stop(&g_d);
    cr_assert_eq(status, 0);
    cli_finish(&p);
    assert_exit(&p, 3);
    assert_has(p.out, "waiting for you");
    assert_has(p.err, "closed the connection");
    cli_free(&p);
    ct_test_daemon_cleanup(&g_d);
    ct_test_leak_check();
}

Test(cli, watch_stops_on_sigint_with_exit_0)
{
    ct_test_daemon_launch(&g_d, NULL);
    cli_env_t env;
    env_member(&env, "th.lee");
    cli_proc_t p;
    cli_start(&p, &env, NULL, ARGS("watch", "--json"));
    env_free(&env);
    lib_send("dr.ahmed", "th.lee", "s1", "hello");
    cli_wait_lines(&p, 1, PUSH_MS);
    cr_assert_eq(kill(p.pid, SIGINT), 0);
    cli_finish(&p);
    assert_exit(&p, 0);
    assert_json_lines(p.out, 1, "message");
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

/* More pending messages than one DeliveryAck may carry (1024): inbox acknowledges them all. */
Test(cli, inbox_acks_in_batches)
{
    ct_test_daemon_launch(&g_d, NULL);
    enum { N = 1030 };
    ct_sync_t *s = ct_test_connect(&g_d, "dr.ahmed");
    const char *rcpt[] = {"pw.sam"};
    for (int i = 0; i < N; i++) {
        char id[32], body[32];
        snprintf(id, sizeof id, "bulk-%d", i);
        snprintf(body, sizeof body, "bulk message %d", i);
        ct_send_args_t a = {.client_msg_id = id, .to = rcpt, .n_to = 1, .body = body};
        Careteam__V1__Envelope *resp = NULL;
        cr_assert_eq(ct_sync_send_message(s, &a, CALL_MS, &resp), 0);
        cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ACK, "%s",
                     ct_response_message(resp));
        ct_envelope_free(resp);
    }
    ct_sync_close(s);
    cli_proc_t p;
    cli_as(&p, "pw.sam", ARGS("inbox", "--json"));
    assert_exit(&p, 0);
    cr_assert_eq(count_lines(p.out), (size_t)N);
    assert_has(p.out, "\"body\":\"bulk message 0\"");
    assert_has(p.out, "\"body\":\"bulk message 1029\"");
    cli_free(&p);
    cli_as(&p, "pw.sam", ARGS("inbox", "--json"));
    assert_exit(&p, 0);
    cr_assert_eq(p.out[0], '\0', "%zu messages came back", count_lines(p.out));
    cli_free(&p);
    ct_test_daemon_finish(&g_d);
}
