/*
 * A real careteamd for integration tests (see daemon.h).
 *
 * Every careteamd run here is a ct_test_spawn (process.h) of CT_TEST_CARETEAMD with stdout and
 * stderr appended to d->log, so a failing test can show what the daemon said. Invariants:
 *  1. Only PIDs forked here are ever signalled, and each is reaped exactly once (d->pid is 0
 *     whenever no `serve` child is running).
 *  2. Every wait is bounded: a child that does not finish in time is killed and the test fails
 *     with the tail of the log.
 *  3. A child dies with the test process (PR_SET_PDEATHSIG), so a test that crashes or is killed
 *     by its timeout leaves no daemon behind.
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "process.h"
#include "testsupport.h"

#define MAX_ARGS 32
#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 10000
#define COMMAND_TIMEOUT_MS 30000
#define CONNECT_TIMEOUT_MS 5000
#define AUDIT_MS 5000 /* longest wait for an audit row to be committed */
#define POLL_MS 10
#define LOG_TAIL 3000

/* The demo team of daemon.h: id, display name, role. */
static const char *const TEAM[][3] = {
    {"dr.ahmed", "Dr Amira Ahmed", "psychiatrist"}, {"th.lee", "Taylor Lee", "therapist"},
    {"pw.sam", "Sam Rivera", "peer_worker"},        {"pw.kim", "Kim Okafor", "peer_worker"},
    {"co.jones", "Jo Jones", "compliance"},
};

/* The last LOG_TAIL bytes of the daemon's log, for failure messages. Returns a malloc'd string
 * (never NULL unless out of memory; "" when there is no log). */
static char *log_tail(const ct_test_daemon_t *d)
{
    size_t len = 0;
    char *all = ct_test_read_file(d->log, &len);
    if (all == NULL)
        return strdup("(no log)");
    if (len > LOG_TAIL)
        memmove(all, all + len - LOG_TAIL, LOG_TAIL + 1);
    return all;
}

/* Fails the test with `what` and the log's tail. */
#define FAIL_WITH_LOG(d, ...)                                                                      \
    do {                                                                                           \
        char what_[512];                                                                           \
        snprintf(what_, sizeof what_, __VA_ARGS__);                                                \
        char *tail_ = log_tail(d);                                                                 \
        cr_log_error("%s; careteamd log (%s), last bytes:\n%s", what_, (d)->log,                   \
                     tail_ != NULL ? tail_ : "");                                                  \
        free(tail_);                                                                               \
        cr_assert_fail("%s (see the careteamd log above)", what_);                                 \
    } while (0)

/*
 * Starts careteamd with argv (argv[0] included), stdin from /dev/null, output appended to d->log.
 * Returns the child's PID, which the caller reaps; fails the test if it cannot be started.
 */
static pid_t spawn_env(const ct_test_daemon_t *d, char *const argv[], char *const envp[]);

static pid_t spawn(const ct_test_daemon_t *d, char *const argv[])
{
    return spawn_env(d, argv, NULL);
}

/* The test's environment with d->serve_env laid over it: a malloc'd NULL-terminated array whose
 * strings are borrowed (free only the array), or NULL when serve_env is empty. */
static char **serve_environment(const ct_test_daemon_t *d)
{
    size_t n_extra = 0, n_env = 0;
    while (n_extra < sizeof d->serve_env / sizeof d->serve_env[0] && d->serve_env[n_extra] != NULL)
        n_extra++;
    if (n_extra == 0)
        return NULL;
    while (environ[n_env] != NULL)
        n_env++;
    char **envp = calloc(n_env + n_extra + 1, sizeof *envp);
    cr_assert_not_null(envp);
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        bool replaced = false;
        for (size_t j = 0; j < n_extra && !replaced; j++) {
            size_t name = strcspn(d->serve_env[j], "=");
            replaced = strncmp(environ[i], d->serve_env[j], name + 1) == 0;
        }
        if (!replaced)
            envp[k++] = environ[i];
    }
    for (size_t j = 0; j < n_extra; j++)
        envp[k++] = (char *)d->serve_env[j];
    envp[k] = NULL;
    return envp;
}

/* As spawn, with envp (NULL: the test's own environment). */
static pid_t spawn_env(const ct_test_daemon_t *d, char *const argv[], char *const envp[])
{
    int log_fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    cr_assert(log_fd >= 0, "cannot open %s: %s", d->log, strerror(errno));
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert(null_fd >= 0, "cannot open /dev/null: %s", strerror(errno));
    ct_test_spawn_opts_t o = {.path = CT_TEST_CARETEAMD,
                              .argv = argv,
                              .envp = envp,
                              .in_fd = null_fd,
                              .out_fd = log_fd,
                              .err_fd = log_fd};
    pid_t pid = ct_test_spawn(&o);
    int e = errno;
    close(log_fd);
    close(null_fd);
    cr_assert(pid > 0, "fork: %s", strerror(e));
    return pid;
}

/* Runs careteamd with a NULL-terminated argv (argv[0] included) to completion. */
static int run_argv(ct_test_daemon_t *d, char *const argv[])
{
    pid_t pid = spawn(d, argv);
    int status;
    if (!ct_test_wait_bounded(pid, COMMAND_TIMEOUT_MS, &status)) {
        ct_test_kill_and_reap(pid);
        FAIL_WITH_LOG(d, "careteamd %s did not finish within %d ms", argv[1], COMMAND_TIMEOUT_MS);
    }
    return ct_test_exit_code(status);
}

int ct_test_careteamd(ct_test_daemon_t *d, const char *arg, ...)
{
    char *argv[MAX_ARGS + 2];
    size_t n = 0;
    argv[n++] = (char *)CT_TEST_CARETEAMD;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a != NULL; a = va_arg(ap, const char *)) {
        if (n == MAX_ARGS + 1) {
            va_end(ap);
            cr_assert_fail("ct_test_careteamd: more than %d arguments", MAX_ARGS);
        }
        argv[n++] = (char *)a;
    }
    va_end(ap);
    argv[n] = NULL;
    return run_argv(d, argv);
}

void ct_test_daemon_care_team(ct_test_daemon_t *d, const char *participant, const char *member, ...)
{
    int st = ct_test_careteamd(d, "participant", "add", d->data, "--id", participant, "--label",
                               "T.P.", NULL);
    cr_assert_eq(st, 0, "careteamd participant add %s exited %d", participant, st);
    va_list ap;
    va_start(ap, member);
    for (const char *m = member; m != NULL; m = va_arg(ap, const char *)) {
        st = ct_test_careteamd(d, "team", "add", d->data, "--participant", participant, "--member",
                               m, NULL);
        cr_assert_eq(st, 0, "careteamd team add %s %s exited %d", participant, m, st);
    }
    va_end(ap);
}

int ct_test_daemon_enroll(ct_test_daemon_t *d, const char *id, const char *name, const char *role)
{
    char prefix[4096];
    snprintf(prefix, sizeof prefix, "%s/%s", d->dir, id);
    return ct_test_careteamd(d, "enroll", d->data, "--id", id, "--name", name, "--role", role,
                             "--out", prefix, NULL);
}

void ct_test_daemon_init(ct_test_daemon_t *d, const char *extra_conf)
{
    memset(d, 0, sizeof *d);
    d->dir = ct_test_tmpdir("daemon");
    snprintf(d->data, sizeof d->data, "%s/data", d->dir);
    snprintf(d->log, sizeof d->log, "%s/careteamd.log", d->dir);

    int rc = ct_test_careteamd(d, "init", d->data, NULL);
    if (rc != 0)
        FAIL_WITH_LOG(d, "careteamd init %s exited %d", d->data, rc);
    if (extra_conf != NULL) {
        char conf[4096];
        snprintf(conf, sizeof conf, "%s/careteamd.conf", d->data);
        FILE *f = fopen(conf, "a");
        cr_assert_not_null(f, "cannot open %s: %s", conf, strerror(errno));
        /* A key given twice takes its last value, so appending overrides the default. */
        fprintf(f, "\n%s\n", extra_conf);
        cr_assert_eq(fclose(f), 0, "cannot write %s", conf);
    }
    for (size_t i = 0; i < sizeof TEAM / sizeof TEAM[0]; i++) {
        rc = ct_test_daemon_enroll(d, TEAM[i][0], TEAM[i][1], TEAM[i][2]);
        if (rc != 0)
            FAIL_WITH_LOG(d, "careteamd enroll %s exited %d", TEAM[i][0], rc);
    }
}

/* Reads "HOST:PORT\n" from the ready file into d->addr. Returns true once complete. The daemon
 * writes it with a rename, but a partial line is treated as not ready all the same. */
static bool read_ready(ct_test_daemon_t *d, const char *path)
{
    size_t len = 0;
    char *s = ct_test_read_file(path, &len);
    if (s == NULL)
        return false;
    bool ok = len > 1 && len < sizeof d->addr && s[len - 1] == '\n';
    if (ok) {
        s[len - 1] = '\0';
        snprintf(d->addr, sizeof d->addr, "%s", s);
    }
    free(s);
    return ok;
}

void ct_test_daemon_start(ct_test_daemon_t *d)
{
    cr_assert_eq(d->pid, 0, "ct_test_daemon_start: the daemon is already running");
    char ready[4096];
    snprintf(ready, sizeof ready, "%s/ready", d->dir);
    unlink(ready);
    d->addr[0] = '\0';
    /* The tests run as root on CI, where serve refuses root unless told otherwise (privdrop.h);
     * the data directories here belong to whoever runs the tests. */
    char *argv[] = {(char *)CT_TEST_CARETEAMD,
                    "serve",
                    d->data,
                    "--listen",
                    "127.0.0.1:0",
                    "--ready-file",
                    ready,
                    geteuid() == 0 ? "--allow-root" : NULL,
                    NULL};
    char **envp = serve_environment(d);
    d->pid = spawn_env(d, argv, envp);
    free(envp); /* the child has its copy */
    int64_t deadline = ct_test_now_ms() + START_TIMEOUT_MS;
    for (;;) {
        if (read_ready(d, ready))
            return;
        int status;
        pid_t r = waitpid(d->pid, &status, WNOHANG);
        if (r == d->pid) {
            d->pid = 0;
            FAIL_WITH_LOG(d, "careteamd serve exited (status %d) before listening",
                          ct_test_exit_code(status));
        }
        if (ct_test_now_ms() >= deadline) {
            ct_test_kill_and_reap(d->pid);
            d->pid = 0;
            FAIL_WITH_LOG(d, "careteamd serve did not listen within %d ms", START_TIMEOUT_MS);
        }
        ct_test_sleep_ms(POLL_MS);
    }
}

void ct_test_daemon_launch(ct_test_daemon_t *d, const char *extra_conf)
{
    ct_test_daemon_init(d, extra_conf);
    ct_test_daemon_start(d);
}

int ct_test_daemon_stop(ct_test_daemon_t *d)
{
    if (d->pid == 0)
        return 0;
    pid_t pid = d->pid;
    cr_assert_eq(kill(pid, SIGTERM), 0, "kill(%d, SIGTERM): %s", (int)pid, strerror(errno));
    int status;
    bool done = ct_test_wait_bounded(pid, STOP_TIMEOUT_MS, &status);
    d->pid = 0;
    if (!done) {
        ct_test_kill_and_reap(pid);
        FAIL_WITH_LOG(d, "careteamd did not exit within %d ms of SIGTERM", STOP_TIMEOUT_MS);
    }
    int code = ct_test_exit_code(status);
    if (code != 0) {
        char *tail = log_tail(d);
        cr_log_error("careteamd exited with status %d; log (%s), last bytes:\n%s", code, d->log,
                     tail != NULL ? tail : "");
        free(tail);
    }
    return code;
}

void ct_test_daemon_kill(ct_test_daemon_t *d)
{
    if (d->pid == 0)
        return;
    ct_test_kill_and_reap(d->pid);
    d->pid = 0;
}

void ct_test_daemon_cleanup(ct_test_daemon_t *d)
{
    /* Called from .fini as well, after a failed assertion: no assertions here. */
    if (d->pid != 0) {
        int status;
        kill(d->pid, SIGTERM);
        if (!ct_test_wait_bounded(d->pid, STOP_TIMEOUT_MS, &status))
            ct_test_kill_and_reap(d->pid);
        d->pid = 0;
    }
    if (d->dir != NULL) {
        /* CT_TEST_KEEP=1 keeps the directory (database, log) for a post-mortem. */
        const char *keep = getenv("CT_TEST_KEEP");
        if (keep != NULL && keep[0] == '1')
            cr_log_info("kept %s", d->dir);
        else
            ct_test_rmtree(d->dir);
        free(d->dir);
        d->dir = NULL;
    }
}

void ct_test_daemon_finish(ct_test_daemon_t *d)
{
    int status = ct_test_daemon_stop(d);
    cr_assert_eq(status, 0, "careteamd exited with status %d (sanitizer report in its log?)",
                 status);
    ct_test_daemon_cleanup(d);
    ct_test_leak_check();
}

void ct_test_daemon_cert_path(const ct_test_daemon_t *d, const char *id, char *out, size_t len)
{
    snprintf(out, len, "%s/%s.crt", d->dir, id);
}

void ct_test_daemon_key_path(const ct_test_daemon_t *d, const char *id, char *out, size_t len)
{
    snprintf(out, len, "%s/%s.key", d->dir, id);
}

void ct_test_daemon_ca_path(const ct_test_daemon_t *d, char *out, size_t len)
{
    snprintf(out, len, "%s/ca.crt", d->data);
}

void ct_test_daemon_copy_creds(const ct_test_daemon_t *d, const char *id, const char *dir)
{
    char from[4096], to[4200];
    cr_assert_eq(mkdir(dir, 0700), 0, "mkdir %s: %s", dir, strerror(errno));
    ct_test_daemon_cert_path(d, id, from, sizeof from);
    snprintf(to, sizeof to, "%s/%s.crt", dir, id);
    ct_test_copy_file(from, to, 0644);
    ct_test_daemon_key_path(d, id, from, sizeof from);
    snprintf(to, sizeof to, "%s/%s.key", dir, id);
    ct_test_copy_file(from, to, 0600);
    ct_test_daemon_ca_path(d, from, sizeof from);
    snprintf(to, sizeof to, "%s/ca.crt", dir);
    ct_test_copy_file(from, to, 0644);
}

void ct_test_daemon_opts(const ct_test_daemon_t *d, const char *id, ct_test_creds_t *bufs,
                         ct_client_opts_t *opts)
{
    ct_test_daemon_cert_path(d, id, bufs->cert, sizeof bufs->cert);
    ct_test_daemon_key_path(d, id, bufs->key, sizeof bufs->key);
    ct_test_daemon_ca_path(d, bufs->ca, sizeof bufs->ca);
    memset(opts, 0, sizeof *opts);
    opts->server = d->addr;
    opts->cert = bufs->cert;
    opts->key = bufs->key;
    opts->ca = bufs->ca;
    opts->client_name = "careteam-tests";
}

ct_sync_t *ct_test_connect(const ct_test_daemon_t *d, const char *id)
{
    ct_test_creds_t creds;
    ct_client_opts_t opts;
    ct_test_daemon_opts(d, id, &creds, &opts);
    ct_sync_t *s = NULL;
    char err[512] = "";
    int rc = ct_sync_connect(&opts, CONNECT_TIMEOUT_MS, &s, err, sizeof err);
    if (rc != 0)
        FAIL_WITH_LOG(d, "connecting as %s to %s: %s (%s)", id, d->addr, ct_errname(rc), err);
    return s;
}

/* Runs sql, a count with one parameter bound to action, read-only against the daemon's database.
 * Returns the count; fails the test if the database cannot be opened or queried. */
static long count_audit(const ct_test_daemon_t *d, const char *sql, const char *action)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/careteam.db", d->data);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        cr_assert_fail("cannot open %s read-only: %s", path, msg);
    }
    /* The daemon's writer may hold the write lock; readers wait for it, not fail. */
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    long n = -1;
    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, action, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            n = (long)sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    char msg[512];
    snprintf(msg, sizeof msg, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    cr_assert_eq(rc, SQLITE_OK, "counting audit rows of %s in %s: %s", action, path, msg);
    return n;
}

long ct_test_audit_count(const ct_test_daemon_t *d, const char *action)
{
    return count_audit(d, "SELECT count(*) FROM audit WHERE action = ?", action);
}

long ct_test_audit_failures(const ct_test_daemon_t *d, const char *action)
{
    return count_audit(d, "SELECT count(*) FROM audit WHERE action = ? AND outcome != 0", action);
}

void ct_test_await_audit_failures(const ct_test_daemon_t *d, const char *action, long want)
{
    long n = 0;
    for (int waited = 0; waited <= AUDIT_MS; waited += 20) {
        n = ct_test_audit_failures(d, action);
        if (n >= want)
            return;
        ct_test_sleep_ms(20);
    }
    cr_assert_fail("%ld failed '%s' audit rows after %d ms, expected %ld", n, action, AUDIT_MS,
                   want);
}
