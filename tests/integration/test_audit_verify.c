/*
 * Integration tests of `careteamd audit verify` (issue 4, section 7, the tamper catalogue) and
 * of the signed checkpoints it checks: the real binary run on a data directory made by
 * `careteamd init` and `enroll` (six audit rows), with rows appended through the store, by a
 * serving daemon and concurrent admin commands, and checkpoints signed by the daemon or by
 * `careteamd audit checkpoint`.
 *
 * The tampering is done the way an attacker with access to the file would: with the sqlite3
 * library, after dropping the append-only triggers, and where it suits the attack with leaf and
 * chain values recomputed by the published algorithm (audit_chain.h) -- up to rebuilding the
 * whole chain from some row on, which only the signed checkpoints reveal. One attacker also
 * holds the signing key (a compromised host) and re-signs the checkpoints; only an export kept
 * off the host reveals that. Each case asserts exit status 1 and that the verdict names the
 * first bad sequence number and the kind of fault.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit_chain.h"
#include "audit_sign.h"
#include "careteam.h"
#include "daemon.h"
#include "envelope.h"
#include "process.h"
#include "store.h"
#include "testsupport.h"

#define RUN_MS 30000  /* longest a careteamd command may take */
#define CALL_MS 5000  /* longest wait for a response */
#define EXTRA_ROWS 10 /* rows appended after the six of init + enroll */
#define ROWS (6 + EXTRA_ROWS)

static ct_test_daemon_t g_d;

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

TestSuite(audit_verify, .init = ct_test_ignore_sigpipe, .fini = teardown, .timeout = 90);

/* ---- the log ------------------------------------------------------------------------------- */

static void db_path(char *out, size_t len)
{
    snprintf(out, len, "%s/careteam.db", g_d.data);
}

/* Appends n rows through the store with detail "row=1", "row=2", ..., at times 1700000000000 + i:
 * each in its own transaction (the path of an admin command), or with one_transaction all in one
 * (as the daemon's writer commits a batch: fast enough to fill several zones of 1024 rows). */
static void append_rows(int n, bool one_transaction)
{
    char path[4200], err[512];
    db_path(path, sizeof path);
    ct_store_t *st = NULL;
    cr_assert_eq(ct_store_open(path, CT_STORE_READWRITE, &st, err, sizeof err), 0, "%s", err);
    if (one_transaction)
        cr_assert_eq(ct_store_begin(st), 0);
    for (int i = 1; i <= n; i++) {
        char detail[32];
        snprintf(detail, sizeof detail, "row=%d", i);
        ct_audit_t a = {.time_ms = 1700000000000 + i,
                        .actor_id = "th.lee",
                        .actor_role = CT_ROLE_THERAPIST,
                        .peer_addr = "127.0.0.1:40000",
                        .action = "message.send",
                        .object_type = "message",
                        .object_id = "01900000-0000-7000-8000-000000000001",
                        .participant_id = "p-1",
                        .outcome = CT_AUDIT_SUCCESS,
                        .detail = detail};
        cr_assert_gt(ct_store_audit_append(st, &a), 0);
    }
    if (one_transaction)
        cr_assert_eq(ct_store_commit(st), 0);
    ct_store_close(st);
}

/* The demo data directory with ROWS audit rows, seq 1..ROWS. */
static void make_log(void)
{
    ct_test_daemon_init(&g_d, NULL);
    append_rows(EXTRA_ROWS, false);
}

/* Runs `careteamd ARGV...` (argv[0] is the first argument after the program), capturing stdout
 * and stderr (each NUL-terminated, the caller frees them). Returns the exit status. */
static int run_careteamd(char **args, char **out, char **err)
{
    char out_path[4200], err_path[4200];
    snprintf(out_path, sizeof out_path, "%s/verify.out", g_d.dir);
    snprintf(err_path, sizeof err_path, "%s/verify.err", g_d.dir);
    char *argv[10] = {(char *)CT_TEST_CARETEAMD};
    for (size_t i = 0; args[i] != NULL && i + 2 < sizeof argv / sizeof argv[0]; i++)
        argv[i + 1] = args[i];
    int rc = ct_test_run_to_files(argv, NULL, out_path, err_path, RUN_MS);
    *out = ct_test_read_file(out_path, NULL);
    *err = ct_test_read_file(err_path, NULL);
    cr_assert(*out != NULL && *err != NULL);
    return rc;
}

/* Runs `careteamd audit verify DIR [EXTRA...]` (extra: NULL-terminated, or NULL). */
static int run_verify_with(const char *dir, const char *const *extra, char **out, char **err)
{
    char *args[8] = {"audit", "verify", (char *)dir};
    for (size_t i = 0; extra != NULL && extra[i] != NULL && i < 4; i++)
        args[3 + i] = (char *)extra[i];
    return run_careteamd(args, out, err);
}

static int run_verify(const char *dir, char **out, char **err)
{
    return run_verify_with(dir, NULL, out, err);
}

/* Asserts that verify (with extra arguments, or NULL) fails naming bad_seq and the fault (e.g.
 * "edited"); returns its stdout (the caller frees it). */
static char *assert_fails_at_with(long bad_seq, const char *fault, const char *const *extra)
{
    char *out, *err;
    int rc = run_verify_with(g_d.data, extra, &out, &err);
    char want[128];
    snprintf(want, sizeof want, "audit log verification FAILED at seq %ld (%s): ", bad_seq, fault);
    cr_log_info("verify said: %s%s", out, err);
    bool named = strstr(out, want) != NULL;
    cr_expect_eq(rc, 1, "exit status %d; stdout: %s stderr: %s", rc, out, err);
    cr_expect(named, "wanted \"%s\"; stdout: %s stderr: %s", want, out, err);
    free(err);
    if (!(rc == 1 && named))
        free(out);
    cr_assert(rc == 1 && named);
    return out;
}

static void assert_fails_at(long bad_seq, const char *fault)
{
    free(assert_fails_at_with(bad_seq, fault, NULL));
}

/* ---- the attacker -------------------------------------------------------------------------- */

/* Opens the database as someone with write access to the file, and drops the triggers. */
static sqlite3 *attacker_open(void)
{
    char path[4200];
    db_path(path, sizeof path);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    cr_assert_eq(rc, SQLITE_OK, "open %s: %s", path, sqlite3_errstr(rc));
    sqlite3_busy_timeout(db, 5000);
    rc = sqlite3_exec(
        db,
        "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete;"
        "CREATE TEMP TABLE moved AS SELECT * FROM audit WHERE 0;",
        NULL, NULL, NULL);
    cr_assert_eq(rc, SQLITE_OK, "%s", sqlite3_errmsg(db));
    return db;
}

static void attacker_exec(sqlite3 *db, const char *sql)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
}

#define AWAY 1000000 /* a seq offset far beyond the log, to move rows out of the way */

/* Moves rows with seq >= from by delta (either direction) without colliding on the primary key:
 * out of the way first, then into place. */
static void shift_rows(sqlite3 *db, long from, long delta)
{
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE audit SET seq = seq + %d WHERE seq >= %ld", AWAY, from);
    attacker_exec(db, sql);
    snprintf(sql, sizeof sql, "UPDATE audit SET seq = seq - %d + (%ld) WHERE seq >= %d", AWAY,
             delta, AWAY);
    attacker_exec(db, sql);
}

/* Reads row seq's fields into row (texts copied into bufs, which must outlive row) and its
 * stored chain into chain (if not NULL). */
typedef struct row_bufs {
    char text[8][256];
} row_bufs_t;

static void read_row(sqlite3 *db, long seq, ct_audit_row_t *row, row_bufs_t *b, uint8_t *chain)
{
    sqlite3_stmt *s = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT seq, time_ms, actor_id, actor_role, peer_addr, action,"
                                    " object_type, object_id, participant_id, outcome, detail,"
                                    " chain, cert_fp, enc FROM audit WHERE seq = ?1",
                                    -1, &s, NULL),
                 SQLITE_OK);
    sqlite3_bind_int64(s, 1, seq);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "no row %ld", seq);
    static const int text_cols[8] = {2, 4, 5, 6, 7, 8, 10, 12};
    ct_audit_text_t *texts[8] = {&row->actor_id,    &row->peer_addr, &row->action,
                                 &row->object_type, &row->object_id, &row->participant_id,
                                 &row->detail,      &row->cert_fp};
    row->version = (int)sqlite3_column_int64(s, 13);
    for (int i = 0; i < 8; i++) {
        snprintf(b->text[i], sizeof b->text[i], "%s",
                 (const char *)sqlite3_column_text(s, text_cols[i]));
        *texts[i] = ct_audit_text(b->text[i]);
    }
    row->seq = sqlite3_column_int64(s, 0);
    row->time_ms = sqlite3_column_int64(s, 1);
    row->actor_role = sqlite3_column_int64(s, 3);
    row->outcome = sqlite3_column_int64(s, 9);
    if (chain != NULL)
        memcpy(chain, sqlite3_column_blob(s, 11), CT_AUDIT_HASH_LEN);
    sqlite3_finalize(s);
}

/* Writes leaf (and chain, if not NULL) of row seq. */
static void write_hashes(sqlite3 *db, long seq, const uint8_t *leaf, const uint8_t *chain)
{
    sqlite3_stmt *s = NULL;
    const char *sql = chain != NULL ? "UPDATE audit SET leaf = ?2, chain = ?3 WHERE seq = ?1"
                                    : "UPDATE audit SET leaf = ?2 WHERE seq = ?1";
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    sqlite3_bind_int64(s, 1, seq);
    sqlite3_bind_blob(s, 2, leaf, CT_AUDIT_HASH_LEN, SQLITE_STATIC);
    if (chain != NULL)
        sqlite3_bind_blob(s, 3, chain, CT_AUDIT_HASH_LEN, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(s), SQLITE_DONE, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(s);
}

/* Recomputes and stores the leaf of row seq from its current content and position. */
static void reseal_leaf(sqlite3 *db, long seq)
{
    ct_audit_row_t row;
    row_bufs_t b;
    read_row(db, seq, &row, &b, NULL);
    uint8_t leaf[CT_AUDIT_HASH_LEN];
    cr_assert_eq(ct_audit_chain_leaf(&row, leaf), 0);
    write_hashes(db, seq, leaf, NULL);
}

/* Inserts a forged row at seq (free) with a correct leaf, and a chain correctly linked to the
 * row before it: everything an attacker can compute without a key. */
static void insert_forged_row(sqlite3 *db, long seq)
{
    uint8_t prev[CT_AUDIT_HASH_LEN], leaf[CT_AUDIT_HASH_LEN], chain[CT_AUDIT_HASH_LEN];
    ct_audit_row_t before;
    row_bufs_t b;
    read_row(db, seq - 1, &before, &b, prev);
    ct_audit_row_t row = {.version = CT_AUDIT_ENCODING_V2,
                          .seq = seq,
                          .time_ms = before.time_ms,
                          .actor_id = ct_audit_text("co.jones"),
                          .actor_role = CT_ROLE_COMPLIANCE,
                          .peer_addr = ct_audit_text("127.0.0.1:41000"),
                          .action = ct_audit_text("audit.query"),
                          .object_type = ct_audit_text("audit"),
                          .object_id = ct_audit_text(""),
                          .participant_id = ct_audit_text("p-1"),
                          .outcome = CT_AUDIT_SUCCESS,
                          .detail = ct_audit_text("forged")};
    cr_assert_eq(ct_audit_chain_leaf(&row, leaf), 0);
    cr_assert_eq(ct_audit_chain_link(prev, leaf, chain), 0);
    sqlite3_stmt *s = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "INSERT INTO audit (seq, time_ms, actor_id, actor_role,"
                                    " peer_addr, action, object_type, object_id, participant_id,"
                                    " outcome, detail, leaf, chain, cert_fp, enc) VALUES (?1, ?2,"
                                    " 'co.jones', 5, '127.0.0.1:41000', 'audit.query', 'audit',"
                                    " '', 'p-1', 0, 'forged', ?3, ?4, '', 2)",
                                    -1, &s, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_bind_int64(s, 1, seq);
    sqlite3_bind_int64(s, 2, row.time_ms);
    sqlite3_bind_blob(s, 3, leaf, CT_AUDIT_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, chain, CT_AUDIT_HASH_LEN, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(s), SQLITE_DONE, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(s);
}

/* Recomputes leaf and chain of every row from seq `from` to the end, from the row before it:
 * the whole chain rebuilt consistently, all an attacker without the signing key can do. */
static void rebuild_chain_from(sqlite3 *db, long from)
{
    uint8_t chain[CT_AUDIT_HASH_LEN], leaf[CT_AUDIT_HASH_LEN];
    ct_audit_row_t row;
    row_bufs_t b;
    if (from > 1)
        read_row(db, from - 1, &row, &b, chain);
    else
        memcpy(chain, ct_audit_genesis, sizeof chain);
    long last = (long)ct_test_sql_int(db, "SELECT max(seq) FROM audit");
    for (long seq = from; seq <= last; seq++) {
        read_row(db, seq, &row, &b, NULL);
        cr_assert_eq(ct_audit_chain_leaf(&row, leaf), 0);
        cr_assert_eq(ct_audit_chain_link(chain, leaf, chain), 0);
        write_hashes(db, seq, leaf, chain);
    }
}

/* Drops the append-only triggers of the checkpoints table too. */
static void attacker_unlock_checkpoints(sqlite3 *db)
{
    attacker_exec(db, "DROP TRIGGER IF EXISTS audit_checkpoints_no_update;"
                      "DROP TRIGGER IF EXISTS audit_checkpoints_no_delete;");
}

/* Flips the lowest bit of the first byte of checkpoint seq's signature. */
static void flip_signature_bit(sqlite3 *db, long seq)
{
    uint8_t sig[CT_AUDIT_SIG_LEN];
    sqlite3_stmt *s = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT signature FROM audit_checkpoints WHERE seq = ?1",
                                    -1, &s, NULL),
                 SQLITE_OK);
    sqlite3_bind_int64(s, 1, seq);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "no checkpoint %ld", seq);
    cr_assert_eq(sqlite3_column_bytes(s, 0), CT_AUDIT_SIG_LEN);
    memcpy(sig, sqlite3_column_blob(s, 0), sizeof sig);
    sqlite3_finalize(s);
    sig[0] ^= 1;
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "UPDATE audit_checkpoints SET signature = ?2 WHERE seq = ?1",
                                    -1, &s, NULL),
                 SQLITE_OK);
    sqlite3_bind_int64(s, 1, seq);
    sqlite3_bind_blob(s, 2, sig, sizeof sig, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(s), SQLITE_DONE, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(s);
}

/* `careteamd audit checkpoint DATA`: an audit.checkpoint row, and a checkpoint covering it. */
static void sign_checkpoint_now(void)
{
    cr_assert_eq(ct_test_careteamd(&g_d, "audit", "checkpoint", g_d.data, NULL), 0);
}

/* The demo log with checkpoints at seq ROWS + 1 and ROWS + 12: make_log, a checkpoint, ten
 * rows, a checkpoint (each checkpoint command adds its own row first). */
#define CP1 (ROWS + 1)
#define CP2 (ROWS + 12)
static void make_log_with_checkpoints(void)
{
    make_log();
    sign_checkpoint_now();
    append_rows(10, false);
    sign_checkpoint_now();
    sqlite3 *db = attacker_open();
    long long n = ct_test_sql_int(db, "SELECT count(*) FROM audit_checkpoints");
    long long s1 = ct_test_sql_int(db, "SELECT min(seq) FROM audit_checkpoints");
    long long s2 = ct_test_sql_int(db, "SELECT max(seq) FROM audit_checkpoints");
    sqlite3_close(db);
    cr_assert(n == 2 && s1 == CP1 && s2 == CP2, "checkpoints %lld at %lld..%lld", n, s1, s2);
}

/* ---- a clean log --------------------------------------------------------------------------- */

Test(audit_verify, clean_log_verifies_and_prints_count_and_head)
{
    make_log();
    sqlite3 *db = attacker_open(); /* only to read; the triggers it drops do not matter here */
    long long n = ct_test_sql_int(db, "SELECT count(*) FROM audit");
    uint8_t head[CT_AUDIT_HASH_LEN];
    ct_audit_row_t last;
    row_bufs_t b;
    read_row(db, ROWS, &last, &b, head);
    sqlite3_close(db);
    cr_assert_eq(n, ROWS);
    char hex[2 * CT_AUDIT_HASH_LEN + 1], want[256];
    ct_audit_chain_hex(head, hex);
    snprintf(want, sizeof want, "audit log verified: %d records, chain head %s\n", ROWS, hex);

    char *out, *err;
    int rc = run_verify(g_d.data, &out, &err);
    cr_expect_eq(rc, 0, "stdout: %s stderr: %s", out, err);
    /* No daemon ran, so no checkpoint was signed yet: the second line says so. */
    bool ok =
        rc == 0 && strncmp(out, want, strlen(want)) == 0 &&
        strstr(out + strlen(want), "checkpoints: none in the database yet") == out + strlen(want);
    cr_expect(ok, "stdout: %s", out);
    free(out);
    free(err);
    cr_assert(ok);
    ct_test_daemon_finish(&g_d);
}

/* The daemon's writer and admin processes append to one chain at the same time. */
Test(audit_verify, log_written_by_the_daemon_and_concurrent_admin_commands_verifies)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_sync_t *lee = ct_test_connect(&g_d, "th.lee");
    char *argv[2][5] = {{(char *)CT_TEST_CARETEAMD, "deactivate", g_d.data, "--id=pw.kim", NULL},
                        {(char *)CT_TEST_CARETEAMD, "activate", g_d.data, "--id=pw.kim", NULL}};
    enum { ADMINS = 6, MESSAGES = 30 };
    pid_t admins[ADMINS];
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    cr_assert_geq(null_fd, 0);
    for (int i = 0; i < ADMINS; i++) {
        ct_test_spawn_opts_t o = {.path = CT_TEST_CARETEAMD,
                                  .argv = argv[i % 2],
                                  .in_fd = null_fd,
                                  .out_fd = null_fd,
                                  .err_fd = null_fd};
        admins[i] = ct_test_spawn(&o);
        cr_assert_gt(admins[i], 0);
    }
    close(null_fd);
    for (int i = 0; i < MESSAGES; i++) {
        char cmid[32];
        snprintf(cmid, sizeof cmid, "m-%d", i);
        const char *to[] = {"pw.sam"};
        ct_send_args_t a = {.client_msg_id = cmid, .to = to, .n_to = 1, .body = "hello"};
        Careteam__V1__Envelope *resp = NULL;
        int rc = ct_sync_send_message(lee, &a, CALL_MS, &resp);
        cr_assert_eq(rc, 0, "send %s: %s", cmid, ct_errname(rc));
        cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ACK, "%s",
                     ct_test_body_name(resp));
        careteam__v1__envelope__free_unpacked(resp, NULL);
    }
    for (int i = 0; i < ADMINS; i++) {
        int status;
        cr_assert(ct_test_wait_bounded(admins[i], RUN_MS, &status));
        cr_assert_eq(ct_test_exit_code(status), 0, "admin command %d failed", i);
    }
    cr_assert_geq(ct_test_audit_count(&g_d, "message.send"), MESSAGES);
    cr_assert_eq(ct_test_audit_count(&g_d, "member.activate") +
                     ct_test_audit_count(&g_d, "member.deactivate"),
                 ADMINS);

    char *out, *err;
    int rc = run_verify(g_d.data, &out, &err); /* while serving: a read-only snapshot */
    cr_expect_eq(rc, 0, "while serving: stdout: %s stderr: %s", out, err);
    free(out);
    free(err);
    cr_assert_eq(rc, 0);
    ct_sync_close(lee);
    cr_assert_eq(ct_test_daemon_stop(&g_d), 0);
    rc = run_verify(g_d.data, &out, &err);
    cr_expect_eq(rc, 0, "after stop: stdout: %s stderr: %s", out, err);
    cr_expect(strstr(out, "audit log verified: ") == out, "%s", out);
    free(out);
    free(err);
    cr_assert_eq(rc, 0);
    ct_test_daemon_finish(&g_d);
}

/* ---- the tamper catalogue ------------------------------------------------------------------ */

/* One bit of one byte of row 9's detail, as a disk editor would change it. */
Test(audit_verify, flipped_byte_in_a_row_names_that_row)
{
    make_log();
    sqlite3 *db = attacker_open();
    attacker_exec(db, "UPDATE audit SET detail = 'row=2' WHERE seq = 9 AND detail = 'row=3'");
    cr_assert_eq(sqlite3_changes(db), 1, "row 9 holds row=3 ('3' ^ 1 = '2')");
    sqlite3_close(db);
    assert_fails_at(9, "edited");
    ct_test_daemon_finish(&g_d);
}

/* The attacker also recomputes the edited row's leaf: its chain value no longer follows. */
Test(audit_verify, edited_row_with_recomputed_leaf_names_that_row)
{
    make_log();
    sqlite3 *db = attacker_open();
    attacker_exec(db, "UPDATE audit SET outcome = 8 WHERE seq = 9");
    reseal_leaf(db, 9);
    sqlite3_close(db);
    assert_fails_at(9, "chain");
    ct_test_daemon_finish(&g_d);
}

Test(audit_verify, deleted_row_names_it)
{
    make_log();
    sqlite3 *db = attacker_open();
    attacker_exec(db, "DELETE FROM audit WHERE seq = 9");
    sqlite3_close(db);
    assert_fails_at(9, "missing");
    ct_test_daemon_finish(&g_d);
}

/* Deleted, and the gap closed by renumbering the rows after it. */
Test(audit_verify, deleted_row_with_later_rows_renumbered_names_it)
{
    make_log();
    sqlite3 *db = attacker_open();
    attacker_exec(db, "DELETE FROM audit WHERE seq = 9");
    shift_rows(db, 10, -1);
    cr_assert_eq(ct_test_sql_int(db, "SELECT max(seq) FROM audit"), ROWS - 1);
    sqlite3_close(db);
    assert_fails_at(9, "renumbered");
    ct_test_daemon_finish(&g_d);
}

/* Deleted and renumbered, with the leaves of the renumbered rows recomputed. */
Test(audit_verify, deleted_row_with_later_leaves_recomputed_names_it)
{
    make_log();
    sqlite3 *db = attacker_open();
    attacker_exec(db, "DELETE FROM audit WHERE seq = 9");
    shift_rows(db, 10, -1);
    for (long seq = 9; seq < ROWS; seq++)
        reseal_leaf(db, seq);
    sqlite3_close(db);
    assert_fails_at(9, "chain");
    ct_test_daemon_finish(&g_d);
}

/* The contents of rows 8 and 12 exchanged, their seq, leaf and chain left in place. */
Test(audit_verify, swapped_row_contents_name_the_first)
{
    make_log();
    sqlite3 *db = attacker_open();
    attacker_exec(db, "INSERT INTO moved SELECT * FROM audit WHERE seq IN (8, 12);"
                      "UPDATE audit SET (time_ms, actor_id, actor_role, peer_addr, action,"
                      "  object_type, object_id, participant_id, outcome, detail) ="
                      " (SELECT time_ms, actor_id, actor_role, peer_addr, action, object_type,"
                      "  object_id, participant_id, outcome, detail FROM moved"
                      "  WHERE moved.seq = 20 - audit.seq)"
                      " WHERE seq IN (8, 12)");
    cr_assert_eq(
        ct_test_sql_int(db, "SELECT count(*) FROM audit WHERE seq = 8 AND detail = 'row=6'"), 1);
    sqlite3_close(db);
    assert_fails_at(8, "edited");
    ct_test_daemon_finish(&g_d);
}

/* Two neighbouring rows exchanged whole (hashes included): the order of events is changed. */
Test(audit_verify, swapped_whole_rows_name_the_first)
{
    make_log();
    sqlite3 *db = attacker_open();
    attacker_exec(db, "UPDATE audit SET seq = 1000000 WHERE seq = 8;"
                      "UPDATE audit SET seq = 8 WHERE seq = 9;"
                      "UPDATE audit SET seq = 9 WHERE seq = 1000000;");
    sqlite3_close(db);
    assert_fails_at(8, "renumbered");
    ct_test_daemon_finish(&g_d);
}

/* Two distant rows exchanged whole (hashes included). */
Test(audit_verify, reordered_distant_rows_name_the_first)
{
    make_log();
    sqlite3 *db = attacker_open();
    attacker_exec(db, "UPDATE audit SET seq = 1000000 WHERE seq = 7;"
                      "UPDATE audit SET seq = 7 WHERE seq = 13;"
                      "UPDATE audit SET seq = 13 WHERE seq = 1000000;");
    sqlite3_close(db);
    assert_fails_at(7, "edited");
    ct_test_daemon_finish(&g_d);
}

/* A forged row with a correct leaf and chain put in at seq 9, the rows after it renumbered. */
Test(audit_verify, inserted_row_names_it)
{
    make_log();
    sqlite3 *db = attacker_open();
    shift_rows(db, 9, 1);
    insert_forged_row(db, 9);
    cr_assert_eq(ct_test_sql_int(db, "SELECT count(*) FROM audit"), ROWS + 1);
    sqlite3_close(db);
    assert_fails_at(9, "inserted");
    ct_test_daemon_finish(&g_d);
}

/* The same, and the leaves of the renumbered rows recomputed too (their chains cannot be without
 * rewriting the rest of the log, which needs checkpoints to detect). */
Test(audit_verify, inserted_row_with_later_leaves_recomputed_names_it)
{
    make_log();
    sqlite3 *db = attacker_open();
    shift_rows(db, 9, 1);
    insert_forged_row(db, 9);
    for (long seq = 10; seq <= ROWS + 1; seq++)
        reseal_leaf(db, seq);
    sqlite3_close(db);
    assert_fails_at(9, "inserted");
    ct_test_daemon_finish(&g_d);
}

/* Of several alterations, the verdict names the earliest. */
Test(audit_verify, first_of_several_tampered_rows_is_named)
{
    make_log();
    sqlite3 *db = attacker_open();
    attacker_exec(db, "UPDATE audit SET detail = 'x' WHERE seq = 14;"
                      "DELETE FROM audit WHERE seq = 11;"
                      "UPDATE audit SET actor_id = 'someone.else' WHERE seq = 7;");
    sqlite3_close(db);
    assert_fails_at(7, "edited");
    ct_test_daemon_finish(&g_d);
}

/* The first row too: seq 1 chains from the genesis value. */
Test(audit_verify, edited_first_row_is_named)
{
    make_log();
    sqlite3 *db = attacker_open();
    attacker_exec(db, "UPDATE audit SET time_ms = time_ms + 1 WHERE seq = 1");
    sqlite3_close(db);
    assert_fails_at(1, "edited");
    ct_test_daemon_finish(&g_d);
}

/* A value of another type written with the CHECK and STRICT rules off (a hand-made file). */
Test(audit_verify, malformed_hash_is_named)
{
    make_log();
    sqlite3 *db = attacker_open();
    attacker_exec(db, "PRAGMA ignore_check_constraints = ON;"
                      "UPDATE audit SET chain = substr(chain, 1, 31) WHERE seq = 10");
    sqlite3_close(db);
    assert_fails_at(10, "malformed");
    ct_test_daemon_finish(&g_d);
}

/* ---- the zone summary (audit_zones) -------------------------------------------------------- */

/* Time-range audit queries read the zones of audit_zones whose [min_time, max_time] meets their
 * range (migration 7). The table is outside the hash chain: an edited or incomplete summary makes
 * a query miss rows while the chain still verifies, so `audit verify` checks it after the chain
 * and fails with the fault "zones". */

static int count_row(const ct_audit_found_t *row, void *arg)
{
    (void)row;
    (*(long *)arg)++;
    return 0;
}

/* How many rows a time-range query through the store finds in [since_ms, until_ms). */
static long time_query_count(int64_t since_ms, int64_t until_ms)
{
    char path[4200], err[512];
    db_path(path, sizeof path);
    ct_store_t *st = NULL;
    cr_assert_eq(ct_store_open(path, CT_STORE_READONLY, &st, err, sizeof err), 0, "%s", err);
    ct_audit_filter_t f = {.since_ms = since_ms, .until_ms = until_ms, .outcome = -1};
    long n = 0;
    cr_assert_eq(ct_store_audit_query(st, &f, 0, 1000, count_row, &n), 0);
    ct_store_close(st);
    return n;
}

/* Asserts that text holds want. */
static void expect_said(const char *text, const char *want)
{
    cr_expect(strstr(text, want) != NULL, "wanted \"%s\" in: %s", want, text);
}

/* Zone 0's range narrowed to nothing: the chain is intact, a time query finds none of the rows
 * (the harm), and verify fails naming the zone, with exit status 1 and an audit.verify record. */
Test(audit_verify, narrowed_zone_summary_fails_as_zones)
{
    make_log();
    /* append_rows wrote rows 7..16 at 1700000000001 .. 1700000000010. */
    cr_assert_eq(time_query_count(1700000000001, 1700000000011), EXTRA_ROWS);
    sqlite3 *db = attacker_open();
    attacker_exec(db, "UPDATE audit_zones SET max_time = min_time - 1 WHERE zone = 0");
    cr_assert_eq(sqlite3_changes(db), 1);
    sqlite3_close(db);
    cr_assert_eq(time_query_count(1700000000001, 1700000000011), 0, "the query misses the rows");

    char *out = assert_fails_at_with(1, "zones", NULL);
    expect_said(
        out, "(zones): 1 zone of the log, starting at seq 1, is not covered by its zone "
             "summary, so audit queries by time, actor or action may miss rows there: the summary "
             "table (audit_zones) was altered or is incomplete\n");
    char want[64];
    snprintf(want, sizeof want, "the hash chain of all %d records and 0 checkpoints verified",
             ROWS);
    expect_said(out, want);
    free(out);
    db = attacker_open();
    long long recorded =
        ct_test_sql_int(db, "SELECT count(*) FROM audit WHERE action = 'audit.verify' AND detail ="
                            " 'result=failed bad_seq=1 fault=zones checkpoints=database zones=1'");
    sqlite3_close(db);
    cr_assert_eq(recorded, 1, "the failed check is recorded as audit.verify");
    ct_test_daemon_finish(&g_d);
}

/* A log of three zones verifies; with the summaries of zones 1 and 2 deleted, verify names both
 * and the first row of zone 1. */
Test(audit_verify, missing_zone_summaries_name_the_first_row_of_the_first_zone)
{
    make_log();
    append_rows(2100, true); /* seq 17 .. 2116: zones 0, 1 and 2 */
    char *out, *err;
    int rc = run_verify(g_d.data, &out, &err);
    bool ok = rc == 0 && strstr(out, "audit log verified: 2116 records") == out;
    cr_expect(ok, "a sound log of three zones: exit %d; stdout: %s stderr: %s", rc, out, err);
    free(out);
    free(err);
    cr_assert(ok);
    sqlite3 *db = attacker_open();
    attacker_exec(db, "DELETE FROM audit_zones WHERE zone >= 1");
    cr_assert_eq(sqlite3_changes(db), 2);
    sqlite3_close(db);
    out = assert_fails_at_with(1025, "zones", NULL);
    expect_said(
        out,
        "(zones): 2 zones of the log, the first starting at seq 1025, are not "
        "covered by their zone summary, so audit queries by time, actor or action may miss rows "
        "there: the summary table (audit_zones) was altered or is incomplete\n");
    free(out);
    ct_test_daemon_finish(&g_d);
}

/* A tampered row and a tampered summary: the chain's verdict comes first. */
Test(audit_verify, chain_fault_is_named_before_the_zones)
{
    make_log();
    sqlite3 *db = attacker_open();
    attacker_exec(db, "UPDATE audit_zones SET max_time = min_time - 1 WHERE zone = 0;"
                      "UPDATE audit SET detail = 'x' WHERE seq = 9");
    sqlite3_close(db);
    assert_fails_at(9, "edited");
    ct_test_daemon_finish(&g_d);
}

/* The summary table dropped altogether: time queries fail loudly rather than miss rows, and
 * verify cannot run its check, so "cannot check" (3), naming the table. */
Test(audit_verify, dropped_zone_summary_table_exits_3)
{
    make_log();
    sqlite3 *db = attacker_open();
    attacker_exec(db, "DROP TABLE audit_zones");
    sqlite3_close(db);
    char *out, *err;
    int rc = run_verify(g_d.data, &out, &err);
    bool said = strstr(err, "cannot check the zone summary of the audit log (audit_zones)") != NULL;
    cr_expect(rc == 3 && said, "exit %d; stdout: %s stderr: %s", rc, out, err);
    cr_expect(strstr(out, "audit log verified") == NULL, "%s", out);
    free(out);
    free(err);
    cr_assert(rc == 3 && said);
    ct_test_daemon_finish(&g_d);
}

/* A database of schema version 6 (before audit_zones): the read-only open refuses it, so verify
 * never reaches the chain or the zones, exits 3 and says to migrate, leaving the file as it is.
 * Once migrated (a read-write open), migration 7 builds the summary from the rows and it
 * verifies. */
Test(audit_verify, database_before_the_zone_summary_exits_3_until_migrated)
{
    make_log();
    sqlite3 *db = attacker_open();
    attacker_exec(db, "DROP TABLE audit_zones; CREATE INDEX audit_time ON audit (time_ms);"
                      "CREATE INDEX audit_actor ON audit (actor_id, seq);"
                      "CREATE INDEX audit_action ON audit (action, seq);"
                      "PRAGMA user_version = 6");
    sqlite3_close(db);
    char *out, *err;
    int rc = run_verify(g_d.data, &out, &err);
    bool said = strstr(err, "database schema version 6 is older than this build's") != NULL &&
                strstr(err, "open it read-write once to migrate it") != NULL;
    cr_expect(rc == 3 && said && out[0] == '\0', "exit %d; stdout: %s stderr: %s", rc, out, err);
    free(out);
    free(err);
    cr_assert(rc == 3 && said);
    db = attacker_open();
    cr_assert_eq(ct_test_sql_int(db, "PRAGMA user_version"), 6, "verify does not migrate");
    sqlite3_close(db);

    char path[4200], msg[512];
    db_path(path, sizeof path);
    ct_store_t *st = NULL;
    cr_assert_eq(ct_store_open(path, CT_STORE_READWRITE, &st, msg, sizeof msg), 0, "%s", msg);
    ct_store_close(st);
    rc = run_verify(g_d.data, &out, &err);
    bool ok = rc == 0 && strstr(out, "audit log verified: ") == out;
    cr_expect(ok, "after migration: exit %d; stdout: %s stderr: %s", rc, out, err);
    free(out);
    free(err);
    cr_assert(ok);
    ct_test_daemon_finish(&g_d);
}

/* ---- the command line ---------------------------------------------------------------------- */

Test(audit_verify, help_and_usage_errors)
{
    ct_test_daemon_init(&g_d, NULL);
    cr_assert_eq(ct_test_careteamd(&g_d, "audit", "verify", "--help", NULL), 0);
    cr_assert_eq(ct_test_careteamd(&g_d, "audit", "--help", NULL), 0);
    cr_assert_eq(ct_test_careteamd(&g_d, "audit", NULL), 2, "no subcommand");
    cr_assert_eq(ct_test_careteamd(&g_d, "audit", "verify", NULL), 2, "no DIR");
    cr_assert_eq(ct_test_careteamd(&g_d, "audit", "verify", g_d.data, "--bogus", NULL), 2);
    cr_assert_eq(ct_test_careteamd(&g_d, "audit", "frobnicate", g_d.data, NULL), 2);
    char *log = ct_test_read_file(g_d.log, NULL);
    cr_assert_not_null(log);
    bool documented = strstr(log, "usage: careteamd audit verify DIR") != NULL;
    free(log);
    cr_assert(documented);
    ct_test_daemon_finish(&g_d);
}

/* "Cannot check" is not "tampered": a missing data directory exits 3, not 1. */
Test(audit_verify, missing_database_exits_3)
{
    ct_test_daemon_init(&g_d, NULL);
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/no-such-dir", g_d.dir);
    char *out, *err;
    int rc = run_verify(missing, &out, &err);
    bool said = strstr(err, "not found") != NULL;
    cr_expect(said, "stderr: %s", err);
    free(out);
    free(err);
    cr_assert_eq(rc, 3);
    cr_assert(said);
    ct_test_daemon_finish(&g_d);
}

/* ---- signed checkpoints -------------------------------------------------------------------- */

/* Writes `careteamd audit checkpoints DATA --out PATH` into path (under the test's directory). */
static void export_checkpoints(char *path, size_t len)
{
    snprintf(path, len, "%s/checkpoints.txt", g_d.dir);
    cr_assert_eq(ct_test_careteamd(&g_d, "audit", "checkpoints", g_d.data, "--out", path, NULL), 0);
}

Test(audit_verify, checkpoints_made_by_the_command_verify)
{
    make_log_with_checkpoints();
    char *out, *err;
    int rc = run_verify(g_d.data, &out, &err);
    bool ok = rc == 0 && strstr(out, "checkpoints: 2 from the database verified") != NULL &&
              strstr(out, "the newest covers seq 28") != NULL;
    cr_expect(ok, "exit %d; stdout: %s stderr: %s", rc, out, err);
    free(out);
    free(err);
    cr_assert(ok);
    ct_test_daemon_finish(&g_d);
}

/* Rows cut off the end: the rest is a valid chain, but a checkpoint covers more rows. */
Test(audit_verify, truncated_before_the_last_checkpoint_names_the_first_missing_row)
{
    make_log_with_checkpoints();
    sqlite3 *db = attacker_open();
    attacker_exec(db, "DELETE FROM audit WHERE seq >= 20");
    sqlite3_close(db);
    char *out = assert_fails_at_with(20, "truncated", NULL);
    bool said = strstr(out, "rows 20 to 28") != NULL;
    cr_expect(said, "%s", out);
    free(out);
    cr_assert(said);
    ct_test_daemon_finish(&g_d);
}

/* Every checkpoint deleted as well: the database alone can no longer tell, an export can. */
Test(audit_verify, truncation_with_the_checkpoints_deleted_is_caught_by_an_export)
{
    make_log_with_checkpoints();
    char exported[4200];
    export_checkpoints(exported, sizeof exported);
    sqlite3 *db = attacker_open();
    attacker_unlock_checkpoints(db);
    attacker_exec(db, "DELETE FROM audit WHERE seq >= 20; DELETE FROM audit_checkpoints;");
    sqlite3_close(db);
    char *out, *err;
    int rc = run_verify(g_d.data, &out, &err);
    cr_expect_eq(rc, 0, "the database alone is consistent: %s %s", out, err);
    free(out);
    free(err);
    /* That verify recorded itself (audit.verify) as seq 20, chained to row 19: the export still
     * shows rows cut off after it. */
    const char *extra[] = {"--checkpoints", exported, NULL};
    free(assert_fails_at_with(21, "truncated", extra));
    ct_test_daemon_finish(&g_d);
}

/* Row 9 edited and the whole chain from it rebuilt: every leaf and chain value is consistent,
 * only the first checkpoint after the edit holds the old head. */
Test(audit_verify, whole_chain_rebuilt_without_the_key_is_caught_by_the_checkpoint)
{
    make_log_with_checkpoints();
    sqlite3 *db = attacker_open();
    attacker_exec(db, "UPDATE audit SET outcome = 8 WHERE seq = 9");
    rebuild_chain_from(db, 9);
    sqlite3_close(db);
    char *out = assert_fails_at_with(CP1, "rewritten", NULL);
    bool said = strstr(out, "rows 1 to 17") != NULL;
    cr_expect(said, "%s", out);
    free(out);
    cr_assert(said);
    ct_test_daemon_finish(&g_d);
}

/* An edit after the first checkpoint: the verdict names the second, and the range between. */
Test(audit_verify, rebuilt_chain_after_a_good_checkpoint_names_the_range_since_it)
{
    make_log_with_checkpoints();
    sqlite3 *db = attacker_open();
    attacker_exec(db, "UPDATE audit SET detail = 'row=99' WHERE seq = 22");
    rebuild_chain_from(db, 22);
    sqlite3_close(db);
    char *out = assert_fails_at_with(CP2, "rewritten", NULL);
    bool said = strstr(out, "rows 18 to 28") != NULL;
    cr_expect(said, "%s", out);
    free(out);
    cr_assert(said);
    ct_test_daemon_finish(&g_d);
}

/* The attacker rebuilds the chain and moves the checkpoint's head along, but cannot sign it. */
Test(audit_verify, checkpoint_head_moved_without_the_key_fails_its_signature)
{
    make_log_with_checkpoints();
    sqlite3 *db = attacker_open();
    attacker_unlock_checkpoints(db);
    attacker_exec(db, "UPDATE audit SET outcome = 8 WHERE seq = 9");
    rebuild_chain_from(db, 9);
    attacker_exec(db, "UPDATE audit_checkpoints SET head ="
                      " (SELECT chain FROM audit WHERE audit.seq = audit_checkpoints.seq)");
    sqlite3_close(db);
    free(assert_fails_at_with(CP1, "signature", NULL));
    ct_test_daemon_finish(&g_d);
}

/* One bit of a signature flipped. */
Test(audit_verify, forged_checkpoint_signature_is_named)
{
    make_log_with_checkpoints();
    sqlite3 *db = attacker_open();
    attacker_unlock_checkpoints(db);
    flip_signature_bit(db, CP2);
    sqlite3_close(db);
    char *out = assert_fails_at_with(CP2, "signature", NULL);
    bool said = strstr(out, "does not verify") != NULL;
    cr_expect(said, "%s", out);
    free(out);
    cr_assert(said);
    ct_test_daemon_finish(&g_d);
}

/* A compromised host: the attacker reads the signing key, rewrites row 9 and the chain after it,
 * and replaces every checkpoint with one signed anew. The database verifies; the export taken
 * before does not, and names the first checkpoint it disagrees with. */
Test(audit_verify, rewritten_and_resigned_log_is_caught_by_the_exported_checkpoints)
{
    make_log_with_checkpoints();
    char exported[4200], key_path[4200], pub_path[4200], err[512];
    export_checkpoints(exported, sizeof exported);

    sqlite3 *db = attacker_open();
    attacker_unlock_checkpoints(db);
    attacker_exec(db, "UPDATE audit SET actor_id = 'someone.else' WHERE seq = 9");
    rebuild_chain_from(db, 9);
    attacker_exec(db, "DELETE FROM audit_checkpoints");
    /* The zone summaries (outside the chain) no longer hold the new actor: a careful attacker
     * widens them too, so that only the exported checkpoints can tell. */
    attacker_exec(db, "UPDATE audit_zones SET actions = -1, actors0 = -1, actors1 = -1,"
                      " actors2 = -1, actors3 = -1, actors4 = -1, actors5 = -1, actors6 = -1,"
                      " actors7 = -1");
    sqlite3_close(db);
    snprintf(key_path, sizeof key_path, "%s/audit-signing.key", g_d.data);
    ct_audit_signer_t *signer = NULL;
    cr_assert_eq(ct_audit_signer_load(key_path, &signer, err, sizeof err), 0, "%s", err);
    char path[4200];
    db_path(path, sizeof path);
    ct_store_t *st = NULL;
    cr_assert_eq(ct_store_open(path, CT_STORE_READWRITE, &st, err, sizeof err), 0, "%s", err);
    const long seqs[] = {CP1, CP2};
    for (size_t i = 0; i < 2; i++) {
        sqlite3 *rd = attacker_open();
        ct_audit_row_t row;
        row_bufs_t b;
        uint8_t head[CT_AUDIT_HASH_LEN];
        read_row(rd, seqs[i], &row, &b, head);
        sqlite3_close(rd);
        ct_audit_checkpoint_t cp;
        cr_assert_eq(ct_audit_signer_sign(signer, seqs[i], head, 1700000000000, &cp), 0);
        cr_assert_eq(ct_store_audit_checkpoint_add(st, &cp), 0);
    }
    ct_store_close(st);
    ct_audit_signer_free(signer);

    char *out, *verr;
    int rc = run_verify(g_d.data, &out, &verr);
    cr_expect_eq(rc, 0, "re-signed, the database is consistent: %s %s", out, verr);
    free(out);
    free(verr);
    const char *extra[] = {"--checkpoints", exported, NULL};
    free(assert_fails_at_with(CP1, "rewritten", extra));
    /* The same with the public key pinned from a copy, as an auditor would. */
    snprintf(pub_path, sizeof pub_path, "%s/audit-signing.pub", g_d.data);
    const char *pinned[] = {"--checkpoints", exported, "--pubkey", pub_path, NULL};
    free(assert_fails_at_with(CP1, "rewritten", pinned));
    ct_test_daemon_finish(&g_d);
}

/* The export file: a header, the public key, one line per checkpoint; it verifies the intact
 * log; it is never overwritten. */
Test(audit_verify, exported_checkpoints_verify_the_intact_log)
{
    make_log_with_checkpoints();
    char exported[4200];
    export_checkpoints(exported, sizeof exported);
    char *text = ct_test_read_file(exported, NULL);
    cr_assert_not_null(text);
    bool format = strncmp(text, "careteam-audit-checkpoints 1\n", 29) == 0 &&
                  strstr(text, "\npubkey ed25519 ") != NULL &&
                  strstr(text, "\ncheckpoint 17 ") != NULL &&
                  strstr(text, "\ncheckpoint 28 ") != NULL;
    cr_expect(format, "%s", text);
    free(text);
    cr_assert(format);
    cr_assert_eq(ct_test_careteamd(&g_d, "audit", "checkpoints", g_d.data, "--out", exported, NULL),
                 1, "an existing export is not overwritten");

    const char *extra[] = {"--checkpoints", exported, NULL};
    char *out, *err;
    int rc = run_verify_with(g_d.data, extra, &out, &err);
    bool ok = rc == 0 && strstr(out, "checkpoints: 2 from ") != NULL;
    cr_expect(ok, "exit %d; stdout: %s stderr: %s", rc, out, err);
    free(out);
    free(err);
    cr_assert(ok);
    ct_test_daemon_finish(&g_d);
}

/* A real daemon signs checkpoints every audit_checkpoint_rows rows, and one when it stops that
 * covers its stop record; every member's record carries the certificate fingerprint. */
Test(audit_verify, daemon_signs_checkpoints_that_verify)
{
    ct_test_daemon_launch(&g_d, "audit_checkpoint_rows = 5");
    ct_sync_t *lee = ct_test_connect(&g_d, "th.lee");
    enum { MESSAGES = 20 };
    for (int i = 0; i < MESSAGES; i++) {
        char cmid[32];
        snprintf(cmid, sizeof cmid, "m-%d", i);
        const char *to[] = {"pw.sam"};
        ct_send_args_t a = {.client_msg_id = cmid, .to = to, .n_to = 1, .body = "hello"};
        Careteam__V1__Envelope *resp = NULL;
        cr_assert_eq(ct_sync_send_message(lee, &a, CALL_MS, &resp), 0);
        careteam__v1__envelope__free_unpacked(resp, NULL);
    }
    ct_sync_close(lee);
    cr_assert_eq(ct_test_daemon_stop(&g_d), 0);

    sqlite3 *db = attacker_open();
    long long cps = ct_test_sql_int(db, "SELECT count(*) FROM audit_checkpoints");
    long long newest = ct_test_sql_int(db, "SELECT max(seq) FROM audit_checkpoints");
    long long rows = ct_test_sql_int(db, "SELECT max(seq) FROM audit");
    long long last_is_stop =
        ct_test_sql_int(db, "SELECT action = 'daemon.stop' FROM audit ORDER BY seq DESC LIMIT 1");
    long long with_fp = ct_test_sql_int(db, "SELECT count(*) FROM audit WHERE action ="
                                            " 'message.send' AND length(cert_fp) = 64 AND enc = 2");
    sqlite3_close(db);
    cr_expect_geq(cps, 4, "at least one per 5 rows of the %d messages", MESSAGES);
    cr_expect_eq(newest, rows, "the stop checkpoint covers the last row");
    cr_expect_eq(last_is_stop, 1);
    cr_expect_eq(with_fp, MESSAGES, "each message.send row has the sender's fingerprint");

    char *out, *err;
    int rc = run_verify(g_d.data, &out, &err);
    char want[64];
    snprintf(want, sizeof want, "checkpoints: %lld from the database verified", cps);
    bool ok = rc == 0 && strstr(out, want) != NULL;
    cr_expect(ok, "exit %d; stdout: %s stderr: %s", rc, out, err);
    free(out);
    free(err);
    cr_assert(ok && cps >= 4 && newest == rows && with_fp == MESSAGES);
    ct_test_daemon_finish(&g_d);
}

/* Idle after a write: the interval signs a checkpoint without waiting for more rows or a stop. */
Test(audit_verify, idle_daemon_signs_a_checkpoint_when_the_interval_is_up)
{
    ct_test_daemon_launch(&g_d,
                          "audit_checkpoint_rows = 1000000\naudit_checkpoint_interval_ms = 300");
    ct_sync_t *lee = ct_test_connect(&g_d, "th.lee");
    const char *to[] = {"pw.sam"};
    ct_send_args_t a = {.client_msg_id = "idle-1", .to = to, .n_to = 1, .body = "hello"};
    Careteam__V1__Envelope *resp = NULL;
    cr_assert_eq(ct_sync_send_message(lee, &a, CALL_MS, &resp), 0);
    careteam__v1__envelope__free_unpacked(resp, NULL);
    long long covered = 0, rows = -1;
    for (int i = 0; i < 100 && covered != rows; i++) {
        usleep(100 * 1000);
        sqlite3 *db = attacker_open();
        rows = ct_test_sql_int(db, "SELECT max(seq) FROM audit");
        covered = ct_test_sql_int(db, "SELECT coalesce(max(seq), 0) FROM audit_checkpoints");
        sqlite3_close(db);
    }
    cr_expect_eq(covered, rows, "a checkpoint covers the message within 10 s while serving");
    ct_sync_close(lee);
    cr_assert_eq(covered, rows);
    ct_test_daemon_finish(&g_d);
}

/* A data directory from before the signing key: serve refuses and names `audit keygen`, which
 * makes the key once; afterwards the daemon serves and signs. */
Test(audit_verify, serve_without_a_signing_key_refuses_until_audit_keygen)
{
    ct_test_daemon_init(&g_d, NULL);
    char key[4200], pub[4200];
    snprintf(key, sizeof key, "%s/audit-signing.key", g_d.data);
    snprintf(pub, sizeof pub, "%s/audit-signing.pub", g_d.data);
    cr_assert_eq(unlink(key), 0);
    cr_assert_eq(unlink(pub), 0);
    char *out, *err;
    char *serve[] = {"serve", g_d.data, "--listen", "127.0.0.1:0", NULL};
    int rc = run_careteamd(serve, &out, &err);
    bool named = strstr(err, "careteamd audit keygen") != NULL;
    cr_expect(rc == 1 && named, "exit %d; stderr: %s", rc, err);
    free(out);
    free(err);
    cr_assert(rc == 1 && named);

    rc = run_verify(g_d.data, &out, &err);
    bool hint = rc == 0 && strstr(out, "no audit signing key") != NULL;
    cr_expect(hint, "exit %d; stdout: %s", rc, out);
    free(out);
    free(err);
    cr_assert(hint);

    cr_assert_eq(ct_test_careteamd(&g_d, "audit", "keygen", g_d.data, NULL), 0);
    cr_assert_eq(ct_test_careteamd(&g_d, "audit", "keygen", g_d.data, NULL), 1, "never replaced");
    struct stat sb;
    cr_assert_eq(stat(key, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    cr_assert_eq(ct_test_audit_count(&g_d, "audit.keygen"), 1);
    ct_test_daemon_start(&g_d);
    cr_assert_eq(ct_test_daemon_stop(&g_d), 0);
    rc = run_verify(g_d.data, &out, &err);
    bool ok = rc == 0 && strstr(out, "from the database verified") != NULL;
    cr_expect(ok, "exit %d; stdout: %s stderr: %s", rc, out, err);
    free(out);
    free(err);
    cr_assert(ok);
    ct_test_daemon_finish(&g_d);
}

/* Checkpoints to check and no public key to check them with: "cannot check" (3), not "ok". */
Test(audit_verify, checkpoints_without_a_public_key_exit_3)
{
    make_log_with_checkpoints();
    char pub[4200];
    snprintf(pub, sizeof pub, "%s/audit-signing.pub", g_d.data);
    cr_assert_eq(unlink(pub), 0);
    char *out, *err;
    int rc = run_verify(g_d.data, &out, &err);
    bool said = strstr(err, "--pubkey") != NULL;
    cr_expect(rc == 3 && said, "exit %d; stderr: %s", rc, err);
    free(out);
    free(err);
    cr_assert(rc == 3 && said);
    ct_test_daemon_finish(&g_d);
}
