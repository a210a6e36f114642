/*
 * Operating careteamd (issue 7, sections 1, 2 and 5): `careteamd check-config` on good and broken
 * settings and data directories, `serve`'s refusal of root and its switch to an unprivileged
 * account, and `careteamd backup` under load followed by `careteamd restore` into a stopped copy
 * of the data directory, whose audit chain must verify and which must hold every message
 * acknowledged before the backup began.
 *
 * CI runs the tests as root; the root-only cases say so and check the non-root path instead when
 * run as another user. Every test ends with ct_test_leak_check.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "careteam.h"
#include "daemon.h"
#include "process.h"
#include "testsupport.h"

#define RUN_MS 30000
#define START_MS 10000
#define CALL_MS 5000
#define LOAD_MAX 5000       /* the load sends at most this many messages ... */
#define LOAD_MAX_MS 20000   /* ... for at most this long */
#define ACKED_BEFORE_MIN 25 /* messages acknowledged before the backup starts */
#define ACKED_AFTER_MIN 25  /* ... and after it returns, so that it ran under load */

static ct_test_daemon_t g_d;

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

TestSuite(ops, .init = ct_test_ignore_sigpipe, .fini = teardown, .timeout = 120);

/* ---- running careteamd ---------------------------------------------------------------------- */

typedef struct run_result {
    int status;
    char *out, *err; /* owned; freed by run_free */
} run_result_t;

/* Runs `careteamd ARGS...` (NULL-terminated) with stdout and stderr captured apart. */
static run_result_t run(const char *arg, ...)
{
    char *argv[16] = {(char *)CT_TEST_CARETEAMD};
    size_t n = 1;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a != NULL && n < 15; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    char out_path[4200], err_path[4200];
    snprintf(out_path, sizeof out_path, "%s/run.out", g_d.dir);
    snprintf(err_path, sizeof err_path, "%s/run.err", g_d.dir);
    int status = ct_test_run_to_files(argv, NULL, out_path, err_path, RUN_MS);
    run_result_t r = {.status = status};
    r.out = ct_test_read_file(out_path, NULL);
    r.err = ct_test_read_file(err_path, NULL);
    cr_assert(r.out != NULL && r.err != NULL);
    return r;
}

static void run_free(run_result_t *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* Asserts that text contains each fragment (NULL-terminated); `what` names text in messages. */
static void expect_all(const char *what, const char *text, ...)
{
    va_list ap;
    va_start(ap, text);
    for (const char *f = va_arg(ap, const char *); f != NULL; f = va_arg(ap, const char *))
        cr_expect(strstr(text, f) != NULL, "%s lacks \"%s\":\n%s", what, f, text);
    va_end(ap);
}

/* The number of lines of path (its last line number). */
static unsigned count_lines(const char *path)
{
    char *text = ct_test_read_file(path, NULL);
    cr_assert_not_null(text, "cannot read %s", path);
    unsigned n = 0;
    for (const char *p = text; *p != '\0'; p++)
        n += *p == '\n';
    free(text);
    return n;
}

static void append(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");
    cr_assert_not_null(f, "cannot open %s: %s", path, strerror(errno));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* ---- check-config --------------------------------------------------------------------------- */

Test(ops, check_config_accepts_a_good_directory)
{
    ct_test_daemon_init(&g_d, "listen = 127.0.0.1:7999");
    run_result_t r = run("check-config", g_d.data, NULL);
    char want[4200];
    snprintf(want, sizeof want, "%s: OK (listen 127.0.0.1:7999", g_d.data);
    cr_expect_eq(r.status, 0, "exit %d; stderr: %s", r.status, r.err);
    expect_all("stdout", r.out, want, NULL);
    /* init wrote listen; the appended line overrides it: valid, but worth a warning. */
    expect_all("stderr", r.err, "warning: listen is set again", NULL);
    run_free(&r);

    char conf[4200];
    snprintf(conf, sizeof conf, "%s/careteamd.conf", g_d.data);
    r = run("check-config", conf, NULL);
    cr_expect_eq(r.status, 0, "a config file on its own; exit %d; stderr: %s", r.status, r.err);
    expect_all("stdout", r.out, "OK (listen 127.0.0.1:7999", NULL);
    run_free(&r);
    ct_test_daemon_cleanup(&g_d);
    ct_test_leak_check();
}

Test(ops, check_config_reports_every_problem_with_its_line)
{
    ct_test_daemon_init(&g_d, NULL);
    char conf[4200], key[4200], want[4400];
    snprintf(conf, sizeof conf, "%s/careteamd.conf", g_d.data);
    snprintf(key, sizeof key, "%s/server.key", g_d.data);
    unsigned base = count_lines(conf);
    append(conf, "max_fram = 2M\n"              /* base + 1: a typo */
                 "listen = 127.0.0.1\n"         /* base + 2: no port */
                 "max_connections = 0\n"        /* base + 3: out of range */
                 "log_level = loud\n"           /* base + 4 */
                 "rate_limit = 10 per second\n" /* base + 5: malformed */
                 "max_frame = 64K\n"            /* base + 6: fine alone, but ... */
                 "max_body = 64K\n");           /* base + 7: ... leaves no room in the frame */
    cr_assert_eq(chmod(key, 0644), 0);
    run_result_t r = run("check-config", g_d.data, NULL);
    cr_expect_eq(r.status, 1, "exit %d", r.status);
    cr_expect_eq(r.out[0], '\0', "nothing on stdout: %s", r.out);
    static const char *const what[] = {
        "unknown key \"max_fram\"; did you mean max_frame?",
        "invalid listen \"127.0.0.1\"",
        "max_connections = 0 is out of range",
        "invalid log_level \"loud\"",
        "invalid rate_limit \"10 per second\"",
        NULL,
        "max_body (65536) must be at most max_frame - 4K",
    };
    for (unsigned i = 0; i < sizeof what / sizeof what[0]; i++) {
        if (what[i] == NULL)
            continue;
        snprintf(want, sizeof want, "%s:%u: %s", conf, base + 1 + i, what[i]);
        expect_all("stderr", r.err, want, NULL);
    }
    snprintf(want, sizeof want, "chmod 600 %s", key);
    expect_all("stderr", r.err, want, "7 problems found", NULL);
    run_free(&r);

    /* The daemon refuses the same file, naming the first problem. */
    r = run("serve", g_d.data, "--listen", "127.0.0.1:0", "--allow-root", NULL);
    snprintf(want, sizeof want, "%s:%u: unknown key", conf, base + 1);
    cr_expect_eq(r.status, 1);
    expect_all("serve's stderr", r.err, want, NULL);
    run_free(&r);
    ct_test_daemon_cleanup(&g_d);
    ct_test_leak_check();
}

Test(ops, check_config_names_missing_files_and_usage_errors)
{
    ct_test_daemon_init(&g_d, NULL);
    char path[4200];
    snprintf(path, sizeof path, "%s/audit-signing.key", g_d.data);
    cr_assert_eq(unlink(path), 0);
    run_result_t r = run("check-config", g_d.data, NULL);
    cr_expect_eq(r.status, 1);
    expect_all("stderr", r.err, "audit-signing.key is missing", "careteamd audit keygen", NULL);
    run_free(&r);

    snprintf(path, sizeof path, "%s/nowhere", g_d.dir);
    r = run("check-config", path, NULL);
    cr_expect_eq(r.status, 1, "a missing path is a problem, exit %d", r.status);
    run_free(&r);
    r = run("check-config", NULL);
    cr_expect_eq(r.status, 2, "no operand is a usage error, exit %d", r.status);
    run_free(&r);
    r = run("check-config", g_d.data, g_d.data, NULL);
    cr_expect_eq(r.status, 2, "two operands is a usage error, exit %d", r.status);
    run_free(&r);
    ct_test_daemon_cleanup(&g_d);
    ct_test_leak_check();
}

/* ---- root, and the switch to another account ---------------------------------------------- */

static uid_t chown_uid; /* for chown_entry: nftw passes no argument */
static gid_t chown_gid;

static int chown_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return lchown(path, chown_uid, chown_gid);
}

/* Gives the data directory to user, and lets it through the test's private parent directory. */
static void give_data_dir(const char *user)
{
    struct passwd *pw = getpwnam(user);
    cr_assert_not_null(pw, "no account %s on this host", user);
    chown_uid = pw->pw_uid;
    chown_gid = pw->pw_gid;
    cr_assert_eq(nftw(g_d.data, chown_entry, 16, FTW_PHYS), 0, "chown -R %s %s: %s", user, g_d.data,
                 strerror(errno));
    cr_assert_eq(chmod(g_d.dir, 0711), 0);
}

/* Starts `careteamd serve DATA --user USER` (the ready file inside DATA, which only USER can
 * write to once the daemon has switched) and waits until it listens. */
static void start_as(const char *user)
{
    char ready[4200];
    snprintf(ready, sizeof ready, "%s/ready", g_d.data);
    int log_fd = open(g_d.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert(log_fd >= 0 && in_fd >= 0);
    char *argv[] = {(char *)CT_TEST_CARETEAMD,
                    "serve",
                    g_d.data,
                    "--listen",
                    "127.0.0.1:0",
                    "--ready-file",
                    ready,
                    "--user",
                    (char *)user,
                    NULL};
    ct_test_spawn_opts_t o = {.path = CT_TEST_CARETEAMD,
                              .argv = argv,
                              .in_fd = in_fd,
                              .out_fd = log_fd,
                              .err_fd = log_fd};
    g_d.pid = ct_test_spawn(&o);
    close(log_fd);
    close(in_fd);
    cr_assert_gt(g_d.pid, 0);
    for (int64_t deadline = ct_test_now_ms() + START_MS;; ct_test_sleep_ms(10)) {
        size_t len = 0;
        char *s = ct_test_read_file(ready, &len);
        if (s != NULL && len > 1 && s[len - 1] == '\n') {
            s[len - 1] = '\0';
            snprintf(g_d.addr, sizeof g_d.addr, "%s", s);
            free(s);
            return;
        }
        free(s);
        int status;
        if (waitpid(g_d.pid, &status, WNOHANG) == g_d.pid) {
            g_d.pid = 0;
            char *log = ct_test_read_file(g_d.log, NULL);
            cr_log_error("careteamd log:\n%s", log != NULL ? log : "");
            free(log);
            cr_assert_fail("serve --user %s exited (%d) before listening", user,
                           ct_test_exit_code(status));
        }
        cr_assert_lt(ct_test_now_ms(), deadline, "serve --user %s did not listen", user);
    }
}

/* The four ids of a "Uid:" or "Gid:" line of /proc/PID/status, and its "Groups:" line. */
static void proc_ids(pid_t pid, const char *field, long ids[4])
{
    char path[64], *status;
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    status = ct_test_read_file(path, NULL);
    cr_assert_not_null(status, "cannot read %s", path);
    const char *line = strstr(status, field);
    cr_assert_not_null(line, "no %s in %s", field, path);
    int n = sscanf(line + strlen(field), "%ld %ld %ld %ld", &ids[0], &ids[1], &ids[2], &ids[3]);
    free(status);
    cr_assert_eq(n, 4, "cannot parse %s of %s", field, path);
}

Test(ops, serve_refuses_root_without_an_account_to_switch_to)
{
    ct_test_daemon_init(&g_d, NULL);
    run_result_t r;
    if (geteuid() != 0) {
        /* Not root: --user names another account, which only root could switch to. */
        r = run("serve", g_d.data, "--listen", "127.0.0.1:0", "--user", "nobody", NULL);
        cr_expect_eq(r.status, 1);
        expect_all("stderr", r.err, "only root can switch accounts", NULL);
        run_free(&r);
        cr_log_warn("not running as root (uid %u): the refusal of root is not exercised",
                    (unsigned)geteuid());
        ct_test_daemon_cleanup(&g_d);
        ct_test_leak_check();
        return;
    }
    r = run("serve", g_d.data, "--listen", "127.0.0.1:0", NULL);
    cr_expect_eq(r.status, 1, "exit %d", r.status);
    expect_all("stderr", r.err, "refusing to run as root", "--user NAME", "user = NAME",
               "User=careteam", NULL);
    run_free(&r);
    /* An account that does not own the data directory is refused too, with the fix. */
    r = run("serve", g_d.data, "--listen", "127.0.0.1:0", "--user", "nobody", NULL);
    char want[4300];
    snprintf(want, sizeof want, "chown -R nobody: %s", g_d.data);
    cr_expect_eq(r.status, 1, "exit %d", r.status);
    expect_all("stderr", r.err, want, NULL);
    run_free(&r);
    r = run("serve", g_d.data, "--listen", "127.0.0.1:0", "--user", "root", NULL);
    cr_expect_eq(r.status, 1, "--user root is no switch; exit %d", r.status);
    run_free(&r);
    r = run("serve", g_d.data, "--listen", "127.0.0.1:0", "--user", "no-such-account-i7", NULL);
    cr_expect_eq(r.status, 1);
    expect_all("stderr", r.err, "no account named 'no-such-account-i7'", NULL);
    run_free(&r);
    ct_test_daemon_cleanup(&g_d);
    ct_test_leak_check();
}

Test(ops, serve_as_root_switches_to_the_named_account)
{
    if (geteuid() != 0) {
        cr_log_warn("not running as root (uid %u): the switch of account cannot be exercised; "
                    "serve_refuses_root_without_an_account_to_switch_to checks the refusal",
                    (unsigned)geteuid());
        ct_test_leak_check();
        return;
    }
    struct passwd *pw = getpwnam("nobody");
    cr_assert_not_null(pw, "this test needs the account nobody");
    long uid = (long)pw->pw_uid, gid = (long)pw->pw_gid;
    ct_test_daemon_init(&g_d, NULL);
    give_data_dir("nobody");
    start_as("nobody");

    long ids[4];
    proc_ids(g_d.pid, "Uid:", ids);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(ids[i], uid, "uid %d of 4 is %ld, want nobody's %ld", i, ids[i], uid);
    proc_ids(g_d.pid, "Gid:", ids);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(ids[i], gid, "gid %d of 4 is %ld, want %ld", i, ids[i], gid);
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)g_d.pid);
    char *status = ct_test_read_file(path, NULL);
    cr_assert_not_null(status);
    char want[64];
    snprintf(want, sizeof want, "\nGroups:\t%ld \n", gid);
    cr_expect(strstr(status, want) != NULL, "only nobody's group is kept:\n%s", status);
    free(status);

    /* It serves, and what it creates in DIR belongs to nobody. */
    ct_sync_t *s = ct_test_connect(&g_d, "dr.ahmed");
    ct_sync_close(s);
    char wal[4200];
    snprintf(wal, sizeof wal, "%s/careteam.db-wal", g_d.data);
    struct stat sb;
    cr_expect(stat(wal, &sb) == 0 && (long)sb.st_uid == uid, "the -wal belongs to nobody");
    cr_expect_eq(ct_test_daemon_stop(&g_d), 0);
    ct_test_daemon_cleanup(&g_d);
    ct_test_leak_check();
}

/* ---- backup and restore --------------------------------------------------------------------- */

/* The load: dr.ahmed sends "load-NNNNN" to th.lee, one after the other, each waiting for its
 * Ack, until told to stop (bounded by LOAD_MAX and LOAD_MAX_MS). */
typedef struct load {
    ct_sync_t *s;
    atomic_int acked; /* messages 0 .. acked-1 are acknowledged */
    atomic_bool stop;
    char error[256]; /* why it stopped early; "" if it did not */
} load_t;

/* Sends message i ("load-%05d") from s to th.lee; true when it is acknowledged, else the reason
 * in error. */
static bool send_one(ct_sync_t *s, int i, char *error, size_t len)
{
    const char *to[] = {"th.lee"};
    char cmid[32], body[64];
    snprintf(cmid, sizeof cmid, "load-%05d", i);
    snprintf(body, sizeof body, "load message %d", i);
    ct_send_args_t a = {.client_msg_id = cmid, .to = to, .n_to = 1, .body = body};
    Careteam__V1__Envelope *resp = NULL;
    int rc = ct_sync_send_message(s, &a, CALL_MS, &resp);
    bool acked = rc == 0 && resp->body_case == CARETEAM__V1__ENVELOPE__BODY_ACK;
    if (!acked)
        snprintf(error, len, "%s: %s %s", cmid, ct_errname(rc),
                 rc == 0 ? ct_response_message(resp) : ct_sync_last_error(s));
    ct_envelope_free(resp);
    return acked;
}

static void *load_run(void *arg)
{
    load_t *l = arg;
    int64_t deadline = ct_test_now_ms() + LOAD_MAX_MS;
    for (int i = 0; i < LOAD_MAX && !atomic_load(&l->stop) && ct_test_now_ms() < deadline; i++) {
        if (!send_one(l->s, i, l->error, sizeof l->error))
            break;
        atomic_store(&l->acked, i + 1);
    }
    return NULL;
}

/* Sends messages first .. first+n-1 as dr.ahmed, each acknowledged, and closes. */
static void send_acked(int first, int n)
{
    ct_sync_t *s = ct_test_connect(&g_d, "dr.ahmed");
    char error[256];
    for (int i = first; i < first + n; i++)
        cr_assert(send_one(s, i, error, sizeof error), "%s", error);
    ct_sync_close(s);
}

static void wait_acked(load_t *l, int want)
{
    for (int64_t deadline = ct_test_now_ms() + LOAD_MAX_MS;; ct_test_sleep_ms(5)) {
        if (atomic_load(&l->acked) >= want)
            return;
        cr_assert_eq(l->error[0], '\0', "the load stopped: %s", l->error);
        cr_assert_lt(ct_test_now_ms(), deadline, "%d of %d messages acknowledged",
                     atomic_load(&l->acked), want);
    }
}

/* Counts rows of sql (one text parameter ?1, may be NULL) in the database at path. */
static long db_count(const char *path, const char *sql, const char *param)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK, "open %s",
                 path);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && param != NULL)
        rc = sqlite3_bind_text(st, 1, param, -1, SQLITE_TRANSIENT);
    long n = -1;
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    cr_assert_geq(n, 0, "query failed on %s: %s", path, sql);
    return n;
}

/* Copies the stopped data directory to dst with cp -a. */
static void copy_dir(const char *dst)
{
    char *argv[] = {"/bin/cp", "-a", g_d.data, (char *)dst, NULL};
    int in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert(in_fd >= 0);
    ct_test_spawn_opts_t o = {
        .path = "/bin/cp", .argv = argv, .in_fd = in_fd, .out_fd = 2, .err_fd = 2};
    pid_t pid = ct_test_spawn(&o);
    close(in_fd);
    cr_assert_gt(pid, 0);
    int status;
    cr_assert(ct_test_wait_bounded(pid, RUN_MS, &status), "cp -a did not finish");
    cr_assert_eq(ct_test_exit_code(status), 0, "cp -a %s %s failed", g_d.data, dst);
}

Test(ops, backup_under_load_then_restore_keeps_every_acked_message)
{
    ct_test_daemon_launch(&g_d, NULL);
    char backup[4200], copy[4200], copy_db[4300], before[4300], live_db[4300];
    snprintf(backup, sizeof backup, "%s/careteam-backup.db", g_d.dir);
    snprintf(copy, sizeof copy, "%s/copy", g_d.dir);
    snprintf(copy_db, sizeof copy_db, "%s/careteam.db", copy);
    snprintf(before, sizeof before, "%s/careteam.db.before-restore", copy);
    snprintf(live_db, sizeof live_db, "%s/careteam.db", g_d.data);

    load_t load = {.s = ct_test_connect(&g_d, "dr.ahmed")};
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, load_run, &load), 0);
    wait_acked(&load, ACKED_BEFORE_MIN);
    /* Every message up to here was acknowledged, so committed, before the backup starts. */
    int acked_before = atomic_load(&load.acked);
    run_result_t r = run("backup", g_d.data, backup, NULL);
    int acked_at_end = atomic_load(&load.acked);
    cr_expect_eq(r.status, 0, "backup exit %d; stderr: %s", r.status, r.err);
    expect_all("backup's stdout", r.out, "audit log up to seq", NULL);
    run_free(&r);
    wait_acked(&load, acked_at_end + ACKED_AFTER_MIN);
    atomic_store(&load.stop, true);
    cr_assert_eq(pthread_join(thread, NULL), 0);
    ct_sync_close(load.s);
    cr_assert_eq(load.error[0], '\0', "the load failed: %s", load.error);
    cr_log_info("acked before the backup: %d, when it returned: %d, in all: %d", acked_before,
                acked_at_end, atomic_load(&load.acked));

    /* A second backup to the same name is refused and the first is left alone. */
    struct stat sb_before, sb_after;
    cr_assert_eq(stat(backup, &sb_before), 0);
    r = run("backup", g_d.data, backup, NULL);
    cr_expect_eq(r.status, 1);
    expect_all("stderr", r.err, "never replaces", NULL);
    run_free(&r);
    cr_assert_eq(stat(backup, &sb_after), 0);
    cr_expect(sb_after.st_size == sb_before.st_size && sb_after.st_ino == sb_before.st_ino);
    cr_expect_eq(ct_test_audit_count(&g_d, "admin.backup"), 1, "the backup is audited once");

    /* Restore refuses a directory whose daemon is running. */
    r = run("restore", backup, g_d.data, NULL);
    cr_expect_eq(r.status, 1);
    expect_all("stderr", r.err, "is serving", "stop it first", NULL);
    run_free(&r);

    cr_assert_eq(ct_test_daemon_stop(&g_d), 0);
    long live_sent = db_count(live_db, "SELECT count(*) FROM messages", NULL);
    copy_dir(copy);
    r = run("restore", backup, copy, NULL);
    cr_expect_eq(r.status, 0, "restore exit %d; stderr: %s", r.status, r.err);
    expect_all("restore's stdout", r.out, "audit log verified", "admin.restore", NULL);
    run_free(&r);
    cr_expect_eq(stat(before, &sb_after), 0, "the previous database is kept");

    r = run("audit", "verify", copy, NULL);
    cr_expect_eq(r.status, 0, "the restored chain verifies: %s%s", r.out, r.err);
    run_free(&r);

    char first_unacked[32];
    snprintf(first_unacked, sizeof first_unacked, "load-%05d", acked_before);
    long kept = db_count(copy_db,
                         "SELECT count(*) FROM messages WHERE sender_id = 'dr.ahmed'"
                         " AND client_msg_id LIKE 'load-%' AND client_msg_id < ?1",
                         first_unacked);
    cr_expect_eq(kept, acked_before, "%ld of the %d messages acknowledged before the backup", kept,
                 acked_before);
    long restored = db_count(copy_db, "SELECT count(*) FROM messages", NULL);
    cr_expect_leq(restored, live_sent, "nothing in the backup that was never stored");
    cr_expect_eq(db_count(copy_db, "SELECT count(*) FROM audit WHERE action = ?1", "admin.restore"),
                 1);
    cr_expect_eq(db_count(copy_db, "SELECT count(*) FROM audit WHERE action = ?1", "admin.backup"),
                 0, "the backup's own record came after its snapshot");

    /* A second restore would overwrite the kept database: refused, nothing changed. */
    r = run("restore", backup, copy, NULL);
    cr_expect_eq(r.status, 1);
    expect_all("stderr", r.err, "careteam.db.before-restore exists", NULL);
    run_free(&r);
    ct_test_daemon_cleanup(&g_d);
    ct_test_leak_check();
}

/* A backup from before migration 10 (messages with AUTOINCREMENT) is brought to the current
 * schema by restore, with every message, and the daemon serves from it and stores new ones. */
Test(ops, restore_brings_a_version_9_backup_to_the_current_schema)
{
    ct_test_daemon_launch(&g_d, NULL);
    char backup[4200], live_db[4300];
    snprintf(backup, sizeof backup, "%s/v9.db", g_d.dir);
    snprintf(live_db, sizeof live_db, "%s/careteam.db", g_d.data);
    send_acked(0, 10);
    cr_assert_eq(ct_test_daemon_stop(&g_d), 0);
    long version = db_count(live_db, "PRAGMA user_version", NULL);
    run_result_t r = run("backup", g_d.data, backup, NULL);
    cr_assert_eq(r.status, 0, "backup: %s", r.err);
    run_free(&r);
    long sent = db_count(backup, "SELECT count(*) FROM messages", NULL);
    cr_assert_geq(sent, 10);

    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(backup, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, CT_TEST_MESSAGES_TO_VERSION9_SQL, NULL, NULL, NULL), SQLITE_OK,
                 "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    cr_assert_eq(db_count(backup, "PRAGMA user_version", NULL), 9);

    r = run("restore", backup, g_d.data, NULL);
    cr_expect_eq(r.status, 0, "restore exit %d: %s", r.status, r.err);
    run_free(&r);
    cr_expect_eq(db_count(live_db, "PRAGMA user_version", NULL), version);
    cr_expect_eq(db_count(live_db,
                          "SELECT instr(upper(sql), 'AUTOINCREMENT') FROM sqlite_schema"
                          " WHERE name = 'messages'",
                          NULL),
                 0, "migrated");
    cr_expect_eq(db_count(live_db, "SELECT count(*) FROM messages", NULL), sent);

    ct_test_daemon_start(&g_d);
    send_acked(1000, 3);
    cr_assert_eq(ct_test_daemon_stop(&g_d), 0);
    cr_expect_eq(db_count(live_db, "SELECT count(*) FROM messages", NULL), sent + 3);
    r = run("audit", "verify", g_d.data, NULL);
    cr_expect_eq(r.status, 0, "the restored log verifies: %s %s", r.out, r.err);
    run_free(&r);
    ct_test_daemon_cleanup(&g_d);
    ct_test_leak_check();
}

Test(ops, restore_refuses_a_backup_whose_audit_chain_does_not_verify)
{
    ct_test_daemon_init(&g_d, NULL);
    char backup[4200], live_db[4300], before[4300];
    snprintf(backup, sizeof backup, "%s/tampered.db", g_d.dir);
    snprintf(live_db, sizeof live_db, "%s/careteam.db", g_d.data);
    snprintf(before, sizeof before, "%s/careteam.db.before-restore", g_d.data);
    run_result_t r = run("backup", g_d.data, backup, NULL);
    cr_assert_eq(r.status, 0, "backup: %s", r.err);
    run_free(&r);

    /* Edit an audit row of the backup, as someone covering their tracks would. */
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(backup, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
                              "DROP TRIGGER IF EXISTS audit_no_update;"
                              "UPDATE audit SET actor_id = 'someone.else' WHERE seq = 2",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);

    long rows = db_count(live_db, "SELECT count(*) FROM audit", NULL);
    r = run("restore", backup, g_d.data, NULL);
    cr_expect_eq(r.status, 1, "exit %d", r.status);
    expect_all("stderr", r.err, "does not verify", "(edited)", "Nothing was restored", NULL);
    run_free(&r);
    struct stat sb;
    cr_expect_neq(stat(before, &sb), 0, "the data directory is unchanged");
    cr_expect_eq(db_count(live_db, "SELECT count(*) FROM audit", NULL), rows);

    /* Not a database at all, and usage errors. */
    char conf[4200];
    snprintf(conf, sizeof conf, "%s/careteamd.conf", g_d.data);
    r = run("restore", conf, g_d.data, NULL);
    cr_expect_eq(r.status, 1);
    run_free(&r);
    r = run("restore", backup, NULL);
    cr_expect_eq(r.status, 2);
    run_free(&r);
    r = run("backup", g_d.data, NULL);
    cr_expect_eq(r.status, 2);
    run_free(&r);

    /* A backup whose chain verifies but whose zone summaries would hide rows from queries: the
     * summaries are rebuilt from the rows, never taken from the backup, and the log verifies. */
    cr_assert_eq(unlink(backup), 0);
    r = run("backup", g_d.data, backup, NULL);
    cr_assert_eq(r.status, 0, "backup: %s", r.err);
    run_free(&r);
    cr_assert_eq(sqlite3_open_v2(backup, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "DELETE FROM audit_zones", NULL, NULL, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(db));
    sqlite3_close(db);
    r = run("restore", backup, g_d.data, NULL);
    cr_expect_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    cr_expect_gt(db_count(live_db, "SELECT count(*) FROM audit_zones", NULL), 0);
    r = run("audit", "verify", g_d.data, NULL);
    cr_expect_eq(r.status, 0, "the restored log verifies, its zones too: %s %s", r.out, r.err);
    run_free(&r);
    ct_test_daemon_cleanup(&g_d);
    ct_test_leak_check();
}
