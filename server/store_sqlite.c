/*
 * The SQLite implementation of store.h: the one file of careteam that includes sqlite3.h.
 *
 * A ct_store_t wraps one sqlite3 connection plus its cache of prepared statements. Every handle
 * runs with foreign_keys=ON, synchronous=FULL and a busy timeout; the read-write handle also
 * puts the database in WAL mode (persistent in the file), so read-only handles on other threads
 * keep reading while the writer commits. The schema is brought up to date by numbered migrations
 * keyed on PRAGMA user_version (see `migrations` below).
 *
 * Invariants:
 *  1. Every statement in st->stmt[] is prepared at most once per handle (on first use) and is
 *     reset with its bindings cleared before the function that stepped it returns. Text and blob
 *     parameters are therefore bound SQLITE_STATIC: the caller's memory outlives the binding.
 *  2. st->depth is 0 outside a transaction, 1 inside ct_store_begin, and 1 + k with k job
 *     savepoints open. It only changes when the SQL that starts or ends that level succeeded.
 *  3. st->lost is 0 unless SQLite rolled the open transaction back by itself after an error
 *     (disk full, I/O error, out of memory); it then holds that error, and every write and
 *     transaction call returns it until the caller ends the transaction with ct_store_rollback
 *     (or ct_store_commit, which also returns it). No write ever autocommits on its own while
 *     the caller believes a transaction is open.
 *  4. Nothing of a message's subject or body is ever logged. SQLite error messages are logged;
 *     they name tables and columns, never values.
 *  5. The audit rows have seq 1, 2, 3, ... without gaps, and each row's leaf and chain are those
 *     of audit_chain.h, chained to the row before it. Only audit_append writes audit rows (and
 *     migration 2 for the rows that existed before the chain); it reads the newest row in the
 *     write transaction that inserts the next, so concurrent appenders cannot fork the chain.
 *
 * Transaction states (st->depth, st->lost):
 *
 *            begin                savepoint
 *     IDLE ─────────────► TXN ─────────────────► TXN+SP ──► TXN+SP+SP ...
 *      ▲ ▲                 │  ◄─────────────────
 *      │ └─commit/rollback─┘  release/rollback_to      (TXN* = TXN with any savepoints)
 *      │
 *      └─rollback/commit── LOST ◄── a failed write after which SQLite rolled TXN* back
 *
 *   transition               function                    SQL
 *   IDLE -> TXN              ct_store_begin              BEGIN IMMEDIATE
 *   TXN* -> IDLE             ct_store_commit             COMMIT (ROLLBACK if it fails)
 *   TXN* -> IDLE             ct_store_rollback           ROLLBACK
 *   TXN* -> TXN*+SP          ct_store_savepoint          SAVEPOINT job
 *   TXN*+SP -> TXN*          ct_store_release            RELEASE job
 *   TXN*+SP -> TXN*          ct_store_rollback_to        ROLLBACK TO job; RELEASE job
 *   TXN* -> LOST             any step that fails         (SQLite rolled back on its own)
 *   LOST -> IDLE             ct_store_rollback / commit  (nothing to do)
 */
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "err.h"
#include "log.h"

/* How long a handle waits for another connection's lock before giving up with CT_EUNAVAIL. */
#define BUSY_TIMEOUT_MS 5000

#define HASH_LEN 32

/*
 * Schema migrations. migrations[i] brings a database from user_version i to i + 1: its SQL
 * script runs first (if any), then its C function (if any), in one transaction together with the
 * user_version bump, so a crash leaves the database at a whole version. Never edit a migration
 * that has shipped: append a new one, and add a fixture database of the old version to
 * tests/unit/test_store.c.
 */
typedef struct migration {
    const char *sql;            /* a script, or NULL */
    int (*run)(ct_store_t *st); /* returns 0 or a CT_E* code; NULL for none */
} migration_t;

static int migrate_audit_chain(ct_store_t *st);

static const migration_t migrations[] = {
    /* 0 -> 1: members, messages with their recipients, and the append-only audit trail. */
    {.sql = "CREATE TABLE members ("
            "  id TEXT PRIMARY KEY NOT NULL,"
            "  display_name TEXT NOT NULL,"
            "  role INTEGER NOT NULL,"
            "  active INTEGER NOT NULL CHECK (active IN (0, 1)),"
            "  created_at_ms INTEGER NOT NULL"
            ");"
            /* AUTOINCREMENT: a seq is never reused, even after the newest message is deleted, so
             * the after_seq cursors that clients keep stay meaningful. */
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
            /* Inbox replay: "pending for member X with seq > N, by seq" is one range scan of this
             * partial index, which holds only undelivered rows and so stays small. */
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
            "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"},
    /* 1 -> 2: the audit rows gain leaf and chain (audit_chain.h); existing rows are chained in
     * seq order. See migrate_audit_chain. */
    {.run = migrate_audit_chain},
};

#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* The columns of an audit row that the chain covers, in the order of ct_audit_row_t (and of
 * audit_row_from below). */
#define AUDIT_ROW_COLUMNS                                                                          \
    "seq, time_ms, actor_id, actor_role, peer_addr, action, object_type, object_id,"               \
    " participant_id, outcome, detail"

/* Every statement a handle may run: X(name, sql). Prepared lazily, see stmt_get. */
#define STMT_MAP(X)                                                                                \
    X(BEGIN, "BEGIN IMMEDIATE")                                                                    \
    X(COMMIT, "COMMIT")                                                                            \
    X(ROLLBACK, "ROLLBACK")                                                                        \
    X(SAVEPOINT, "SAVEPOINT job")                                                                  \
    X(RELEASE, "RELEASE job")                                                                      \
    X(ROLLBACK_TO, "ROLLBACK TO job")                                                              \
    X(MSG_SAVEPOINT, "SAVEPOINT message_insert")                                                   \
    X(MSG_RELEASE, "RELEASE message_insert")                                                       \
    X(MSG_ROLLBACK_TO, "ROLLBACK TO message_insert")                                               \
    X(USER_VERSION, "PRAGMA user_version")                                                         \
    X(MEMBER_ADD, "INSERT INTO members (id, display_name, role, active, created_at_ms)"            \
                  " VALUES (?1, ?2, ?3, ?4, ?5)")                                                  \
    X(MEMBER_GET, "SELECT id, display_name, role, active, created_at_ms FROM members"              \
                  " WHERE id = ?1")                                                                \
    X(MEMBER_SET_ACTIVE, "UPDATE members SET active = ?2 WHERE id = ?1")                           \
    X(MEMBER_LIST, "SELECT id, display_name, role, active, created_at_ms FROM members"             \
                   " ORDER BY id")                                                                 \
    X(MSG_FIND, "SELECT seq, message_id, stored_at_ms, request_hash FROM messages"                 \
                " WHERE sender_id = ?1 AND client_msg_id = ?2")                                    \
    X(MSG_INSERT, "INSERT INTO messages (message_id, sender_id, sender_role, client_msg_id,"       \
                  " request_hash, participant_id, subject, body, priority, stored_at_ms)"          \
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                             \
    X(RCPT_INSERT, "INSERT INTO message_recipients (message_seq, member_id, position)"             \
                   " VALUES (?1, ?2, ?3)")                                                         \
    X(RCPT_ACK, "UPDATE message_recipients SET delivered_at_ms = ?3"                               \
                " WHERE member_id = ?1 AND delivered_at_ms IS NULL"                                \
                " AND message_seq = (SELECT seq FROM messages WHERE message_id = ?2)")             \
    X(RCPT_EXISTS, "SELECT 1 FROM message_recipients"                                              \
                   " WHERE member_id = ?1"                                                         \
                   " AND message_seq = (SELECT seq FROM messages WHERE message_id = ?2)")          \
    X(INBOX_PAGE, "SELECT m.seq, m.message_id, m.sender_id, m.sender_role, m.client_msg_id,"       \
                  " m.participant_id, m.subject, m.body, m.priority, m.stored_at_ms"               \
                  " FROM message_recipients AS r JOIN messages AS m ON m.seq = r.message_seq"      \
                  " WHERE r.member_id = ?1 AND r.delivered_at_ms IS NULL AND r.message_seq > ?2"   \
                  " ORDER BY r.message_seq LIMIT ?3")                                              \
    X(RCPT_LIST, "SELECT member_id FROM message_recipients WHERE message_seq = ?1"                 \
                 " ORDER BY position")                                                             \
    X(AUDIT_HEAD, "SELECT seq, chain FROM audit ORDER BY seq DESC LIMIT 1")                        \
    X(AUDIT_APPEND, "INSERT INTO audit (" AUDIT_ROW_COLUMNS ", leaf, chain)"                       \
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")            \
    X(AUDIT_SCAN, "SELECT " AUDIT_ROW_COLUMNS ", leaf, chain FROM audit ORDER BY seq")             \
    X(AUDIT_COUNT, "SELECT count(*) FROM audit WHERE ?1 = '' OR action = ?1")

enum stmt_id {
#define STMT_ENUM(name, sql) STMT_##name,
    STMT_MAP(STMT_ENUM)
#undef STMT_ENUM
};

enum {
#define STMT_ONE(name, sql) +1
    STMT_COUNT = 0 STMT_MAP(STMT_ONE)
#undef STMT_ONE
};

static const char *const stmt_sql[STMT_COUNT] = {
#define STMT_SQL(name, sql) [STMT_##name] = sql,
    STMT_MAP(STMT_SQL)
#undef STMT_SQL
};

struct ct_store {
    sqlite3 *db; /* owned; closed by ct_store_close */
    ct_store_mode_t mode;
    int depth;                      /* invariant 2 */
    int lost;                       /* invariant 3 */
    sqlite3_stmt *stmt[STMT_COUNT]; /* owned, NULL until first use; invariant 1 */
};

/* ---- errors ------------------------------------------------------------------------------ */

/* Maps an (extended) SQLite result code to the CT_E* code callers act on. */
static int map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
        return CT_EIO;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CT_EUNAVAIL;
    case SQLITE_NOMEM:
        return CT_ENOMEM;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            return CT_EEXISTS;
        return CT_EINTERNAL;
    default:
        return CT_EINTERNAL;
    }
}

/*
 * Called when an SQLite call returned rc (not OK/ROW/DONE) during operation op. Logs it unless
 * it is the expected "already exists", notes a transaction that SQLite rolled back by itself
 * (invariant 3), and returns the CT_E* code.
 */
static int fail(ct_store_t *st, int rc, const char *op)
{
    int err = map_rc(rc);
    if (err == 0)
        err = CT_EINTERNAL;
    if (err != CT_EEXISTS)
        ct_log_warn("store.sqlite_error", "op=%s rc=%d err=\"%s\" msg=\"%s\"", op, rc,
                    sqlite3_errstr(rc), sqlite3_errmsg(st->db));
    if (st->depth > 0 && st->lost == 0 && sqlite3_get_autocommit(st->db))
        st->lost = err;
    return err;
}

/*
 * Returns st->lost, first noticing a transaction that ended without a call of ours (invariant
 * 3). Every write checks it: once SQLite has rolled the caller's transaction back, a further
 * write would run in autocommit mode and be stored on its own, outside the batch it belongs to.
 */
static int txn_lost(ct_store_t *st)
{
    if (st->depth > 0 && st->lost == 0 && sqlite3_get_autocommit(st->db))
        st->lost = CT_EINTERNAL; /* cause unknown: fail() did not see it happen */
    return st->lost;
}

/* Writes a formatted message into errbuf if the caller gave one. */
static void set_errbuf(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_errbuf(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (errbuf == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

/* ---- statements -------------------------------------------------------------------------- */

/* Returns the handle's cached statement id in *out, preparing it on first use. */
static int stmt_get(ct_store_t *st, enum stmt_id id, sqlite3_stmt **out)
{
    if (st->stmt[id] == NULL) {
        int rc = sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &st->stmt[id], NULL);
        if (rc != SQLITE_OK) {
            st->stmt[id] = NULL;
            return fail(st, rc, "prepare");
        }
    }
    *out = st->stmt[id];
    return 0;
}

/* Returns a used statement to its cache: ready to run again, holding no caller memory. */
static void stmt_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/*
 * Binding helpers. Each does nothing once *rc is not SQLITE_OK, so a run of binds needs one
 * check at the end. NULL strings bind as "" (store.h: empty means "not applicable").
 */
static void bind_text(sqlite3_stmt *s, int idx, const char *v, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_text(s, idx, v != NULL ? v : "", -1, SQLITE_STATIC);
}

static void bind_int64(sqlite3_stmt *s, int idx, int64_t v, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_int64(s, idx, v);
}

/* Runs a statement that returns no rows, after its parameters are bound; always resets it. */
static int step_done(ct_store_t *st, sqlite3_stmt *s, const char *op)
{
    int rc = sqlite3_step(s);
    int err = rc == SQLITE_DONE ? 0 : fail(st, rc, op);
    stmt_done(s);
    return err;
}

/* Runs one parameterless cached statement (transaction control, mostly). */
static int exec_stmt(ct_store_t *st, enum stmt_id id, const char *op)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, id, &s);
    if (err == 0)
        err = step_done(st, s, op);
    return err;
}

/*
 * Copies text column col into a fixed array of cap bytes. A stored value that does not fit
 * cannot come from this file's writers (they check lengths), so it is reported as internal.
 */
static int copy_col(sqlite3_stmt *s, int col, char *dst, size_t cap)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    if (v == NULL)
        n = 0;
    if (n >= cap)
        return CT_EINTERNAL;
    if (n > 0)
        memcpy(dst, v, n);
    dst[n] = '\0';
    return 0;
}

/* Returns a malloc'd NUL-terminated copy of text column col and its length in *len. */
static char *dup_col(sqlite3_stmt *s, int col, size_t *len)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    if (v == NULL)
        n = 0;
    char *p = malloc(n + 1);
    if (p == NULL)
        return NULL;
    if (n > 0)
        memcpy(p, v, n);
    p[n] = '\0';
    if (len != NULL)
        *len = n;
    return p;
}

/* True when the fixed array s of cap bytes holds a NUL-terminated string. */
static bool fits(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

/* ---- open, migrate, close ---------------------------------------------------------------- */

int ct_store_schema_version(void)
{
    return SCHEMA_VERSION;
}

int ct_store_db_version(ct_store_t *st)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, STMT_USER_VERSION, &s);
    if (err != 0)
        return err;
    int rc = sqlite3_step(s);
    int v = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : fail(st, rc, "db_version");
    stmt_done(s);
    return v;
}

/* Runs an SQL script on db (no cache: for open-time pragmas and migrations). */
static int exec_script(ct_store_t *st, const char *sql, const char *op)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : fail(st, rc, op);
}

/* Puts the database in WAL mode, which persists in the file; read-only handles inherit it. */
static int enable_wal(ct_store_t *st)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
    if (rc != SQLITE_OK)
        return fail(st, rc, "journal_mode");
    rc = sqlite3_step(s);
    int err = 0;
    if (rc != SQLITE_ROW)
        err = fail(st, rc, "journal_mode");
    else if (sqlite3_column_text(s, 0) == NULL ||
             sqlite3_stricmp((const char *)sqlite3_column_text(s, 0), "wal") != 0)
        err = CT_EINTERNAL; /* e.g. an in-memory database: no durability, refuse it */
    sqlite3_finalize(s);
    return err;
}

/*
 * Applies the migrations the database lacks, one transaction each. The version is read again
 * under the write lock, so two processes opening the same new file do not both migrate it.
 */
static int migrate(ct_store_t *st, const char *path, char *errbuf, size_t errlen)
{
    for (;;) {
        int err = exec_stmt(st, STMT_BEGIN, "migrate.begin");
        if (err != 0) {
            set_errbuf(errbuf, errlen, "%s: cannot lock the database to migrate it: %s", path,
                       sqlite3_errmsg(st->db));
            return err;
        }
        int v = ct_store_db_version(st);
        if (v < 0 || v >= SCHEMA_VERSION) {
            /* Up to date (or newer, which the caller reports): nothing to write. */
            exec_stmt(st, STMT_ROLLBACK, "migrate.rollback");
            if (v < 0)
                set_errbuf(errbuf, errlen, "%s: cannot read the schema version: %s", path,
                           sqlite3_errmsg(st->db));
            return v < 0 ? v : 0;
        }
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
        if (migrations[v].sql != NULL)
            err = exec_script(st, migrations[v].sql, "migrate");
        if (err == 0 && migrations[v].run != NULL)
            err = migrations[v].run(st);
        if (err == 0)
            err = exec_script(st, bump, "migrate.version");
        if (err == 0)
            err = exec_stmt(st, STMT_COMMIT, "migrate.commit");
        if (err != 0) {
            set_errbuf(errbuf, errlen, "%s: migration to schema version %d failed: %s (%s)", path,
                       v + 1, ct_strerror(err), sqlite3_errmsg(st->db));
            if (!sqlite3_get_autocommit(st->db))
                exec_stmt(st, STMT_ROLLBACK, "migrate.rollback");
            return err;
        }
        ct_log_info("store.migrated", "version=%d", v + 1);
    }
}

/* Checks that the schema version is exactly the one this build writes. */
static int check_version(ct_store_t *st, const char *path, char *errbuf, size_t errlen)
{
    int v = ct_store_db_version(st);
    if (v < 0) {
        set_errbuf(errbuf, errlen, "%s: not a readable careteam database: %s", path,
                   sqlite3_errmsg(st->db));
        return v;
    }
    if (v == 0) {
        set_errbuf(errbuf, errlen,
                   "%s: database is not initialised (schema version 0); open it read-write first",
                   path);
        return CT_EPRECONDITION;
    }
    if (v < SCHEMA_VERSION) {
        set_errbuf(errbuf, errlen,
                   "%s: database schema version %d is older than this build's %d; open it "
                   "read-write once to migrate it",
                   path, v, SCHEMA_VERSION);
        return CT_EPRECONDITION;
    }
    if (v > SCHEMA_VERSION) {
        set_errbuf(errbuf, errlen,
                   "%s: database schema version %d is newer than this build's %d; use a newer "
                   "careteamd",
                   path, v, SCHEMA_VERSION);
        return CT_EPRECONDITION;
    }
    return 0;
}

int ct_store_open(const char *path, ct_store_mode_t mode, ct_store_t **out, char *errbuf,
                  size_t errlen)
{
    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';
    if (out == NULL)
        return CT_EINVAL;
    *out = NULL;
    if (path == NULL || (mode != CT_STORE_READWRITE && mode != CT_STORE_READONLY)) {
        set_errbuf(errbuf, errlen, "invalid database path or mode");
        return CT_EINVAL;
    }

    ct_store_t *st = calloc(1, sizeof *st);
    if (st == NULL) {
        set_errbuf(errbuf, errlen, "%s: out of memory", path);
        return CT_ENOMEM;
    }
    st->mode = mode;

    /* NOMUTEX: a handle is used by one thread at a time (store.h), so SQLite's per-connection
     * mutex would only cost time. */
    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    flags |= mode == CT_STORE_READONLY ? SQLITE_OPEN_READONLY
                                       : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path, &st->db, flags, NULL);
    int err;
    if (rc != SQLITE_OK) {
        int sys = st->db != NULL ? sqlite3_system_errno(st->db) : 0;
        if (mode == CT_STORE_READONLY && sys == ENOENT) {
            set_errbuf(errbuf, errlen, "%s: cannot open the database read-only: no such file",
                       path);
            err = CT_ENOTFOUND;
        } else {
            set_errbuf(errbuf, errlen, "%s: cannot open the database: %s", path,
                       st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
            err = map_rc(rc) != 0 ? map_rc(rc) : CT_EINTERNAL;
        }
        goto fail;
    }
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    /* SQLite silently opens a write-protected file read-only: say so now, not at first write. */
    if (mode == CT_STORE_READWRITE && sqlite3_db_readonly(st->db, "main") == 1) {
        set_errbuf(errbuf, errlen, "%s: the database file is not writable", path);
        err = CT_EIO;
        goto fail;
    }

    /* Per-connection settings: none of them persists in the file except journal_mode. */
    err = exec_script(st, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;", "pragmas");
    if (err == 0 && mode == CT_STORE_READWRITE)
        err = enable_wal(st);
    if (err != 0) {
        set_errbuf(errbuf, errlen, "%s: cannot configure the database: %s", path,
                   sqlite3_errmsg(st->db));
        goto fail;
    }

    if (mode == CT_STORE_READWRITE) {
        err = migrate(st, path, errbuf, errlen);
        if (err != 0)
            goto fail;
    }
    err = check_version(st, path, errbuf, errlen);
    if (err != 0)
        goto fail;

    *out = st;
    return 0;

fail:
    ct_store_close(st);
    return err;
}

void ct_store_close(ct_store_t *st)
{
    if (st == NULL)
        return;
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    /* An open transaction is rolled back by the close: only commit makes work durable. */
    int rc = sqlite3_close(st->db);
    if (rc != SQLITE_OK)
        ct_log_error("store.close_failed", "rc=%d err=\"%s\"", rc, sqlite3_errstr(rc));
    free(st);
}

/* ---- transactions ------------------------------------------------------------------------ */

/* Common entry check of the calls that need an open transaction (with min_depth levels). */
static int txn_check(ct_store_t *st, int min_depth, const char *op)
{
    if (st->depth < min_depth) {
        ct_log_error("store.misuse", "op=%s depth=%d", op, st->depth);
        return CT_EINTERNAL;
    }
    return txn_lost(st);
}

int ct_store_begin(ct_store_t *st)
{
    if (st->depth != 0) {
        ct_log_error("store.misuse", "op=begin depth=%d", st->depth);
        return CT_EINTERNAL;
    }
    int err = exec_stmt(st, STMT_BEGIN, "begin");
    if (err == 0) {
        st->depth = 1;
        st->lost = 0;
    }
    return err;
}

int ct_store_commit(ct_store_t *st)
{
    int err = txn_check(st, 1, "commit");
    if (err == 0)
        err = exec_stmt(st, STMT_COMMIT, "commit");
    /* A failed COMMIT may leave the transaction open (e.g. the WAL could not be written): roll
     * it back so that nothing of it can be committed later by accident. */
    if (err != 0 && !sqlite3_get_autocommit(st->db))
        exec_stmt(st, STMT_ROLLBACK, "commit.rollback");
    st->depth = 0;
    st->lost = 0;
    return err;
}

int ct_store_rollback(ct_store_t *st)
{
    int err = 0;
    if (!sqlite3_get_autocommit(st->db))
        err = exec_stmt(st, STMT_ROLLBACK, "rollback");
    if (err == 0 || sqlite3_get_autocommit(st->db)) {
        st->depth = 0;
        st->lost = 0;
    }
    return err;
}

int ct_store_savepoint(ct_store_t *st)
{
    int err = txn_check(st, 1, "savepoint");
    if (err == 0)
        err = exec_stmt(st, STMT_SAVEPOINT, "savepoint");
    if (err == 0)
        st->depth++;
    return err;
}

int ct_store_release(ct_store_t *st)
{
    int err = txn_check(st, 2, "release");
    if (err == 0)
        err = exec_stmt(st, STMT_RELEASE, "release");
    if (err == 0)
        st->depth--;
    return err;
}

int ct_store_rollback_to(ct_store_t *st)
{
    int err = txn_check(st, 2, "rollback_to");
    /* ROLLBACK TO keeps the savepoint open; the RELEASE then removes it without keeping
     * anything, since its work was just undone. */
    if (err == 0)
        err = exec_stmt(st, STMT_ROLLBACK_TO, "rollback_to");
    if (err == 0)
        err = exec_stmt(st, STMT_RELEASE, "rollback_to.release");
    if (err == 0)
        st->depth--;
    return err;
}

/* ---- members ----------------------------------------------------------------------------- */

static int member_from_row(sqlite3_stmt *s, ct_member_t *m)
{
    memset(m, 0, sizeof *m);
    int err = copy_col(s, 0, m->id, sizeof m->id);
    if (err == 0)
        err = copy_col(s, 1, m->display_name, sizeof m->display_name);
    m->role = (ct_role_t)sqlite3_column_int(s, 2);
    m->active = sqlite3_column_int(s, 3) != 0;
    m->created_at_ms = sqlite3_column_int64(s, 4);
    return err;
}

int ct_store_member_add(ct_store_t *st, const ct_member_t *m)
{
    if (!fits(m->id, sizeof m->id) || !fits(m->display_name, sizeof m->display_name))
        return CT_EINVAL;
    sqlite3_stmt *s = NULL;
    int err = txn_lost(st);
    if (err == 0)
        err = stmt_get(st, STMT_MEMBER_ADD, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, m->id, &rc);
    bind_text(s, 2, m->display_name, &rc);
    bind_int64(s, 3, m->role, &rc);
    bind_int64(s, 4, m->active ? 1 : 0, &rc);
    bind_int64(s, 5, m->created_at_ms, &rc);
    if (rc != SQLITE_OK) {
        stmt_done(s);
        return fail(st, rc, "member_add.bind");
    }
    return step_done(st, s, "member_add");
}

int ct_store_member_get(ct_store_t *st, const char *id, ct_member_t *out)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, STMT_MEMBER_GET, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        err = member_from_row(s, out);
    else if (rc == SQLITE_DONE)
        err = CT_ENOTFOUND;
    else
        err = fail(st, rc, "member_get");
    stmt_done(s);
    return err;
}

int ct_store_member_set_active(ct_store_t *st, const char *id, bool active)
{
    sqlite3_stmt *s = NULL;
    int err = txn_lost(st);
    if (err == 0)
        err = stmt_get(st, STMT_MEMBER_SET_ACTIVE, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, id, &rc);
    bind_int64(s, 2, active ? 1 : 0, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        err = sqlite3_changes(st->db) == 0 ? CT_ENOTFOUND : 0;
    else
        err = fail(st, rc, "member_set_active");
    stmt_done(s);
    return err;
}

/*
 * The statement stays open while cb runs: cb may use every other store call on this handle but
 * must not call ct_store_member_list on it again.
 */
int ct_store_member_list(ct_store_t *st, int (*cb)(const ct_member_t *m, void *arg), void *arg)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, STMT_MEMBER_LIST, &s);
    if (err != 0)
        return err;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        ct_member_t m;
        err = member_from_row(s, &m);
        if (err == 0)
            err = cb(&m, arg);
        if (err != 0)
            break;
    }
    if (err == 0 && rc != SQLITE_DONE)
        err = fail(st, rc, "member_list");
    stmt_done(s);
    return err;
}

/* ---- messages ---------------------------------------------------------------------------- */

void ct_message_clear(ct_message_t *m)
{
    if (m == NULL)
        return;
    free(m->subject);
    free(m->body);
    free(m->to);
    m->subject = NULL;
    m->body = NULL;
    m->body_len = 0;
    m->to = NULL;
    m->n_to = 0;
}

int ct_store_message_find(ct_store_t *st, const char *sender_id, const char *client_msg_id,
                          const uint8_t request_hash[32], ct_message_receipt_t *out,
                          bool *hash_match)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, STMT_MSG_FIND, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, sender_id, &rc);
    bind_text(s, 2, client_msg_id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        out->seq = sqlite3_column_int64(s, 0);
        err = copy_col(s, 1, out->message_id, sizeof out->message_id);
        out->stored_at_ms = sqlite3_column_int64(s, 2);
        const void *h = sqlite3_column_blob(s, 3);
        *hash_match = h != NULL && sqlite3_column_bytes(s, 3) == HASH_LEN &&
                      memcmp(h, request_hash, HASH_LEN) == 0;
    } else if (rc == SQLITE_DONE) {
        err = CT_ENOTFOUND;
    } else {
        err = fail(st, rc, "message_find");
    }
    stmt_done(s);
    return err;
}

/* Inserts the messages row; sets *seq. */
static int insert_message_row(ct_store_t *st, const ct_message_t *m, const uint8_t *hash,
                              int64_t *seq)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, STMT_MSG_INSERT, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, m->message_id, &rc);
    bind_text(s, 2, m->sender_id, &rc);
    bind_int64(s, 3, m->sender_role, &rc);
    bind_text(s, 4, m->client_msg_id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob(s, 5, hash, HASH_LEN, SQLITE_STATIC);
    bind_text(s, 6, m->participant_id, &rc);
    bind_text(s, 7, m->subject, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 8, m->body != NULL ? m->body : "", (int)m->body_len,
                               SQLITE_STATIC);
    bind_int64(s, 9, m->priority, &rc);
    bind_int64(s, 10, m->stored_at_ms, &rc);
    if (rc != SQLITE_OK) {
        stmt_done(s);
        return fail(st, rc, "message_insert.bind");
    }
    err = step_done(st, s, "message_insert");
    if (err == 0)
        *seq = sqlite3_last_insert_rowid(st->db);
    return err;
}

/* Inserts one pending delivery row per recipient, numbered by position in m->to. */
static int insert_recipients(ct_store_t *st, const ct_message_t *m, int64_t seq)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, STMT_RCPT_INSERT, &s);
    for (size_t i = 0; err == 0 && i < m->n_to; i++) {
        if (!fits(m->to[i], sizeof m->to[i]))
            return CT_EINVAL;
        int rc = SQLITE_OK;
        bind_int64(s, 1, seq, &rc);
        bind_text(s, 2, m->to[i], &rc);
        bind_int64(s, 3, (int64_t)i, &rc);
        if (rc != SQLITE_OK) {
            stmt_done(s);
            return fail(st, rc, "message_insert.recipient_bind");
        }
        err = step_done(st, s, "message_insert.recipient");
        /* The same member twice in m->to is the caller's bug, not a resend: keep CT_EEXISTS
         * for "(sender, client_msg_id) is taken". */
        if (err == CT_EEXISTS)
            err = CT_EINVAL;
    }
    return err;
}

/*
 * The message row and its recipient rows are written under an internal savepoint, so the
 * insert is all-or-nothing whether or not the caller has a transaction open. Returns CT_EINVAL
 * for a malformed message (unterminated fields, a body over INT_MAX bytes, a recipient listed
 * twice).
 */
int ct_store_message_insert(ct_store_t *st, const ct_message_t *m, const uint8_t request_hash[32],
                            ct_message_receipt_t *out)
{
    if (!fits(m->message_id, sizeof m->message_id) || !fits(m->sender_id, sizeof m->sender_id) ||
        !fits(m->client_msg_id, sizeof m->client_msg_id) ||
        !fits(m->participant_id, sizeof m->participant_id) || m->body_len > INT_MAX ||
        (m->body == NULL && m->body_len != 0) || (m->to == NULL && m->n_to != 0))
        return CT_EINVAL;
    int err = txn_lost(st);
    if (err != 0)
        return err;

    err = exec_stmt(st, STMT_MSG_SAVEPOINT, "message_insert.savepoint");
    if (err != 0)
        return err;
    int64_t seq = 0;
    err = insert_message_row(st, m, request_hash, &seq);
    if (err == 0)
        err = insert_recipients(st, m, seq);
    if (err != 0) {
        /* Undo the partial message, unless SQLite already rolled everything back. */
        if (!sqlite3_get_autocommit(st->db)) {
            exec_stmt(st, STMT_MSG_ROLLBACK_TO, "message_insert.rollback_to");
            exec_stmt(st, STMT_MSG_RELEASE, "message_insert.release");
        }
        return err;
    }
    /* Outside a caller's transaction this RELEASE is the commit. */
    err = exec_stmt(st, STMT_MSG_RELEASE, "message_insert.release");
    if (err != 0) {
        if (st->depth == 0 && !sqlite3_get_autocommit(st->db))
            exec_stmt(st, STMT_ROLLBACK, "message_insert.rollback");
        return err;
    }
    memset(out, 0, sizeof *out);
    out->seq = seq;
    memcpy(out->message_id, m->message_id, sizeof out->message_id);
    out->stored_at_ms = m->stored_at_ms;
    return 0;
}

int ct_store_delivery_ack(ct_store_t *st, const char *member_id, const char *message_id,
                          int64_t now_ms)
{
    sqlite3_stmt *s = NULL;
    int err = txn_lost(st);
    if (err == 0)
        err = stmt_get(st, STMT_RCPT_ACK, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, member_id, &rc);
    bind_text(s, 2, message_id, &rc);
    bind_int64(s, 3, now_ms, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    int changed = rc == SQLITE_DONE ? sqlite3_changes(st->db) : 0;
    err = rc == SQLITE_DONE ? 0 : fail(st, rc, "delivery_ack");
    stmt_done(s);
    if (err != 0)
        return err;
    if (changed > 0)
        return 0;

    /* Nothing was pending: either already delivered (1) or not a recipient at all. */
    err = stmt_get(st, STMT_RCPT_EXISTS, &s);
    if (err != 0)
        return err;
    rc = SQLITE_OK;
    bind_text(s, 1, member_id, &rc);
    bind_text(s, 2, message_id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        err = 1;
    else if (rc == SQLITE_DONE)
        err = CT_ENOTFOUND;
    else
        err = fail(st, rc, "delivery_ack.exists");
    stmt_done(s);
    return err;
}

/* Fills m->to and m->n_to with the recipients of message seq in position order. */
static int load_recipients(ct_store_t *st, int64_t seq, ct_message_t *m)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, STMT_RCPT_LIST, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_int64(s, 1, seq, &rc);
    size_t cap = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (m->n_to == cap) {
            size_t ncap = cap == 0 ? 4 : cap * 2;
            void *p = realloc(m->to, ncap * sizeof *m->to);
            if (p == NULL) {
                err = CT_ENOMEM;
                break;
            }
            m->to = p;
            cap = ncap;
        }
        err = copy_col(s, 0, m->to[m->n_to], sizeof m->to[0]);
        if (err != 0)
            break;
        m->n_to++;
        rc = SQLITE_OK;
    }
    if (err == 0 && rc != SQLITE_DONE)
        err = fail(st, rc, "inbox_page.recipients");
    stmt_done(s);
    return err;
}

/* Fills m (zeroed by the caller) from the current INBOX_PAGE row. */
static int message_from_row(ct_store_t *st, sqlite3_stmt *s, ct_message_t *m)
{
    m->seq = sqlite3_column_int64(s, 0);
    int err = copy_col(s, 1, m->message_id, sizeof m->message_id);
    if (err == 0)
        err = copy_col(s, 2, m->sender_id, sizeof m->sender_id);
    m->sender_role = (ct_role_t)sqlite3_column_int(s, 3);
    if (err == 0)
        err = copy_col(s, 4, m->client_msg_id, sizeof m->client_msg_id);
    if (err == 0)
        err = copy_col(s, 5, m->participant_id, sizeof m->participant_id);
    m->priority = sqlite3_column_int(s, 8);
    m->stored_at_ms = sqlite3_column_int64(s, 9);
    if (err != 0)
        return err;
    m->subject = dup_col(s, 6, NULL);
    m->body = dup_col(s, 7, &m->body_len);
    if (m->subject == NULL || m->body == NULL)
        return CT_ENOMEM;
    return load_recipients(st, m->seq, m);
}

int ct_store_inbox_page(ct_store_t *st, const char *member_id, int64_t after_seq, ct_message_t *out,
                        int limit)
{
    if (limit <= 0)
        return 0;
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, STMT_INBOX_PAGE, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, member_id, &rc);
    bind_int64(s, 2, after_seq, &rc);
    bind_int64(s, 3, limit, &rc);
    int n = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        memset(&out[n], 0, sizeof out[n]);
        err = message_from_row(st, s, &out[n]);
        n++; /* counted even on error, so that the cleanup below frees it */
        if (err != 0 || n == limit)
            break;
        rc = SQLITE_OK;
    }
    if (err == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        err = fail(st, rc, "inbox_page");
    stmt_done(s);
    if (err != 0) {
        /* All or nothing: the caller owns no message when this returns an error. */
        for (int i = 0; i < n; i++)
            ct_message_clear(&out[i]);
        return err;
    }
    return n;
}

/* ---- audit ------------------------------------------------------------------------------- */

/*
 * The SQLite type each AUDIT_ROW_COLUMNS column must have, then leaf and chain. Migration 2 made
 * the table STRICT, so only a file edited outside SQLite's rules can hold anything else.
 */
static const struct {
    const char *name;
    int type;
} audit_columns[] = {
    {"seq", SQLITE_INTEGER},        {"time_ms", SQLITE_INTEGER}, {"actor_id", SQLITE_TEXT},
    {"actor_role", SQLITE_INTEGER}, {"peer_addr", SQLITE_TEXT},  {"action", SQLITE_TEXT},
    {"object_type", SQLITE_TEXT},   {"object_id", SQLITE_TEXT},  {"participant_id", SQLITE_TEXT},
    {"outcome", SQLITE_INTEGER},    {"detail", SQLITE_TEXT},     {"leaf", SQLITE_BLOB},
    {"chain", SQLITE_BLOB},
};

#define AUDIT_ROW_NCOLS 11 /* the columns of AUDIT_ROW_COLUMNS; leaf and chain follow */

/* The name of the first of columns 0..n-1 of s whose type is not audit_columns[]'s, or NULL.
 * Called before any column is read: reading a column may convert its type. */
static const char *audit_bad_column(sqlite3_stmt *s, int n)
{
    for (int i = 0; i < n; i++) {
        if (sqlite3_column_type(s, i) != audit_columns[i].type)
            return audit_columns[i].name;
    }
    return NULL;
}

static ct_audit_text_t col_audit_text(sqlite3_stmt *s, int col)
{
    const char *p = (const char *)sqlite3_column_text(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    ct_audit_text_t t = {.ptr = p != NULL ? p : "", .len = p != NULL ? n : 0};
    return t;
}

/* Fills row from the AUDIT_ROW_COLUMNS of s's current row; the texts point into that row. */
static void audit_row_from(sqlite3_stmt *s, ct_audit_row_t *row)
{
    row->seq = sqlite3_column_int64(s, 0);
    row->time_ms = sqlite3_column_int64(s, 1);
    row->actor_id = col_audit_text(s, 2);
    row->actor_role = sqlite3_column_int64(s, 3);
    row->peer_addr = col_audit_text(s, 4);
    row->action = col_audit_text(s, 5);
    row->object_type = col_audit_text(s, 6);
    row->object_id = col_audit_text(s, 7);
    row->participant_id = col_audit_text(s, 8);
    row->outcome = sqlite3_column_int64(s, 9);
    row->detail = col_audit_text(s, 10);
}

static void bind_audit_text(sqlite3_stmt *s, int idx, ct_audit_text_t t, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = t.len > INT_MAX ? SQLITE_TOOBIG
                              : sqlite3_bind_text(s, idx, t.ptr != NULL ? t.ptr : "", (int)t.len,
                                                  SQLITE_STATIC);
}

static void bind_hash(sqlite3_stmt *s, int idx, const uint8_t *h, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_blob(s, idx, h, CT_AUDIT_HASH_LEN, SQLITE_STATIC);
}

/* Binds row, leaf and chain to an INSERT whose parameters ?1..?13 are AUDIT_ROW_COLUMNS, leaf,
 * chain (AUDIT_APPEND, and migration 2's backfill), and steps it; always resets it. */
static int audit_insert_row(ct_store_t *st, sqlite3_stmt *s, const ct_audit_row_t *row,
                            const uint8_t *leaf, const uint8_t *chain, const char *op)
{
    int rc = SQLITE_OK;
    bind_int64(s, 1, row->seq, &rc);
    bind_int64(s, 2, row->time_ms, &rc);
    bind_audit_text(s, 3, row->actor_id, &rc);
    bind_int64(s, 4, row->actor_role, &rc);
    bind_audit_text(s, 5, row->peer_addr, &rc);
    bind_audit_text(s, 6, row->action, &rc);
    bind_audit_text(s, 7, row->object_type, &rc);
    bind_audit_text(s, 8, row->object_id, &rc);
    bind_audit_text(s, 9, row->participant_id, &rc);
    bind_int64(s, 10, row->outcome, &rc);
    bind_audit_text(s, 11, row->detail, &rc);
    bind_hash(s, 12, leaf, &rc);
    bind_hash(s, 13, chain, &rc);
    if (rc != SQLITE_OK) {
        stmt_done(s);
        return fail(st, rc, op);
    }
    return step_done(st, s, op);
}

/* Computes the leaf of row and, from *chain (the previous row's), the row's own chain value,
 * which replaces *chain. */
static int audit_hash_row(const ct_audit_row_t *row, uint8_t leaf[CT_AUDIT_HASH_LEN],
                          uint8_t chain[CT_AUDIT_HASH_LEN])
{
    int err = ct_audit_chain_leaf(row, leaf);
    if (err == 0)
        err = ct_audit_chain_link(chain, leaf, chain);
    return err;
}

/*
 * Migration 1 -> 2. SQLite cannot add a NOT NULL column without a default nor compute SHA-256,
 * so the table is rebuilt: audit_v2 is created STRICT with leaf and chain, every existing row is
 * copied into it in seq order with its hashes computed here (one row in memory at a time), then
 * the old table goes (taking its triggers along: DROP TABLE fires none) and audit_v2 takes its
 * name and gets the same append-only triggers. seq loses AUTOINCREMENT: audit_append assigns
 * seq itself (newest + 1), which keeps the numbering gapless. Existing seq values are kept as
 * they are; a gap in them is evidence, and `audit verify` reports it.
 */
static int migrate_audit_chain(ct_store_t *st)
{
    static const char create[] = "CREATE TABLE audit_v2 ("
                                 "  seq INTEGER PRIMARY KEY CHECK (seq >= 1),"
                                 "  time_ms INTEGER NOT NULL,"
                                 "  actor_id TEXT NOT NULL,"
                                 "  actor_role INTEGER NOT NULL,"
                                 "  peer_addr TEXT NOT NULL,"
                                 "  action TEXT NOT NULL,"
                                 "  object_type TEXT NOT NULL,"
                                 "  object_id TEXT NOT NULL,"
                                 "  participant_id TEXT NOT NULL,"
                                 "  outcome INTEGER NOT NULL,"
                                 "  detail TEXT NOT NULL,"
                                 "  leaf BLOB NOT NULL CHECK (length(leaf) = 32),"
                                 "  chain BLOB NOT NULL CHECK (length(chain) = 32)"
                                 ") STRICT;";
    static const char swap[] = "DROP TABLE audit;"
                               "ALTER TABLE audit_v2 RENAME TO audit;"
                               "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
                               "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
                               "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
                               "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;";
    int err = exec_script(st, create, "migrate2.create");
    if (err != 0)
        return err;

    sqlite3_stmt *rd = NULL, *wr = NULL;
    int rc = sqlite3_prepare_v2(st->db, "SELECT " AUDIT_ROW_COLUMNS " FROM audit ORDER BY seq", -1,
                                &rd, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(st->db,
                                "INSERT INTO audit_v2 (" AUDIT_ROW_COLUMNS ", leaf, chain)"
                                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                                -1, &wr, NULL);
    err = rc == SQLITE_OK ? 0 : fail(st, rc, "migrate2.prepare");
    uint8_t chain[CT_AUDIT_HASH_LEN], leaf[CT_AUDIT_HASH_LEN];
    memcpy(chain, ct_audit_genesis, sizeof chain);
    int64_t n = 0;
    while (err == 0 && (rc = sqlite3_step(rd)) == SQLITE_ROW) {
        /* Version 1 was not STRICT; a value of another type is chained as read, and said. */
        const char *bad = audit_bad_column(rd, AUDIT_ROW_NCOLS);
        if (bad != NULL)
            ct_log_warn("store.audit_backfill_type", "seq=%lld column=%s",
                        (long long)sqlite3_column_int64(rd, 0), bad);
        ct_audit_row_t row;
        audit_row_from(rd, &row);
        err = audit_hash_row(&row, leaf, chain);
        if (err == 0)
            err = audit_insert_row(st, wr, &row, leaf, chain, "migrate2.insert");
        n++;
    }
    if (err == 0 && rc != SQLITE_DONE)
        err = fail(st, rc, "migrate2.read");
    sqlite3_finalize(rd);
    sqlite3_finalize(wr);
    if (err == 0)
        err = exec_script(st, swap, "migrate2.swap");
    if (err == 0)
        ct_log_info("store.audit_chained", "rows=%lld", (long long)n);
    return err;
}

int ct_store_audit_head(ct_store_t *st, int64_t *seq, uint8_t chain[CT_AUDIT_HASH_LEN])
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, STMT_AUDIT_HEAD, &s);
    if (err != 0)
        return err;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        int type = sqlite3_column_type(s, 1);
        const void *c = sqlite3_column_blob(s, 1);
        int n = sqlite3_column_bytes(s, 1);
        *seq = sqlite3_column_int64(s, 0);
        if (type == SQLITE_BLOB && c != NULL && n == CT_AUDIT_HASH_LEN) {
            memcpy(chain, c, CT_AUDIT_HASH_LEN);
        } else {
            ct_log_error("store.audit_head_malformed", "seq=%lld chain_bytes=%d", (long long)*seq,
                         n);
            err = CT_EINTERNAL;
        }
    } else if (rc == SQLITE_DONE) {
        *seq = 0;
        memcpy(chain, ct_audit_genesis, CT_AUDIT_HASH_LEN);
    } else {
        err = fail(st, rc, "audit_head");
    }
    stmt_done(s);
    return err;
}

/* Inserts a as the row after the newest one (invariant 5); the caller holds the write lock. */
static int audit_insert(ct_store_t *st, const ct_audit_t *a, int64_t *seq)
{
    int64_t last = 0;
    uint8_t chain[CT_AUDIT_HASH_LEN], leaf[CT_AUDIT_HASH_LEN];
    int err = ct_store_audit_head(st, &last, chain);
    if (err == 0 && last == INT64_MAX)
        err = CT_EINTERNAL; /* only a doctored file gets here */
    if (err != 0)
        return err;
    ct_audit_row_t row = {
        .seq = last + 1,
        .time_ms = a->time_ms,
        .actor_id = ct_audit_text(a->actor_id),
        .actor_role = a->actor_role,
        .peer_addr = ct_audit_text(a->peer_addr),
        .action = ct_audit_text(a->action),
        .object_type = ct_audit_text(a->object_type),
        .object_id = ct_audit_text(a->object_id),
        .participant_id = ct_audit_text(a->participant_id),
        .outcome = a->outcome,
        .detail = ct_audit_text(a->detail),
    };
    err = audit_hash_row(&row, leaf, chain);
    sqlite3_stmt *s = NULL;
    if (err == 0)
        err = stmt_get(st, STMT_AUDIT_APPEND, &s);
    if (err == 0)
        err = audit_insert_row(st, s, &row, leaf, chain, "audit_append");
    if (err == 0)
        *seq = row.seq;
    return err;
}

int64_t ct_store_audit_append(ct_store_t *st, const ct_audit_t *a)
{
    int err = txn_lost(st);
    if (err != 0)
        return err;
    /* The newest row must be read under the write lock: outside a transaction, take it here. */
    bool own = st->depth == 0;
    if (own) {
        err = ct_store_begin(st);
        if (err != 0)
            return err;
    }
    int64_t seq = 0;
    err = audit_insert(st, a, &seq);
    if (own) {
        if (err == 0)
            err = ct_store_commit(st);
        else
            (void)ct_store_rollback(st);
    }
    return err != 0 ? err : seq;
}

int ct_store_audit_scan(ct_store_t *st, int (*cb)(const ct_audit_stored_t *row, void *arg),
                        void *arg)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, STMT_AUDIT_SCAN, &s);
    if (err != 0)
        return err;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        ct_audit_stored_t r;
        memset(&r, 0, sizeof r);
        r.bad_column = audit_bad_column(s, AUDIT_ROW_NCOLS + 2);
        audit_row_from(s, &r.row);
        r.leaf = sqlite3_column_blob(s, AUDIT_ROW_NCOLS);
        r.leaf_len = r.leaf != NULL ? (size_t)sqlite3_column_bytes(s, AUDIT_ROW_NCOLS) : 0;
        r.chain = sqlite3_column_blob(s, AUDIT_ROW_NCOLS + 1);
        r.chain_len = r.chain != NULL ? (size_t)sqlite3_column_bytes(s, AUDIT_ROW_NCOLS + 1) : 0;
        err = cb(&r, arg);
        if (err != 0)
            break;
    }
    if (err == 0 && rc != SQLITE_DONE)
        err = fail(st, rc, "audit_scan");
    stmt_done(s);
    return err;
}

int64_t ct_store_audit_count(ct_store_t *st, const char *action)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, STMT_AUDIT_COUNT, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, action, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    int64_t n = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : fail(st, rc, "audit_count");
    stmt_done(s);
    return n;
}
