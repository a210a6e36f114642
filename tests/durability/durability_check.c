/*
 * durability_check: compares what careteamd acknowledged with what its database holds, after
 * the daemon was killed with SIGKILL and restarted (tests/durability/run.sh).
 *
 * usage: durability_check DB LOG...
 *
 * Each LOG is written by durability_load, one line per acknowledged write:
 *     ack SENDER CLIENT_MSG_ID MESSAGE_ID TO[,TO...]
 *     dack MEMBER MESSAGE_ID
 *
 * What must hold (DESIGN.md section 3.6, "Nothing acknowledged is lost"):
 *  1. PRAGMA integrity_check says "ok", and PRAGMA foreign_key_check finds nothing.
 *  2. Each acked (SENDER, CLIENT_MSG_ID) is stored exactly once, under the MESSAGE_ID of its Ack.
 *  3. That message has one recipient row per TO, and no other (delivered or pending).
 *  4. Its "message.send" audit row, a success by SENDER naming MESSAGE_ID, is stored: the daemon
 *     acks only after the message and its audit record are committed together.
 *  5. Each dack'ed (MEMBER, MESSAGE_ID) delivery is marked delivered.
 *  6. No write was acknowledged twice across the logs.
 * Messages stored but never acked (in flight at the kill) are allowed and only counted.
 *
 * The database is opened read-only and read in one transaction, so it may be checked while the
 * restarted daemon runs (WAL lets a reader see one consistent snapshot). Temporary tables hold
 * the audit index and the lines seen; they live in the connection's own temp database.
 *
 * Exit status: 0 all holds; 1 something does not (each finding printed, the first
 * FINDINGS_SHOWN in full); 2 usage error, or the database or a log cannot be read.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define FINDINGS_SHOWN 20
#define MAX_TO 16
#define LINE_MAX_LEN 1024
#define BUSY_MS 10000

enum { Q_MSG, Q_RCPT, Q_AUDIT, Q_DACK, Q_SEEN, Q_COUNT };

static const char *const SQL[Q_COUNT] = {
    [Q_MSG] =
        "SELECT seq, message_id FROM main.messages WHERE sender_id = ?1 AND client_msg_id = ?2",
    [Q_RCPT] = "SELECT member_id, delivered_at_ms IS NOT NULL FROM main.message_recipients"
               " WHERE message_seq = ?1",
    [Q_AUDIT] = "SELECT count(*) FROM temp.sent_audit WHERE message_id = ?1 AND actor_id = ?2",
    [Q_DACK] = "SELECT r.delivered_at_ms IS NOT NULL FROM main.messages m"
               " JOIN main.message_recipients r ON r.message_seq = m.seq"
               " WHERE m.message_id = ?1 AND r.member_id = ?2",
    [Q_SEEN] = "INSERT INTO temp.seen (kind, a, b) VALUES (?1, ?2, ?3)",
};

typedef struct checker {
    sqlite3 *db;
    sqlite3_stmt *q[Q_COUNT];
    uint64_t acks, dacks, findings;
    uint64_t pending_of_acked, delivered_of_acked;
} checker_t;

/* Prints one finding (the first FINDINGS_SHOWN; the rest are only counted). */
static void finding(checker_t *k, const char *what, const char *line)
{
    if (k->findings++ < FINDINGS_SHOWN)
        printf("FAIL %s: %s\n", what, line);
}

static int db_fail(checker_t *k, const char *what)
{
    fprintf(stderr, "durability_check: %s: %s\n", what, sqlite3_errmsg(k->db));
    return 2;
}

/* Runs a statement that returns one integer. Returns 0 and *out, or 2. */
static int query_int(checker_t *k, const char *sql, int64_t *out)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(k->db, sql, -1, &s, NULL) != SQLITE_OK)
        return db_fail(k, sql);
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : db_fail(k, sql);
}

/* Checks 1: integrity_check "ok" and no foreign key violation. Returns 0, 1 or 2. */
static int check_integrity(checker_t *k)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(k->db, "PRAGMA main.integrity_check", -1, &s, NULL) != SQLITE_OK)
        return db_fail(k, "integrity_check");
    int bad = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *msg = (const char *)sqlite3_column_text(s, 0);
        if (msg == NULL || strcmp(msg, "ok") != 0) {
            finding(k, "integrity_check", msg != NULL ? msg : "(null)");
            bad = 1;
        }
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return db_fail(k, "integrity_check");
    if (sqlite3_prepare_v2(k->db, "PRAGMA main.foreign_key_check", -1, &s, NULL) != SQLITE_OK)
        return db_fail(k, "foreign_key_check");
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        char row[256];
        snprintf(row, sizeof row, "table %s rowid %lld refers to a missing row of %s",
                 (const char *)sqlite3_column_text(s, 0), (long long)sqlite3_column_int64(s, 1),
                 (const char *)sqlite3_column_text(s, 2));
        finding(k, "foreign_key_check", row);
        bad = 1;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? bad : db_fail(k, "foreign_key_check");
}

/* Records a log line's key; false if it was seen before (acknowledged twice). */
static bool first_time(checker_t *k, const char *kind, const char *a, const char *b)
{
    sqlite3_stmt *s = k->q[Q_SEEN];
    sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, a, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, b, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE && rc != SQLITE_CONSTRAINT)
        fprintf(stderr, "durability_check: temp.seen: %s\n", sqlite3_errmsg(k->db));
    return rc == SQLITE_DONE;
}

/* Splits "A,B,C" in place into to[]; returns the count, or 0 if malformed or too many. */
static size_t split_to(char *list, char *to[MAX_TO])
{
    size_t n = 0;
    for (char *p = list; p != NULL;) {
        char *comma = strchr(p, ',');
        if (comma != NULL)
            *comma++ = '\0';
        if (p[0] == '\0' || n == MAX_TO)
            return 0;
        to[n++] = p;
        p = comma;
    }
    return n;
}

/* Checks 3: the recipient rows of message seq are exactly to[]. */
static void check_recipients(checker_t *k, int64_t seq, char *to[], size_t n_to, const char *line)
{
    bool found[MAX_TO] = {false};
    sqlite3_stmt *s = k->q[Q_RCPT];
    sqlite3_bind_int64(s, 1, seq);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *member = (const char *)sqlite3_column_text(s, 0);
        bool delivered = sqlite3_column_int(s, 1) != 0;
        *(delivered ? &k->delivered_of_acked : &k->pending_of_acked) += 1;
        bool expected = false;
        for (size_t i = 0; i < n_to; i++) {
            if (member != NULL && strcmp(member, to[i]) == 0) {
                expected = !found[i];
                found[i] = true;
            }
        }
        if (!expected)
            finding(k, "unexpected recipient row", line);
    }
    sqlite3_reset(s);
    for (size_t i = 0; i < n_to; i++) {
        if (!found[i]) {
            char what[128];
            snprintf(what, sizeof what, "no delivery row for recipient %s", to[i]);
            finding(k, what, line);
        }
    }
}

/* Checks 2-4 for one "ack SENDER CMID MESSAGE_ID TO,..." line (fields already split). */
static void check_ack(checker_t *k, const char *sender, const char *cmid, const char *mid,
                      char *to_list, const char *line)
{
    k->acks++;
    char *to[MAX_TO];
    size_t n_to = split_to(to_list, to);
    if (n_to == 0) {
        finding(k, "malformed recipient list", line);
        return;
    }
    if (!first_time(k, "ack", sender, cmid))
        finding(k, "client_msg_id acked twice in the logs", line);
    sqlite3_stmt *s = k->q[Q_MSG];
    sqlite3_bind_text(s, 1, sender, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, cmid, -1, SQLITE_STATIC);
    int64_t seq = 0, copies = 0;
    char stored_id[64] = "";
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (copies++ == 0) {
            seq = sqlite3_column_int64(s, 0);
            snprintf(stored_id, sizeof stored_id, "%s", (const char *)sqlite3_column_text(s, 1));
        }
    }
    sqlite3_reset(s);
    if (copies == 0) {
        finding(k, "LOST: acked but not stored", line);
        return;
    }
    if (copies > 1)
        finding(k, "DUPLICATE: stored more than once", line);
    if (strcmp(stored_id, mid) != 0) {
        char what[160];
        snprintf(what, sizeof what, "stored under message_id %s, not the acked one", stored_id);
        finding(k, what, line);
    }
    check_recipients(k, seq, to, n_to, line);
    s = k->q[Q_AUDIT];
    sqlite3_bind_text(s, 1, stored_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, sender, -1, SQLITE_STATIC);
    int64_t audits = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (audits < 1)
        finding(k, "no message.send audit row for the acked message", line);
}

/* Check 5 for one "dack MEMBER MESSAGE_ID" line. */
static void check_dack(checker_t *k, const char *member, const char *mid, const char *line)
{
    k->dacks++;
    if (!first_time(k, "dack", member, mid))
        finding(k, "delivery acked twice in the logs", line);
    sqlite3_stmt *s = k->q[Q_DACK];
    sqlite3_bind_text(s, 1, mid, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, member, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    bool delivered = rc == SQLITE_ROW && sqlite3_column_int(s, 0) != 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW)
        finding(k, "LOST: no delivery row for an acknowledged delivery", line);
    else if (!delivered)
        finding(k, "LOST: acknowledged delivery is pending again", line);
}

/* Checks every line of one log. Returns 0, or 2 if it cannot be read. */
static int check_log(checker_t *k, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "durability_check: cannot open %s: %s\n", path, strerror(errno));
        return 2;
    }
    char buf[LINE_MAX_LEN], line[LINE_MAX_LEN];
    while (fgets(buf, sizeof buf, f) != NULL) {
        size_t len = strlen(buf);
        if (len == 0 || buf[len - 1] != '\n') {
            finding(k, "truncated log line", buf);
            continue;
        }
        buf[len - 1] = '\0';
        snprintf(line, sizeof line, "%s", buf);
        char *save = NULL, *f1 = strtok_r(buf, " ", &save), *f2 = strtok_r(NULL, " ", &save),
             *f3 = strtok_r(NULL, " ", &save), *f4 = strtok_r(NULL, " ", &save),
             *f5 = strtok_r(NULL, " ", &save), *extra = strtok_r(NULL, " ", &save);
        if (f1 != NULL && strcmp(f1, "ack") == 0 && f5 != NULL && extra == NULL)
            check_ack(k, f2, f3, f4, f5, line);
        else if (f1 != NULL && strcmp(f1, "dack") == 0 && f3 != NULL && f4 == NULL)
            check_dack(k, f2, f3, line);
        else
            finding(k, "malformed log line", line);
    }
    bool err = ferror(f) != 0;
    fclose(f);
    if (err) {
        fprintf(stderr, "durability_check: cannot read %s\n", path);
        return 2;
    }
    return 0;
}

/* Opens db read-only, begins the read transaction and prepares the statements. Returns 0 or 2. */
static int open_db(checker_t *k, const char *path)
{
    if (sqlite3_open_v2(path, &k->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return db_fail(k, path);
    sqlite3_busy_timeout(k->db, BUSY_MS);
    static const char setup[] =
        "BEGIN;"
        "CREATE TEMP TABLE seen (kind TEXT, a TEXT, b TEXT, PRIMARY KEY (kind, a, b));"
        "CREATE TEMP TABLE sent_audit AS SELECT object_id AS message_id, actor_id FROM main.audit"
        "  WHERE action = 'message.send' AND outcome = 0 AND object_type = 'message';"
        "CREATE INDEX temp.sent_audit_id ON sent_audit (message_id);";
    char *err = NULL;
    if (sqlite3_exec(k->db, setup, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "durability_check: %s: setup: %s\n", path, err ? err : "?");
        sqlite3_free(err);
        return 2;
    }
    for (int i = 0; i < Q_COUNT; i++) {
        if (sqlite3_prepare_v2(k->db, SQL[i], -1, &k->q[i], NULL) != SQLITE_OK)
            return db_fail(k, SQL[i]);
    }
    return 0;
}

static void close_db(checker_t *k)
{
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(k->q[i]);
    if (k->db != NULL)
        sqlite3_exec(k->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(k->db);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: durability_check DB LOG...\n");
        return 2;
    }
    checker_t k = {0};
    int rc = open_db(&k, argv[1]);
    int bad = 0;
    if (rc == 0) {
        rc = check_integrity(&k);
        bad = rc == 1;
        rc = rc == 1 ? 0 : rc;
    }
    for (int i = 2; rc == 0 && i < argc; i++)
        rc = check_log(&k, argv[i]);
    int64_t messages = 0, rows = 0, pending = 0;
    if (rc == 0)
        rc = query_int(&k, "SELECT count(*) FROM main.messages", &messages);
    if (rc == 0)
        rc = query_int(&k, "SELECT count(*) FROM main.message_recipients", &rows);
    if (rc == 0)
        rc = query_int(&k,
                       "SELECT count(*) FROM main.message_recipients WHERE delivered_at_ms IS NULL",
                       &pending);
    close_db(&k);
    if (rc != 0)
        return rc;
    printf("durability_check: acks=%" PRIu64 " dacks=%" PRIu64 " findings=%" PRIu64
           " | database: messages=%" PRId64 " recipient_rows=%" PRId64 " pending=%" PRId64
           " | acked messages' rows: pending=%" PRIu64 " delivered=%" PRIu64 "\n",
           k.acks, k.dacks, k.findings, messages, rows, pending, k.pending_of_acked,
           k.delivered_of_acked);
    return bad || k.findings != 0 ? 1 : 0;
}
