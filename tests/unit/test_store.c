/*
 * Unit tests of the SQLite store (server/store_sqlite.c) through its interface, server/store.h.
 *
 * Each test gets a fresh temporary directory with a database file at g_path. Tests that need a
 * look under the interface (the audit triggers, the journal mode, the query plan, old-version
 * fixtures) open the same file with sqlite3 directly.
 */
#include <criterion/criterion.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "err.h"
#include "audit_actions.h"
#include "audit_zones.h"
#include "store.h"
#include "testsupport.h"

TestSuite(store, .fini = ct_test_leak_check);

static char *g_dir;       /* owned: the test's temporary directory */
static char g_path[4096]; /* the database file inside it */
static ct_store_t *g_st;  /* the read-write handle of tests that use open_rw */

static void make_dir(void)
{
    g_dir = ct_test_tmpdir("store");
    cr_assert_not_null(g_dir);
    snprintf(g_path, sizeof g_path, "%s/careteam.db", g_dir);
}

static void open_rw(void)
{
    make_dir();
    char err[256];
    int rc = ct_store_open(g_path, CT_STORE_READWRITE, &g_st, err, sizeof err);
    cr_assert_eq(rc, 0, "open: %d %s", rc, err);
}

static void cleanup(void)
{
    ct_store_close(g_st);
    g_st = NULL;
    if (g_dir != NULL) {
        ct_test_rmtree(g_dir);
        free(g_dir);
        g_dir = NULL;
    }
}

/*
 * Ends a test: releases the fixture, then checks for leaks from the test body. Criterion 2.4.1
 * ignores failures (even crashes) in .fini, so the suite's .fini = ct_test_leak_check alone
 * cannot fail a test; this call can. The test's .fini = cleanup still runs on failed asserts.
 */
static void finish(void)
{
    cleanup();
    ct_test_leak_check();
}

/* ---- helpers ----------------------------------------------------------------------------- */

static ct_member_t member(const char *id, ct_role_t role)
{
    ct_member_t m;
    memset(&m, 0, sizeof m);
    snprintf(m.id, sizeof m.id, "%s", id);
    snprintf(m.display_name, sizeof m.display_name, "Name of %s", id);
    m.role = role;
    m.active = true;
    m.created_at_ms = 1700000000000;
    return m;
}

/* A message from alice with the given client_msg_id; n recipients from `to`. Message ids are
 * distinct per client_msg_id. It is about no participant, so that the inbox's circle of care
 * (tested in test_store_care.c) lets every recipient read it. The strings are the test's;
 * nothing here is heap-allocated. */
static ct_message_t message(const char *client_msg_id, char (*to)[CT_ID_MAX + 1], size_t n)
{
    static unsigned counter;
    ct_message_t m;
    memset(&m, 0, sizeof m);
    snprintf(m.message_id, sizeof m.message_id, "01900000-0000-7000-8000-%012u", ++counter);
    snprintf(m.sender_id, sizeof m.sender_id, "alice");
    m.sender_role = CT_ROLE_THERAPIST;
    snprintf(m.client_msg_id, sizeof m.client_msg_id, "%s", client_msg_id);
    m.subject = (char *)"check-in";
    m.body = (char *)"see you thursday";
    m.body_len = strlen(m.body);
    m.priority = 2;
    m.stored_at_ms = 1700000000123;
    m.to = to;
    m.n_to = n;
    return m;
}

static void hash_of(uint8_t h[32], uint8_t v)
{
    memset(h, v, 32);
}

/* Inserts message(client_msg_id, to, n) and returns its receipt; fails the test on error. */
static ct_message_receipt_t insert(const char *client_msg_id, char (*to)[CT_ID_MAX + 1], size_t n)
{
    ct_message_t m = message(client_msg_id, to, n);
    uint8_t h[32];
    hash_of(h, 0xab);
    ct_message_receipt_t r;
    int rc = ct_store_message_insert(g_st, &m, h, &r);
    cr_assert_eq(rc, 0, "insert %s: %d", client_msg_id, rc);
    return r;
}

static bool stored(const char *client_msg_id)
{
    uint8_t h[32];
    hash_of(h, 0xab);
    ct_message_receipt_t r;
    bool match;
    int rc = ct_store_message_find(g_st, "alice", client_msg_id, h, &r, &match);
    cr_assert(rc == 0 || rc == CT_ENOTFOUND, "find: %d", rc);
    return rc == 0;
}

static ct_audit_t audit(const char *action)
{
    ct_audit_t a = {
        .time_ms = 1700000000000,
        .actor_id = "alice",
        .actor_role = CT_ROLE_THERAPIST,
        .peer_addr = "127.0.0.1:5555",
        .action = action,
        .object_type = "message",
        .object_id = "01900000-0000-7000-8000-000000000001",
        .participant_id = "p-1",
        .outcome = CT_AUDIT_SUCCESS,
        .detail = "recipients=1",
    };
    return a;
}

/* Opens g_path with sqlite3 directly, to look under the interface. */
static sqlite3 *raw_open(void)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(g_path, &db, SQLITE_OPEN_READWRITE, NULL);
    cr_assert_eq(rc, SQLITE_OK, "sqlite3_open_v2: %s", sqlite3_errstr(rc));
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* Creates g_path with sqlite3 directly, to build a fixture of an old version. */
static sqlite3 *raw_open_create(void)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(g_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    cr_assert_eq(rc, SQLITE_OK, "sqlite3_open_v2: %s", sqlite3_errstr(rc));
    return db;
}

/* Runs one statement returning one text or integer cell, copied into out. */
static void raw_query(sqlite3 *db, const char *sql, char *out, size_t len)
{
    sqlite3_stmt *s;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s", sqlite3_errmsg(db));
    snprintf(out, len, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
}

/* ---- open and migrations ----------------------------------------------------------------- */

Test(store, open_creates_and_migrates, .fini = cleanup)
{
    open_rw();
    struct stat sb;
    cr_assert_eq(stat(g_path, &sb), 0, "the database file exists");
    cr_assert_geq(ct_store_schema_version(), 1);
    cr_assert_eq(ct_store_db_version(g_st), ct_store_schema_version());
    finish();
}

Test(store, open_sets_wal_mode, .fini = cleanup)
{
    open_rw();
    sqlite3 *db = raw_open();
    char mode[32];
    raw_query(db, "PRAGMA journal_mode", mode, sizeof mode);
    sqlite3_close(db);
    cr_assert_str_eq(mode, "wal");
    finish();
}

/* After ct_store_checkpoints_manual no commit copies the log into the database (the writer
 * does that between batches, so that no reply waits for it); ct_store_checkpoint does. */
Test(store, manual_checkpoints_leave_the_log_to_the_caller, .fini = cleanup)
{
    open_rw();
    ct_store_checkpoints_manual(g_st);
    cr_assert_eq(ct_store_log_uncopied(g_st), 0);
    /* Well past SQLite's automatic threshold of 1,000 pages: one commit per member. */
    for (int i = 0; i < 700; i++) {
        char id[32];
        snprintf(id, sizeof id, "m%04d", i);
        ct_member_t m = member(id, CT_ROLE_THERAPIST);
        cr_assert_eq(ct_store_member_add(g_st, &m), 0);
    }
    int64_t waiting = ct_store_log_uncopied(g_st);
    cr_assert_gt(waiting, 1000, "no commit checkpointed the log: %lld pages wait",
                 (long long)waiting);
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", g_path);
    struct stat sb;
    cr_assert_eq(stat(wal, &sb), 0);
    cr_assert_geq(sb.st_size, waiting * 4096, "the log holds every page: %lld bytes",
                  (long long)sb.st_size);

    cr_assert_eq(ct_store_checkpoint(g_st), 0);
    cr_assert_eq(ct_store_log_uncopied(g_st), 0, "the checkpoint copied everything");
    /* The next commit starts the log over instead of growing it. */
    ct_member_t m = member("after", CT_ROLE_THERAPIST);
    cr_assert_eq(ct_store_member_add(g_st, &m), 0);
    cr_assert_lt(ct_store_log_uncopied(g_st), 10);
    ct_member_t got;
    cr_assert_eq(ct_store_member_get(g_st, "m0699", &got), 0);

    cr_assert_eq(ct_store_begin(g_st), 0);
    cr_assert_eq(ct_store_checkpoint(g_st), CT_EINTERNAL, "not inside a transaction");
    cr_assert_eq(ct_store_rollback(g_st), 0);
    finish();
}

Test(store, reopen_is_idempotent, .fini = cleanup)
{
    open_rw();
    ct_member_t m = member("alice", CT_ROLE_THERAPIST);
    cr_assert_eq(ct_store_member_add(g_st, &m), 0);
    sqlite3 *db = raw_open();
    char before[32], after[32];
    raw_query(db, "SELECT count(*) FROM sqlite_schema", before, sizeof before);
    sqlite3_close(db);
    ct_store_close(g_st);
    g_st = NULL;

    char err[256];
    cr_assert_eq(ct_store_open(g_path, CT_STORE_READWRITE, &g_st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ct_store_db_version(g_st), ct_store_schema_version());
    ct_member_t got;
    cr_assert_eq(ct_store_member_get(g_st, "alice", &got), 0, "data survives a reopen");
    db = raw_open();
    raw_query(db, "SELECT count(*) FROM sqlite_schema", after, sizeof after);
    sqlite3_close(db);
    cr_assert_str_eq(before, after, "no schema object created twice");
    finish();
}

Test(store, readonly_open_missing_file_fails, .fini = cleanup)
{
    make_dir();
    char err[256];
    ct_store_t *st = (ct_store_t *)1;
    int rc = ct_store_open(g_path, CT_STORE_READONLY, &st, err, sizeof err);
    cr_assert_eq(rc, CT_ENOTFOUND);
    cr_assert_null(st);
    cr_assert_not_null(strstr(err, g_path), "message names the file: %s", err);
    cr_assert_not_null(strstr(err, "no such file"), "message says why: %s", err);
    struct stat sb;
    cr_assert_neq(stat(g_path, &sb), 0, "a read-only open creates nothing");
    finish();
}

Test(store, readwrite_open_in_missing_directory_fails, .fini = cleanup)
{
    make_dir();
    char path[4200], err[512];
    snprintf(path, sizeof path, "%s/no/such/dir/careteam.db", g_dir);
    ct_store_t *st = NULL;
    int rc = ct_store_open(path, CT_STORE_READWRITE, &st, err, sizeof err);
    cr_assert_lt(rc, 0);
    cr_assert_null(st);
    cr_assert_not_null(strstr(err, path), "message names the file: %s", err);
    finish();
}

/* Version 0 fixture: an empty file, as `touch` or an interrupted init leaves it. */
Test(store, fixture_version0_empty_file_is_migrated, .fini = cleanup)
{
    make_dir();
    FILE *f = fopen(g_path, "w");
    cr_assert_not_null(f);
    fclose(f);

    char err[256];
    ct_store_t *ro = NULL;
    int rc = ct_store_open(g_path, CT_STORE_READONLY, &ro, err, sizeof err);
    cr_assert_eq(rc, CT_EPRECONDITION, "read-only refuses an unmigrated file: %d", rc);
    cr_assert_null(ro);
    cr_assert_not_null(strstr(err, "not initialised"), "%s", err);

    cr_assert_eq(ct_store_open(g_path, CT_STORE_READWRITE, &g_st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ct_store_db_version(g_st), ct_store_schema_version());
    ct_member_t m = member("alice", CT_ROLE_THERAPIST);
    cr_assert_eq(ct_store_member_add(g_st, &m), 0, "the migrated schema works");
    finish();
}

Test(store, newer_schema_version_is_refused, .fini = cleanup)
{
    open_rw();
    ct_store_close(g_st);
    g_st = NULL;
    sqlite3 *db = raw_open();
    cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    char err[256];
    for (int mode = CT_STORE_READWRITE; mode <= CT_STORE_READONLY; mode++) {
        ct_store_t *st = NULL;
        int rc = ct_store_open(g_path, (ct_store_mode_t)mode, &st, err, sizeof err);
        cr_assert_eq(rc, CT_EPRECONDITION, "mode %d: %d", mode, rc);
        cr_assert_null(st);
        cr_assert_not_null(strstr(err, "newer"), "%s", err);
    }
    finish();
}

/* ---- members ----------------------------------------------------------------------------- */

Test(store, member_add_then_get, .fini = cleanup)
{
    open_rw();
    ct_member_t m = member("bob", CT_ROLE_PEER_WORKER);
    cr_assert_eq(ct_store_member_add(g_st, &m), 0);
    ct_member_t got;
    cr_assert_eq(ct_store_member_get(g_st, "bob", &got), 0);
    cr_assert_str_eq(got.id, "bob");
    cr_assert_str_eq(got.display_name, "Name of bob");
    cr_assert_eq(got.role, CT_ROLE_PEER_WORKER);
    cr_assert(got.active);
    cr_assert_eq(got.created_at_ms, m.created_at_ms);
    finish();
}

Test(store, member_get_missing_is_notfound, .fini = cleanup)
{
    open_rw();
    ct_member_t got;
    cr_assert_eq(ct_store_member_get(g_st, "nobody", &got), CT_ENOTFOUND);
    finish();
}

Test(store, member_add_duplicate_is_exists, .fini = cleanup)
{
    open_rw();
    ct_member_t m = member("bob", CT_ROLE_PEER_WORKER);
    cr_assert_eq(ct_store_member_add(g_st, &m), 0);
    m.role = CT_ROLE_ADMIN;
    cr_assert_eq(ct_store_member_add(g_st, &m), CT_EEXISTS);
    ct_member_t got;
    cr_assert_eq(ct_store_member_get(g_st, "bob", &got), 0);
    cr_assert_eq(got.role, CT_ROLE_PEER_WORKER, "the first registration stands");
    finish();
}

struct list_acc {
    char ids[8][CT_ID_MAX + 1];
    int n;
    int stop_after; /* 0: never stop */
};

static int collect(const ct_member_t *m, void *arg)
{
    struct list_acc *acc = arg;
    snprintf(acc->ids[acc->n], sizeof acc->ids[0], "%s", m->id);
    acc->n++;
    return acc->n == acc->stop_after ? 7 : 0;
}

Test(store, member_list_in_id_order, .fini = cleanup)
{
    open_rw();
    const char *ids[] = {"carol", "alice", "bob"};
    for (int i = 0; i < 3; i++) {
        ct_member_t m = member(ids[i], CT_ROLE_THERAPIST);
        cr_assert_eq(ct_store_member_add(g_st, &m), 0);
    }
    struct list_acc acc = {.n = 0};
    cr_assert_eq(ct_store_member_list(g_st, collect, &acc), 0);
    cr_assert_eq(acc.n, 3);
    cr_assert_str_eq(acc.ids[0], "alice");
    cr_assert_str_eq(acc.ids[1], "bob");
    cr_assert_str_eq(acc.ids[2], "carol");
    finish();
}

Test(store, member_list_stops_on_callback_value, .fini = cleanup)
{
    open_rw();
    const char *ids[] = {"carol", "alice", "bob"};
    for (int i = 0; i < 3; i++) {
        ct_member_t m = member(ids[i], CT_ROLE_THERAPIST);
        cr_assert_eq(ct_store_member_add(g_st, &m), 0);
    }
    struct list_acc acc = {.n = 0, .stop_after = 2};
    cr_assert_eq(ct_store_member_list(g_st, collect, &acc), 7);
    cr_assert_eq(acc.n, 2);
    acc = (struct list_acc){.n = 0};
    cr_assert_eq(ct_store_member_list(g_st, collect, &acc), 0, "the statement was reset");
    cr_assert_eq(acc.n, 3);
    finish();
}

Test(store, member_set_active, .fini = cleanup)
{
    open_rw();
    ct_member_t m = member("bob", CT_ROLE_PEER_WORKER);
    cr_assert_eq(ct_store_member_add(g_st, &m), 0);
    ct_member_t got;
    cr_assert_eq(ct_store_member_set_active(g_st, "bob", false), 0);
    cr_assert_eq(ct_store_member_get(g_st, "bob", &got), 0);
    cr_assert_not(got.active);
    cr_assert_eq(ct_store_member_set_active(g_st, "bob", true), 0);
    cr_assert_eq(ct_store_member_get(g_st, "bob", &got), 0);
    cr_assert(got.active);
    cr_assert_eq(ct_store_member_set_active(g_st, "nobody", false), CT_ENOTFOUND);
    finish();
}

/* The writer's transaction remembers the members it reads (store_sqlite.c, MEMBER_CACHE); what it
 * reads must still be what is stored: after its own writes, a ROLLBACK TO, more members than it
 * keeps, and another connection's change between transactions. */
Test(store, member_get_in_a_transaction_follows_every_change, .fini = cleanup)
{
    open_rw();
    char id[12][CT_ID_MAX + 1];
    for (int i = 0; i < 12; i++) {
        snprintf(id[i], sizeof id[i], "m%02d", i);
        ct_member_t m = member(id[i], CT_ROLE_PEER_WORKER);
        cr_assert_eq(ct_store_member_add(g_st, &m), 0);
    }
    ct_member_t got;
    cr_assert_eq(ct_store_begin(g_st), 0);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 12; i++) {
            cr_assert_eq(ct_store_member_get(g_st, id[i], &got), 0);
            cr_assert_str_eq(got.id, id[i], "round %d: asked for %s", round, id[i]);
        }
    cr_assert_eq(ct_store_member_get(g_st, "nobody", &got), CT_ENOTFOUND);

    cr_assert_eq(ct_store_member_get(g_st, "m03", &got), 0);
    cr_assert(got.active);
    cr_assert_eq(ct_store_member_set_active(g_st, "m03", false), 0);
    cr_assert_eq(ct_store_member_get(g_st, "m03", &got), 0);
    cr_assert_not(got.active, "the transaction's own deactivation");

    cr_assert_eq(ct_store_member_get(g_st, "m04", &got), 0);
    cr_assert_eq(ct_store_savepoint(g_st), 0);
    cr_assert_eq(ct_store_member_set_supervisor(g_st, "m04", "m05"), 0);
    cr_assert_eq(ct_store_member_get(g_st, "m04", &got), 0);
    cr_assert_str_eq(got.supervisor_id, "m05");
    cr_assert_eq(ct_store_rollback_to(g_st), 0);
    cr_assert_eq(ct_store_member_get(g_st, "m04", &got), 0);
    cr_assert_str_eq(got.supervisor_id, "", "a supervisor that was rolled back");

    ct_member_t late = member("m99", CT_ROLE_THERAPIST);
    cr_assert_eq(ct_store_member_add(g_st, &late), 0);
    cr_assert_eq(ct_store_member_get(g_st, "m99", &got), 0);
    cr_assert_eq(ct_store_commit(g_st), 0);

    /* Another connection (an admin command) reactivates m03 between two transactions. */
    ct_store_t *other = NULL;
    char err[256];
    cr_assert_eq(ct_store_open(g_path, CT_STORE_READWRITE, &other, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ct_store_member_set_active(other, "m03", true), 0);
    ct_store_close(other);
    cr_assert_eq(ct_store_begin(g_st), 0);
    cr_assert_eq(ct_store_member_get(g_st, "m03", &got), 0);
    cr_assert(got.active, "another connection's change, committed before this transaction");
    cr_assert_eq(ct_store_commit(g_st), 0);
    finish();
}

/* ---- messages ---------------------------------------------------------------------------- */

Test(store, message_insert_then_find_with_matching_hash, .fini = cleanup)
{
    open_rw();
    char to[1][CT_ID_MAX + 1] = {"bob"};
    ct_message_t m = message("c-1", to, 1);
    uint8_t h[32];
    hash_of(h, 0x11);
    ct_message_receipt_t r;
    cr_assert_eq(ct_store_message_insert(g_st, &m, h, &r), 0);
    cr_assert_geq(r.seq, 1);
    cr_assert_str_eq(r.message_id, m.message_id);
    cr_assert_eq(r.stored_at_ms, m.stored_at_ms);

    ct_message_receipt_t f;
    bool match = false;
    cr_assert_eq(ct_store_message_find(g_st, "alice", "c-1", h, &f, &match), 0);
    cr_assert(match);
    cr_assert_eq(f.seq, r.seq);
    cr_assert_str_eq(f.message_id, r.message_id);
    cr_assert_eq(f.stored_at_ms, r.stored_at_ms);
    finish();
}

Test(store, message_find_with_other_hash_reports_mismatch, .fini = cleanup)
{
    open_rw();
    char to[1][CT_ID_MAX + 1] = {"bob"};
    ct_message_receipt_t r = insert("c-1", to, 1);
    uint8_t other[32];
    hash_of(other, 0x22);
    ct_message_receipt_t f;
    bool match = true;
    cr_assert_eq(ct_store_message_find(g_st, "alice", "c-1", other, &f, &match), 0);
    cr_assert_not(match);
    cr_assert_eq(f.seq, r.seq, "the original is still reported");
    finish();
}

Test(store, message_find_missing_is_notfound, .fini = cleanup)
{
    open_rw();
    char to[1][CT_ID_MAX + 1] = {"bob"};
    insert("c-1", to, 1);
    uint8_t h[32];
    hash_of(h, 0xab);
    ct_message_receipt_t f;
    bool match;
    cr_assert_eq(ct_store_message_find(g_st, "alice", "c-2", h, &f, &match), CT_ENOTFOUND);
    cr_assert_eq(ct_store_message_find(g_st, "bob", "c-1", h, &f, &match), CT_ENOTFOUND,
                 "client_msg_id is per sender");
    finish();
}

Test(store, message_duplicate_client_msg_id_is_exists, .fini = cleanup)
{
    open_rw();
    char to[1][CT_ID_MAX + 1] = {"bob"};
    insert("c-1", to, 1);
    ct_message_t again = message("c-1", to, 1);
    uint8_t h[32];
    hash_of(h, 0xab);
    ct_message_receipt_t r;
    cr_assert_eq(ct_store_message_insert(g_st, &again, h, &r), CT_EEXISTS);
    ct_message_t page[4];
    cr_assert_eq(ct_store_inbox_page(g_st, "bob", 0, page, 4), 1, "no second delivery row");
    ct_message_clear(&page[0]);
    finish();
}

Test(store, message_duplicate_recipient_is_invalid_and_stores_nothing, .fini = cleanup)
{
    open_rw();
    char to[2][CT_ID_MAX + 1] = {"bob", "bob"};
    ct_message_t m = message("c-1", to, 2);
    uint8_t h[32];
    hash_of(h, 0xab);
    ct_message_receipt_t r;
    cr_assert_eq(ct_store_message_insert(g_st, &m, h, &r), CT_EINVAL);
    cr_assert_not(stored("c-1"), "the message row was undone with its recipients");
    finish();
}

/* The same failure in a transaction is the caller's to undo. Inside the caller's savepoint (a
 * writer job's) rolling that savepoint back undoes it, and what came before the savepoint stays.
 * With no savepoint the part it wrote shows in ct_store_changes, which is how the writer knows to
 * roll its whole batch back (writer.h, no_savepoint). */
Test(store, failed_insert_in_a_transaction_is_undone_by_the_callers_savepoint, .fini = cleanup)
{
    open_rw();
    char twice[2][CT_ID_MAX + 1] = {"bob", "bob"};
    char once[1][CT_ID_MAX + 1] = {"bob"};
    uint8_t h[32];
    hash_of(h, 0xab);
    ct_message_receipt_t r;

    cr_assert_eq(ct_store_begin(g_st), 0);
    int64_t before = ct_store_changes(g_st);
    ct_message_t bad = message("bad-1", twice, 2);
    cr_assert_eq(ct_store_message_insert(g_st, &bad, h, &r), CT_EINVAL);
    cr_assert_neq(ct_store_changes(g_st), before, "the failed insert's message row counts");
    cr_assert_eq(ct_store_rollback(g_st), 0);
    cr_assert_not(stored("bad-1"));

    cr_assert_eq(ct_store_begin(g_st), 0);
    before = ct_store_changes(g_st);
    ct_message_t early = message("bad-early", once, 1);
    early.body_len = (size_t)INT_MAX + 1; /* refused before any write */
    cr_assert_eq(ct_store_message_insert(g_st, &early, h, &r), CT_EINVAL);
    cr_assert_eq(ct_store_changes(g_st), before, "a refusal before any write counts nothing");
    insert("good-1", once, 1);
    cr_assert_eq(ct_store_savepoint(g_st), 0);
    bad = message("bad-2", twice, 2);
    cr_assert_eq(ct_store_message_insert(g_st, &bad, h, &r), CT_EINVAL);
    cr_assert_eq(ct_store_rollback_to(g_st), 0);
    cr_assert_eq(ct_store_savepoint(g_st), 0);
    insert("good-2", once, 1);
    cr_assert_eq(ct_store_release(g_st), 0);
    cr_assert_eq(ct_store_commit(g_st), 0);

    cr_assert_not(stored("bad-1"));
    cr_assert_not(stored("bad-2"));
    cr_assert(stored("good-1"));
    cr_assert(stored("good-2"));
    ct_message_t page[4];
    cr_assert_eq(ct_store_inbox_page(g_st, "bob", 0, page, 4), 2, "no stray delivery row");
    ct_message_clear(&page[0]);
    ct_message_clear(&page[1]);
    finish();
}

Test(store, inbox_page_returns_full_messages_oldest_first, .fini = cleanup)
{
    open_rw();
    char to1[3][CT_ID_MAX + 1] = {"zoe", "bob", "amy"};
    char to2[1][CT_ID_MAX + 1] = {"amy"};
    char to3[1][CT_ID_MAX + 1] = {"bob"};
    ct_message_receipt_t r1 = insert("c-1", to1, 3);
    insert("c-2", to2, 1);
    ct_message_receipt_t r3 = insert("c-3", to3, 1);

    ct_message_t page[8];
    cr_assert_eq(ct_store_inbox_page(g_st, "bob", 0, page, 8), 2);
    cr_assert_eq(page[0].seq, r1.seq);
    cr_assert_eq(page[1].seq, r3.seq);
    cr_assert_lt(page[0].seq, page[1].seq);

    const ct_message_t *m = &page[0];
    ct_message_t want = message("c-1", to1, 3);
    cr_assert_str_eq(m->message_id, r1.message_id);
    cr_assert_str_eq(m->sender_id, "alice");
    cr_assert_eq(m->sender_role, CT_ROLE_THERAPIST);
    cr_assert_str_eq(m->client_msg_id, "c-1");
    cr_assert_str_eq(m->participant_id, "");
    cr_assert_str_eq(m->subject, want.subject);
    cr_assert_eq(m->body_len, want.body_len);
    cr_assert_str_eq(m->body, want.body);
    cr_assert_eq(m->priority, want.priority);
    cr_assert_eq(m->stored_at_ms, want.stored_at_ms);
    cr_assert_eq(m->n_to, 3);
    cr_assert_str_eq(m->to[0], "zoe", "recipients in position order");
    cr_assert_str_eq(m->to[1], "bob");
    cr_assert_str_eq(m->to[2], "amy");
    cr_assert_eq(page[1].n_to, 1);

    for (int i = 0; i < 2; i++) {
        ct_message_clear(&page[i]);
        cr_assert_null(page[i].subject);
        cr_assert_null(page[i].body);
        cr_assert_null(page[i].to);
        cr_assert_eq(page[i].n_to, 0);
    }
    finish();
}

Test(store, inbox_page_pages_with_after_seq_and_limit, .fini = cleanup)
{
    open_rw();
    char to[1][CT_ID_MAX + 1] = {"bob"};
    int64_t seqs[5];
    for (int i = 0; i < 5; i++) {
        char cmid[16];
        snprintf(cmid, sizeof cmid, "c-%d", i);
        seqs[i] = insert(cmid, to, 1).seq;
    }
    ct_message_t page[2];
    int64_t after = 0;
    int seen = 0;
    for (;;) {
        int n = ct_store_inbox_page(g_st, "bob", after, page, 2);
        cr_assert_geq(n, 0);
        if (n == 0)
            break;
        cr_assert_leq(n, 2, "never more than limit");
        for (int i = 0; i < n; i++) {
            cr_assert_eq(page[i].seq, seqs[seen], "message %d in order", seen);
            seen++;
            after = page[i].seq;
            ct_message_clear(&page[i]);
        }
    }
    cr_assert_eq(seen, 5);
    cr_assert_eq(ct_store_inbox_page(g_st, "bob", 0, page, 0), 0, "limit 0 reads nothing");
    cr_assert_eq(ct_store_inbox_page(g_st, "nobody", 0, page, 2), 0);
    finish();
}

Test(store, delivery_ack_pending_then_done_then_notfound, .fini = cleanup)
{
    open_rw();
    char to[2][CT_ID_MAX + 1] = {"bob", "carol"};
    ct_message_receipt_t r = insert("c-1", to, 2);
    cr_assert_eq(ct_store_delivery_ack(g_st, "bob", r.message_id, 1700000001000), 0);
    cr_assert_eq(ct_store_delivery_ack(g_st, "bob", r.message_id, 1700000002000), 1);
    cr_assert_eq(ct_store_delivery_ack(g_st, "dave", r.message_id, 1700000002000), CT_ENOTFOUND);
    cr_assert_eq(
        ct_store_delivery_ack(g_st, "bob", "01900000-0000-7000-8000-ffffffffffff", 1700000002000),
        CT_ENOTFOUND);
    finish();
}

Test(store, delivery_ack_removes_message_from_that_inbox_only, .fini = cleanup)
{
    open_rw();
    char to[2][CT_ID_MAX + 1] = {"bob", "carol"};
    ct_message_receipt_t r1 = insert("c-1", to, 2);
    ct_message_receipt_t r2 = insert("c-2", to, 2);
    cr_assert_eq(ct_store_delivery_ack(g_st, "bob", r1.message_id, 1700000001000), 0);

    ct_message_t page[4];
    cr_assert_eq(ct_store_inbox_page(g_st, "bob", 0, page, 4), 1);
    cr_assert_eq(page[0].seq, r2.seq);
    ct_message_clear(&page[0]);
    cr_assert_eq(ct_store_inbox_page(g_st, "carol", 0, page, 4), 2);
    ct_message_clear(&page[0]);
    ct_message_clear(&page[1]);
    finish();
}

/* The inbox query must be a range scan of the partial index, not a scan of every delivery. */
Test(store, pending_index_serves_inbox_query, .fini = cleanup)
{
    open_rw();
    ct_store_close(g_st);
    g_st = NULL;
    sqlite3 *db = raw_open();
    sqlite3_stmt *s;
    const char *sql =
        "EXPLAIN QUERY PLAN SELECT m.seq FROM message_recipients AS r JOIN messages AS m"
        " ON m.seq = r.message_seq WHERE r.member_id = 'bob' AND r.delivered_at_ms IS NULL"
        " AND r.message_seq > 0 ORDER BY r.message_seq LIMIT 10";
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    bool uses_index = false, sorts = false;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(s, 3);
        if (strstr(detail, "message_recipients_pending") != NULL)
            uses_index = true;
        if (strstr(detail, "TEMP B-TREE") != NULL)
            sorts = true;
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    cr_assert(uses_index, "the query uses message_recipients_pending");
    cr_assert_not(sorts, "the index gives seq order without a sort");
    finish();
}

/* ---- transactions ------------------------------------------------------------------------ */

Test(store, rollback_to_savepoint_undoes_only_that_job, .fini = cleanup)
{
    open_rw();
    char to[1][CT_ID_MAX + 1] = {"bob"};
    cr_assert_eq(ct_store_begin(g_st), 0);
    insert("before", to, 1);

    cr_assert_eq(ct_store_savepoint(g_st), 0);
    insert("undone", to, 1);
    ct_audit_t a = audit("message.send");
    cr_assert_geq(ct_store_audit_append(g_st, &a), 1);
    cr_assert_eq(ct_store_rollback_to(g_st), 0);

    cr_assert_eq(ct_store_savepoint(g_st), 0);
    insert("kept", to, 1);
    cr_assert_eq(ct_store_release(g_st), 0);
    cr_assert_eq(ct_store_commit(g_st), 0);

    cr_assert(stored("before"));
    cr_assert_not(stored("undone"));
    cr_assert(stored("kept"));
    cr_assert_eq(ct_store_audit_count(g_st, ""), 0, "the job's audit row went with it");
    finish();
}

Test(store, rollback_undoes_whole_transaction, .fini = cleanup)
{
    open_rw();
    char to[1][CT_ID_MAX + 1] = {"bob"};
    cr_assert_eq(ct_store_begin(g_st), 0);
    ct_member_t m = member("bob", CT_ROLE_PEER_WORKER);
    cr_assert_eq(ct_store_member_add(g_st, &m), 0);
    insert("c-1", to, 1);
    cr_assert_eq(ct_store_savepoint(g_st), 0);
    insert("c-2", to, 1);
    cr_assert_eq(ct_store_rollback(g_st), 0);

    ct_member_t got;
    cr_assert_eq(ct_store_member_get(g_st, "bob", &got), CT_ENOTFOUND);
    cr_assert_not(stored("c-1"));
    cr_assert_not(stored("c-2"));
    cr_assert_eq(ct_store_begin(g_st), 0, "a new transaction can start");
    cr_assert_eq(ct_store_commit(g_st), 0);
    finish();
}

Test(store, transaction_calls_out_of_order_are_refused, .fini = cleanup)
{
    open_rw();
    cr_assert_eq(ct_store_commit(g_st), CT_EINTERNAL, "commit without begin");
    cr_assert_eq(ct_store_savepoint(g_st), CT_EINTERNAL, "savepoint outside a transaction");
    cr_assert_eq(ct_store_begin(g_st), 0);
    cr_assert_eq(ct_store_begin(g_st), CT_EINTERNAL, "nested begin");
    cr_assert_eq(ct_store_release(g_st), CT_EINTERNAL, "release without savepoint");
    cr_assert_eq(ct_store_rollback_to(g_st), CT_EINTERNAL, "rollback_to without savepoint");
    cr_assert_eq(ct_store_commit(g_st), 0, "the transaction is still usable");
    finish();
}

/*
 * Simulates a full disk: from now on this process cannot grow any file by more than `room`
 * bytes past the WAL's current size, and writes beyond fail with EFBIG as on a full disk.
 * Criterion forks each test, so the limit stays in this test. Returns the old limit.
 */
static struct rlimit fill_disk(off_t room)
{
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", g_path);
    struct stat sb;
    cr_assert_eq(stat(wal, &sb), 0);
    struct rlimit old, tight;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    tight = old;
    tight.rlim_cur = (rlim_t)(sb.st_size + room);
    signal(SIGXFSZ, SIG_IGN);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &tight), 0);
    return old;
}

/* A message with a body of len bytes; *big is the malloc'd body for the caller to free. */
static ct_message_t big_message(const char *client_msg_id, char (*to)[CT_ID_MAX + 1], size_t len,
                                char **big)
{
    *big = malloc(len + 1);
    cr_assert_not_null(*big);
    memset(*big, 'x', len);
    (*big)[len] = '\0';
    ct_message_t m = message(client_msg_id, to, 1);
    m.body = *big;
    m.body_len = len;
    return m;
}

/* A statement that changes megabytes of existing pages inside a transaction, as `careteamd
 * purge` does, has an undo log (SQLite's statement journal) far larger than the part kept in
 * memory; the rest spills to a temporary file. That spill must work: with the in-memory part
 * set above 128 KiB, SQLite's unix VFS wrote it in one call larger than it writes, and the
 * purge failed as "disk full". */
Test(store, purge_of_megabytes_in_one_transaction_succeeds, .fini = cleanup)
{
    open_rw();
    char to[1][CT_ID_MAX + 1] = {"bob"};
    for (int i = 0; i < 12; i++) {
        char id[16], *big;
        snprintf(id, sizeof id, "old-%d", i);
        ct_message_t m = big_message(id, to, 256 * 1024, &big);
        uint8_t h[32];
        hash_of(h, 0xab);
        ct_message_receipt_t r;
        int rc = ct_store_message_insert(g_st, &m, h, &r);
        free(big);
        cr_assert_eq(rc, 0, "insert %s: %d", id, rc);
    }
    ct_purge_counts_t c;
    cr_assert_eq(ct_store_begin(g_st), 0);
    cr_assert_eq(ct_store_purge_apply(g_st, 1700000000124, true, &c), 0);
    cr_assert_eq(ct_store_commit(g_st), 0);
    cr_assert_eq(c.messages, 12);
    sqlite3 *db = raw_open();
    char v[32];
    raw_query(db, "SELECT max(length(body)) FROM messages", v, sizeof v);
    sqlite3_close(db);
    cr_assert_str_eq(v, "0", "every body is gone");
    finish();
}

/* A transaction that fits in SQLite's page cache reaches the disk only at COMMIT: the commit
 * must fail with CT_EIO, store nothing, and the handle must work again once space returns
 * (DESIGN.md section 6). */
Test(store, commit_on_full_disk_is_eio_and_handle_recovers, .fini = cleanup)
{
    open_rw();
    char to[1][CT_ID_MAX + 1] = {"bob"};
    insert("small", to, 1);
    struct rlimit old = fill_disk(4096);

    char *big;
    ct_message_t m = big_message("big", to, 256 * 1024, &big);
    uint8_t h[32];
    hash_of(h, 0xab);
    ct_message_receipt_t r;
    cr_assert_eq(ct_store_begin(g_st), 0);
    int rc = ct_store_message_insert(g_st, &m, h, &r);
    free(big);
    cr_assert_eq(rc, 0, "the insert stays in the page cache: %d", rc);
    cr_assert_eq(ct_store_commit(g_st), CT_EIO);

    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    cr_assert_not(stored("big"), "nothing of the failed transaction is stored");
    cr_assert(stored("small"));
    cr_assert_eq(ct_store_begin(g_st), 0, "the handle recovers when space returns");
    insert("after", to, 1);
    cr_assert_eq(ct_store_commit(g_st), 0);
    cr_assert(stored("after"));
    finish();
}

/* A transaction larger than the page cache spills to the WAL before COMMIT; when that write
 * fails SQLite rolls the whole transaction back. The store must then refuse further work in
 * it rather than let later writes autocommit on their own, and rollback must end it. */
Test(store, write_failure_mid_transaction_poisons_it_until_rollback, .fini = cleanup)
{
    open_rw();
    char to[1][CT_ID_MAX + 1] = {"bob"};
    struct rlimit old = fill_disk(4096);

    cr_assert_eq(ct_store_begin(g_st), 0);
    insert("first", to, 1);
    cr_assert_eq(ct_store_savepoint(g_st), 0);
    char *big;
    ct_message_t m = big_message("big", to, 8 * 1024 * 1024, &big);
    uint8_t h[32];
    hash_of(h, 0xab);
    ct_message_receipt_t r;
    int rc = ct_store_message_insert(g_st, &m, h, &r);
    free(big);
    cr_assert_eq(rc, CT_EIO, "the spill fails: %d", rc);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);

    ct_audit_t a = audit("message.send");
    cr_assert_eq(ct_store_rollback_to(g_st), CT_EIO, "the savepoint went with the transaction");
    cr_assert_eq(ct_store_audit_append(g_st, &a), CT_EIO, "no write outside the transaction");
    cr_assert_eq(ct_store_rollback(g_st), 0);
    cr_assert_not(stored("first"));
    cr_assert_not(stored("big"));
    cr_assert_eq(ct_store_audit_count(g_st, ""), 0);

    cr_assert_eq(ct_store_begin(g_st), 0, "the handle recovers");
    insert("after", to, 1);
    cr_assert_eq(ct_store_commit(g_st), 0);
    cr_assert(stored("after"));
    finish();
}

/* ---- audit ------------------------------------------------------------------------------- */

Test(store, audit_append_returns_increasing_seq, .fini = cleanup)
{
    open_rw();
    const char *actions[] = {"message.send", "tls.handshake", "message.send"};
    int64_t last = 0;
    for (int i = 0; i < 3; i++) {
        ct_audit_t a = audit(actions[i]);
        int64_t seq = ct_store_audit_append(g_st, &a);
        cr_assert_gt(seq, last, "seq %lld after %lld", (long long)seq, (long long)last);
        last = seq;
    }
    cr_assert_eq(ct_store_audit_count(g_st, ""), 3);
    cr_assert_eq(ct_store_audit_count(g_st, "message.send"), 2);
    cr_assert_eq(ct_store_audit_count(g_st, "member.enroll"), 0);
    finish();
}

Test(store, audit_update_and_delete_are_refused, .fini = cleanup)
{
    open_rw();
    ct_audit_t a = audit("message.send");
    cr_assert_geq(ct_store_audit_append(g_st, &a), 1);

    sqlite3 *db = raw_open();
    int rc = sqlite3_exec(db, "UPDATE audit SET detail = 'edited'", NULL, NULL, NULL);
    cr_assert_eq(rc, SQLITE_CONSTRAINT, "update: %s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_TRIGGER);
    cr_assert_not_null(strstr(sqlite3_errmsg(db), "append-only"));
    rc = sqlite3_exec(db, "DELETE FROM audit", NULL, NULL, NULL);
    cr_assert_eq(rc, SQLITE_CONSTRAINT, "delete: %s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_TRIGGER);
    char detail[64];
    raw_query(db, "SELECT detail FROM audit", detail, sizeof detail);
    sqlite3_close(db);
    cr_assert_str_eq(detail, "recipients=1");
    cr_assert_eq(ct_store_audit_count(g_st, ""), 1);
    finish();
}

/* ---- the audit chain ----------------------------------------------------------------------- */

/* What a scan saw: the rows' seq, the chain recomputed from genesis over the stored leaves, and
 * whether every stored leaf and chain matched the recomputation. */
typedef struct chain_check {
    int64_t n;
    int64_t last_seq;
    uint8_t head[CT_AUDIT_HASH_LEN];
    bool gapless;
    bool leaves_ok;
    bool chain_ok;
    int stop_after; /* 0: read everything; k: return 7 after k rows */
} chain_check_t;

static int check_chain_row(const ct_audit_stored_t *r, void *arg)
{
    chain_check_t *c = arg;
    uint8_t leaf[CT_AUDIT_HASH_LEN];
    cr_assert_eq(ct_audit_chain_leaf(&r->row, leaf), 0);
    if (r->bad_column != NULL || r->leaf_len != CT_AUDIT_HASH_LEN ||
        memcmp(leaf, r->leaf, CT_AUDIT_HASH_LEN) != 0)
        c->leaves_ok = false;
    cr_assert_eq(ct_audit_chain_link(c->head, leaf, c->head), 0);
    if (r->chain_len != CT_AUDIT_HASH_LEN || memcmp(c->head, r->chain, CT_AUDIT_HASH_LEN) != 0)
        c->chain_ok = false;
    if (r->row.seq != c->last_seq + 1)
        c->gapless = false;
    c->last_seq = r->row.seq;
    c->n++;
    return c->stop_after != 0 && c->n == c->stop_after ? 7 : 0;
}

/* Scans st's audit log and recomputes its chain (independently of audit_verify.c). */
static chain_check_t check_chain(ct_store_t *st)
{
    chain_check_t c = {.gapless = true, .leaves_ok = true, .chain_ok = true};
    memcpy(c.head, ct_audit_genesis, CT_AUDIT_HASH_LEN);
    cr_assert_eq(ct_store_audit_scan(st, check_chain_row, &c), 0);
    return c;
}

static void assert_chain_intact(ct_store_t *st, int64_t rows)
{
    chain_check_t c = check_chain(st);
    cr_assert_eq(c.n, rows, "%lld rows, expected %lld", (long long)c.n, (long long)rows);
    cr_assert(c.gapless, "seq runs 1..n without gaps");
    cr_assert(c.leaves_ok, "every stored leaf is the leaf of its row");
    cr_assert(c.chain_ok, "every stored chain value follows from the one before");
    int64_t seq;
    uint8_t head[CT_AUDIT_HASH_LEN];
    cr_assert_eq(ct_store_audit_head(st, &seq, head), 0);
    cr_assert_eq(seq, rows);
    cr_assert_eq(memcmp(head, c.head, sizeof head), 0, "the head is the last row's chain");
}

Test(store, audit_head_of_empty_log_is_genesis, .fini = cleanup)
{
    open_rw();
    int64_t seq = -1;
    uint8_t head[CT_AUDIT_HASH_LEN];
    memset(head, 0xff, sizeof head);
    cr_assert_eq(ct_store_audit_head(g_st, &seq, head), 0);
    cr_assert_eq(seq, 0);
    cr_assert_eq(memcmp(head, ct_audit_genesis, sizeof head), 0);
    finish();
}

/* The first row's leaf and chain are vector E of tests/unit/test_audit_chain.c (made with
 * Python's hashlib): the store hashes exactly the record it was given, with encoding version 2
 * (which covers the certificate fingerprint), and stores the version with the row. */
Test(store, audit_append_stores_the_leaf_and_chain_of_the_record, .fini = cleanup)
{
    open_rw();
    ct_audit_t a = {.time_ms = 1700000000000,
                    .actor_id = "dr.ahmed",
                    .actor_role = CT_ROLE_PSYCHIATRIST,
                    .cert_fp = "60a3fc80cd8d087bc8168f6570269dc500863b337424a07aa71b9a104dc25c7f",
                    .peer_addr = "127.0.0.1:50000",
                    .action = "message.send",
                    .object_type = "message",
                    .object_id = "01900000-0000-7000-8000-000000000001",
                    .participant_id = "p-17",
                    .outcome = CT_AUDIT_SUCCESS,
                    .detail = "recipients=2"};
    cr_assert_eq(ct_store_audit_append(g_st, &a), 1);
    sqlite3 *db = raw_open();
    char leaf[80], chain[80], enc[8], fp[80];
    raw_query(db, "SELECT lower(hex(leaf)) FROM audit WHERE seq = 1", leaf, sizeof leaf);
    raw_query(db, "SELECT lower(hex(chain)) FROM audit WHERE seq = 1", chain, sizeof chain);
    raw_query(db, "SELECT enc FROM audit WHERE seq = 1", enc, sizeof enc);
    raw_query(db, "SELECT cert_fp FROM audit WHERE seq = 1", fp, sizeof fp);
    sqlite3_close(db);
    cr_assert_str_eq(leaf, "af8c7cd1bc2a3271086413de2a46373ad07fab7b3148fafcc6e4c247e8ec545a");
    cr_assert_str_eq(chain, "661c85b9022a1e59472731fd36be8f82b12693184be95c38ca10cf5b961ac28b");
    cr_assert_str_eq(enc, "2");
    cr_assert_str_eq(fp, a.cert_fp);
    finish();
}

Test(store, audit_appends_form_one_chain, .fini = cleanup)
{
    open_rw();
    for (int i = 0; i < 5; i++) {
        ct_audit_t a = audit(i % 2 ? "tls.handshake" : "message.send");
        cr_assert_eq(ct_store_audit_append(g_st, &a), i + 1);
    }
    cr_assert_eq(ct_store_begin(g_st), 0);
    for (int i = 0; i < 3; i++) {
        ct_audit_t a = audit("message.send");
        cr_assert_eq(ct_store_audit_append(g_st, &a), 6 + i, "appends see their own transaction");
    }
    cr_assert_eq(ct_store_commit(g_st), 0);
    assert_chain_intact(g_st, 8);
    finish();
}

/* A job undone by its savepoint takes its audit row along; the next row takes its seq, so the
 * numbering stays gapless and the chain intact. */
Test(store, audit_row_undone_with_its_savepoint_leaves_no_gap, .fini = cleanup)
{
    open_rw();
    ct_audit_t a = audit("message.send");
    cr_assert_eq(ct_store_begin(g_st), 0);
    cr_assert_eq(ct_store_audit_append(g_st, &a), 1);
    cr_assert_eq(ct_store_savepoint(g_st), 0);
    cr_assert_eq(ct_store_audit_append(g_st, &a), 2);
    cr_assert_eq(ct_store_rollback_to(g_st), 0);
    cr_assert_eq(ct_store_audit_append(g_st, &a), 2);
    cr_assert_eq(ct_store_commit(g_st), 0);
    cr_assert_eq(ct_store_begin(g_st), 0);
    cr_assert_eq(ct_store_audit_append(g_st, &a), 3);
    cr_assert_eq(ct_store_rollback(g_st), 0);
    cr_assert_eq(ct_store_audit_append(g_st, &a), 3, "outside a transaction");
    assert_chain_intact(g_st, 3);
    finish();
}

/* The metrics count what ct_store_audit_committed lists: the rows of the newest commit, by
 * action and outcome, without those a ROLLBACK TO undid; nothing for an open or rolled-back
 * transaction. */
Test(store, committed_audit_rows_are_listed_by_action_and_outcome, .fini = cleanup)
{
    open_rw();
    const uint16_t *slots = NULL;
    const size_t cols = CT_AUDIT_OUTCOME_COLUMNS;
    ct_audit_t send = audit("message.send"), open = audit("alert.open");
    ct_audit_t refused = audit("message.deliver"), unknown = audit("no.such_action");
    refused.outcome = CT_AUDIT_MINOR_FAILURE;
    unknown.outcome = CT_AUDIT_MAJOR_FAILURE;
    cr_assert_eq(ct_store_begin(g_st), 0);
    cr_assert_gt(ct_store_audit_append(g_st, &send), 0);
    cr_assert_eq(ct_store_savepoint(g_st), 0);
    cr_assert_gt(ct_store_audit_append(g_st, &open), 0);
    cr_assert_eq(ct_store_release(g_st), 0);
    cr_assert_eq(ct_store_savepoint(g_st), 0);
    cr_assert_gt(ct_store_audit_append(g_st, &refused), 0);
    cr_assert_eq(ct_store_rollback_to(g_st), 0);
    cr_assert_gt(ct_store_audit_append(g_st, &unknown), 0);
    cr_assert_eq(ct_store_audit_committed(g_st, &slots), 0, "nothing is committed yet");
    cr_assert_eq(ct_store_commit(g_st), 0);
    cr_assert_eq(ct_store_audit_committed(g_st, &slots), 3);
    cr_expect_eq(slots[0], ct_audit_action_index("message.send") * cols + 0);
    cr_expect_eq(slots[1], ct_audit_action_index("alert.open") * cols + 0);
    cr_expect_eq(slots[2], ct_audit_actions_count * cols + 3, "an unknown code, major failure");

    cr_assert_eq(ct_store_begin(g_st), 0);
    cr_assert_gt(ct_store_audit_append(g_st, &send), 0);
    cr_assert_eq(ct_store_rollback(g_st), 0);
    cr_assert_eq(ct_store_audit_committed(g_st, &slots), 0, "rolled back");
    cr_assert_gt(ct_store_audit_append(g_st, &refused), 0);
    cr_assert_eq(ct_store_audit_committed(g_st, &slots), 1, "an append that commits by itself");
    cr_expect_eq(slots[0], ct_audit_action_index("message.deliver") * cols + 1);
    cr_assert_eq(ct_store_audit_count(g_st, ""), 4);
    finish();
}

/* The tally follows SQLite exactly: a transaction lost to a failed write lists nothing, an
 * inner savepoint rolled back drops only its rows, and savepoints nest at most 7 deep. */
Test(store, committed_audit_rows_follow_failures_and_nested_savepoints, .fini = cleanup)
{
    open_rw();
    const uint16_t *slots = NULL;
    ct_audit_t a = audit("message.send");
    char to[1][CT_ID_MAX + 1] = {"bob"};
    struct rlimit old = fill_disk(4096);
    cr_assert_eq(ct_store_begin(g_st), 0);
    cr_assert_gt(ct_store_audit_append(g_st, &a), 0);
    cr_assert_eq(ct_store_savepoint(g_st), 0);
    char *big;
    ct_message_t m = big_message("big", to, 8 * 1024 * 1024, &big);
    uint8_t h[32];
    hash_of(h, 0xab);
    ct_message_receipt_t r;
    cr_assert_eq(ct_store_message_insert(g_st, &m, h, &r), CT_EIO);
    free(big);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    cr_assert_neq(ct_store_commit(g_st), 0, "the transaction was lost");
    cr_assert_eq(ct_store_audit_committed(g_st, &slots), 0);
    cr_assert_eq(ct_store_rollback(g_st), 0);

    cr_assert_eq(ct_store_begin(g_st), 0);
    cr_assert_gt(ct_store_audit_append(g_st, &a), 0);
    cr_assert_eq(ct_store_savepoint(g_st), 0);
    cr_assert_gt(ct_store_audit_append(g_st, &a), 0);
    cr_assert_eq(ct_store_savepoint(g_st), 0);
    cr_assert_gt(ct_store_audit_append(g_st, &a), 0);
    cr_assert_eq(ct_store_rollback_to(g_st), 0, "the inner savepoint");
    cr_assert_eq(ct_store_release(g_st), 0, "the outer one keeps its row");
    cr_assert_eq(ct_store_commit(g_st), 0);
    cr_assert_eq(ct_store_audit_committed(g_st, &slots), 2);
    cr_assert_eq(ct_store_audit_count(g_st, ""), 2);

    cr_assert_eq(ct_store_begin(g_st), 0);
    for (int d = 0; d < 7; d++)
        cr_assert_eq(ct_store_savepoint(g_st), 0, "savepoint %d", d + 1);
    cr_assert_eq(ct_store_savepoint(g_st), CT_EINTERNAL, "an 8th nested savepoint");
    cr_assert_eq(ct_store_rollback(g_st), 0);
    finish();
}

/* Outside a transaction an append takes the write lock and commits by itself: another handle
 * sees it at once, and it is not left holding the lock. */
Test(store, audit_append_outside_a_transaction_commits_by_itself, .fini = cleanup)
{
    open_rw();
    char err[256];
    ct_store_t *other = NULL;
    cr_assert_eq(ct_store_open(g_path, CT_STORE_READWRITE, &other, err, sizeof err), 0, "%s", err);
    ct_audit_t a = audit("member.enroll");
    cr_assert_eq(ct_store_audit_append(g_st, &a), 1);
    cr_assert_eq(ct_store_audit_count(other, ""), 1);
    cr_assert_eq(ct_store_audit_append(other, &a), 2, "the other handle chains onto it");
    cr_assert_eq(ct_store_audit_append(g_st, &a), 3);
    ct_store_close(other);
    assert_chain_intact(g_st, 3);
    finish();
}

/* Several processes append at once (the daemon's writer and admin commands): each reads the
 * newest row under the write lock, so they all extend one chain. */
Test(store, concurrent_appenders_in_several_processes_form_one_chain, .fini = cleanup)
{
    open_rw();
    ct_store_close(g_st);
    g_st = NULL;
    enum { PROCS = 4, EACH = 40 };
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        cr_assert_geq(pids[p], 0, "fork");
        if (pids[p] == 0) {
            /* The child: its own handle; half its rows in transactions of two. Never returns
             * into Criterion. */
            ct_store_t *st = NULL;
            int bad = ct_store_open(g_path, CT_STORE_READWRITE, &st, NULL, 0) != 0;
            for (int i = 0; !bad && i < EACH; i++) {
                ct_audit_t a = audit(p % 2 ? "member.enroll" : "message.send");
                if (i % 4 == 0) {
                    bad = ct_store_begin(st) != 0 || ct_store_audit_append(st, &a) <= 0 ||
                          ct_store_audit_append(st, &a) <= 0 || ct_store_commit(st) != 0;
                    i++;
                } else {
                    bad = ct_store_audit_append(st, &a) <= 0;
                }
            }
            ct_store_close(st);
            _exit(bad);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int status;
        cr_assert_eq(waitpid(pids[p], &status, 0), pids[p]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "appender %d failed", p);
    }
    char err[256];
    cr_assert_eq(ct_store_open(g_path, CT_STORE_READWRITE, &g_st, err, sizeof err), 0, "%s", err);
    assert_chain_intact(g_st, PROCS * EACH);
    finish();
}

Test(store, audit_scan_stops_on_callback_value, .fini = cleanup)
{
    open_rw();
    ct_audit_t a = audit("message.send");
    for (int i = 0; i < 4; i++)
        cr_assert_gt(ct_store_audit_append(g_st, &a), 0);
    chain_check_t c = {.stop_after = 2};
    memcpy(c.head, ct_audit_genesis, CT_AUDIT_HASH_LEN);
    cr_assert_eq(ct_store_audit_scan(g_st, check_chain_row, &c), 7);
    cr_assert_eq(c.n, 2);
    cr_assert_eq(ct_store_audit_append(g_st, &a), 5, "the scan left the handle usable");
    finish();
}

/* What audit_scan_reports_stored_values_as_they_are saw of rows 1 and 2. */
typedef struct seen_rows {
    size_t detail_len[3];
    size_t leaf_len[3];
    const char *bad_column[3];
} seen_rows_t;

static int see_row(const ct_audit_stored_t *r, void *arg)
{
    seen_rows_t *seen = arg;
    cr_assert(r->row.seq >= 1 && r->row.seq <= 2);
    seen->detail_len[r->row.seq] = r->row.detail.len;
    seen->leaf_len[r->row.seq] = r->leaf_len;
    seen->bad_column[r->row.seq] = r->bad_column; /* a static name: outlives the callback */
    return 0;
}

/* The scan hands over what the file holds, which a hand-made file can make anything: texts with
 * their stored length (bytes after a NUL included), blobs of any length, and the name of a
 * column whose value has another type (possible once the table is no longer STRICT). */
Test(store, audit_scan_reports_stored_values_as_they_are, .fini = cleanup)
{
    open_rw();
    ct_audit_t a = audit("message.send");
    cr_assert_gt(ct_store_audit_append(g_st, &a), 0);
    cr_assert_gt(ct_store_audit_append(g_st, &a), 0);
    ct_store_close(g_st);
    g_st = NULL;
    sqlite3 *db = raw_open();
    cr_assert_eq(sqlite3_exec(db,
                              "DROP TRIGGER audit_no_update;"
                              "UPDATE audit SET detail = 'recipients=1' || char(0) || 'x'"
                              " WHERE seq = 1;"
                              "PRAGMA ignore_check_constraints = ON;"
                              "UPDATE audit SET leaf = zeroblob(3) WHERE seq = 2;"
                              "PRAGMA writable_schema = ON;"
                              "UPDATE sqlite_schema SET sql = replace(sql, ') STRICT', ')')"
                              " WHERE name = 'audit';",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    db = raw_open();
    cr_assert_eq(
        sqlite3_exec(db, "UPDATE audit SET time_ms = 'soon' WHERE seq = 2", NULL, NULL, NULL),
        SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);

    char err[256];
    cr_assert_eq(ct_store_open(g_path, CT_STORE_READONLY, &g_st, err, sizeof err), 0, "%s", err);
    seen_rows_t seen;
    memset(&seen, 0, sizeof seen);
    cr_assert_eq(ct_store_audit_scan(g_st, see_row, &seen), 0);
    cr_assert_eq(seen.detail_len[1], 14, "recipients=1, NUL, x");
    cr_assert_null(seen.bad_column[1]);
    cr_assert_eq(seen.leaf_len[2], 3);
    cr_assert_not_null(seen.bad_column[2]);
    cr_assert_str_eq(seen.bad_column[2], "time_ms");
    finish();
}

/* The newest row's chain value is what the next row is chained to: if it is not 32 bytes the
 * append refuses rather than chain onto garbage. */
Test(store, audit_append_refuses_a_malformed_head, .fini = cleanup)
{
    open_rw();
    ct_audit_t a = audit("message.send");
    cr_assert_gt(ct_store_audit_append(g_st, &a), 0);
    sqlite3 *db = raw_open();
    cr_assert_eq(sqlite3_exec(db,
                              "DROP TRIGGER audit_no_update; PRAGMA ignore_check_constraints = ON;"
                              "UPDATE audit SET chain = x'00' WHERE seq = 1;",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
    cr_assert_eq(ct_store_audit_append(g_st, &a), CT_EINTERNAL);
    cr_assert_eq(ct_store_audit_count(g_st, ""), 1);
    finish();
}

/*
 * Version 1 fixture: the schema of migration 1 exactly as it shipped (frozen here; never edit)
 * with two audit rows, the records of vectors A and B of test_audit_chain.c. Opening it
 * read-write runs migration 2, which must chain the existing rows in seq order to exactly the
 * vectors' values, keep the append-only triggers, and let new rows continue the chain.
 */
static const char V1_SCHEMA[] =
    "CREATE TABLE members ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  display_name TEXT NOT NULL,"
    "  role INTEGER NOT NULL,"
    "  active INTEGER NOT NULL CHECK (active IN (0, 1)),"
    "  created_at_ms INTEGER NOT NULL"
    ");"
    "CREATE TABLE messages ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  message_id TEXT NOT NULL UNIQUE,"
    "  sender_id TEXT NOT NULL,"
    "  sender_role INTEGER NOT NULL,"
    "  client_msg_id TEXT NOT NULL,"
    "  request_hash BLOB NOT NULL CHECK (length(request_hash) = 32),"
    "  participant_id TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  priority INTEGER NOT NULL,"
    "  stored_at_ms INTEGER NOT NULL,"
    "  UNIQUE (sender_id, client_msg_id)"
    ");"
    "CREATE TABLE message_recipients ("
    "  message_seq INTEGER NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,"
    "  member_id TEXT NOT NULL,"
    "  position INTEGER NOT NULL,"
    "  delivered_at_ms INTEGER,"
    "  PRIMARY KEY (message_seq, member_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX message_recipients_pending ON message_recipients (member_id, message_seq)"
    "  WHERE delivered_at_ms IS NULL;"
    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  time_ms INTEGER NOT NULL,"
    "  actor_id TEXT NOT NULL,"
    "  actor_role INTEGER NOT NULL,"
    "  peer_addr TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  object_type TEXT NOT NULL,"
    "  object_id TEXT NOT NULL,"
    "  participant_id TEXT NOT NULL,"
    "  outcome INTEGER NOT NULL,"
    "  detail TEXT NOT NULL"
    ");"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
    "INSERT INTO members VALUES ('dr.ahmed', 'Dr Amira Ahmed', 1, 1, 1700000000000);"
    "INSERT INTO audit (time_ms, actor_id, actor_role, peer_addr, action, object_type,"
    "  object_id, participant_id, outcome, detail) VALUES"
    "  (1700000000000, 'dr.ahmed', 1, '127.0.0.1:50000', 'message.send', 'message',"
    "   '01900000-0000-7000-8000-000000000001', 'p-17', 0, 'recipients=2'),"
    "  (-1, '', 0, '', '', '', '', '', 12, '');"
    "PRAGMA user_version = 1;";

Test(store, fixture_version1_is_migrated_and_its_audit_rows_chained, .fini = cleanup)
{
    make_dir();
    sqlite3 *db = raw_open_create();
    cr_assert_eq(sqlite3_exec(db, V1_SCHEMA, NULL, NULL, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(db));
    sqlite3_close(db);

    char err[256];
    ct_store_t *ro = NULL;
    cr_assert_eq(ct_store_open(g_path, CT_STORE_READONLY, &ro, err, sizeof err), CT_EPRECONDITION);
    cr_assert_not_null(strstr(err, "older"), "read-only names the old version: %s", err);
    cr_assert_eq(ct_store_open(g_path, CT_STORE_READWRITE, &g_st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ct_store_db_version(g_st), ct_store_schema_version(), "and on to the newest");

    db = raw_open();
    char v[80];
    raw_query(db, "SELECT lower(hex(leaf)) FROM audit WHERE seq = 1", v, sizeof v);
    cr_assert_str_eq(v, "76c8cc62713403fdecf09810ec6801b037c7e9b14fe053ce1c6a05f8e5bedeed");
    raw_query(db, "SELECT lower(hex(chain)) FROM audit WHERE seq = 1", v, sizeof v);
    cr_assert_str_eq(v, "536b07e7e8fb563e03008d403c1e34bea6c5be45347291c4487197a7efbe8680");
    raw_query(db, "SELECT lower(hex(leaf)) FROM audit WHERE seq = 2", v, sizeof v);
    cr_assert_str_eq(v, "91e43b5c558f09573f6a377954e6e6b75e10cb1d6984b5ccfc1020b3665b04e5");
    raw_query(db, "SELECT lower(hex(chain)) FROM audit WHERE seq = 2", v, sizeof v);
    cr_assert_str_eq(v, "391de78822655159eabef63ea80b05cc5dc6ae97a69c17a5411b609675afb645");
    raw_query(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'audit_v2'", v, sizeof v);
    cr_assert_str_eq(v, "0");
    raw_query(db, "SELECT group_concat(enc || ':' || cert_fp, ',') FROM audit", v, sizeof v);
    cr_assert_str_eq(v, "1:,1:", "migration 4 keeps the old rows at encoding version 1");
    int rc = sqlite3_exec(db, "UPDATE audit SET detail = 'x'", NULL, NULL, NULL);
    cr_assert_eq(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_TRIGGER, "update: %d %s", rc,
                 sqlite3_errmsg(db));
    rc = sqlite3_exec(db, "DELETE FROM audit WHERE seq = 2", NULL, NULL, NULL);
    cr_assert_eq(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_TRIGGER, "delete: %d %s", rc,
                 sqlite3_errmsg(db));
    sqlite3_close(db);

    ct_member_t m;
    cr_assert_eq(ct_store_member_get(g_st, "dr.ahmed", &m), 0, "other tables are untouched");
    ct_audit_t a = audit("member.enroll");
    cr_assert_eq(ct_store_audit_append(g_st, &a), 3);
    assert_chain_intact(g_st, 3); /* versions 1 and 2 in one chain */
    finish();
}

/*
 * Migration 10 rebuilds messages and message_recipients without AUTOINCREMENT. From the version
 * 1 fixture with messages in it (seq 1, 2 and 5: the gap as a deleted message would have left
 * it), every row and its delivery state survive, the recipients still point at messages, the
 * next message takes the next seq, and deleting a message is refused from then on.
 */
Test(store, migration_10_keeps_messages_and_their_seqs, .fini = cleanup)
{
    make_dir();
    sqlite3 *db = raw_open_create();
    cr_assert_eq(sqlite3_exec(db, V1_SCHEMA, NULL, NULL, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(db));
    static const char rows[] =
        "INSERT INTO messages VALUES"
        "  (1, 'm-1', 'alice', 2, 'c-1', zeroblob(32), '', 'one', 'body 1', 2, 1700000000001),"
        "  (2, 'm-2', 'alice', 2, 'c-2', zeroblob(32), '', 'two', 'body 2', 2, 1700000000002),"
        "  (5, 'm-5', 'alice', 2, 'c-5', zeroblob(32), '', 'five', 'body 5', 2, 1700000000005);"
        "INSERT INTO message_recipients VALUES (1, 'bob', 0, NULL), (1, 'carol', 1, 1700000000100),"
        "  (2, 'bob', 0, 1700000000200), (5, 'bob', 0, NULL);";
    cr_assert_eq(sqlite3_exec(db, rows, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);

    char err[256];
    cr_assert_eq(ct_store_open(g_path, CT_STORE_READWRITE, &g_st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ct_store_db_version(g_st), ct_store_schema_version());
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", g_path);
    struct stat sb;
    cr_assert(stat(wal, &sb) != 0 || sb.st_size == 0,
              "the log the migrations wrote is given back: %lld bytes", (long long)sb.st_size);

    db = raw_open();
    char v[256];
    raw_query(db,
              "SELECT instr(upper(sql), 'AUTOINCREMENT') FROM sqlite_schema"
              " WHERE name = 'messages'",
              v, sizeof v);
    cr_assert_str_eq(v, "0", "messages has no AUTOINCREMENT");
    raw_query(db,
              "SELECT group_concat(seq || ':' || message_id || ':' || body, ',')"
              " FROM (SELECT * FROM messages ORDER BY seq)",
              v, sizeof v);
    cr_assert_str_eq(v, "1:m-1:body 1,2:m-2:body 2,5:m-5:body 5");
    raw_query(db,
              "SELECT group_concat(message_seq || member_id || ifnull(delivered_at_ms, '-'), ',')"
              " FROM (SELECT * FROM message_recipients ORDER BY 1, 2)",
              v, sizeof v);
    cr_assert_str_eq(v, "1bob-,1carol1700000000100,2bob1700000000200,5bob-");
    raw_query(db,
              "SELECT \"table\" || ':' || \"to\" FROM pragma_foreign_key_list("
              "'message_recipients')",
              v, sizeof v);
    cr_assert_str_eq(v, "messages:seq", "the recipients' foreign key follows the rename");
    raw_query(db,
              "SELECT count(*) FROM sqlite_schema WHERE name LIKE '%_v10'"
              " OR name = 'message_recipients_pending'",
              v, sizeof v);
    cr_assert_str_eq(v, "1", "no table left behind, the pending index rebuilt");

    ct_message_t page[4];
    cr_assert_eq(ct_store_inbox_page(g_st, "bob", 0, page, 4), 2, "bob's two pending messages");
    cr_assert_eq(page[0].seq, 1);
    cr_assert_eq(page[1].seq, 5);
    ct_message_clear(&page[0]);
    ct_message_clear(&page[1]);
    char to[1][CT_ID_MAX + 1] = {"bob"};
    cr_assert_eq(insert("c-6", to, 1).seq, 6, "the next seq follows the newest");

    int rc = sqlite3_exec(db, "DELETE FROM messages WHERE seq = 6", NULL, NULL, NULL);
    cr_assert_eq(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_TRIGGER, "delete: %d %s", rc,
                 sqlite3_errmsg(db));
    raw_query(db, "SELECT count(*) FROM pragma_foreign_key_check", v, sizeof v);
    cr_assert_str_eq(v, "0");
    sqlite3_close(db);
    finish();
}

/* Every column the migrations since version 1 gave messages (kind, event, payload, withheld)
 * survives migration 10 too: a current database is put back into the shape of version 9
 * (messages with AUTOINCREMENT) and opened again; a dump of every row and column is the same
 * before and after. */
#define MESSAGE_DUMP_SQL                                                                           \
    "SELECT group_concat(line, '|') FROM (SELECT seq || ',' || message_id || ',' || sender_id"     \
    " || ',' || sender_role || ',' || client_msg_id || ',' || hex(request_hash) || ','"            \
    " || participant_id || ',' || subject || ',' || body || ',' || priority || ','"                \
    " || stored_at_ms || ',' || kind || ',' || event || ',' || ifnull(hex(payload), 'NULL')"       \
    " || ',' || withheld AS line FROM messages ORDER BY seq)"
Test(store, migration_10_keeps_every_column_of_version_9, .fini = cleanup)
{
    open_rw();
    char to[2][CT_ID_MAX + 1] = {"bob", "carol"};
    insert("text-1", to, 2);
    ct_message_t ev = message("event-1", to, 1);
    static uint8_t snapshot[] = {0x0a, 0x0b, 0x00, 0x0c};
    ev.kind = CT_MSG_REFERRAL;
    snprintf(ev.event, sizeof ev.event, "referral.create");
    ev.payload = snapshot;
    ev.payload_len = sizeof snapshot;
    ev.withheld = (char *)"carol";
    uint8_t h[32];
    hash_of(h, 0x5c);
    ct_message_receipt_t r;
    cr_assert_eq(ct_store_message_insert(g_st, &ev, h, &r), 0);
    cr_assert_str_eq(r.withheld, "carol");
    ct_message_receipt_clear(&r);
    ct_store_close(g_st);
    g_st = NULL;

    sqlite3 *db = raw_open();
    char before[2048], after[2048];
    raw_query(db, MESSAGE_DUMP_SQL, before, sizeof before);
    cr_assert_not_null(strstr(before, "referral.create,0A0B000C,carol"), "%s", before);
    cr_assert_eq(sqlite3_exec(db, CT_TEST_MESSAGES_TO_VERSION9_SQL, NULL, NULL, NULL), SQLITE_OK,
                 "%s", sqlite3_errmsg(db));
    sqlite3_close(db);

    char err[256];
    cr_assert_eq(ct_store_open(g_path, CT_STORE_READWRITE, &g_st, err, sizeof err), 0, "%s", err);
    db = raw_open();
    raw_query(db, MESSAGE_DUMP_SQL, after, sizeof after);
    char v[64];
    raw_query(db,
              "SELECT instr(upper(sql), 'AUTOINCREMENT') FROM sqlite_schema"
              " WHERE name = 'messages'",
              v, sizeof v);
    sqlite3_close(db);
    cr_assert_str_eq(v, "0", "migrated again");
    cr_assert_str_eq(after, before);
    finish();
}

static int collect_cp(const ct_audit_checkpoint_t *cp, void *arg)
{
    int64_t *seqs = arg;
    cr_assert_null(cp->malformed);
    seqs[seqs[0] + 1] = cp->seq;
    seqs[0]++;
    return 0;
}

/* Checkpoints: one per seq (a second at the same seq is kept out), listed in seq order, and
 * append-only like the audit rows. */
Test(store, audit_checkpoints_are_one_per_seq_in_order_and_append_only, .fini = cleanup)
{
    open_rw();
    int64_t seq = -1, t = -1;
    cr_assert_eq(ct_store_audit_checkpoint_newest(g_st, &seq, &t), 0);
    cr_assert(seq == 0 && t == 0, "none yet");
    ct_audit_checkpoint_t cp = {.seq = 7, .time_ms = 1700000000007};
    snprintf(cp.key_id, sizeof cp.key_id, "0123456789abcdef");
    cr_assert_eq(ct_store_audit_checkpoint_add(g_st, &cp), 0);
    cp.seq = 3;
    cp.time_ms = 1700000000003;
    cr_assert_eq(ct_store_audit_checkpoint_add(g_st, &cp), 0);
    cr_assert_eq(ct_store_audit_checkpoint_add(g_st, &cp), 1, "seq 3 has one already");
    cr_assert_eq(ct_store_audit_checkpoint_newest(g_st, &seq, &t), 0);
    cr_assert(seq == 7 && t == 1700000000007);
    int64_t seqs[4] = {0};
    cr_assert_eq(ct_store_audit_checkpoint_scan(g_st, collect_cp, seqs), 0);
    cr_assert(seqs[0] == 2 && seqs[1] == 3 && seqs[2] == 7, "in seq order");
    sqlite3 *db = raw_open();
    sqlite3_exec(db, "DELETE FROM audit_checkpoints", NULL, NULL, NULL);
    cr_assert_eq(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_TRIGGER);
    sqlite3_exec(db, "UPDATE audit_checkpoints SET time_ms = 0", NULL, NULL, NULL);
    cr_assert_eq(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_TRIGGER);
    sqlite3_close(db);
    finish();
}

/* ---- read-only handles ------------------------------------------------------------------- */

Test(store, readonly_sees_committed_data_of_writer, .fini = cleanup)
{
    open_rw();
    char err[256];
    ct_store_t *ro = NULL;
    cr_assert_eq(ct_store_open(g_path, CT_STORE_READONLY, &ro, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ct_store_db_version(ro), ct_store_schema_version());

    cr_assert_eq(ct_store_begin(g_st), 0);
    ct_member_t m = member("bob", CT_ROLE_PEER_WORKER);
    cr_assert_eq(ct_store_member_add(g_st, &m), 0);
    ct_member_t got;
    cr_assert_eq(ct_store_member_get(ro, "bob", &got), CT_ENOTFOUND, "uncommitted is invisible");
    cr_assert_eq(ct_store_commit(g_st), 0);
    cr_assert_eq(ct_store_member_get(ro, "bob", &got), 0, "committed is visible");
    cr_assert_eq(got.role, CT_ROLE_PEER_WORKER);
    ct_store_close(ro);
    finish();
}

Test(store, readonly_handle_refuses_writes, .fini = cleanup)
{
    open_rw();
    char err[256];
    ct_store_t *ro = NULL;
    cr_assert_eq(ct_store_open(g_path, CT_STORE_READONLY, &ro, err, sizeof err), 0, "%s", err);
    ct_member_t m = member("bob", CT_ROLE_PEER_WORKER);
    int rc = ct_store_member_add(ro, &m);
    ct_store_close(ro);
    cr_assert_lt(rc, 0);
    cr_assert_neq(rc, CT_EEXISTS);
    ct_member_t got;
    cr_assert_eq(ct_store_member_get(g_st, "bob", &got), CT_ENOTFOUND);
    finish();
}

Test(store, readonly_opens_after_writer_closed, .fini = cleanup)
{
    open_rw();
    ct_member_t m = member("bob", CT_ROLE_PEER_WORKER);
    cr_assert_eq(ct_store_member_add(g_st, &m), 0);
    ct_store_close(g_st);
    g_st = NULL;

    char err[256];
    ct_store_t *ro = NULL;
    cr_assert_eq(ct_store_open(g_path, CT_STORE_READONLY, &ro, err, sizeof err), 0, "%s", err);
    ct_member_t got;
    int rc = ct_store_member_get(ro, "bob", &got);
    ct_store_close(ro);
    cr_assert_eq(rc, 0);
    finish();
}

static int collect_seq(const ct_audit_found_t *row, void *arg)
{
    char *out = arg;
    size_t n = strlen(out);
    snprintf(out + n, 64 - n, "%s%lld", n ? "," : "", (long long)row->seq);
    return 0;
}

/* Since migration 6, audit_participant holds only the rows about a participant (its definition
 * is checked), a query by participant finds exactly that participant's rows, and SQLite uses the
 * partial index for a query of the shape aq_build writes (`participant_id = ? AND participant_id
 * <> ''`; checked with that SQL written out here, since aq_build's text is private). */
Test(store, audit_participant_index_is_partial_and_serves_queries_by_participant, .fini = cleanup)
{
    open_rw();
    const char *parts[] = {"p-1", "", "p-2", "p-1", ""};
    for (int i = 0; i < 5; i++) {
        ct_audit_t a = audit("message.send");
        a.participant_id = parts[i];
        cr_assert_eq(ct_store_audit_append(g_st, &a), i + 1);
    }
    char got[64] = "";
    ct_audit_filter_t f = {.participant_id = "p-1", .outcome = -1};
    cr_assert_geq(ct_store_audit_query(g_st, &f, 0, 100, collect_seq, got), 0);
    cr_assert_str_eq(got, "1,4");

    sqlite3 *db = raw_open();
    char def[256] = "";
    raw_query(db, "SELECT sql FROM sqlite_master WHERE name = 'audit_participant'", def,
              sizeof def);
    /* The shape of aq_build's query by participant. */
    sqlite3_stmt *s = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "EXPLAIN QUERY PLAN SELECT seq FROM audit WHERE seq > 0 AND "
                                    "participant_id = 'p-1' AND participant_id <> '' ORDER BY "
                                    "seq LIMIT 10",
                                    -1, &s, NULL),
                 SQLITE_OK);
    bool uses_index = false;
    while (sqlite3_step(s) == SQLITE_ROW)
        uses_index = uses_index ||
                     strstr((const char *)sqlite3_column_text(s, 3), "audit_participant") != NULL;
    sqlite3_finalize(s);
    sqlite3_close(db);
    cr_assert(strstr(def, "WHERE participant_id <> ''") != NULL, "the index is partial: %s", def);
    cr_assert(uses_index, "a query by participant uses audit_participant");
    finish();
}

/* ---- time queries over the audit zones (migration 7) --------------------------------------- */

#define ZN 3500 /* rows: four zones of 1,024 and part of a fifth */

/* Actors: a few busy ones, and one that appears in only one stretch of the log. */
static const char *const ZONE_ACTORS[] = {"dr.ahmed", "th.lee", "pw.sam", "pw.kim", "admin.rare"};

typedef struct zone_log {
    int64_t time[ZN + 1]; /* by seq */
    int outcome[ZN + 1];
    bool referral[ZN + 1]; /* action "referral.create", else "message.send" */
    int actor[ZN + 1];     /* index into ZONE_ACTORS */
} zone_log_t;

static uint32_t zone_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Appends ZN rows whose times mostly rise but now and then go back (another process's row, a
 * clock set back by up to a minute) or jump ahead, in transactions of varying size, with a
 * savepoint rolled back now and then (its rows vanish and their seqs are used again). Returns
 * what was kept, by seq (the caller frees it). */
static zone_log_t *zone_fill(void)
{
    zone_log_t *log = calloc(1, sizeof *log);
    cr_assert_not_null(log);
    uint32_t x = 2463534242u;
    int64_t clock = 1700000000000;
    int64_t seq = 0;
    cr_assert_eq(ct_store_begin(g_st), 0);
    while (seq < ZN) {
        uint32_t r = zone_rand(&x);
        if (r % 97 == 0) { /* a job that fails: its rows are rolled back */
            cr_assert_eq(ct_store_savepoint(g_st), 0);
            ct_audit_t a = audit("message.send");
            a.time_ms = clock + 5000000;
            cr_assert_eq(ct_store_audit_append(g_st, &a), seq + 1);
            cr_assert_eq(ct_store_rollback_to(g_st), 0);
        }
        if (r % 53 == 0) { /* commit, as the writer does between batches */
            cr_assert_eq(ct_store_commit(g_st), 0);
            cr_assert_eq(ct_store_begin(g_st), 0);
        }
        clock += r % 7;
        int64_t t = clock;
        if (r % 29 == 0)
            t = clock - (int64_t)(zone_rand(&x) % 60000); /* back */
        else if (r % 211 == 0)
            clock += 3600000; /* ahead */
        seq++;
        log->time[seq] = t;
        log->outcome[seq] = r % 5 == 0 ? CT_AUDIT_MINOR_FAILURE : CT_AUDIT_SUCCESS;
        log->referral[seq] = r % 3 == 0;
        log->actor[seq] = seq > 1500 && seq < 1600 && r % 2 == 0 ? 4 : (int)(r % 4);
        ct_audit_t a = audit(log->referral[seq] ? "referral.create" : "message.send");
        a.actor_id = ZONE_ACTORS[log->actor[seq]];
        a.time_ms = t;
        a.outcome = log->outcome[seq];
        cr_assert_eq(ct_store_audit_append(g_st, &a), seq);
    }
    cr_assert_eq(ct_store_commit(g_st), 0);
    return log;
}

typedef struct zone_page {
    int64_t seq[64];
    int n;
} zone_page_t;

static int zone_collect(const ct_audit_found_t *row, void *arg)
{
    zone_page_t *p = arg;
    cr_assert_lt(p->n, 64);
    p->seq[p->n++] = row->seq;
    return 0;
}

static bool zone_match(const zone_log_t *log, int64_t seq, const ct_audit_filter_t *f)
{
    bool action =
        f->action == NULL ||
        (strcmp(f->action, "message.send") == 0 ? !log->referral[seq] : log->referral[seq]);
    return (f->since_ms == 0 || log->time[seq] >= f->since_ms) &&
           (f->until_ms == 0 || log->time[seq] < f->until_ms) &&
           (f->outcome < 0 || log->outcome[seq] == f->outcome) && action &&
           (f->actor_id == NULL || strcmp(f->actor_id, ZONE_ACTORS[log->actor[seq]]) == 0);
}

/* Pages through f with pages of `limit` rows and checks every page against the log itself:
 * exactly the matching rows, in seq order, none missed at a page or zone boundary. */
static void zone_check(const zone_log_t *log, const ct_audit_filter_t *f, int limit)
{
    int64_t after = 0, want = 0;
    for (int pages = 0; pages < 4 * ZN; pages++) {
        zone_page_t p = {.n = 0};
        cr_assert_geq(ct_store_audit_query(g_st, f, after, limit, zone_collect, &p), 0);
        for (int i = 0; i < p.n; i++) {
            do
                want++;
            while (want <= ZN && !zone_match(log, want, f));
            cr_assert_eq(p.seq[i], want,
                         "since %lld until %lld limit %d: got seq %lld, the log says %lld",
                         (long long)f->since_ms, (long long)f->until_ms, limit, (long long)p.seq[i],
                         (long long)want);
            after = p.seq[i];
        }
        if (p.n < limit)
            break;
    }
    do
        want++;
    while (want <= ZN && !zone_match(log, want, f));
    cr_assert_gt(want, ZN, "since %lld until %lld: seq %lld was never returned",
                 (long long)f->since_ms, (long long)f->until_ms, (long long)want);
}

Test(store, time_queries_find_every_row_in_range_across_zones_and_pages, .fini = cleanup)
{
    open_rw();
    zone_log_t *log = zone_fill();
    uint32_t x = 88172645u;
    for (int i = 0; i < 120; i++) {
        int64_t a = log->time[1 + zone_rand(&x) % ZN] + (int64_t)(zone_rand(&x) % 5) - 2;
        int64_t b = log->time[1 + zone_rand(&x) % ZN] + (int64_t)(zone_rand(&x) % 5) - 2;
        ct_audit_filter_t f = {.outcome = -1};
        f.since_ms = i % 7 == 0 ? 0 : (a < b ? a : b);
        f.until_ms = i % 5 == 0 ? 0 : (a < b ? b : a) + 1;
        if (f.since_ms == 0 && f.until_ms == 0)
            f.until_ms = a + 1;
        if (i % 3 == 0)
            f.outcome = CT_AUDIT_MINOR_FAILURE;
        if (i % 4 == 0)
            f.action = (const char *[]){"referral.", "referral.create", "message.send"}[i % 3];
        zone_check(log, &f, 1 + (int)(zone_rand(&x) % 50));
    }
    /* By actor or action alone (no time): the zone plan too. */
    for (int i = 0; i < 5; i++) {
        ct_audit_filter_t f = {.outcome = -1, .actor_id = ZONE_ACTORS[i]};
        zone_check(log, &f, 7 + 13 * i);
        f.action = i % 2 ? "referral.create" : "message.send";
        zone_check(log, &f, 50);
    }
    ct_audit_filter_t absent = {.outcome = -1, .actor_id = "nobody.here"};
    zone_check(log, &absent, 10);
    free(log);
    finish();
}

/* The zone plan reads each zone's rows by rowid range in seq order: no sort of the matches
 * (a page would then cost all of them) and no index that loses the order, for time, actor and
 * action filters; a query by participant is served by audit_participant. */
Test(store, time_queries_read_rows_by_seq_range_without_sorting, .fini = cleanup)
{
    open_rw();
    char plan[1024];
    ct_audit_filter_t f = {.since_ms = 5,
                           .until_ms = 10,
                           .outcome = 1,
                           .object_type = "message",
                           .action = "referral."};
    cr_assert_eq(ct_store_audit_query_plan(g_st, &f, plan, sizeof plan), 0);
    cr_assert(strstr(plan, "SEARCH z USING INTEGER PRIMARY KEY") != NULL, "%s", plan);
    cr_assert(strstr(plan, "SEARCH audit USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)") != NULL,
              "%s", plan);
    cr_assert(strstr(plan, "TEMP B-TREE") == NULL, "%s", plan);
    ct_audit_filter_t g = {.actor_id = "alice", .action = "message.send", .outcome = -1};
    cr_assert_eq(ct_store_audit_query_plan(g_st, &g, plan, sizeof plan), 0);
    cr_assert(strstr(plan, "SEARCH audit USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)") != NULL,
              "%s", plan);
    cr_assert(strstr(plan, "TEMP B-TREE") == NULL, "%s", plan);
    ct_audit_filter_t h = {.participant_id = "p-1", .actor_id = "alice", .outcome = -1};
    cr_assert_eq(ct_store_audit_query_plan(g_st, &h, plan, sizeof plan), 0);
    cr_assert(strstr(plan, "audit_participant") != NULL && strstr(plan, "TEMP B-TREE") == NULL,
              "%s", plan);
    finish();
}

/* A zone summary that leaves out a row is what verify reports: a time query would miss it. */
Test(store, a_narrowed_zone_summary_is_counted_as_uncovered, .fini = cleanup)
{
    open_rw();
    zone_log_t *log = zone_fill();
    int64_t uncovered = -1, first = -1;
    cr_assert_eq(ct_store_audit_zones_check(g_st, &uncovered, &first), 0);
    cr_assert(uncovered == 0 && first == 0, "%lld zones from %lld", (long long)uncovered,
              (long long)first);
    sqlite3 *db = raw_open();
    cr_assert_eq(sqlite3_exec(db, "UPDATE audit_zones SET max_time = min_time WHERE zone = 2;",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "DELETE FROM audit_zones WHERE zone = 3;", NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);
    cr_assert_eq(ct_store_audit_zones_check(g_st, &uncovered, &first), 0);
    cr_assert_eq(uncovered, 2);
    cr_assert_eq(first, 2 * 1024 + 1);
    free(log);
    finish();
}

/* A version-6 database (audit_time, audit_actor, audit_action, no audit_zones; made here from
 * a current one by undoing migrations 7 and 8) is migrated: the indexes are gone, every zone of
 * its existing rows is summarised, and queries by time, actor and action find them. */
Test(store, migration_7_summarises_the_zones_of_an_existing_log, .fini = cleanup)
{
    open_rw();
    zone_log_t *log = zone_fill();
    ct_store_close(g_st);
    g_st = NULL;
    sqlite3 *db = raw_open();
    cr_assert_eq(sqlite3_exec(db,
                              "DROP TABLE audit_zones; CREATE INDEX audit_time ON audit (time_ms);"
                              "CREATE INDEX audit_actor ON audit (actor_id, seq);"
                              "CREATE INDEX audit_action ON audit (action, seq);"
                              "PRAGMA user_version = 6;",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);

    char err[256];
    cr_assert_eq(ct_store_open(g_path, CT_STORE_READWRITE, &g_st, err, sizeof err), 0, "%s", err);
    int64_t uncovered = -1, first = -1;
    cr_assert_eq(ct_store_audit_zones_check(g_st, &uncovered, &first), 0);
    cr_assert_eq(uncovered, 0);
    db = raw_open();
    char version[16] = "", index[64] = "", zones[16] = "";
    raw_query(db, "PRAGMA user_version", version, sizeof version);
    raw_query(db, "SELECT count(*) FROM sqlite_master WHERE name = 'audit_time'", index,
              sizeof index);
    raw_query(db, "SELECT count(*) FROM audit_zones", zones, sizeof zones);
    sqlite3_close(db);
    cr_assert_eq(atoi(version), ct_store_schema_version());
    cr_assert_str_eq(index, "0", "audit_time is dropped");
    cr_assert_str_eq(zones, "4", "3,500 rows make four zones");
    ct_audit_filter_t f = {.since_ms = log->time[1500], .until_ms = log->time[2500], .outcome = -1};
    zone_check(log, &f, 50);
    /* Zones from before migration 8 have every action and actor bit: they match, rows decide. */
    ct_audit_filter_t g = {.actor_id = "admin.rare", .action = "message.send", .outcome = -1};
    zone_check(log, &g, 20);
    free(log);
    finish();
}

/* Every action code the daemon writes has a bit of its own in the zone summaries, so that a
 * query for a rare action (a restore, a revocation) reads only the zones that hold one. A new
 * code must be appended to audit_zones.c's table too. */
Test(store, every_audit_action_has_its_own_zone_bit)
{
    uint64_t seen = 0;
    for (size_t i = 0; i < ct_audit_actions_count; i++) {
        uint64_t bit = ct_audit_zone_action_bit(ct_audit_actions[i].code);
        cr_assert_neq(bit, (uint64_t)1 << 63, "%s has no bit of its own in audit_zones.c",
                      ct_audit_actions[i].code);
        cr_assert_eq(seen & bit, 0, "%s shares its zone bit", ct_audit_actions[i].code);
        seen |= bit;
    }
    cr_assert_eq(ct_audit_zone_action_bit("no.such_action"), (uint64_t)1 << 63);
    /* And the other way: every code ever given a bit keeps it, whether or not the action table
     * still lists it (a retired code's old zones must still be found). */
    unsigned given = 0;
    for (unsigned b = 0; b < 63 && ct_audit_zone_action_code(b) != NULL; b++, given++)
        cr_assert_eq(ct_audit_zone_action_bit(ct_audit_zone_action_code(b)), (uint64_t)1 << b, "%s",
                     ct_audit_zone_action_code(b));
    cr_assert_geq(given, ct_audit_actions_count);
    cr_assert_null(ct_audit_zone_action_code(63));
}
