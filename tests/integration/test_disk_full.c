/*
 * Disk full (issue 5, section 5): while SQLite cannot write, requests that write get
 * UNAVAILABLE and nothing is acknowledged; the daemon stays up and resumes when space returns.
 *
 * The full disk is simulated without root by tests/support/fault_preload.c, preloaded into
 * `careteamd serve` only (daemon.h, serve_env): while the control file exists, write, pwrite,
 * fsync and fdatasync on careteam.db and its -wal fail with ENOSPC.
 *
 * The test: messages sent before the fault are acknowledged; every send during it is answered
 * UNAVAILABLE (no Ack, no Deliver); once the control file is gone, sends are acknowledged again
 * and delivered; the database holds exactly the acknowledged messages; the daemon never exited
 * (it stops cleanly, exit 0, at the end); and `careteamd audit verify` accepts the audit chain.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "careteam.h"
#include "daemon.h"
#include "envelope.h"
#include "err.h"
#include "testsupport.h"
#include "writer.h"

#define CALL_MS 10000 /* a refused write may wait for SQLite's busy timeout and retries */
#define PER_PHASE 5

static ct_test_daemon_t g_d;
static char g_env[4][4300];

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

TestSuite(disk_full, .init = ct_test_ignore_sigpipe, .fini = teardown, .timeout = 110);

/* Asserts the daemon is still running (never exited or crashed). */
static void assert_alive(const char *when)
{
    int status;
    pid_t r = waitpid(g_d.pid, &status, WNOHANG);
    cr_assert_eq(r, 0, "careteamd exited %s (status %d)", when, r > 0 ? status : -1);
}

/* Sends one message from s to th.lee; returns the response (caller frees). */
static Careteam__V1__Envelope *send_one(ct_sync_t *s, const char *cmid)
{
    const char *to[] = {"th.lee"};
    ct_send_args_t a = {.client_msg_id = cmid, .to = to, .n_to = 1, .body = cmid};
    Careteam__V1__Envelope *resp = NULL;
    int rc = ct_sync_send_message(s, &a, CALL_MS, &resp);
    cr_assert_eq(rc, 0, "SendMessage %s: %s (%s)", cmid, ct_errname(rc), ct_sync_last_error(s));
    return resp;
}

static void send_acked(ct_sync_t *s, const char *cmid)
{
    Careteam__V1__Envelope *resp = send_one(s, cmid);
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ACK, "%s answered '%s' %s", cmid,
                 ct_test_body_name(resp), ct_response_message(resp));
    ct_envelope_free(resp);
}

static void send_unavailable(ct_sync_t *s, const char *cmid)
{
    Careteam__V1__Envelope *resp = send_one(s, cmid);
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR,
                 "%s during the fault answered '%s' (must not be acknowledged)", cmid,
                 ct_test_body_name(resp));
    cr_assert_eq(ct_response_status(resp), CT_EUNAVAIL, "%s: %s", cmid, ct_response_message(resp));
    cr_log_info("%s refused: %s", cmid, ct_response_message(resp));
    ct_envelope_free(resp);
}

/* Asserts that the next pushes on lee are Delivers of exactly want[0..n), in order (a
 * ReplayComplete in between is passed over). */
static void expect_delivered(ct_sync_t *lee, const char *const *want, int n)
{
    for (int i = 0; i < n; i++) {
        Careteam__V1__Envelope *p = NULL;
        int rc = ct_sync_next_push(lee, CALL_MS, &p);
        cr_assert_eq(rc, 0, "no Deliver of %s: %s", want[i], ct_errname(rc));
        if (p->body_case == CARETEAM__V1__ENVELOPE__BODY_REPLAY_COMPLETE) {
            ct_envelope_free(p); /* the end of the (empty) replay after Welcome */
            i--;
            continue;
        }
        cr_assert_eq(p->body_case, CARETEAM__V1__ENVELOPE__BODY_DELIVER, "got '%s'",
                     ct_test_body_name(p));
        cr_assert_str_eq(p->deliver->message->body, want[i],
                         "delivered out of order, or a "
                         "refused message was delivered");
        ct_envelope_free(p);
    }
}

/* The client_msg_ids stored in the database, in order, joined by spaces (malloc'd). */
static char *stored_ids(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/careteam.db", g_d.data);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT client_msg_id FROM messages WHERE sender_id = 'dr.ahmed' "
                                "ORDER BY seq",
                                -1, &st, NULL);
    cr_assert_eq(rc, SQLITE_OK, "%s", sqlite3_errmsg(db));
    size_t cap = 4096, len = 0;
    char *out = calloc(1, cap);
    cr_assert_not_null(out);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (cap - len < 80) { /* room for a separator and an id of up to 64 bytes */
            cap *= 2;
            out = realloc(out, cap);
            cr_assert_not_null(out);
        }
        len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? " " : "", id);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

/* Points the preloaded fault library at the control file (see fault_preload.c); files and calls
 * are CT_FAULT_FILES and CT_FAULT_CALLS, NULL for the library's defaults. */
static void preload_faults(const char *control, const char *files, const char *calls)
{
    snprintf(g_env[0], sizeof g_env[0], "LD_PRELOAD=%s", CT_TEST_FAULT_PRELOAD);
    snprintf(g_env[1], sizeof g_env[1], "CT_FAULT_CONTROL=%s", control);
    /* A sanitizer build's libasan must come first unless told not to check. */
    const char *asan = getenv("ASAN_OPTIONS");
    snprintf(g_env[2], sizeof g_env[2], "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
             asan != NULL ? asan : "", asan != NULL && asan[0] ? ":" : "");
    for (int i = 0; i < 3; i++)
        g_d.serve_env[i] = g_env[i];
    if (files != NULL || calls != NULL) {
        snprintf(g_env[3], sizeof g_env[3], "%s=%s",
                 files != NULL ? "CT_FAULT_FILES" : "CT_FAULT_CALLS",
                 files != NULL ? files : calls);
        g_d.serve_env[3] = g_env[3];
    }
}

/*
 * The scenario. calls is CT_FAULT_CALLS for the preloaded library: NULL for every write and sync
 * (a full disk), or e.g. "fsync,fdatasync" for a disk whose writes land but whose syncs fail (an
 * I/O error at the commit's sync, after the WAL frames were written).
 */
static void disk_full_scenario(const char *calls)
{
    ct_test_daemon_init(&g_d, NULL);
    char control[4200];
    snprintf(control, sizeof control, "%s/disk-full", g_d.dir);
    preload_faults(control, NULL, calls);
    ct_test_daemon_start(&g_d);

    ct_sync_t *ahmed = ct_test_connect(&g_d, "dr.ahmed");
    ct_sync_t *lee = ct_test_connect(&g_d, "th.lee");
    const char *before[] = {"before-1", "before-2", "before-3", "before-4", "before-5"};
    const char *during[] = {"during-1", "during-2", "during-3", "during-4", "during-5"};
    const char *after[] = {"after-1", "after-2", "after-3", "after-4", "after-5"};
    for (int i = 0; i < PER_PHASE; i++)
        send_acked(ahmed, before[i]);
    expect_delivered(lee, before, PER_PHASE);

    /* The disk fills up. */
    FILE *f = fopen(control, "w");
    cr_assert_not_null(f, "cannot create %s: %s", control, strerror(errno));
    fclose(f);
    for (int i = 0; i < PER_PHASE; i++) {
        send_unavailable(ahmed, during[i]);
        assert_alive("during the fault");
    }
    ct_test_ping(lee, "th.lee during the fault"); /* the connection itself is fine */

    /* Space returns: no restart, no reconnect. */
    cr_assert_eq(unlink(control), 0);
    for (int i = 0; i < PER_PHASE; i++)
        send_acked(ahmed, after[i]);
    /* Nothing refused was delivered: the next Delivers are exactly the later messages. */
    expect_delivered(lee, after, PER_PHASE);
    /* A refused message can be sent again with its client_msg_id, and is then stored once. */
    send_acked(ahmed, during[0]);
    const char *retried[] = {during[0]};
    expect_delivered(lee, retried, 1);
    assert_alive("after the fault");

    char *ids = stored_ids();
    cr_assert_str_eq(ids,
                     "before-1 before-2 before-3 before-4 before-5 after-1 after-2 after-3 "
                     "after-4 after-5 during-1",
                     "the database must hold exactly the acknowledged messages");
    free(ids);
    ct_sync_close(ahmed);
    ct_sync_close(lee);

    int status = ct_test_daemon_stop(&g_d);
    cr_assert_eq(status, 0, "careteamd exited %d", status);
    int rc = ct_test_careteamd(&g_d, "audit", "verify", g_d.data, NULL);
    cr_assert_eq(rc, 0, "careteamd audit verify exited %d (log: %s)", rc, g_d.log);
}

/* Every write and sync of the database fails with ENOSPC while the disk is "full". */
Test(disk_full, writes_refused_unavailable_then_resumed)
{
    disk_full_scenario(NULL);
    ct_test_daemon_finish(&g_d);
}

/* Writes succeed but every fsync/fdatasync of the database fails: the commit's sync of the WAL
 * fails after its frames were written, which SQLite must not count as committed. */
Test(disk_full, failed_sync_refused_unavailable_then_resumed)
{
    disk_full_scenario("fsync,fdatasync");
    ct_test_daemon_finish(&g_d);
}

/* How many times the daemon's log so far says a log checkpoint failed. */
static int checkpoint_failures(void)
{
    size_t len = 0;
    char *log = ct_test_read_file(g_d.log, &len);
    cr_assert_not_null(log, "cannot read %s", g_d.log);
    int n = 0;
    for (const char *p = log; (p = strstr(p, "op=checkpoint ")) != NULL; p++)
        n++;
    free(log);
    return n;
}

static off_t db_file_size(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/careteam.db", g_d.data);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0, "%s: %s", path, strerror(errno));
    return sb.st_size;
}

/* A PASSIVE checkpoint by this process, as another process sharing the database makes one:
 * everything in the log is copied (nothing reads or writes meanwhile). */
static void external_checkpoint(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/careteam.db", g_d.data);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    /* A connection opens the log at its first read; before that there is nothing to copy. */
    cr_assert_eq(sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    /* A PASSIVE checkpoint does not wait for the busy handler: if the daemon's writer is in a
     * checkpoint of its own at this moment (the fault was just lifted), this one gets BUSY at
     * once. Try again for up to 5 s, as an admin command would. */
    int frames = 0, copied = 0, rc = SQLITE_BUSY;
    for (int tries = 0; tries < 500 && (rc & 0xff) == SQLITE_BUSY; tries++) {
        if (tries > 0)
            usleep(10000);
        rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied);
    }
    cr_assert_eq(rc, SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_gt(frames, 0, "the log holds the pages the writer could not copy");
    cr_assert_eq(copied, frames, "copied %d of %d log pages", copied, frames);
    sqlite3_close(db);
}

/*
 * The database file cannot be written while its write-ahead log can: commits succeed, and the
 * writer's log checkpoints (copying the log into the file, server/writer.h) fail. Every write is
 * still acknowledged; a failed checkpoint is tried again only after more of the log has grown,
 * not after every commit; and once the file can be written again a checkpoint copies the log.
 */
Test(disk_full, failed_log_checkpoints_refuse_nothing)
{
    ct_test_daemon_init(&g_d, NULL);
    char control[4200], id[32];
    snprintf(control, sizeof control, "%s/disk-full", g_d.dir);
    preload_faults(control, "careteam.db", NULL);
    ct_test_daemon_start(&g_d);
    ct_sync_t *ahmed = ct_test_connect(&g_d, "dr.ahmed");
    off_t size_before = db_file_size();

    FILE *f = fopen(control, "w");
    cr_assert_not_null(f, "cannot create %s: %s", control, strerror(errno));
    fclose(f);
    /* One commit each, some six log pages each: past CT_WRITER_LOG_MAX several times over. */
    for (int i = 0; i < 400; i++) {
        snprintf(id, sizeof id, "during-%d", i);
        send_acked(ahmed, id);
    }
    assert_alive("while checkpoints fail");
    int failed = checkpoint_failures();
    cr_assert_geq(failed, 1, "the log grew past the threshold: a checkpoint was tried (log: %s)",
                  g_d.log);
    cr_assert_leq(failed, 10, "a failed checkpoint is not retried after every commit: %d tries",
                  failed);
    cr_assert_eq(db_file_size(), size_before, "nothing reached the database file");

    cr_assert_eq(unlink(control), 0);
    for (int i = 0; i < 150; i++) {
        snprintf(id, sizeof id, "after-%d", i);
        send_acked(ahmed, id);
    }
    off_t size_after = db_file_size();
    cr_assert_gt(size_after, size_before, "a checkpoint copied the log into the file");
    cr_assert_eq(checkpoint_failures(), failed, "no checkpoint failed after the fault");

    /* Fail again, then let another process copy the log (as an admin command's checkpoint
     * would): the log starts over, and the writer must not wait for it to regrow past the count
     * of its last failure before it checkpoints again. */
    f = fopen(control, "w");
    cr_assert_not_null(f);
    fclose(f);
    for (int i = 0; i < 400; i++) {
        snprintf(id, sizeof id, "again-%d", i);
        send_acked(ahmed, id);
    }
    cr_assert_gt(checkpoint_failures(), failed, "checkpoints failed again");
    cr_assert_eq(unlink(control), 0);
    external_checkpoint();
    off_t size_copied = db_file_size();
    cr_assert_gt(size_copied, size_after);
    for (int i = 0; i < 150; i++) {
        snprintf(id, sizeof id, "last-%d", i);
        send_acked(ahmed, id);
    }
    cr_assert_gt(db_file_size(), size_copied,
                 "the writer checkpointed again once its restarted log had %d pages waiting",
                 CT_WRITER_LOG_IDLE);
    ct_sync_close(ahmed);

    int status = ct_test_daemon_stop(&g_d);
    cr_assert_eq(status, 0, "careteamd exited %d", status);
    char *ids = stored_ids();
    cr_assert(strstr(ids, "during-0 during-1 ") == ids && strstr(ids, " after-149 again-0 ") &&
                  strstr(ids, " last-149") != NULL,
              "every acknowledged message is stored");
    free(ids);
    int rc = ct_test_careteamd(&g_d, "audit", "verify", g_d.data, NULL);
    cr_assert_eq(rc, 0, "careteamd audit verify exited %d (log: %s)", rc, g_d.log);
    ct_test_daemon_finish(&g_d);
}
