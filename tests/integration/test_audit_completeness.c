/*
 * Completeness of the audit trail (issue 4, sections 2 and 7): one scripted day of a real
 * careteamd, over real TLS with libcareteam and the admin commands, must leave exactly the
 * expected sequence of audit rows, nothing missing, nothing extra, nothing filtered out.
 *
 * Each step of the script names the rows it must add ("action outcome actor"). After each step
 * the test waits until the table holds every row named so far: the daemon's writer thread commits
 * some rows (refusals, Hello, Ping, connection failures) after the answer has gone out, and
 * waiting keeps the next step's rows from overtaking them, so the order compared at the end is
 * the order of the script. The whole table is then read ordered by seq and compared with the
 * list, row for row; finally `careteamd audit verify` must accept the chain.
 *
 * Every delivery is a row (message.deliver, actor the recipient): a live push to a member's
 * sessions once per member, and each message of an inbox replay. A `careteamd` command that only
 * reads (`purge --dry-run` here) writes `admin.read`, a refused one `admin.refused`. Not written
 * (no row expected, so the test fails if one appears unannounced): a successful TLS handshake
 * (the Hello after it is).
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

#include <openssl/ssl.h>
#include <sqlite3.h>

#include "careteam.h"
#include "daemon.h"
#include "envelope.h"
#include "rawtls.h"
#include "testsupport.h"

#define CALL_MS 5000
#define AWAIT_MS 5000
#define MAX_ROWS 128

#define ACT(x) CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_##x

static ct_test_daemon_t g_d;

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

TestSuite(audit_completeness, .init = ct_test_ignore_sigpipe, .fini = teardown, .timeout = 110);

/* ---- the expected trail ---------------------------------------------------------------------- */

static char g_want[MAX_ROWS][128]; /* "action outcome actor" */
static size_t g_n_want;

/* Reads the whole audit table, ordered by seq, as "action outcome actor" lines (an admin
 * command's actor as "local:*"). */
static size_t read_trail(char rows[][128], size_t max)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/careteam.db", g_d.data);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    cr_assert_eq(rc, SQLITE_OK, "cannot open %s", path);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(db, "SELECT action, outcome, actor_id FROM audit ORDER BY seq", -1, &st,
                            NULL);
    cr_assert_eq(rc, SQLITE_OK, "%s", sqlite3_errmsg(db));
    size_t n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cr_assert_lt(n, max, "more than %zu audit rows", max);
        /* Local administration acts as local:<OS account>, which differs between machines. */
        const char *actor = (const char *)sqlite3_column_text(st, 2);
        snprintf(rows[n++], sizeof rows[0], "%s %d %s", (const char *)sqlite3_column_text(st, 0),
                 sqlite3_column_int(st, 1), strncmp(actor, "local:", 6) == 0 ? "local:*" : actor);
    }
    cr_assert_eq(rc, SQLITE_DONE, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Prints both lists side by side, for the failure message. */
static void dump(const char rows[][128], size_t n)
{
    size_t max = n > g_n_want ? n : g_n_want;
    for (size_t i = 0; i < max; i++)
        cr_log_error("%3zu  %-44s %s %s", i + 1, i < n ? rows[i] : "-",
                     i < g_n_want ? g_want[i] : "-",
                     i < n && i < g_n_want && strcmp(rows[i], g_want[i]) == 0 ? "" : "  <<");
}

/* Adds the rows a step must write (NULL-terminated) and waits until the table holds them all. */
static void expect(const char *row, ...)
{
    va_list ap;
    va_start(ap, row);
    for (const char *r = row; r != NULL; r = va_arg(ap, const char *)) {
        cr_assert_lt(g_n_want, MAX_ROWS);
        snprintf(g_want[g_n_want++], sizeof g_want[0], "%s", r);
    }
    va_end(ap);
    static char rows[MAX_ROWS][128];
    size_t n = 0;
    int64_t end = ct_test_now_ms() + AWAIT_MS;
    while ((n = read_trail(rows, MAX_ROWS)) < g_n_want && ct_test_now_ms() < end)
        ct_test_sleep_ms(20);
    if (n < g_n_want) {
        dump(rows, n);
        cr_assert_fail("after %d ms the trail has %zu rows, the script %zu (row '%s')", AWAIT_MS, n,
                       g_n_want, row);
    }
}

/* ---- requests -------------------------------------------------------------------------------- */

#define ADMIN(...)                                                                                 \
    do {                                                                                           \
        int rc_ = ct_test_careteamd(&g_d, __VA_ARGS__, NULL);                                      \
        cr_assert_eq(rc_, 0, "careteamd %s exited %d; see %s", #__VA_ARGS__, rc_, g_d.log);        \
    } while (0)

static Careteam__V1__Envelope *call(ct_sync_t *s, Careteam__V1__Envelope *env, const char *what)
{
    Careteam__V1__Envelope *resp = NULL;
    int rc = ct_sync_call(s, env, CALL_MS, &resp);
    cr_assert_eq(rc, 0, "%s: %s (%s)", what, ct_errname(rc), ct_sync_last_error(s));
    return resp;
}

static void want_body(Careteam__V1__Envelope *resp, Careteam__V1__Envelope__BodyCase want,
                      const char *what)
{
    cr_assert_eq(resp->body_case, want, "%s: answered '%s' %s", what, ct_test_body_name(resp),
                 ct_response_message(resp));
}

static void record_consent(ct_sync_t *s, const char *p)
{
    Careteam__V1__RecordConsent m = CARETEAM__V1__RECORD_CONSENT__INIT;
    m.participant_id = (char *)p;
    m.scope = CARETEAM__V1__CONSENT_SCOPE__CONSENT_SCOPE_PEER_SUPPORT;
    m.method = CARETEAM__V1__CONSENT_METHOD__CONSENT_METHOD_VERBAL;
    m.note = "discussed at intake";
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_RECORD_CONSENT;
    env.record_consent = &m;
    Careteam__V1__Envelope *resp = call(s, &env, "RecordConsent");
    want_body(resp, CARETEAM__V1__ENVELOPE__BODY_CONSENT, "RecordConsent");
    ct_envelope_free(resp);
}

static void create_referral(ct_sync_t *s, const char *p, const char *to, char out[64])
{
    char *goals[] = {"weekly check-in"};
    Careteam__V1__CreateReferral m = CARETEAM__V1__CREATE_REFERRAL__INIT;
    m.participant_id = (char *)p;
    m.peer_worker_id = (char *)to;
    m.reason = "isolation after discharge";
    m.n_goals = 1;
    m.goals = goals;
    m.priority = CARETEAM__V1__PRIORITY__PRIORITY_ROUTINE;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_CREATE_REFERRAL;
    env.create_referral = &m;
    Careteam__V1__Envelope *resp = call(s, &env, "CreateReferral");
    want_body(resp, CARETEAM__V1__ENVELOPE__BODY_REFERRAL, "CreateReferral");
    snprintf(out, 64, "%s", resp->referral->referral_id);
    ct_envelope_free(resp);
}

static void move(ct_sync_t *s, const char *rid, int action)
{
    Careteam__V1__UpdateReferral m = CARETEAM__V1__UPDATE_REFERRAL__INIT;
    m.referral_id = (char *)rid;
    m.action = action;
    m.reason = "";
    m.assignee_id = "";
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_UPDATE_REFERRAL;
    env.update_referral = &m;
    Careteam__V1__Envelope *resp = call(s, &env, "UpdateReferral");
    want_body(resp, CARETEAM__V1__ENVELOPE__BODY_REFERRAL, "UpdateReferral");
    ct_envelope_free(resp);
}

/* Posts an URGENT summary; returns the alert it opened in alert. */
static void post_urgent_summary(ct_sync_t *s, const char *rid, char alert[64])
{
    char *themes[] = {"sleep"};
    Careteam__V1__PostSummary m = CARETEAM__V1__POST_SUMMARY__INIT;
    m.referral_id = (char *)rid;
    m.session_date = "2024-05-14";
    m.duration_minutes = 45;
    m.format = CARETEAM__V1__SESSION_FORMAT__SESSION_FORMAT_ONE_TO_ONE;
    m.n_themes = 1;
    m.themes = themes;
    m.goals_progress = "walked twice";
    m.next_steps = "meet Thursday";
    m.participant_reviewed = true;
    m.risk = CARETEAM__V1__RISK__RISK_URGENT;
    m.text = "talked about self-harm";
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_POST_SUMMARY;
    env.post_summary = &m;
    Careteam__V1__Envelope *resp = call(s, &env, "PostSummary");
    want_body(resp, CARETEAM__V1__ENVELOPE__BODY_SUMMARY, "PostSummary");
    cr_assert_neq(resp->summary->alert_id[0], '\0', "an URGENT summary opens an alert");
    snprintf(alert, 64, "%s", resp->summary->alert_id);
    ct_envelope_free(resp);
}

static void acknowledge_alert(ct_sync_t *s, const char *aid)
{
    Careteam__V1__AcknowledgeAlert m = CARETEAM__V1__ACKNOWLEDGE_ALERT__INIT;
    m.alert_id = (char *)aid;
    m.note = "called the participant";
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_ACKNOWLEDGE_ALERT;
    env.acknowledge_alert = &m;
    Careteam__V1__Envelope *resp = call(s, &env, "AcknowledgeAlert");
    want_body(resp, CARETEAM__V1__ENVELOPE__BODY_ALERT, "AcknowledgeAlert");
    ct_envelope_free(resp);
}

static Careteam__V1__Envelope *send_text(ct_sync_t *s, const char *cmid, const char *p,
                                         const char *to)
{
    const char *rcpt[] = {to};
    ct_send_args_t a = {.client_msg_id = cmid,
                        .to = rcpt,
                        .n_to = 1,
                        .participant_id = p,
                        .subject = "care",
                        .body = "see you Thursday"};
    Careteam__V1__Envelope *resp = NULL;
    int rc = ct_sync_send_message(s, &a, CALL_MS, &resp);
    cr_assert_eq(rc, 0, "SendMessage %s: %s", cmid, ct_errname(rc));
    return resp;
}

/* Waits for the Deliver of `event` ("" for a text message), skipping others, and acknowledges
 * it. */
static void receive_and_ack(ct_sync_t *s, const char *event)
{
    for (;;) {
        Careteam__V1__Envelope *p = NULL;
        int rc = ct_sync_next_push(s, CALL_MS, &p);
        cr_assert_eq(rc, 0, "no Deliver of '%s': %s", event, ct_errname(rc));
        if (p->body_case != CARETEAM__V1__ENVELOPE__BODY_DELIVER ||
            strcmp(p->deliver->message->event != NULL ? p->deliver->message->event : "", event) !=
                0) {
            ct_envelope_free(p);
            continue;
        }
        const char *ids[] = {p->deliver->message->message_id};
        Careteam__V1__Envelope *ok = NULL;
        rc = ct_sync_delivery_ack(s, ids, 1, CALL_MS, &ok);
        cr_assert_eq(rc, 0, "DeliveryAck: %s", ct_errname(rc));
        want_body(ok, CARETEAM__V1__ENVELOPE__BODY_OK, "DeliveryAck");
        ct_envelope_free(ok);
        ct_envelope_free(p);
        return;
    }
}

/* ---- the script ------------------------------------------------------------------------------ */

Test(audit_completeness, scripted_workflow_writes_exactly_the_expected_trail)
{
    g_n_want = 0;
    /* Setup with the admin commands: init and the demo team (daemon.h), a participant. */
    ct_test_daemon_init(&g_d, NULL);
    expect("admin.init 0 local:*", "member.enroll 0 local:*", "member.enroll 0 local:*",
           "member.enroll 0 local:*", "member.enroll 0 local:*", "member.enroll 0 local:*", NULL);
    ADMIN("participant", "add", g_d.data, "--id", "p1", "--label", "T.P.");
    expect("participant.add 0 local:*", NULL);
    ADMIN("team", "add", g_d.data, "--participant", "p1", "--member", "th.lee");
    expect("team.add 0 local:*", NULL);
    ct_test_daemon_start(&g_d);
    expect("daemon.start 0 careteamd", NULL);

    /* The therapist connects, records consent and refers p1 to pw.sam. */
    ct_sync_t *th = ct_test_connect(&g_d, "th.lee");
    expect("session.hello 0 th.lee", NULL);
    record_consent(th, "p1");
    expect("consent.record 0 th.lee", NULL);
    char rid[64];
    create_referral(th, "p1", "pw.sam", rid);
    expect("referral.create 0 th.lee", NULL);
    /* pw.sam connects: the referral is replayed, and acknowledged. */
    ct_sync_t *pw = ct_test_connect(&g_d, "pw.sam");
    expect("session.hello 0 pw.sam", NULL);
    receive_and_ack(pw, "referral.create"); /* replayed: one delivery row */
    expect("message.deliver 0 pw.sam", "message.delivery_ack 0 pw.sam", NULL);
    /* pw.sam accepts, starts, posts an URGENT summary (opening an alert). */
    move(pw, rid, ACT(ACCEPT)); /* joins p1's care team: no team.add row of its own */
    /* Every move is pushed to the referrer and the assignee, both online: a delivery row each. */
    expect("referral.accept 0 pw.sam", "message.deliver 0 th.lee", "message.deliver 0 pw.sam",
           NULL);
    move(pw, rid, ACT(START));
    expect("referral.start 0 pw.sam", "message.deliver 0 th.lee", "message.deliver 0 pw.sam", NULL);
    char alert[64];
    post_urgent_summary(pw, rid, alert);
    /* One transaction; the alert's row is written before the request's own. */
    expect("alert.open 0 pw.sam", "summary.post 0 pw.sam", NULL);
    /* Then the summary and the alert reach the therapist. */
    expect("message.deliver 0 th.lee", "message.deliver 0 th.lee", NULL);
    /* The therapist acknowledges the alert; pw.sam completes the referral. */
    acknowledge_alert(th, alert);
    expect("alert.acknowledge 0 th.lee", "message.deliver 0 pw.sam", NULL); /* to the raiser */
    move(pw, rid, ACT(COMPLETE));
    expect("referral.complete 0 pw.sam", "message.deliver 0 th.lee", "message.deliver 0 pw.sam",
           NULL);
    /* A message about p1, delivered and acknowledged. */
    Careteam__V1__Envelope *resp = send_text(th, "msg-1", "p1", "pw.sam");
    want_body(resp, CARETEAM__V1__ENVELOPE__BODY_ACK, "SendMessage");
    ct_envelope_free(resp);
    expect("message.send 0 th.lee", "message.deliver 0 pw.sam", NULL);
    receive_and_ack(pw, "");
    expect("message.delivery_ack 0 pw.sam", NULL);
    ct_test_ping(th, "th.lee");
    expect("session.ping 0 th.lee", NULL);

    /* A refused request: compliance may not send content. */
    ct_sync_t *co = ct_test_connect(&g_d, "co.jones");
    expect("session.hello 0 co.jones", NULL);
    resp = send_text(co, "msg-2", "p1", "th.lee");
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR, "compliance sent content");
    ct_envelope_free(resp);
    expect("message.send 4 co.jones", NULL); /* FORBIDDEN: a minor failure */

    /* A failed handshake: no client certificate. */
    ct_test_raw_t r;
    bool ok = ct_test_raw_connect(&r, &g_d, NULL, TLS1_2_VERSION, TLS1_3_VERSION);
    if (ok && ct_test_raw_send_hello(&r)) {
        Careteam__V1__Envelope *env = ct_test_raw_read_envelope(&r);
        cr_assert_null(env, "a client without a certificate got an answer");
    }
    ct_test_raw_close(&r);
    expect("tls.handshake 4 ", NULL); /* no member yet: actor "" */

    /* Admin commands while the daemon serves. */
    ADMIN("team", "add", g_d.data, "--participant", "p1", "--member", "dr.ahmed");
    expect("team.add 0 local:*", NULL);
    /* A refused command is on the record too. */
    cr_assert_neq(ct_test_careteamd(&g_d, "team", "add", g_d.data, "--participant", "p1",
                                    "--member", "no.such.member", NULL),
                  0);
    expect("admin.refused 4 local:*", NULL);
    char cutoff[16];
    time_t t = time(NULL) - 365 * 24 * 60 * 60;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(cutoff, sizeof cutoff, "%Y-%m-%d", &tm);
    ADMIN("purge", g_d.data, "--before", cutoff, "--dry-run"); /* reads only: admin.read */
    expect("admin.read 0 local:*", NULL);
    ADMIN("purge", g_d.data, "--before", cutoff);
    expect("retention.purge 0 local:*", NULL);

    ct_sync_close(co);
    ct_sync_close(pw);
    ct_sync_close(th);
    cr_assert_eq(ct_test_daemon_stop(&g_d), 0, "careteamd exited non-zero; see %s", g_d.log);
    expect("daemon.stop 0 careteamd", NULL);

    /* Exactly the script's rows, in its order: nothing missing, nothing extra. */
    static char rows[MAX_ROWS][128];
    size_t n = read_trail(rows, MAX_ROWS);
    bool same = n == g_n_want;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(rows[i], g_want[i]) == 0;
    if (!same)
        dump(rows, n);
    cr_assert(same, "the audit trail (left) differs from the script (right); see the log");
    cr_assert_eq(ct_test_careteamd(&g_d, "audit", "verify", g_d.data, NULL), 0,
                 "the chain must verify; see %s", g_d.log);
    ct_test_daemon_finish(&g_d);
}
