/*
 * Retention (issue 4, section 6): `careteamd purge DIR --before DATE` against a real careteamd
 * that keeps serving while it runs (tests/support/daemon.h).
 *
 * Messages are sent over real TLS and then made old by moving their stored_at_ms back with the
 * sqlite3 library (nothing else can make a message 90 days old in a test); session summaries and
 * a workflow event with its snapshot are written the same way, as the store lays them out. The
 * purge must remove exactly the content older than the cutoff, keep every id, time and delivery
 * row, keep messages still waiting for delivery unless --include-pending, write one
 * retention.purge audit row, and leave a chain that `careteamd audit verify` accepts. A purged
 * pending message is still delivered, with an empty body and the marker as its subject.
 *
 * Each test ends with ct_test_daemon_finish (which runs ct_test_leak_check last).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "careteam.h"
#include "daemon.h"
#include "envelope.h"
#include "testsupport.h"

#define CALL_MS 5000
#define DAY_MS (24LL * 60 * 60 * 1000)
#define MARKER "[removed by retention purge]"

static ct_test_daemon_t g_d;

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

TestSuite(purge, .init = ct_test_ignore_sigpipe, .fini = teardown, .timeout = 90);

/* ---- the database, read and written with the sqlite3 library ------------------------------- */

static sqlite3 *db_open(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/careteam.db", g_d.data);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    cr_assert_eq(rc, SQLITE_OK, "cannot open %s", path);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* Runs one statement with text parameters ?1.. (NULL-terminated). */
static void db_exec(const char *sql, ...)
{
    sqlite3 *db = db_open();
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    va_list ap;
    va_start(ap, sql);
    const char *v;
    for (int i = 1; (v = va_arg(ap, const char *)) != NULL; i++)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    va_end(ap);
    rc = sqlite3_step(st);
    cr_assert(rc == SQLITE_DONE || rc == SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The first row of a query with one text parameter, its columns joined by '|' into out. */
static void db_row(const char *sql, const char *arg, char *out, size_t len)
{
    sqlite3 *db = db_open();
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    if (arg != NULL)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    cr_assert_eq(rc, SQLITE_ROW, "%s (%s): no row", sql, arg ? arg : "");
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < sqlite3_column_count(st); i++) {
        const char *t = (const char *)sqlite3_column_text(st, i);
        int n = snprintf(out + used, len - used, "%s%s", i ? "|" : "",
                         sqlite3_column_type(st, i) == SQLITE_NULL ? "NULL" : t);
        if (n > 0 && (size_t)n < len - used)
            used += (size_t)n;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* What a purge may change of a message, and what it must keep. */
#define MSG_CONTENT "SELECT subject, body, quote(payload) FROM messages WHERE message_id = ?1"
#define MSG_META                                                                                   \
    "SELECT seq, sender_id, participant_id, stored_at_ms, kind, event, quote(request_hash),"       \
    " (SELECT group_concat(member_id || '@' || coalesce(delivered_at_ms, 'pending'), ',')"         \
    "  FROM message_recipients WHERE message_seq = seq)"                                           \
    " FROM messages WHERE message_id = ?1"
#define SUMMARY_CONTENT                                                                            \
    "SELECT text, goals_progress, next_steps, themes, session_date, risk, created_at_ms"           \
    " FROM summaries WHERE summary_id = ?1"

static void expect_row(const char *sql, const char *arg, const char *want)
{
    char got[2048];
    db_row(sql, arg, got, sizeof got);
    cr_assert_str_eq(got, want, "%s (%s):\n got  %s\n want %s", sql, arg, got, want);
}

/* Makes message id (or summary id) `days` days old. */
static void age_message(const char *id, int days)
{
    char shift[32];
    snprintf(shift, sizeof shift, "%lld", (long long)days * DAY_MS);
    db_exec("UPDATE messages SET stored_at_ms = stored_at_ms - CAST(?2 AS INTEGER)"
            " WHERE message_id = ?1",
            id, shift, NULL);
}

/* A session summary of p1 as the store writes one, created `days` days ago. */
static void insert_summary(const char *id, int days)
{
    char created[32];
    snprintf(created, sizeof created, "%lld",
             (long long)time(NULL) * 1000 - (long long)days * DAY_MS);
    db_exec("INSERT INTO summaries (summary_id, referral_id, participant_id, author_id,"
            " session_date, duration_minutes, format, themes, goals_progress, next_steps,"
            " participant_reviewed, risk, text, amends_summary_id, alert_id, created_at_ms)"
            " VALUES (?1, 'r-1', 'p1', 'pw.sam', '2024-05-14', 45, 1, 'housing\nsleep',"
            " 'walked twice', 'meet Thursday', 1, 1, 'talked about the move', '', '',"
            " CAST(?2 AS INTEGER))",
            id, created, NULL);
}

/* A delivered summary.post event to dr.ahmed carrying a snapshot, stored `days` days ago. */
static void insert_event(const char *id, int days)
{
    char stored[32];
    snprintf(stored, sizeof stored, "%lld",
             (long long)time(NULL) * 1000 - (long long)days * DAY_MS);
    db_exec("INSERT INTO messages (message_id, sender_id, sender_role, client_msg_id,"
            " request_hash, participant_id, subject, body, priority, stored_at_ms, kind, event,"
            " payload, withheld) VALUES (?1, 'pw.sam', 3, 'event ' || ?1, zeroblob(32), 'p1',"
            " '', '', 1, CAST(?2 AS INTEGER), 3, 'summary.post', x'0a0373756d', '')",
            id, stored, NULL);
    db_exec("INSERT INTO message_recipients (message_seq, member_id, position, delivered_at_ms)"
            " VALUES ((SELECT seq FROM messages WHERE message_id = ?1), 'dr.ahmed', 0,"
            " CAST(?2 AS INTEGER) + 5)",
            id, stored, NULL);
}

/* ---- the daemon ------------------------------------------------------------------------------ */

#define ADMIN(...)                                                                                 \
    do {                                                                                           \
        int rc_ = ct_test_careteamd(&g_d, __VA_ARGS__, NULL);                                      \
        cr_assert_eq(rc_, 0, "careteamd %s exited %d; see %s", #__VA_ARGS__, rc_, g_d.log);        \
    } while (0)

/* Sends a text message (subject "care", body = client_msg_id) and returns its id in out. */
static void send_text(ct_sync_t *s, const char *cmid, const char *p, const char *to, char out[40])
{
    const char *rcpt[] = {to};
    ct_send_args_t a = {.client_msg_id = cmid,
                        .to = rcpt,
                        .n_to = 1,
                        .participant_id = p,
                        .subject = "care",
                        .body = cmid};
    Careteam__V1__Envelope *resp = NULL;
    int rc = ct_sync_send_message(s, &a, CALL_MS, &resp);
    cr_assert_eq(rc, 0, "SendMessage %s: %s", cmid, ct_errname(rc));
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ACK, "SendMessage %s: '%s' %s", cmid,
                 ct_test_body_name(resp), ct_response_message(resp));
    snprintf(out, 40, "%s", resp->ack->message_id);
    ct_envelope_free(resp);
}

/* Receives the next Deliver (skipping ReplayComplete), asserts its id, acknowledges it, and
 * returns it; the caller frees it. */
static Careteam__V1__Envelope *receive(ct_sync_t *s, const char *id)
{
    for (;;) {
        Careteam__V1__Envelope *p = NULL;
        int rc = ct_sync_next_push(s, CALL_MS, &p);
        cr_assert_eq(rc, 0, "no push: %s", ct_errname(rc));
        if (p->body_case == CARETEAM__V1__ENVELOPE__BODY_REPLAY_COMPLETE) {
            ct_envelope_free(p);
            continue;
        }
        cr_assert_eq(p->body_case, CARETEAM__V1__ENVELOPE__BODY_DELIVER, "push '%s'",
                     ct_test_body_name(p));
        cr_assert_str_eq(p->deliver->message->message_id, id);
        const char *ids[] = {id};
        Careteam__V1__Envelope *ok = NULL;
        rc = ct_sync_delivery_ack(s, ids, 1, CALL_MS, &ok);
        cr_assert_eq(rc, 0, "DeliveryAck: %s", ct_errname(rc));
        cr_assert_eq(ok->body_case, CARETEAM__V1__ENVELOPE__BODY_OK);
        ct_envelope_free(ok);
        return p;
    }
}

/* The cutoff `days` days ago as YYYY-MM-DD (UTC). */
static void date_ago(int days, char out[16])
{
    time_t t = time(NULL) - (time_t)days * 24 * 60 * 60;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

/* The detail of the newest retention.purge row. */
static void last_purge_detail(char *out, size_t len)
{
    db_row("SELECT actor_role, object_type, object_id, outcome, detail FROM audit"
           " WHERE action = 'retention.purge' ORDER BY seq DESC LIMIT 1",
           NULL, out, len);
}

/* ---- tests ----------------------------------------------------------------------------------- */

Test(purge, removes_old_content_keeps_metadata_pending_and_chain_while_serving)
{
    ct_test_daemon_init(&g_d, NULL);
    ADMIN("participant", "add", g_d.data, "--id", "p1", "--label", "T.P.");
    ADMIN("team", "add", g_d.data, "--participant", "p1", "--member", "th.lee");
    ADMIN("team", "add", g_d.data, "--participant", "p1", "--member", "dr.ahmed");
    ADMIN("team", "add", g_d.data, "--participant", "p1", "--member", "pw.kim");
    ct_test_daemon_start(&g_d);
    ct_sync_t *th = ct_test_connect(&g_d, "th.lee");
    ct_sync_t *psy = ct_test_connect(&g_d, "dr.ahmed");

    /* old_read: delivered and acknowledged; old_pending: pw.kim is offline; fresh: new. */
    char old_read[40], old_pending[40], fresh[40];
    send_text(th, "old-read", "p1", "dr.ahmed", old_read);
    Careteam__V1__Envelope *p = receive(psy, old_read);
    ct_envelope_free(p);
    send_text(th, "old-pending", "p1", "pw.kim", old_pending);
    send_text(th, "fresh", "p1", "dr.ahmed", fresh);
    p = receive(psy, fresh);
    ct_envelope_free(p);
    age_message(old_read, 90);
    age_message(old_pending, 90);
    insert_event("01900000-0000-7000-8000-0000000000e1", 90);
    insert_summary("s-old", 90);
    insert_summary("s-new", 1);

    char meta_read[1024], meta_pending[1024], meta_fresh[1024], meta_event[1024];
    db_row(MSG_META, old_read, meta_read, sizeof meta_read);
    db_row(MSG_META, old_pending, meta_pending, sizeof meta_pending);
    db_row(MSG_META, fresh, meta_fresh, sizeof meta_fresh);
    db_row(MSG_META, "01900000-0000-7000-8000-0000000000e1", meta_event, sizeof meta_event);
    cr_assert(strstr(meta_read, "dr.ahmed@") != NULL && strstr(meta_read, "pending") == NULL,
              "old_read should be delivered: %s", meta_read);
    cr_assert(strstr(meta_pending, "pw.kim@pending") != NULL, "%s", meta_pending);

    char cutoff[16];
    date_ago(60, cutoff);

    /* A dry run counts and changes nothing, and writes no audit row. */
    ADMIN("purge", g_d.data, "--before", cutoff, "--dry-run");
    char *log = ct_test_read_file(g_d.log, NULL);
    cr_assert_not_null(log);
    cr_assert(strstr(log, "Would remove") != NULL && strstr(log, "messages   2") != NULL &&
                  strstr(log, "summaries  1") != NULL &&
                  strstr(log, "Kept 1 older message") != NULL,
              "dry run output:\n%s", log);
    free(log);
    cr_assert_eq(ct_test_audit_count(&g_d, "retention.purge"), 0);
    expect_row(MSG_CONTENT, old_read, "care|old-read|NULL");

    /* The purge, while the daemon serves. */
    ADMIN("purge", g_d.data, "--before", cutoff);
    expect_row(MSG_CONTENT, old_read, MARKER "||NULL");
    expect_row(MSG_CONTENT, "01900000-0000-7000-8000-0000000000e1", MARKER "||NULL");
    expect_row(MSG_CONTENT, old_pending, "care|old-pending|NULL");
    expect_row(MSG_CONTENT, fresh, "care|fresh|NULL");
    expect_row(MSG_META, old_read, meta_read);
    expect_row(MSG_META, old_pending, meta_pending);
    expect_row(MSG_META, fresh, meta_fresh);
    expect_row(MSG_META, "01900000-0000-7000-8000-0000000000e1", meta_event);
    char want[512], got[512];
    db_row("SELECT created_at_ms FROM summaries WHERE summary_id = ?1", "s-old", got, sizeof got);
    snprintf(want, sizeof want, MARKER "|||housing\nsleep|2024-05-14|1|%s", got);
    expect_row(SUMMARY_CONTENT, "s-old", want);
    db_row("SELECT created_at_ms FROM summaries WHERE summary_id = ?1", "s-new", got, sizeof got);
    snprintf(want, sizeof want,
             "talked about the move|walked twice|meet Thursday|housing\nsleep|2024-05-14|1|%s",
             got);
    expect_row(SUMMARY_CONTENT, "s-new", want);

    /* One audit row, by the local administrator, naming the cutoff and the counts. */
    cr_assert_eq(ct_test_audit_count(&g_d, "retention.purge"), 1);
    last_purge_detail(got, sizeof got);
    snprintf(want, sizeof want,
             "6|database|careteam.db|0|before=%sT00:00:00.000Z before_ms=", cutoff);
    cr_assert(strncmp(got, want, strlen(want)) == 0, "retention.purge row: %s", got);
    cr_assert(strstr(got, " messages=2 summaries=1 pending=1 include_pending=0 force=0") != NULL,
              "retention.purge row: %s", got);
    cr_assert_eq(ct_test_careteamd(&g_d, "audit", "verify", g_d.data, NULL), 0,
                 "the chain must verify after a purge; see %s", g_d.log);

    /* Again: nothing left but the pending message, which --include-pending takes too. */
    ADMIN("purge", g_d.data, "--before", cutoff, "--include-pending");
    expect_row(MSG_CONTENT, old_pending, MARKER "||NULL");
    expect_row(MSG_META, old_pending, meta_pending);
    last_purge_detail(got, sizeof got);
    cr_assert(strstr(got, " messages=1 summaries=0 pending=1 include_pending=1 force=0") != NULL,
              "retention.purge row: %s", got);

    /* The purged pending message is still delivered: same id and sender, marker, empty body. */
    ct_sync_t *kim = ct_test_connect(&g_d, "pw.kim");
    p = receive(kim, old_pending);
    const Careteam__V1__Message *m = p->deliver->message;
    cr_assert_str_eq(m->subject, MARKER);
    cr_assert_str_eq(m->body, "");
    cr_assert_str_eq(m->sender_id, "th.lee");
    cr_assert_str_eq(m->participant_id, "p1");
    ct_envelope_free(p);

    /* The daemon kept serving and writing throughout. */
    char after[40];
    send_text(th, "after-purge", "p1", "pw.kim", after);
    p = receive(kim, after);
    cr_assert_str_eq(p->deliver->message->body, "after-purge");
    ct_envelope_free(p);
    ct_test_ping(th, "th.lee after the purge");

    ct_sync_close(kim);
    ct_sync_close(psy);
    ct_sync_close(th);
    cr_assert_eq(ct_test_daemon_stop(&g_d), 0);
    cr_assert_eq(ct_test_careteamd(&g_d, "audit", "verify", g_d.data, NULL), 0,
                 "the chain must verify after the daemon stopped; see %s", g_d.log);
    cr_assert_eq(ct_test_audit_count(&g_d, "retention.purge"), 2);
    ct_test_daemon_finish(&g_d);
}

Test(purge, refuses_future_recent_and_malformed_dates)
{
    ct_test_daemon_init(&g_d, NULL);
    char recent[16];
    date_ago(3, recent);
    cr_assert_eq(ct_test_careteamd(&g_d, "purge", g_d.data, "--before", "2999-01-01", NULL), 1);
    cr_assert_eq(
        ct_test_careteamd(&g_d, "purge", g_d.data, "--before", "2999-01-01", "--force", NULL), 1,
        "a date in the future is refused even with --force");
    cr_assert_eq(ct_test_careteamd(&g_d, "purge", g_d.data, "--before", recent, NULL), 1);
    cr_assert_eq(ct_test_careteamd(&g_d, "purge", g_d.data, "--before", "2024-02-30", NULL), 2);
    cr_assert_eq(
        ct_test_careteamd(&g_d, "purge", g_d.data, "--before", "2024-01-31T12:00:00", NULL), 2,
        "an RFC 3339 time needs its offset");
    cr_assert_eq(ct_test_careteamd(&g_d, "purge", g_d.data, NULL), 2, "--before is required");
    char *log = ct_test_read_file(g_d.log, NULL);
    cr_assert_not_null(log);
    cr_assert(strstr(log, "in the future") != NULL && strstr(log, "--force") != NULL &&
                  strstr(log, "is not a date") != NULL,
              "the refusals should say why:\n%s", log);
    free(log);
    cr_assert_eq(ct_test_audit_count(&g_d, "retention.purge"), 0);

    /* --force takes a recent date; RFC 3339 with an offset is read as the instant it names. */
    char when[64];
    snprintf(when, sizeof when, "%sT02:00:00.5+02:00", recent);
    cr_assert_eq(ct_test_careteamd(&g_d, "purge", g_d.data, "--before", when, "--force", NULL), 0);
    char got[512];
    last_purge_detail(got, sizeof got);
    char want[128];
    snprintf(want, sizeof want, "before=%sT00:00:00.500Z ", recent);
    cr_assert(strstr(got, want) != NULL && strstr(got, " force=1") != NULL,
              "retention.purge row: %s (want %s)", got, want);
    ct_test_daemon_finish(&g_d);
}
