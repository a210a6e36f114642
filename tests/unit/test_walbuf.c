/*
 * server/store_walbuf.h: a handle that writes the log through the VFS must leave the files exactly
 * as SQLite would without it. Another connection (the default VFS, as the daemon's readers
 * use) sees every committed transaction at once, even with synchronous=NORMAL, where SQLite never
 * syncs the log; large transactions and pages written again in place come out right; a rolled
 * back transaction leaves nothing behind; and a process that dies without closing loses nothing
 * it committed.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "store_walbuf.h"
#include "testsupport.h"

static char *g_dir;
static char g_db[4096];

static void setup(void)
{
    g_dir = ct_test_tmpdir("walbuf");
    snprintf(g_db, sizeof g_db, "%s/t.db", g_dir);
}

static void teardown(void)
{
    ct_test_rmtree(g_dir);
    free(g_dir);
    g_dir = NULL;
}

TestSuite(walbuf, .init = setup, .fini = teardown);

static void exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, err != NULL ? err : sqlite3_errstr(rc));
}

/* Opens the test database through the VFS, in WAL mode, with this synchronous. */
static sqlite3 *open_buffered(const char *synchronous, int cache_pages)
{
    const char *vfs = ct_walbuf_vfs();
    cr_assert_not_null(vfs, "the VFS registers");
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(g_db, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
                 SQLITE_OK);
    char sql[256];
    snprintf(sql, sizeof sql,
             "PRAGMA journal_mode = WAL; PRAGMA synchronous = %s; PRAGMA cache_size = %d;"
             "PRAGMA wal_autocheckpoint = 0;",
             synchronous, cache_pages);
    exec(db, sql);
    return db;
}

/* A second connection through the default VFS, as the daemon's readers and admin commands. */
static sqlite3 *open_plain(void)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(g_db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    return db;
}

static void expect_intact(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(s, 0), "ok");
    sqlite3_finalize(s);
}

/* Inserts rows [from, to) of 300-byte bodies in one transaction. */
static void insert_rows(sqlite3 *db, int from, int to)
{
    exec(db, "BEGIN");
    sqlite3_stmt *s = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "INSERT INTO t (id, body) VALUES (?1, printf('%.300c', ?2))",
                                    -1, &s, NULL),
                 SQLITE_OK);
    for (int i = from; i < to; i++) {
        sqlite3_bind_int(s, 1, i);
        sqlite3_bind_text(s, 2, "x", -1, SQLITE_STATIC);
        cr_assert_eq(sqlite3_step(s), SQLITE_DONE, "%s", sqlite3_errmsg(db));
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    exec(db, "COMMIT");
}

Test(walbuf, a_commit_is_in_the_log_before_anyone_can_read_it_even_unsynced)
{
    sqlite3 *w = open_buffered("NORMAL", 2000);
    exec(w, "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
    sqlite3 *r = open_plain();
    int n = 0;
    for (int batch = 1; batch <= 60; batch++) {
        int more = batch % 7 == 0 ? 800 : batch; /* now and then a large one */
        insert_rows(w, n, n + more);
        n += more;
        cr_assert_eq(ct_test_sql_int(r, "SELECT count(*) FROM t"), n, "after batch %d", batch);
        cr_assert_eq(ct_test_sql_int(r, "SELECT sum(length(body)) FROM t"), 300LL * n);
    }
    expect_intact(r);
    sqlite3_close(r);
    sqlite3_close(w);
    sqlite3 *again = open_plain();
    cr_assert_eq(ct_test_sql_int(again, "SELECT count(*) FROM t"), n);
    expect_intact(again);
    sqlite3_close(again);
    ct_test_leak_check();
}

/* A cache of 10 pages makes a big transaction spill pages into the log and write some of them
 * again in place; a checkpoint and a restart of the log follow, and the data must survive all
 * of it. */
Test(walbuf, spilled_and_rewritten_pages_and_a_restarted_log_come_out_right)
{
    sqlite3 *w = open_buffered("FULL", 10);
    exec(w, "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
    insert_rows(w, 0, 3000);
    exec(w, "BEGIN");
    for (int round = 0; round < 5; round++)
        exec(w, "UPDATE t SET body = printf('%.300c', char(65 + (id + abs(random()) % 5) % 26))");
    exec(w, "COMMIT");
    sqlite3 *r = open_plain();
    cr_assert_eq(ct_test_sql_int(r, "SELECT count(*) FROM t"), 3000);
    cr_assert_eq(ct_test_sql_int(r, "SELECT count(*) FROM t WHERE length(body) = 300"), 3000);
    sqlite3_close(r);
    exec(w, "PRAGMA wal_checkpoint(TRUNCATE)");
    insert_rows(w, 3000, 3100); /* the log starts again at its beginning */
    r = open_plain();
    cr_assert_eq(ct_test_sql_int(r, "SELECT count(*) FROM t"), 3100);
    expect_intact(r);
    sqlite3_close(r);
    sqlite3_close(w);
    ct_test_leak_check();
}

/* The child of a_writer_that_dies_without_closing_keeps_every_commit: 40 commits of 10 rows
 * through the VFS, then _exit without closing. Criterion's asserts are the parent's; this
 * reports by its exit status. */
static int write_then_die(const char *synchronous, int first_id, bool create)
{
    sqlite3 *w = NULL;
    char sql[256];
    snprintf(sql, sizeof sql, "PRAGMA journal_mode = WAL; PRAGMA synchronous = %s;%s", synchronous,
             create ? "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL);" : "");
    if (ct_walbuf_vfs() == NULL ||
        sqlite3_open_v2(g_db, &w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, ct_walbuf_vfs()) !=
            SQLITE_OK ||
        sqlite3_exec(w, sql, NULL, NULL, NULL) != SQLITE_OK)
        return 1;
    for (int batch = 0; batch < 40; batch++) {
        snprintf(sql, sizeof sql,
                 "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9)"
                 " INSERT INTO t SELECT %d + i, printf('%%.300c', 'y') FROM n",
                 first_id + batch * 10);
        if (sqlite3_exec(w, sql, NULL, NULL, NULL) != SQLITE_OK)
            return 2;
    }
    return 0;
}

/* A writer that dies without closing (a crash of the daemon: the kernel keeps what was written)
 * has lost none of its commits, with either synchronous setting. */
Test(walbuf, a_writer_that_dies_without_closing_keeps_every_commit)
{
    const char *settings[] = {"FULL", "NORMAL"};
    for (int k = 0; k < 2; k++) {
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0)
            _exit(write_then_die(settings[k], k * 10000, k == 0));
        int status = 0;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writer (%s) failed: %d",
                  settings[k], status);
        sqlite3 *r = open_plain();
        cr_assert_eq(ct_test_sql_int(r, "SELECT count(*) FROM t"), 400LL * (k + 1),
                     "synchronous=%s", settings[k]);
        expect_intact(r);
        sqlite3_close(r);
    }
    ct_test_leak_check();
}

/* Two writers through the VFS: one spills a large transaction into the log and rolls it back,
 * the other then commits over the same part of the log, and the first closes. Nothing of the
 * rolled-back transaction may reach the file after the other's commit (a VFS that buffered the
 * spilled frames past the rollback wrote them over it: "file is not a database"). */
Test(walbuf, a_rolled_back_spill_never_lands_on_another_writers_commit)
{
    sqlite3 *a = open_buffered("FULL", 10);
    exec(a, "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL);"
            "CREATE TABLE u (id INTEGER PRIMARY KEY, body TEXT NOT NULL);");
    sqlite3 *b = open_buffered("FULL", 2000);
    exec(a, "PRAGMA wal_checkpoint(TRUNCATE)");
    exec(a, "BEGIN;"
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 199)"
            " INSERT INTO t SELECT i, printf('%.300c', 'a') FROM n;"
            "ROLLBACK;");
    exec(b, "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 299)"
            " INSERT INTO u SELECT i, printf('%.300c', 'b') FROM n;");
    sqlite3_close(a);
    sqlite3 *r = open_plain();
    cr_assert_eq(ct_test_sql_int(r, "SELECT count(*) FROM u"), 300);
    cr_assert_eq(ct_test_sql_int(r, "SELECT count(*) FROM t"), 0);
    expect_intact(r);
    sqlite3_close(r);
    sqlite3_close(b);
    ct_test_leak_check();
}
