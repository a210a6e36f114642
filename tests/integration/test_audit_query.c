/*
 * AuditQuery and `careteam audit query` (issue 4, sections 4 and 5) against a real careteamd.
 *
 * Each test starts its own daemon (tests/support/daemon.h) named `Care, "North" Team`, so that
 * the daemon.start record's object id holds a comma and double quotes for the CSV round trip,
 * with participant p1 whose care team is dr.ahmed, th.lee and pw.sam. populate() then leaves a
 * known trail: dr.ahmed writes to th.lee about p1 (subject and body carry MARKER, which no export
 * may contain), th.lee acknowledges it, and co.jones (compliance) tries to send a message and is
 * refused.
 *
 * What is checked:
 *  - the cursor: pages of 3 cover seq 1, 2, 3, ... exactly once, each page at most its limit;
 *  - every filter, alone and combined, returns exactly the rows an independent SQL query of the
 *    database returns (the oracle reads the file read-only, bounded by the newest row before the
 *    query, since each query adds its own audit.query row);
 *  - every role but compliance is refused FORBIDDEN, and each refusal is an audited failure;
 *  - the query itself is audited with its filters and result count;
 *  - no export format holds a message's subject or body;
 *  - the FHIR export is a collection Bundle of AuditEvents with every required element, and the
 *    CSV round-trips through Python's csv module (tests/integration/audit_check.py, run with
 *    /usr/bin/python3, which scripts/deps.sh --test installs).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "careteam.h"
#include "cli_run.h"
#include "daemon.h"
#include "envelope.h"
#include "process.h"
#include "testsupport.h"

#define CALL_MS 5000
#define RUN_MS 30000   /* longest run of the checker (a CLI run's is CT_TEST_CLI_RUN_MS) */
#define SETTLE_MS 5000 /* longest wait for an audit row to be committed */
#define MARKER "MARKER-7f3a9c-never-exported"
#define SERVER_NAME "Care, \"North\" Team"
#define PYTHON "/usr/bin/python3"
#define CHECKER CT_TEST_SOURCE_DIR "/tests/integration/audit_check.py"
#define MAX_SEQS 4096

#define FORBIDDEN CARETEAM__V1__ERROR_CODE__ERROR_CODE_FORBIDDEN
#define INVALID CARETEAM__V1__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT
#define OUTCOME(x) CARETEAM__V1__AUDIT_OUTCOME_FILTER__AUDIT_OUTCOME_FILTER_##x

static ct_test_daemon_t g_d;
static char g_message_id[40]; /* the message populate() sends */
static long g_queries;        /* audit.query rows this test has caused so far */

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

TestSuite(audit_query, .init = ct_test_ignore_sigpipe, .fini = teardown, .timeout = 110);

/* ---- the daemon and its trail ---------------------------------------------------------------- */

#define ADMIN(...)                                                                                 \
    do {                                                                                           \
        int rc_ = ct_test_careteamd(&g_d, __VA_ARGS__, NULL);                                      \
        cr_assert_eq(rc_, 0, "careteamd %s exited %d; see %s", #__VA_ARGS__, rc_, g_d.log);        \
    } while (0)

static void launch(void)
{
    ct_test_daemon_init(&g_d, "server_name = " SERVER_NAME);
    ADMIN("participant", "add", g_d.data, "--id", "p1", "--label", "T.W.");
    ADMIN("team", "add", g_d.data, "--participant", "p1", "--member", "dr.ahmed");
    ADMIN("team", "add", g_d.data, "--participant", "p1", "--member", "th.lee");
    ADMIN("team", "add", g_d.data, "--participant", "p1", "--member", "pw.sam");
    ct_test_daemon_start(&g_d);
    g_queries = 0;
}

static void populate(void)
{
    ct_sync_t *s = ct_test_connect(&g_d, "dr.ahmed");
    const char *to[] = {"th.lee"};
    ct_send_args_t a = {.client_msg_id = "aq-1",
                        .to = to,
                        .n_to = 1,
                        .participant_id = "p1",
                        .subject = "subject " MARKER,
                        .body = "body " MARKER};
    Careteam__V1__Envelope *resp = NULL;
    cr_assert_eq(ct_sync_send_message(s, &a, CALL_MS, &resp), 0);
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ACK, "send: '%s' %s",
                 ct_test_body_name(resp), ct_response_message(resp));
    snprintf(g_message_id, sizeof g_message_id, "%s", resp->ack->message_id);
    ct_envelope_free(resp);
    ct_sync_close(s);

    s = ct_test_connect(&g_d, "th.lee");
    Careteam__V1__Envelope *p = NULL;
    for (;;) {
        cr_assert_eq(ct_sync_next_push(s, CALL_MS, &p), 0, "th.lee: no replay");
        if (p->body_case == CARETEAM__V1__ENVELOPE__BODY_DELIVER)
            break;
        ct_envelope_free(p);
    }
    const char *ids[] = {g_message_id};
    cr_assert_str_eq(p->deliver->message->message_id, g_message_id);
    ct_envelope_free(p);
    cr_assert_eq(ct_sync_delivery_ack(s, ids, 1, CALL_MS, &resp), 0);
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_OK);
    ct_envelope_free(resp);
    ct_sync_close(s);

    /* A refusal: compliance may not send clinical messages. */
    s = ct_test_connect(&g_d, "co.jones");
    const char *to2[] = {"dr.ahmed"};
    ct_send_args_t b = {.client_msg_id = "aq-2", .to = to2, .n_to = 1, .body = "no"};
    cr_assert_eq(ct_sync_send_message(s, &b, CALL_MS, &resp), 0);
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR);
    ct_envelope_free(resp);
    ct_sync_close(s);
    ct_test_await_audit_failures(&g_d, "message.send", 1);
}

/* ---- the database, read independently ---------------------------------------------------------
 */

static sqlite3 *db_open(void)
{
    char path[4200];
    snprintf(path, sizeof path, "file:%s/careteam.db?mode=ro", g_d.data);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    cr_assert_eq(rc, SQLITE_OK, "open %s: %s", path, sqlite3_errstr(rc));
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* The seqs of the rows with seq <= max_seq matching the SQL condition `where` (its ?1 bound to
 * arg when not NULL), ascending, into seqs. Returns how many. */
static size_t db_seqs(const char *where, const char *arg, int64_t max_seq, int64_t *seqs)
{
    sqlite3 *db = db_open();
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT seq FROM audit WHERE seq <= ?2 AND (%s) ORDER BY seq", where);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    if (arg != NULL)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, max_seq);
    size_t n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cr_assert_lt(n, (size_t)MAX_SEQS);
        seqs[n++] = sqlite3_column_int64(st, 0);
    }
    cr_assert_eq(rc, SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* One integer from a one-row query (?1 bound to arg when not NULL). */
static int64_t db_int(const char *sql, const char *arg)
{
    sqlite3 *db = db_open();
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sql);
    if (arg != NULL)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* One text from a one-row query, into out. */
static void db_text(const char *sql, const char *arg, char *out, size_t len)
{
    sqlite3 *db = db_open();
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sql);
    if (arg != NULL)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static int64_t max_seq(void)
{
    return db_int("SELECT coalesce(max(seq), 0) FROM audit", NULL);
}

/* Waits until every audit.query row this test caused is committed (they are written after the
 * answer), so that the oracle's bound is stable. */
static void settle(void)
{
    long n = 0;
    for (int waited = 0; waited <= SETTLE_MS; waited += 20) {
        n = ct_test_audit_count(&g_d, "audit.query");
        if (n >= g_queries)
            return;
        ct_test_sleep_ms(20);
    }
    cr_assert_fail("%ld audit.query rows after %d ms, expected %ld", n, SETTLE_MS, g_queries);
}

/* ---- queries over the wire ------------------------------------------------------------------- */

/* Sends q and returns the answer (the caller frees it); counts the audit row it will cause. */
static Careteam__V1__Envelope *ask(ct_sync_t *s, Careteam__V1__AuditQuery *q)
{
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_AUDIT_QUERY;
    env.audit_query = q;
    Careteam__V1__Envelope *resp = NULL;
    int rc = ct_sync_call(s, &env, CALL_MS, &resp);
    cr_assert_eq(rc, 0, "AuditQuery: %s (%s)", ct_errname(rc), ct_sync_last_error(s));
    g_queries++;
    return resp;
}

static const Careteam__V1__AuditPage *page_of(const Careteam__V1__Envelope *resp)
{
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_AUDIT_PAGE, "got '%s' %s",
                 ct_test_body_name(resp), ct_response_message(resp));
    return resp->audit_page;
}

/* Every record matching q (paging with the cursor), seqs <= bound only, into seqs. */
static size_t query_all(ct_sync_t *s, Careteam__V1__AuditQuery *q, int64_t bound, int64_t *seqs)
{
    size_t n = 0;
    q->after_seq = 0;
    for (;;) {
        Careteam__V1__Envelope *resp = ask(s, q);
        const Careteam__V1__AuditPage *pg = page_of(resp);
        for (size_t i = 0; i < pg->n_records; i++) {
            if ((int64_t)pg->records[i]->seq <= bound) {
                cr_assert_lt(n, (size_t)MAX_SEQS);
                seqs[n++] = (int64_t)pg->records[i]->seq;
            }
        }
        bool more = pg->more;
        q->after_seq = pg->next_cursor;
        ct_envelope_free(resp);
        if (!more)
            return n;
    }
}

static void assert_same_seqs(const char *what, const int64_t *got, size_t n_got,
                             const int64_t *want, size_t n_want)
{
    cr_assert_eq(n_got, n_want, "%s: the query returned %zu records, the database has %zu", what,
                 n_got, n_want);
    for (size_t i = 0; i < n_got; i++)
        cr_assert_eq(got[i], want[i], "%s: record %zu is seq %lld, the database says %lld", what, i,
                     (long long)got[i], (long long)want[i]);
}

/* ---- the CLI and the checker ----------------------------------------------------------------- */

/* `careteam ARGS...` as member id (cli_run.h), into p; the caller frees it with ct_test_cli_free.
 * Its stdout is also kept in <dir>/<name>.out, which check() reads. Asserts that stderr holds no
 * message content, whatever the exit code (which the caller checks). */
static void cli(ct_test_cli_t *p, const char *id, const char *name, const char *const *args)
{
    ct_test_cli_as(p, &g_d, id, args);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.out", g_d.dir, name);
    ct_test_write_file(path, p->out, 0600);
    if (p->status != 0)
        cr_log_error("careteam %s exited %d: %s", p->cmd, p->status, p->err);
    cr_assert_null(strstr(p->err, MARKER), "%s: stderr holds a message's content", name);
}

/* Runs the checker, audit_check.py MODE <dir>/<a>.out <dir>/<b>.out, with our environment, its
 * stdout and stderr into <dir>/check-MODE.out and .err; asserts it passed within RUN_MS. */
static void check(const char *mode, const char *a, const char *b)
{
    char pa[4200], pb[4200], out[4200], err[4200];
    snprintf(pa, sizeof pa, "%s/%s.out", g_d.dir, a);
    snprintf(pb, sizeof pb, "%s/%s.out", g_d.dir, b);
    snprintf(out, sizeof out, "%s/check-%s.out", g_d.dir, mode);
    snprintf(err, sizeof err, "%s/check-%s.err", g_d.dir, mode);
    cr_assert_eq(access(PYTHON, X_OK), 0, "%s is needed (scripts/deps.sh --test)", PYTHON);
    char *argv[] = {PYTHON, CHECKER, (char *)mode, pa, pb, NULL};
    int rc = ct_test_run_to_files(argv, "/", out, err, RUN_MS);
    char *o = ct_test_read_file(out, NULL), *e = ct_test_read_file(err, NULL);
    cr_assert_eq(rc, 0, "audit_check.py %s failed (%d):\n%s%s", mode, rc, o ? o : "", e ? e : "");
    cr_log_info("audit_check.py %s: %s", mode, o ? o : "");
    free(o);
    free(e);
}

/* ---- tests ----------------------------------------------------------------------------------- */

Test(audit_query, pages_cover_every_record_once)
{
    launch();
    populate();
    ct_sync_t *s = ct_test_connect(&g_d, "co.jones");
    settle();
    int64_t before = max_seq();
    Careteam__V1__AuditQuery q = CARETEAM__V1__AUDIT_QUERY__INIT;
    q.limit = 3;
    int64_t next = 1;
    size_t pages = 0;
    for (;;) {
        Careteam__V1__Envelope *resp = ask(s, &q);
        const Careteam__V1__AuditPage *pg = page_of(resp);
        cr_assert_leq(pg->n_records, 3, "a page of %zu records for a limit of 3", pg->n_records);
        if (pg->more)
            cr_assert_eq(pg->n_records, 3, "a short page (%zu) that says there is more",
                         pg->n_records);
        for (size_t i = 0; i < pg->n_records; i++)
            cr_assert_eq((int64_t)pg->records[i]->seq, next++, "page %zu: seq %llu out of order",
                         pages, (unsigned long long)pg->records[i]->seq);
        cr_assert_eq(pg->next_cursor, (uint64_t)(next - 1), "next_cursor is the last seq");
        bool more = pg->more;
        q.after_seq = pg->next_cursor;
        ct_envelope_free(resp);
        pages++;
        if (!more)
            break;
    }
    cr_assert_geq(next - 1, before, "the pages ended at seq %lld, before the log's %lld",
                  (long long)(next - 1), (long long)before);
    cr_log_info("%zu pages of at most 3 covered seq 1..%lld", pages, (long long)(next - 1));

    /* The defaults and the bounds of limit. */
    q.after_seq = 0;
    q.limit = 0;
    Careteam__V1__Envelope *resp = ask(s, &q);
    cr_assert_geq(page_of(resp)->n_records, (size_t)before, "limit 0 means 500");
    ct_envelope_free(resp);
    q.limit = 1001;
    resp = ask(s, &q);
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR);
    cr_assert_eq((int)resp->error->code, INVALID, "limit 1001: %s", resp->error->message);
    ct_envelope_free(resp);
    /* An empty page past the end keeps the cursor where it was. */
    q.limit = 10;
    q.after_seq = 1000000;
    resp = ask(s, &q);
    cr_assert_eq(page_of(resp)->n_records, 0);
    cr_assert_eq(page_of(resp)->next_cursor, 1000000);
    cr_assert_not(page_of(resp)->more);
    ct_envelope_free(resp);
    ct_sync_close(s);
    ct_test_daemon_finish(&g_d);
}

Test(audit_query, pages_stay_within_max_frame)
{
    ct_test_daemon_init(&g_d, "max_frame = 8K\nmax_body = 4K");
    ct_test_daemon_start(&g_d);
    g_queries = 0;
    ct_sync_t *s = ct_test_connect(&g_d, "co.jones");
    for (int i = 0; i < 150; i++) /* a session.ping record each */
        ct_test_ping(s, "co.jones");
    /* A Ping's record is written after its Pong: wait until all 150 are in. */
    for (int tries = 0; ct_test_audit_count(&g_d, "session.ping") < 150 && tries < 500; tries++)
        usleep(10 * 1000);
    cr_assert_eq(ct_test_audit_count(&g_d, "session.ping"), 150);
    Careteam__V1__AuditQuery q = CARETEAM__V1__AUDIT_QUERY__INIT;
    q.limit = 1000;
    int64_t next = 1;
    size_t pages = 0;
    for (;;) {
        Careteam__V1__Envelope *resp = ask(s, &q);
        const Careteam__V1__AuditPage *pg = page_of(resp);
        size_t size = careteam__v1__envelope__get_packed_size(resp);
        cr_assert_leq(size, 8192, "a page of %zu bytes, over max_frame", size);
        cr_assert_gt(pg->n_records, 0, "an empty page that says there is more");
        for (size_t i = 0; i < pg->n_records; i++)
            cr_assert_eq((int64_t)pg->records[i]->seq, next++);
        bool more = pg->more;
        q.after_seq = pg->next_cursor;
        ct_envelope_free(resp);
        pages++;
        if (!more)
            break;
    }
    cr_assert_geq(pages, 2, "150 records fit one 8 KiB page?");
    cr_assert_geq(next - 1, 150);
    ct_sync_close(s);
    ct_test_daemon_finish(&g_d);
}

Test(audit_query, every_filter_matches_the_database)
{
    launch();
    populate();
    ct_sync_t *s = ct_test_connect(&g_d, "co.jones");
    char local_actor[128];
    db_text("SELECT actor_id FROM audit WHERE action = 'participant.add'", NULL, local_actor,
            sizeof local_actor);
    int64_t sent_at = db_int("SELECT time_ms FROM audit WHERE action = 'message.send' AND "
                             "outcome = 0",
                             NULL);
    static int64_t got[MAX_SEQS], want[MAX_SEQS];

    struct {
        const char *what;
        Careteam__V1__AuditQuery q;
        const char *where; /* the same filter in SQL; ?1 is arg */
        const char *arg;
    } cases[] = {
        {"actor", {.actor_id = "dr.ahmed"}, "actor_id = ?1", "dr.ahmed"},
        {"actor careteamd", {.actor_id = "careteamd"}, "actor_id = ?1", "careteamd"},
        {"actor local", {.actor_id = local_actor}, "actor_id = ?1", local_actor},
        {"participant", {.participant_id = "p1"}, "participant_id = ?1", "p1"},
        {"action", {.action = "message.send"}, "action = ?1", "message.send"},
        {"action prefix", {.action = "session."}, "substr(action, 1, 8) = ?1", "session."},
        {"outcome success", {.outcome = OUTCOME(SUCCESS)}, "outcome = 0", NULL},
        {"outcome minor", {.outcome = OUTCOME(MINOR_FAILURE)}, "outcome = 4", NULL},
        {"object type", {.object_type = "message"}, "object_type = ?1", "message"},
        {"object id", {.object_id = g_message_id}, "object_id = ?1", g_message_id},
        {"since", {.since_ms = sent_at}, "time_ms >= ?1", NULL},
        {"until", {.until_ms = sent_at}, "time_ms < ?1", NULL},
        {"since and until",
         {.since_ms = sent_at, .until_ms = sent_at + 1},
         "time_ms >= ?1 AND time_ms < ?1 + 1",
         NULL},
        {"combined",
         {.actor_id = "dr.ahmed", .participant_id = "p1", .action = "message."},
         "actor_id = 'dr.ahmed' AND participant_id = 'p1' AND action LIKE 'message.%'",
         NULL},
        {"nothing", {.actor_id = "nobody"}, "0", NULL},
    };
    char sent_at_text[32];
    snprintf(sent_at_text, sizeof sent_at_text, "%lld", (long long)sent_at);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Careteam__V1__AuditQuery q = CARETEAM__V1__AUDIT_QUERY__INIT;
        const Careteam__V1__AuditQuery *c = &cases[i].q;
        q.since_ms = c->since_ms;
        q.until_ms = c->until_ms;
        q.actor_id = c->actor_id ? c->actor_id : "";
        q.participant_id = c->participant_id ? c->participant_id : "";
        q.action = c->action ? c->action : "";
        q.outcome = c->outcome;
        q.object_type = c->object_type ? c->object_type : "";
        q.object_id = c->object_id ? c->object_id : "";
        q.limit = 4; /* several pages each */
        const char *arg = cases[i].arg;
        if (arg == NULL && (c->since_ms != 0 || c->until_ms != 0))
            arg = sent_at_text;
        settle();
        int64_t bound = max_seq();
        size_t n_want = db_seqs(cases[i].where, arg, bound, want);
        size_t n_got = query_all(s, &q, bound, got);
        assert_same_seqs(cases[i].what, got, n_got, want, n_want);
        if (strcmp(cases[i].what, "nothing") != 0)
            cr_assert_gt(n_want, 0, "%s: the trail has no matching record to test", cases[i].what);
        cr_assert_lt((int64_t)n_want, bound, "%s: every record matches: not a filter",
                     cases[i].what);
        cr_log_info("%s: %zu of %lld records", cases[i].what, n_got, (long long)bound);
    }

    /* Malformed filters are refused before any reading. */
    const char *bad_actions[] = {"Message.send", "message..send", ".message", "message send"};
    for (size_t i = 0; i < sizeof bad_actions / sizeof bad_actions[0]; i++) {
        Careteam__V1__AuditQuery q = CARETEAM__V1__AUDIT_QUERY__INIT;
        q.action = (char *)bad_actions[i];
        Careteam__V1__Envelope *resp = ask(s, &q);
        cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR, "action '%s'",
                     bad_actions[i]);
        cr_assert_eq((int)resp->error->code, INVALID);
        ct_envelope_free(resp);
    }
    Careteam__V1__AuditQuery q = CARETEAM__V1__AUDIT_QUERY__INIT;
    q.since_ms = 2000;
    q.until_ms = 1000;
    Careteam__V1__Envelope *resp = ask(s, &q);
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR, "since after until");
    ct_envelope_free(resp);
    q = (Careteam__V1__AuditQuery)CARETEAM__V1__AUDIT_QUERY__INIT;
    q.outcome = (Careteam__V1__AuditOutcomeFilter)9;
    resp = ask(s, &q);
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR, "outcome 9");
    ct_envelope_free(resp);
    ct_sync_close(s);
    ct_test_daemon_finish(&g_d);
}

Test(audit_query, other_roles_are_refused_and_audited)
{
    ct_test_daemon_init(&g_d, NULL);
    cr_assert_eq(ct_test_daemon_enroll(&g_d, "ps.rao", "Priya Rao", "peer_supervisor"), 0);
    cr_assert_eq(ct_test_daemon_enroll(&g_d, "ad.ops", "Alex Ops", "admin"), 0);
    ct_test_daemon_start(&g_d);
    const char *who[] = {"dr.ahmed", "th.lee", "pw.sam", "pw.kim", "ps.rao", "ad.ops"};
    for (size_t i = 0; i < sizeof who / sizeof who[0]; i++) {
        ct_sync_t *s = ct_test_connect(&g_d, who[i]);
        Careteam__V1__AuditQuery q = CARETEAM__V1__AUDIT_QUERY__INIT;
        Careteam__V1__Envelope *resp = ask(s, &q);
        cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR, "%s: got '%s'", who[i],
                     ct_test_body_name(resp));
        cr_assert_eq((int)resp->error->code, FORBIDDEN, "%s: %s", who[i], resp->error->message);
        cr_assert_not_null(strstr(resp->error->message, "audit_query"), "%s: %s", who[i],
                           resp->error->message);
        ct_envelope_free(resp);
        /* The connection stays usable. */
        ct_test_ping(s, who[i]);
        ct_sync_close(s);
        ct_test_await_audit_failures(&g_d, "audit.query", (long)i + 1);
        cr_assert_eq(db_int("SELECT count(*) FROM audit WHERE action = 'audit.query' AND "
                            "actor_id = ?1 AND outcome = 4 AND detail LIKE 'code=FORBIDDEN%'",
                            who[i]),
                     1, "%s: the refusal is not audited as a failed audit.query", who[i]);
    }
    ct_test_daemon_finish(&g_d);
}

Test(audit_query, the_query_is_audited)
{
    launch();
    populate();
    ct_sync_t *s = ct_test_connect(&g_d, "co.jones");
    Careteam__V1__AuditQuery q = CARETEAM__V1__AUDIT_QUERY__INIT;
    q.actor_id = "dr.ahmed";
    q.participant_id = "p1";
    q.action = "message.";
    Careteam__V1__Envelope *resp = ask(s, &q);
    size_t n = page_of(resp)->n_records;
    cr_assert_gt(n, 0);
    /* Every stored column arrives as stored (cert_fp included). */
    const Careteam__V1__AuditRecord *r = page_of(resp)->records[0];
    char got[1024], stored[1024], seq[24];
    snprintf(got, sizeof got, "%lld|%s|%d|%s|%s|%s|%s|%s|%s|%u|%s", (long long)r->time_ms,
             r->actor_id, (int)r->actor_role, r->cert_fp, r->peer_addr, r->action, r->object_type,
             r->object_id, r->participant_id, r->outcome, r->detail);
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)r->seq);
    db_text("SELECT time_ms || '|' || actor_id || '|' || actor_role || '|' || cert_fp || '|' ||"
            " peer_addr || '|' || action || '|' || object_type || '|' || object_id || '|' ||"
            " participant_id || '|' || outcome || '|' || detail FROM audit WHERE seq = ?1",
            seq, stored, sizeof stored);
    cr_assert_str_eq(got, stored);
    cr_log_info("record %s: %s", seq, got);
    ct_envelope_free(resp);
    settle();
    char detail[300], want[64];
    db_text("SELECT actor_id || ' ' || actor_role || ' ' || participant_id || ' ' || outcome ||"
            " ' ' || object_type FROM audit WHERE action = 'audit.query'",
            NULL, detail, sizeof detail);
    cr_assert_str_eq(detail, "co.jones 5 p1 0 audit");
    db_text("SELECT detail FROM audit WHERE action = 'audit.query'", NULL, detail, sizeof detail);
    cr_assert_not_null(strstr(detail, "filters=actor,participant,action "), "%s", detail);
    snprintf(want, sizeof want, "results=%zu more=0", n);
    cr_assert_not_null(strstr(detail, want), "%s", detail);
    cr_assert_not_null(strstr(detail, "action=message. actor=dr.ahmed"), "%s", detail);

    /* A malformed query is refused and audited as a failed audit.query. */
    q = (Careteam__V1__AuditQuery)CARETEAM__V1__AUDIT_QUERY__INIT;
    q.limit = 5000;
    resp = ask(s, &q);
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR);
    ct_envelope_free(resp);
    ct_test_await_audit_failures(&g_d, "audit.query", 1);
    ct_sync_close(s);
    ct_test_daemon_finish(&g_d);
}

Test(audit_query, no_export_holds_a_message_body)
{
    launch();
    populate();
    static const char *const formats[] = {"table", "csv", "jsonl", "fhir"};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        ct_test_cli_t p;
        cli(&p, "co.jones", formats[i],
            CT_TEST_ARGS("audit", "query", "--format", formats[i], "--limit", "7"));
        ct_test_assert_exit(&p, 0);
        cr_assert_null(strstr(p.out, MARKER), "--format %s exports a message's content",
                       formats[i]);
        cr_assert_not_null(strstr(p.out, g_message_id), "--format %s lacks the message's record",
                           formats[i]);
        cr_assert_not_null(strstr(p.out, "message.send"), "--format %s", formats[i]);
        if (strcmp(formats[i], "table") == 0)
            cr_assert(strncmp(p.out, "SEQ  ", 5) == 0, "table header: %.80s", p.out);
        ct_test_cli_free(&p);
    }
    /* Nothing of it is in the log either. */
    cr_assert_eq(db_int("SELECT count(*) FROM audit WHERE instr(detail || object_id || actor_id,"
                        " ?1) > 0",
                        MARKER),
                 0);
    /* Anyone but compliance: refused, exit 1, nothing on stdout. */
    ct_test_cli_t p;
    cli(&p, "dr.ahmed", "refused", CT_TEST_ARGS("audit", "query", "--format", "csv"));
    ct_test_assert_exit(&p, 1);
    cr_assert_str_eq(p.out, "");
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

/* The first n records in two formats; both runs see the same n records (--max). */
static void export_pair(const char *fmt, const char *name)
{
    settle();
    char max[24];
    snprintf(max, sizeof max, "%lld", (long long)max_seq());
    ct_test_cli_t p;
    cli(&p, "co.jones", name,
        CT_TEST_ARGS("audit", "query", "--format", fmt, "--max", max, "--limit", "5"));
    ct_test_assert_exit(&p, 0);
    ct_test_cli_free(&p);
    cli(&p, "co.jones", "records",
        CT_TEST_ARGS("audit", "query", "--format", "jsonl", "--max", max));
    ct_test_assert_exit(&p, 0);
    ct_test_cli_free(&p);
}

Test(audit_query, fhir_export_has_every_required_element)
{
    launch();
    populate();
    export_pair("fhir", "bundle");
    check("fhir", "bundle", "records");
    ct_test_daemon_finish(&g_d);
}

Test(audit_query, csv_round_trips_through_a_csv_parser)
{
    launch();
    populate();
    export_pair("csv", "export");
    check("csv", "export", "records");
    ct_test_daemon_finish(&g_d);
}
