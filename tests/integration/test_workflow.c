/*
 * The care-team workflow of issue 3, end to end over real TLS: a real careteamd on 127.0.0.1
 * (tests/support/daemon.h) with participants, care teams, lockbox restrictions and supervisors
 * set up by the admin commands (`careteamd participant|team|supervisor ...`, `enroll
 * --supervisor`), and members connected through libcareteam's blocking layer.
 *
 * The first test is the scenario of the issue: consent, a referral to the peer-worker queue, the
 * first accept winning and the second refused CONFLICT, two summaries (the second URGENT), the
 * alert that nobody acknowledges escalating at its (shortened) deadline to the psychiatrist, who
 * acknowledges it, and the referral completed, with every transition pushed to the referrer. The
 * other tests are the refusals the issue names: no or withdrawn consent, the lockbox (withheld,
 * never delivered, never replayed), members off the team, every illegal referral move, compliance
 * reading or sending content, and an alert that must still escalate after a daemon restart.
 *
 * Each test starts its own daemon, frees every client it made, stops the daemon asserting a
 * clean exit, and ends with ct_test_daemon_finish (which runs ct_test_leak_check last). The
 * suite's .fini only cleans up after a failed assertion.
 *
 * "Nothing else arrived" is proven by a later marker message arriving next, never by waiting for
 * silence.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "careteam.h"
#include "daemon.h"
#include "envelope.h"
#include "testsupport.h"

#define CALL_MS 5000      /* longest wait for a response */
#define PUSH_MS 5000      /* longest wait for an expected push */
#define DEADLINE_MS 1500  /* alert_urgent_deadline_ms in these tests */
#define ESCALATE_MS 10000 /* longest wait for an escalation after its deadline */
#define LOG_MAX 64        /* workflow events one connection records */

#define WANT_FORBIDDEN CARETEAM__V1__ERROR_CODE__ERROR_CODE_FORBIDDEN
#define WANT_PRECONDITION CARETEAM__V1__ERROR_CODE__ERROR_CODE_FAILED_PRECONDITION
#define WANT_CONFLICT CARETEAM__V1__ERROR_CODE__ERROR_CODE_CONFLICT

#define KIND_TEXT CARETEAM__V1__MESSAGE_KIND__MESSAGE_KIND_TEXT
#define KIND_REFERRAL CARETEAM__V1__MESSAGE_KIND__MESSAGE_KIND_REFERRAL
#define KIND_SUMMARY CARETEAM__V1__MESSAGE_KIND__MESSAGE_KIND_SUMMARY
#define KIND_ALERT CARETEAM__V1__MESSAGE_KIND__MESSAGE_KIND_ALERT

#define ACT(x) CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_##x
#define STATUS(x) CARETEAM__V1__REFERRAL_STATUS__REFERRAL_STATUS_##x

static ct_test_daemon_t g_d;

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

TestSuite(workflow, .init = ct_test_ignore_sigpipe, .fini = teardown, .timeout = 110);

/* ---- fixtures: the admin commands ------------------------------------------------------------ */

/* Runs `careteamd ARGS...` on the data directory and asserts it succeeded. */
#define ADMIN(...)                                                                                 \
    do {                                                                                           \
        int rc_ = ct_test_careteamd(&g_d, __VA_ARGS__, NULL);                                      \
        cr_assert_eq(rc_, 0, "careteamd %s exited %d; see %s", #__VA_ARGS__, rc_, g_d.log);        \
    } while (0)

static void participant_add(const char *p)
{
    ADMIN("participant", "add", g_d.data, "--id", p, "--label", "T.W.");
}

static void team_add(const char *p, const char *m)
{
    ADMIN("team", "add", g_d.data, "--participant", p, "--member", m);
}

/* The demo team (daemon.h), participant p1 with `team` on its care team (NULL-terminated), the
 * urgent deadline shortened; does not start the daemon. */
static void setup(const char *const *team)
{
    char conf[64];
    snprintf(conf, sizeof conf, "alert_urgent_deadline_ms = %d", DEADLINE_MS);
    ct_test_daemon_init(&g_d, conf);
    participant_add("p1");
    for (size_t i = 0; team[i] != NULL; i++)
        team_add("p1", team[i]);
}

/* Enrolls ps.rao (peer_supervisor), makes it pw.sam's supervisor (`supervisor set`), and
 * enrolls pw.ann, a peer worker it supervises from the start (`enroll --supervisor`). */
static void setup_supervision(void)
{
    cr_assert_eq(ct_test_daemon_enroll(&g_d, "ps.rao", "Priya Rao", "peer_supervisor"), 0);
    cr_assert_eq(ct_test_daemon_enroll(&g_d, "ps.other", "Omar Other", "peer_supervisor"), 0);
    ADMIN("supervisor", "set", g_d.data, "--member", "pw.sam", "--supervisor", "ps.rao");
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s/pw.ann", g_d.dir);
    ADMIN("enroll", g_d.data, "--id", "pw.ann", "--name", "Ann Peer", "--role", "peer_worker",
          "--out", prefix, "--supervisor", "ps.rao");
}

/* ---- connections and their pushes ------------------------------------------------------------ */

/* A workflow event (or message) a connection received. */
typedef struct event {
    int kind;
    char event[48];
    char object[64]; /* referral, summary or alert id; the message id for text */
    int status;      /* referral or alert status in the snapshot */
    char message_id[40];
} event_t;

typedef struct conn {
    ct_sync_t *s;
    const char *who;
    event_t log[LOG_MAX]; /* every Deliver received, in order */
    size_t n;
    uint64_t replayed; /* from ReplayComplete */
    bool replay_done;
} conn_t;

static const char *object_id(const Careteam__V1__Message *m)
{
    switch ((int)m->kind) {
    case KIND_REFERRAL:
        return m->referral != NULL ? m->referral->referral_id : "";
    case KIND_SUMMARY:
        return m->summary != NULL ? m->summary->summary_id : "";
    case KIND_ALERT:
        return m->alert != NULL ? m->alert->alert_id : "";
    default:
        return m->message_id;
    }
}

static void delivery_ack(conn_t *c, const char *id)
{
    const char *ids[] = {id};
    Careteam__V1__Envelope *resp = NULL;
    int rc = ct_sync_delivery_ack(c->s, ids, 1, CALL_MS, &resp);
    cr_assert_eq(rc, 0, "%s: DeliveryAck: %s (%s)", c->who, ct_errname(rc),
                 ct_sync_last_error(c->s));
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_OK, "%s: DeliveryAck: '%s' %s",
                 c->who, ct_test_body_name(resp), ct_response_message(resp));
    ct_envelope_free(resp);
}

/* Waits (at most timeout_ms) for the next Deliver, recording ReplayComplete on the way; records
 * and acknowledges it. Returns the push; the caller frees it. */
static Careteam__V1__Envelope *next_deliver(conn_t *c, int timeout_ms)
{
    int64_t end = ct_test_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = end - ct_test_now_ms();
        Careteam__V1__Envelope *p = NULL;
        int rc = ct_sync_next_push(c->s, left > 0 ? (int)left : 1, &p);
        cr_assert_eq(rc, 0, "%s: no push within %d ms: %s (%s)", c->who, timeout_ms, ct_errname(rc),
                     ct_sync_last_error(c->s));
        cr_assert_eq(p->request_id, 0, "%s: a push must have request_id 0", c->who);
        if (p->body_case == CARETEAM__V1__ENVELOPE__BODY_REPLAY_COMPLETE) {
            c->replayed = p->replay_complete->replayed;
            c->replay_done = true;
            ct_envelope_free(p);
            continue;
        }
        cr_assert_eq(p->body_case, CARETEAM__V1__ENVELOPE__BODY_DELIVER, "%s: push is '%s' %s",
                     c->who, ct_test_body_name(p), ct_response_message(p));
        const Careteam__V1__Message *m = p->deliver->message;
        cr_assert_lt(c->n, LOG_MAX, "%s: more than %d pushes", c->who, LOG_MAX);
        event_t *e = &c->log[c->n++];
        e->kind = (int)m->kind;
        snprintf(e->event, sizeof e->event, "%s", m->event != NULL ? m->event : "");
        snprintf(e->object, sizeof e->object, "%s", object_id(m));
        e->status = m->kind == KIND_REFERRAL && m->referral != NULL ? (int)m->referral->status
                    : m->kind == KIND_ALERT && m->alert != NULL     ? (int)m->alert->status
                                                                    : 0;
        snprintf(e->message_id, sizeof e->message_id, "%s", m->message_id);
        delivery_ack(c, m->message_id);
        return p;
    }
}

/* Waits for the Deliver of `event` about object id (recording what came before). Returns it; the
 * caller frees it. */
static Careteam__V1__Envelope *await_event(conn_t *c, const char *event, const char *id,
                                           int timeout_ms)
{
    int64_t end = ct_test_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = end - ct_test_now_ms();
        cr_assert_gt(left, 0, "%s: no '%s' of %s within %d ms (%zu pushes before)", c->who, event,
                     id, timeout_ms, c->n);
        Careteam__V1__Envelope *p = next_deliver(c, (int)left);
        const Careteam__V1__Message *m = p->deliver->message;
        if (m->event != NULL && strcmp(m->event, event) == 0 && strcmp(object_id(m), id) == 0)
            return p;
        ct_envelope_free(p);
    }
}

/* Waits for the Deliver of `event` about id and asserts its kind and sender role. */
static void expect_event(conn_t *c, int kind, const char *event, const char *id)
{
    Careteam__V1__Envelope *p = await_event(c, event, id, PUSH_MS);
    cr_assert_eq((int)p->deliver->message->kind, kind, "%s: '%s' has kind %d, expected %d", c->who,
                 event, (int)p->deliver->message->kind, kind);
    ct_envelope_free(p);
}

/* Waits for the Deliver of text message id (kind TEXT, or UNSPECIFIED which reads as TEXT). */
static void expect_text(conn_t *c, const char *id)
{
    Careteam__V1__Envelope *p = await_event(c, "", id, PUSH_MS);
    int kind = (int)p->deliver->message->kind;
    cr_assert(kind == KIND_TEXT || kind == 0, "%s: message %s has kind %d", c->who, id, kind);
    ct_envelope_free(p);
}

/* Connects as id; the replay is read by next_deliver or connect_idle. */
static void connect_as(conn_t *c, const char *id)
{
    memset(c, 0, sizeof *c);
    c->who = id;
    c->s = ct_test_connect(&g_d, id);
}

static void connect_idle(conn_t *c, const char *id)
{
    connect_as(c, id);
    Careteam__V1__Envelope *p = NULL;
    int rc = ct_sync_next_push(c->s, PUSH_MS, &p);
    cr_assert_eq(rc, 0, "%s: no ReplayComplete: %s", id, ct_errname(rc));
    cr_assert_eq(p->body_case, CARETEAM__V1__ENVELOPE__BODY_REPLAY_COMPLETE,
                 "%s: expected ReplayComplete of an empty inbox, got '%s'", id,
                 ct_test_body_name(p));
    cr_assert_eq(p->replay_complete->replayed, 0, "%s: the inbox should be empty", id);
    c->replay_done = true;
    ct_envelope_free(p);
}

static void disconnect(conn_t *c)
{
    if (c->s != NULL)
        ct_sync_close(c->s);
    c->s = NULL;
}

/* ---- requests -------------------------------------------------------------------------------- */

static Careteam__V1__Envelope *call(conn_t *c, Careteam__V1__Envelope *env, const char *what)
{
    Careteam__V1__Envelope *resp = NULL;
    int rc = ct_sync_call(c->s, env, CALL_MS, &resp);
    cr_assert_eq(rc, 0, "%s: %s: %s (%s)", c->who, what, ct_errname(rc), ct_sync_last_error(c->s));
    return resp;
}

static void want_body(conn_t *c, const Careteam__V1__Envelope *resp,
                      Careteam__V1__Envelope__BodyCase want, const char *what)
{
    cr_assert_eq(resp->body_case, want, "%s: %s: answered '%s' %s", c->who, what,
                 ct_test_body_name(resp), ct_response_message(resp));
}

/* Asserts resp is Error `code` with a message a person can act on, and frees it. */
static void want_error(conn_t *c, Careteam__V1__Envelope *resp, int code, const char *what)
{
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR,
                 "%s: %s: expected Error %s, got '%s'", c->who, what, ct_wire_code_name(code),
                 ct_test_body_name(resp));
    cr_assert_eq((int)resp->error->code, code, "%s: %s: Error %s (%s), expected %s", c->who, what,
                 ct_wire_code_name((int)resp->error->code), resp->error->message,
                 ct_wire_code_name(code));
    cr_assert(resp->error->message != NULL && strlen(resp->error->message) > 10,
              "%s: %s: the Error needs a message a person can act on", c->who, what);
    ct_envelope_free(resp);
}

static Careteam__V1__Envelope *rq_record_consent(conn_t *c, const char *p, int scope)
{
    Careteam__V1__RecordConsent m = CARETEAM__V1__RECORD_CONSENT__INIT;
    m.participant_id = (char *)p;
    m.scope = scope;
    m.method = CARETEAM__V1__CONSENT_METHOD__CONSENT_METHOD_VERBAL;
    m.note = "discussed at intake";
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_RECORD_CONSENT;
    env.record_consent = &m;
    return call(c, &env, "RecordConsent");
}

/* Records a consent and returns its id in out. */
static void record_consent(conn_t *c, const char *p, int scope, char out[64])
{
    Careteam__V1__Envelope *resp = rq_record_consent(c, p, scope);
    want_body(c, resp, CARETEAM__V1__ENVELOPE__BODY_CONSENT, "RecordConsent");
    const Careteam__V1__Consent *k = resp->consent;
    cr_assert_str_eq(k->participant_id, p);
    cr_assert_eq((int)k->scope, scope);
    cr_assert(k->active, "a new consent is active");
    cr_assert_str_eq(k->recorded_by, c->who);
    snprintf(out, 64, "%s", k->consent_id);
    ct_envelope_free(resp);
}

static Careteam__V1__Envelope *rq_withdraw_consent(conn_t *c, const char *id)
{
    Careteam__V1__WithdrawConsent m = CARETEAM__V1__WITHDRAW_CONSENT__INIT;
    m.consent_id = (char *)id;
    m.reason = "participant asked";
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_WITHDRAW_CONSENT;
    env.withdraw_consent = &m;
    return call(c, &env, "WithdrawConsent");
}

/* CreateReferral of p to peer `to`, or to the queue when to is NULL. */
static Careteam__V1__Envelope *rq_create_referral(conn_t *c, const char *p, const char *to)
{
    char *goals[] = {"weekly check-in", "find a walking group"};
    Careteam__V1__CreateReferral m = CARETEAM__V1__CREATE_REFERRAL__INIT;
    m.participant_id = (char *)p;
    m.peer_worker_id = to != NULL ? (char *)to : "";
    m.to_queue = to == NULL;
    m.reason = "isolation after discharge";
    m.n_goals = 2;
    m.goals = goals;
    m.priority = CARETEAM__V1__PRIORITY__PRIORITY_ROUTINE;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_CREATE_REFERRAL;
    env.create_referral = &m;
    return call(c, &env, "CreateReferral");
}

/* Creates a referral (asserting the answer) and returns its id in out. */
static void create_referral(conn_t *c, const char *p, const char *to, char out[64])
{
    Careteam__V1__Envelope *resp = rq_create_referral(c, p, to);
    want_body(c, resp, CARETEAM__V1__ENVELOPE__BODY_REFERRAL, "CreateReferral");
    const Careteam__V1__Referral *r = resp->referral;
    cr_assert_eq((int)r->status, STATUS(REQUESTED));
    cr_assert_str_eq(r->participant_id, p);
    cr_assert_str_eq(r->referrer_id, c->who);
    cr_assert_str_eq(r->addressee_id, to != NULL ? to : "");
    cr_assert_str_eq(r->assignee_id, "");
    cr_assert_eq(r->n_goals, 2);
    snprintf(out, 64, "%s", r->referral_id);
    ct_envelope_free(resp);
}

static Careteam__V1__Envelope *rq_update(conn_t *c, const char *rid, int action, const char *reason,
                                         const char *assignee)
{
    Careteam__V1__UpdateReferral m = CARETEAM__V1__UPDATE_REFERRAL__INIT;
    m.referral_id = (char *)rid;
    m.action = action;
    m.reason = reason != NULL ? (char *)reason : "";
    m.assignee_id = assignee != NULL ? (char *)assignee : "";
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_UPDATE_REFERRAL;
    env.update_referral = &m;
    return call(c, &env, "UpdateReferral");
}

/* A move that must succeed and leave the referral in status `want`. */
static void move(conn_t *c, const char *rid, int action, const char *reason, int want)
{
    Careteam__V1__Envelope *resp = rq_update(c, rid, action, reason, NULL);
    char what[64];
    snprintf(what, sizeof what, "UpdateReferral action %d", action);
    want_body(c, resp, CARETEAM__V1__ENVELOPE__BODY_REFERRAL, what);
    cr_assert_eq((int)resp->referral->status, want, "%s: %s left status %d, expected %d", c->who,
                 what, (int)resp->referral->status, want);
    ct_envelope_free(resp);
}

static Careteam__V1__Envelope *rq_post_summary(conn_t *c, const char *rid, int risk,
                                               const char *text)
{
    char *themes[] = {"housing", "sleep"};
    Careteam__V1__PostSummary m = CARETEAM__V1__POST_SUMMARY__INIT;
    m.referral_id = (char *)rid;
    m.session_date = "2024-05-14";
    m.duration_minutes = 45;
    m.format = CARETEAM__V1__SESSION_FORMAT__SESSION_FORMAT_ONE_TO_ONE;
    m.n_themes = 2;
    m.themes = themes;
    m.goals_progress = "walked twice this week";
    m.next_steps = "meet again Thursday";
    m.participant_reviewed = true;
    m.risk = risk;
    m.text = (char *)text;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_POST_SUMMARY;
    env.post_summary = &m;
    return call(c, &env, "PostSummary");
}

static Careteam__V1__Envelope *rq_raise_concern(conn_t *c, const char *p, int risk)
{
    Careteam__V1__RaiseConcern m = CARETEAM__V1__RAISE_CONCERN__INIT;
    m.participant_id = (char *)p;
    m.risk = risk;
    m.text = "said they had stopped their medication";
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_RAISE_CONCERN;
    env.raise_concern = &m;
    return call(c, &env, "RaiseConcern");
}

static Careteam__V1__Envelope *rq_ack_alert(conn_t *c, const char *aid)
{
    Careteam__V1__AcknowledgeAlert m = CARETEAM__V1__ACKNOWLEDGE_ALERT__INIT;
    m.alert_id = (char *)aid;
    m.note = "called the participant";
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_ACKNOWLEDGE_ALERT;
    env.acknowledge_alert = &m;
    return call(c, &env, "AcknowledgeAlert");
}

static Careteam__V1__Envelope *rq_list_alerts(conn_t *c, const char *p)
{
    Careteam__V1__ListAlerts m = CARETEAM__V1__LIST_ALERTS__INIT;
    m.participant_id = (char *)p;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_LIST_ALERTS;
    env.list_alerts = &m;
    return call(c, &env, "ListAlerts");
}

static Careteam__V1__Envelope *rq_list_summaries(conn_t *c, const char *p, const char *rid)
{
    Careteam__V1__ListSummaries m = CARETEAM__V1__LIST_SUMMARIES__INIT;
    m.participant_id = p != NULL ? (char *)p : "";
    m.referral_id = rid != NULL ? (char *)rid : "";
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_LIST_SUMMARIES;
    env.list_summaries = &m;
    return call(c, &env, "ListSummaries");
}

static Careteam__V1__Envelope *rq_list_referrals(conn_t *c, const char *p, bool created_by_me)
{
    Careteam__V1__ListReferrals m = CARETEAM__V1__LIST_REFERRALS__INIT;
    m.participant_id = p != NULL ? (char *)p : "";
    m.created_by_me = created_by_me;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_LIST_REFERRALS;
    env.list_referrals = &m;
    return call(c, &env, "ListReferrals");
}

static Careteam__V1__Envelope *rq_list_consents(conn_t *c, const char *p)
{
    Careteam__V1__ListConsents m = CARETEAM__V1__LIST_CONSENTS__INIT;
    m.participant_id = (char *)p;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_LIST_CONSENTS;
    env.list_consents = &m;
    return call(c, &env, "ListConsents");
}

static Careteam__V1__Envelope *rq_record_restriction(conn_t *c, const char *p, const char *m_id)
{
    Careteam__V1__RecordRestriction m = CARETEAM__V1__RECORD_RESTRICTION__INIT;
    m.participant_id = (char *)p;
    m.member_id = (char *)m_id;
    m.reason = "participant's request";
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_RECORD_RESTRICTION;
    env.record_restriction = &m;
    return call(c, &env, "RecordRestriction");
}

/* SendMessage about participant p ("" or NULL for none). */
static Careteam__V1__Envelope *rq_send(conn_t *c, const char *cmid, const char *p,
                                       const char *const *to, size_t n_to, const char *body)
{
    ct_send_args_t a = {.client_msg_id = cmid,
                        .to = to,
                        .n_to = n_to,
                        .participant_id = p,
                        .subject = "care",
                        .body = body};
    Careteam__V1__Envelope *resp = NULL;
    int rc = ct_sync_send_message(c->s, &a, CALL_MS, &resp);
    cr_assert_eq(rc, 0, "%s: SendMessage %s: %s (%s)", c->who, cmid, ct_errname(rc),
                 ct_sync_last_error(c->s));
    return resp;
}

/* Sends and asserts an Ack with no withheld recipients; returns the message id in out. */
static void send_acked(conn_t *c, const char *cmid, const char *p, const char *const *to,
                       size_t n_to, char out[40])
{
    Careteam__V1__Envelope *resp = rq_send(c, cmid, p, to, n_to, cmid);
    want_body(c, resp, CARETEAM__V1__ENVELOPE__BODY_ACK, cmid);
    cr_assert_eq(resp->ack->n_withheld, 0, "%s: %s: nobody should be withheld", c->who, cmid);
    snprintf(out, 40, "%s", resp->ack->message_id);
    ct_envelope_free(resp);
}

/* Successful audit rows of action. */
static long audit_ok(const char *action)
{
    return ct_test_audit_count(&g_d, action) - ct_test_audit_failures(&g_d, action);
}

/* The successful audit rows of action, oldest first, as "actor object participant" lines in out
 * (read-only, with the sqlite3 library like ct_test_audit_count). */
static void audit_rows(const char *action, char *out, size_t len)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/careteam.db", g_d.data);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    cr_assert_eq(rc, SQLITE_OK, "cannot open %s", path);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    rc =
        sqlite3_prepare_v2(db,
                           "SELECT actor_id, object_id, participant_id FROM audit WHERE action = ? "
                           "AND outcome = 0 ORDER BY seq",
                           -1, &st, NULL);
    cr_assert_eq(rc, SQLITE_OK, "audit query: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(st, 1, action, -1, SQLITE_TRANSIENT);
    size_t used = 0;
    out[0] = '\0';
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && used < len) {
        int n = snprintf(
            out + used, len - used, "%s %s %s\n", (const char *)sqlite3_column_text(st, 0),
            (const char *)sqlite3_column_text(st, 1), (const char *)sqlite3_column_text(st, 2));
        used += n > 0 ? (size_t)n : 0;
    }
    cr_assert_eq(rc, SQLITE_DONE, "audit query: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Asserts the one successful audit row of action is "actor object participant". */
static void expect_audit_row(const char *action, const char *actor, const char *object,
                             const char *participant)
{
    char rows[1024], want[256];
    audit_rows(action, rows, sizeof rows);
    snprintf(want, sizeof want, "%s %s %s\n", actor, object, participant);
    cr_assert_str_eq(rows, want, "audit rows of %s:\n%sexpected:\n%s", action, rows, want);
}

/* ---- the scenario of the issue --------------------------------------------------------------- */

/* Asserts that the connection's recorded pushes are exactly `want` (kind, event, object). */
typedef struct want_event {
    int kind;
    const char *event;
    const char *object;
} want_event_t;

static void expect_log(const conn_t *c, const want_event_t *want, size_t n)
{
    for (size_t i = 0; i < c->n && i < n; i++) {
        cr_assert(c->log[i].kind == want[i].kind && strcmp(c->log[i].event, want[i].event) == 0 &&
                      strcmp(c->log[i].object, want[i].object) == 0,
                  "%s: push %zu is kind %d '%s' about %s, expected kind %d '%s' about %s", c->who,
                  i + 1, c->log[i].kind, c->log[i].event, c->log[i].object, want[i].kind,
                  want[i].event, want[i].object);
    }
    cr_assert_eq(c->n, n, "%s: received %zu pushes, expected %zu", c->who, c->n, n);
}

Test(workflow, queue_referral_summaries_alert_escalation_and_completion)
{
    const char *team[] = {"th.lee", "dr.ahmed", NULL};
    setup(team);
    ct_test_daemon_start(&g_d);
    conn_t th, psy, a, b;
    connect_idle(&th, "th.lee");
    connect_idle(&psy, "dr.ahmed");
    connect_idle(&a, "pw.sam");
    connect_idle(&b, "pw.kim");

    /* The therapist records peer-support consent and refers p1 to the peer-worker queue. */
    char consent[64], rid[64];
    record_consent(&th, "p1", CARETEAM__V1__CONSENT_SCOPE__CONSENT_SCOPE_PEER_SUPPORT, consent);
    create_referral(&th, "p1", NULL, rid);
    /* Every peer worker hears of a queue referral. */
    expect_event(&a, KIND_REFERRAL, "referral.create", rid);
    expect_event(&b, KIND_REFERRAL, "referral.create", rid);

    /* Peer worker A accepts; B is too late. */
    Careteam__V1__Envelope *resp = rq_update(&a, rid, ACT(ACCEPT), NULL, NULL);
    want_body(&a, resp, CARETEAM__V1__ENVELOPE__BODY_REFERRAL, "accept");
    cr_assert_eq((int)resp->referral->status, STATUS(ACCEPTED));
    cr_assert_str_eq(resp->referral->assignee_id, "pw.sam");
    ct_envelope_free(resp);
    resp = rq_update(&b, rid, ACT(ACCEPT), NULL, NULL);
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR);
    cr_assert(strstr(resp->error->message, "pw.sam") != NULL,
              "the CONFLICT should name who accepted it: %s", resp->error->message);
    want_error(&b, resp, WANT_CONFLICT, "second accept");
    /* Accepting joined A to p1's care team; B, who lost the race, is not on it. */
    resp = rq_list_consents(&a, "p1");
    want_body(&a, resp, CARETEAM__V1__ENVELOPE__BODY_CONSENT_LIST, "ListConsents after accepting");
    cr_assert_eq(resp->consent_list->n_consents, 1);
    ct_envelope_free(resp);
    want_error(&b, rq_list_consents(&b, "p1"), WANT_FORBIDDEN, "ListConsents by the later peer");

    /* A starts it and posts two summaries, the second URGENT. */
    move(&a, rid, ACT(START), NULL, STATUS(IN_PROGRESS));
    char s1[64], s2[64], alert[64];
    resp = rq_post_summary(&a, rid, CARETEAM__V1__RISK__RISK_NONE, "first session went well");
    want_body(&a, resp, CARETEAM__V1__ENVELOPE__BODY_SUMMARY, "summary 1");
    cr_assert_str_eq(resp->summary->author_id, "pw.sam");
    cr_assert_str_eq(resp->summary->referral_id, rid);
    cr_assert_str_eq(resp->summary->alert_id, "", "a summary without risk opens no alert");
    snprintf(s1, sizeof s1, "%s", resp->summary->summary_id);
    ct_envelope_free(resp);
    resp = rq_post_summary(&a, rid, CARETEAM__V1__RISK__RISK_URGENT, "talked about self-harm");
    int64_t posted_at = ct_test_now_ms();
    want_body(&a, resp, CARETEAM__V1__ENVELOPE__BODY_SUMMARY, "summary 2");
    cr_assert_eq((int)resp->summary->risk, CARETEAM__V1__RISK__RISK_URGENT);
    cr_assert_neq(resp->summary->alert_id[0], '\0', "an URGENT summary opens an alert");
    snprintf(s2, sizeof s2, "%s", resp->summary->summary_id);
    snprintf(alert, sizeof alert, "%s", resp->summary->alert_id);
    ct_envelope_free(resp);

    /* The referrer is alerted and does not acknowledge. */
    resp = await_event(&th, "alert.open", alert, PUSH_MS);
    const Careteam__V1__Alert *al = resp->deliver->message->alert;
    cr_assert_eq((int)resp->deliver->message->kind, KIND_ALERT);
    cr_assert_eq((int)al->status, CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_OPEN);
    cr_assert_eq((int)al->risk, CARETEAM__V1__RISK__RISK_URGENT);
    cr_assert_eq((int)al->source, CARETEAM__V1__ALERT_SOURCE__ALERT_SOURCE_SUMMARY);
    cr_assert_str_eq(al->summary_id, s2);
    cr_assert_str_eq(al->referral_id, rid);
    cr_assert_str_eq(al->raised_by, "pw.sam");
    cr_assert_eq(al->deadline_ms - al->created_at_ms, DEADLINE_MS,
                 "the deadline is alert_urgent_deadline_ms after opening (got %lld ms)",
                 (long long)(al->deadline_ms - al->created_at_ms));
    ct_envelope_free(resp);

    /* At the deadline it escalates to every clinician on the team: the psychiatrist too. */
    resp = await_event(&psy, "alert.escalate", alert, DEADLINE_MS + ESCALATE_MS);
    int64_t escalated_after = ct_test_now_ms() - posted_at;
    cr_assert_geq(escalated_after, DEADLINE_MS - 100,
                  "escalated %lld ms after the summary, before its %d ms deadline",
                  (long long)escalated_after, DEADLINE_MS);
    al = resp->deliver->message->alert;
    cr_assert_eq((int)resp->deliver->message->kind, KIND_ALERT);
    cr_assert_eq((int)al->status, CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_ESCALATED);
    cr_assert_eq(al->escalations, 1);
    ct_envelope_free(resp);
    cr_assert_geq(ct_test_audit_count(&g_d, "alert.escalate"), 1);

    /* The psychiatrist acknowledges; the raiser is told; a second acknowledgement conflicts. */
    resp = rq_ack_alert(&psy, alert);
    want_body(&psy, resp, CARETEAM__V1__ENVELOPE__BODY_ALERT, "AcknowledgeAlert");
    cr_assert_eq((int)resp->alert->status, CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_ACKNOWLEDGED);
    cr_assert_str_eq(resp->alert->acknowledged_by, "dr.ahmed");
    cr_assert_eq(resp->alert->deadline_ms, 0);
    ct_envelope_free(resp);
    expect_event(&a, KIND_ALERT, "alert.acknowledge", alert);
    want_error(&th, rq_ack_alert(&th, alert), WANT_CONFLICT, "second AcknowledgeAlert");

    /* A completes the referral. */
    move(&a, rid, ACT(COMPLETE), NULL, STATUS(COMPLETED));

    /* The referrer received every transition, the summaries and the alert, each once, in order. */
    expect_event(&th, KIND_REFERRAL, "referral.complete", rid);
    const want_event_t th_want[] = {
        {KIND_REFERRAL, "referral.accept", rid},   {KIND_REFERRAL, "referral.start", rid},
        {KIND_SUMMARY, "summary.post", s1},        {KIND_SUMMARY, "summary.post", s2},
        {KIND_ALERT, "alert.open", alert},         {KIND_ALERT, "alert.escalate", alert},
        {KIND_REFERRAL, "referral.complete", rid},
    };
    expect_log(&th, th_want, sizeof th_want / sizeof th_want[0]);
    for (size_t i = 0; i < th.n; i++) {
        if (th.log[i].kind == KIND_REFERRAL) {
            static const int status[] = {STATUS(ACCEPTED), STATUS(IN_PROGRESS), 0, 0, 0, 0,
                                         STATUS(COMPLETED)};
            cr_assert_eq(th.log[i].status, status[i], "%s snapshot has status %d", th.log[i].event,
                         th.log[i].status);
        }
    }
    /* The psychiatrist (a clinician on the team, not the referrer) got the summaries and the
     * escalation, and not the referral's transitions nor the first alert. */
    const want_event_t psy_want[] = {
        {KIND_SUMMARY, "summary.post", s1},
        {KIND_SUMMARY, "summary.post", s2},
        {KIND_ALERT, "alert.escalate", alert},
    };
    expect_log(&psy, psy_want, sizeof psy_want / sizeof psy_want[0]);

    /* The alert is closed in the list, and stays so (no second escalation). */
    resp = rq_list_alerts(&th, "p1");
    want_body(&th, resp, CARETEAM__V1__ENVELOPE__BODY_ALERT_LIST, "ListAlerts");
    cr_assert_eq(resp->alert_list->n_alerts, 1);
    cr_assert_eq((int)resp->alert_list->alerts[0]->status,
                 CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_ACKNOWLEDGED);
    ct_envelope_free(resp);
    resp = rq_list_summaries(&th, NULL, rid);
    want_body(&th, resp, CARETEAM__V1__ENVELOPE__BODY_SUMMARY_LIST, "ListSummaries");
    cr_assert_eq(resp->summary_list->n_summaries, 2);
    ct_envelope_free(resp);

    /* The trail, as the issue names its action codes. */
    cr_assert_eq(audit_ok("consent.record"), 1);
    cr_assert_eq(audit_ok("referral.create"), 1);
    cr_assert_eq(audit_ok("referral.accept"), 1);
    cr_assert_eq(ct_test_audit_failures(&g_d, "referral.accept"), 1, "B's accept is a refusal");
    cr_assert_eq(audit_ok("referral.start"), 1);
    cr_assert_eq(audit_ok("summary.post"), 2);
    cr_assert_eq(audit_ok("alert.open"), 1);
    cr_assert_eq(audit_ok("alert.escalate"), 1);
    cr_assert_eq(audit_ok("alert.acknowledge"), 1);
    cr_assert_eq(ct_test_audit_failures(&g_d, "alert.acknowledge"), 1);
    cr_assert_eq(audit_ok("referral.complete"), 1);
    expect_audit_row("consent.record", "th.lee", consent, "p1");
    expect_audit_row("referral.create", "th.lee", rid, "p1");
    expect_audit_row("referral.accept", "pw.sam", rid, "p1");
    expect_audit_row("referral.start", "pw.sam", rid, "p1");
    expect_audit_row("referral.complete", "pw.sam", rid, "p1");
    expect_audit_row("alert.acknowledge", "dr.ahmed", alert, "p1");
    /* The escalation is the system's, not a member's: the issue says actor "", the daemon
     * writes "careteamd" (as in its start and stop records); either names no member. */
    char esc[1024], want1[256], want2[256];
    audit_rows("alert.escalate", esc, sizeof esc);
    snprintf(want1, sizeof want1, " %s p1\n", alert);
    snprintf(want2, sizeof want2, "careteamd %s p1\n", alert);
    cr_assert(strcmp(esc, want1) == 0 || strcmp(esc, want2) == 0,
              "audit rows of alert.escalate:\n%s", esc);
    /* The alert a summary opens is written with the summary, in its transaction: one row about
     * the alert and p1 (the issue says "by system"; the daemon names the summary's author). */
    char rows[1024];
    audit_rows("alert.open", rows, sizeof rows);
    snprintf(want1, sizeof want1, " %s p1\n", alert);
    size_t rl = strlen(rows), wl = strlen(want1);
    cr_assert(rl >= wl && strcmp(rows + rl - wl, want1) == 0 && strchr(rows, '\n') == rows + rl - 1,
              "audit rows of alert.open:\n%s", rows);
    audit_rows("summary.post", rows, sizeof rows);
    char want_posts[512];
    snprintf(want_posts, sizeof want_posts, "pw.sam %s p1\npw.sam %s p1\n", s1, s2);
    cr_assert_str_eq(rows, want_posts, "audit rows of summary.post:\n%s", rows);

    disconnect(&th);
    disconnect(&psy);
    disconnect(&a);
    disconnect(&b);
    ct_test_daemon_finish(&g_d);
}

/* ---- consent --------------------------------------------------------------------------------- */

Test(workflow, referral_without_consent_is_refused)
{
    const char *team[] = {"th.lee", NULL};
    setup(team);
    ct_test_daemon_start(&g_d);
    conn_t th;
    connect_idle(&th, "th.lee");

    Careteam__V1__Envelope *resp = rq_create_referral(&th, "p1", NULL);
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR);
    cr_assert(strstr(resp->error->message, "consent") != NULL && strstr(resp->error->message, "p1"),
              "the refusal should say what is missing: %s", resp->error->message);
    want_error(&th, resp, WANT_PRECONDITION, "CreateReferral without consent");

    /* Consent to information sharing is not consent to peer support. */
    char info[64];
    record_consent(&th, "p1", CARETEAM__V1__CONSENT_SCOPE__CONSENT_SCOPE_INFORMATION_SHARING, info);
    want_error(&th, rq_create_referral(&th, "p1", "pw.sam"), WANT_PRECONDITION,
               "CreateReferral with information-sharing consent only");

    cr_assert_eq(ct_test_audit_failures(&g_d, "referral.create"), 2);
    cr_assert_eq(audit_ok("referral.create"), 0);
    resp = rq_list_referrals(&th, "p1", false);
    want_body(&th, resp, CARETEAM__V1__ENVELOPE__BODY_REFERRAL_LIST, "ListReferrals");
    cr_assert_eq(resp->referral_list->n_referrals, 0, "a refused referral is not stored");
    ct_envelope_free(resp);

    disconnect(&th);
    ct_test_daemon_finish(&g_d);
}

Test(workflow, referral_after_withdrawn_consent_is_refused)
{
    const char *team[] = {"th.lee", NULL};
    setup(team);
    ct_test_daemon_start(&g_d);
    conn_t th;
    connect_idle(&th, "th.lee");

    char consent[64];
    record_consent(&th, "p1", CARETEAM__V1__CONSENT_SCOPE__CONSENT_SCOPE_PEER_SUPPORT, consent);
    Careteam__V1__Envelope *resp = rq_withdraw_consent(&th, consent);
    want_body(&th, resp, CARETEAM__V1__ENVELOPE__BODY_CONSENT, "WithdrawConsent");
    cr_assert_not(resp->consent->active, "a withdrawn consent is inactive");
    cr_assert_str_eq(resp->consent->withdrawn_by, "th.lee");
    cr_assert_gt(resp->consent->withdrawn_at_ms, 0);
    cr_assert_str_eq(resp->consent->withdraw_reason, "participant asked");
    ct_envelope_free(resp);

    want_error(&th, rq_create_referral(&th, "p1", NULL), WANT_PRECONDITION,
               "CreateReferral after the consent was withdrawn");
    want_error(&th, rq_withdraw_consent(&th, consent), WANT_CONFLICT, "withdrawing twice");

    /* The withdrawn consent is kept, inactive. */
    resp = rq_list_consents(&th, "p1");
    want_body(&th, resp, CARETEAM__V1__ENVELOPE__BODY_CONSENT_LIST, "ListConsents");
    cr_assert_eq(resp->consent_list->n_consents, 1);
    cr_assert_not(resp->consent_list->consents[0]->active);
    ct_envelope_free(resp);

    cr_assert_eq(audit_ok("consent.record"), 1);
    cr_assert_eq(audit_ok("consent.withdraw"), 1);
    cr_assert_eq(ct_test_audit_failures(&g_d, "referral.create"), 1);

    disconnect(&th);
    ct_test_daemon_finish(&g_d);
}

/* ---- lockbox --------------------------------------------------------------------------------- */

/* Asserts an Ack that withheld exactly `member`, with a reason. */
static void expect_withheld(conn_t *c, Careteam__V1__Envelope *resp, const char *member,
                            char out[40])
{
    want_body(c, resp, CARETEAM__V1__ENVELOPE__BODY_ACK, "SendMessage to a restricted member");
    cr_assert_eq(resp->ack->n_withheld, 1, "the Ack should list the restricted recipient");
    cr_assert_str_eq(resp->ack->withheld[0]->member_id, member);
    cr_assert(resp->ack->withheld[0]->reason != NULL && strlen(resp->ack->withheld[0]->reason) > 0,
              "a withheld recipient comes with a reason");
    snprintf(out, 40, "%s", resp->ack->message_id);
    ct_envelope_free(resp);
}

Test(workflow, lockboxed_member_is_withheld_and_never_delivered)
{
    const char *team[] = {"th.lee", "dr.ahmed", "pw.sam", NULL};
    setup(team);
    ct_test_daemon_start(&g_d);
    conn_t th, psy, sam;
    connect_idle(&th, "th.lee");
    connect_idle(&psy, "dr.ahmed");

    /* Queued for pw.sam (offline) before the restriction. */
    const char *to_sam[] = {"pw.sam"};
    char m1[40], m2[40], m3[40], m4[40], m5[40];
    send_acked(&th, "before-lockbox", "p1", to_sam, 1, m1);

    /* p1 restricts pw.sam, through the therapist. */
    Careteam__V1__Envelope *resp = rq_record_restriction(&th, "p1", "pw.sam");
    want_body(&th, resp, CARETEAM__V1__ENVELOPE__BODY_OK, "RecordRestriction");
    ct_envelope_free(resp);
    cr_assert_eq(audit_ok("restriction.record"), 1);

    /* A message about p1 to the psychiatrist and pw.sam: pw.sam is withheld. */
    const char *to_both[] = {"dr.ahmed", "pw.sam"};
    expect_withheld(&th, rq_send(&th, "while-offline", "p1", to_both, 2, "while-offline"), "pw.sam",
                    m2);
    expect_text(&psy, m2);
    /* A marker about nobody in particular, which pw.sam may receive. */
    send_acked(&th, "marker-1", NULL, to_sam, 1, m3);

    /* pw.sam connects: the replay skips the message queued before the restriction and never had
     * the withheld one; the marker is the only thing replayed. */
    connect_as(&sam, "pw.sam");
    resp = next_deliver(&sam, PUSH_MS);
    cr_assert_str_eq(resp->deliver->message->message_id, m3,
                     "pw.sam's replay should hold only the marker, got %s (%s)",
                     resp->deliver->message->message_id, resp->deliver->message->body);
    ct_envelope_free(resp);
    Careteam__V1__Envelope *p = NULL;
    cr_assert_eq(ct_sync_next_push(sam.s, PUSH_MS, &p), 0);
    cr_assert_eq(p->body_case, CARETEAM__V1__ENVELOPE__BODY_REPLAY_COMPLETE,
                 "after the marker: '%s'", ct_test_body_name(p));
    cr_assert_eq(p->replay_complete->replayed, 1, "replayed %llu, expected only the marker",
                 (unsigned long long)p->replay_complete->replayed);
    ct_envelope_free(p);
    (void)m1;

    /* Live: withheld again, and the next marker is the next thing pw.sam receives. */
    expect_withheld(&th, rq_send(&th, "while-online", "p1", to_both, 2, "while-online"), "pw.sam",
                    m4);
    send_acked(&th, "marker-2", NULL, to_sam, 1, m5);
    resp = next_deliver(&sam, PUSH_MS);
    cr_assert_str_eq(resp->deliver->message->message_id, m5,
                     "pw.sam received %s (%s) before the marker",
                     resp->deliver->message->message_id, resp->deliver->message->body);
    ct_envelope_free(resp);
    expect_text(&psy, m4);

    /* And pw.sam is refused everything about p1, though still on the team. */
    want_error(&sam, rq_list_consents(&sam, "p1"), WANT_FORBIDDEN, "lockboxed ListConsents");
    want_error(&sam, rq_send(&sam, "from-sam", "p1", (const char *[]){"th.lee"}, 1, "hello"),
               WANT_FORBIDDEN, "lockboxed SendMessage");

    /* A reconnect replays nothing about p1 (both markers were acknowledged). */
    disconnect(&sam);
    connect_idle(&sam, "pw.sam");

    disconnect(&sam);
    disconnect(&th);
    disconnect(&psy);
    ct_test_daemon_finish(&g_d);
}

/* ---- the circle of care ---------------------------------------------------------------------- */

Test(workflow, member_off_the_team_is_forbidden)
{
    const char *team[] = {"th.lee", NULL};
    setup(team);
    ct_test_daemon_start(&g_d);
    conn_t th, psy, kim;
    connect_idle(&th, "th.lee");
    connect_idle(&psy, "dr.ahmed");
    connect_idle(&kim, "pw.kim");
    char consent[64];
    record_consent(&th, "p1", CARETEAM__V1__CONSENT_SCOPE__CONSENT_SCOPE_PEER_SUPPORT, consent);

    /* dr.ahmed is a psychiatrist, but not on p1's team. */
    const char *to_th[] = {"th.lee"};
    Careteam__V1__Envelope *resp = rq_send(&psy, "off-team", "p1", to_th, 1, "about p1");
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR);
    cr_assert(strstr(resp->error->message, "p1") != NULL, "the refusal names the participant: %s",
              resp->error->message);
    want_error(&psy, resp, WANT_FORBIDDEN, "SendMessage about p1 off the team");
    want_error(&psy, rq_create_referral(&psy, "p1", NULL), WANT_FORBIDDEN,
               "CreateReferral off the team");
    want_error(&kim, rq_send(&kim, "kim-off-team", "p1", to_th, 1, "about p1"), WANT_FORBIDDEN,
               "peer worker's SendMessage off the team");

    /* The same message without a participant is fine. */
    char id[40];
    send_acked(&psy, "no-participant", NULL, to_th, 1, id);
    expect_text(&th, id);

    cr_assert_eq(ct_test_audit_failures(&g_d, "message.send"), 2);
    cr_assert_eq(ct_test_audit_failures(&g_d, "referral.create"), 1);

    disconnect(&th);
    disconnect(&psy);
    disconnect(&kim);
    ct_test_daemon_finish(&g_d);
}

/* An assignee taken off the care team (`careteamd team remove`) loses the assignee's rights:
 * no summary, no move of the referral; back on the team, they have them again. */
Test(workflow, assignee_removed_from_the_team_loses_the_referral)
{
    const char *team[] = {"th.lee", NULL};
    setup(team);
    ct_test_daemon_start(&g_d);
    conn_t th, sam;
    connect_idle(&th, "th.lee");
    connect_idle(&sam, "pw.sam");
    char consent[64], rid[64];
    record_consent(&th, "p1", CARETEAM__V1__CONSENT_SCOPE__CONSENT_SCOPE_PEER_SUPPORT, consent);
    create_referral(&th, "p1", "pw.sam", rid);
    move(&sam, rid, ACT(ACCEPT), NULL, STATUS(ACCEPTED));
    move(&sam, rid, ACT(START), NULL, STATUS(IN_PROGRESS));

    ADMIN("team", "remove", g_d.data, "--participant", "p1", "--member", "pw.sam");
    want_error(&sam, rq_post_summary(&sam, rid, CARETEAM__V1__RISK__RISK_NONE, "went well"),
               WANT_FORBIDDEN, "PostSummary by an assignee off the team");
    want_error(&sam, rq_update(&sam, rid, ACT(HOLD), NULL, NULL), WANT_FORBIDDEN,
               "UpdateReferral hold by an assignee off the team");
    /* The referrer still manages it. */
    move(&th, rid, ACT(CANCEL), "peer worker left the team", STATUS(CANCELLED));

    disconnect(&th);
    disconnect(&sam);
    ct_test_daemon_finish(&g_d);
}

/* ---- the referral transition table ----------------------------------------------------------- */

/* The transition table, written from the spec (not read from referral.c). */
#define S(x) (1u << STATUS(x))
static const struct spec_move {
    int action;
    const char *name;
    unsigned from;
    bool needs_reason;
} SPEC_MOVES[] = {
    {ACT(ACCEPT), "accept", S(REQUESTED), false},
    {ACT(REJECT), "reject", S(REQUESTED), true},
    {ACT(START), "start", S(ACCEPTED), false},
    {ACT(HOLD), "hold", S(ACCEPTED) | S(IN_PROGRESS), false},
    {ACT(RESUME), "resume", S(ON_HOLD), false},
    {ACT(COMPLETE), "complete", S(IN_PROGRESS), false},
    {ACT(CANCEL), "cancel", S(REQUESTED) | S(ACCEPTED) | S(IN_PROGRESS) | S(ON_HOLD), true},
    {ACT(REASSIGN), "reassign", S(ACCEPTED) | S(IN_PROGRESS) | S(ON_HOLD), false},
};
#define N_MOVES (sizeof SPEC_MOVES / sizeof SPEC_MOVES[0])

static const char *const STATUS_NAME[] = {
    "", "requested", "accepted", "rejected", "in-progress", "on-hold", "completed", "cancelled"};

/* Makes a referral of p1 (th.lee to pw.sam) and drives it into `status`. */
static void referral_in(conn_t *th, conn_t *sam, int status, char out[64])
{
    create_referral(th, "p1", "pw.sam", out);
    switch (status) {
    case STATUS(REQUESTED):
        return;
    case STATUS(REJECTED):
        move(sam, out, ACT(REJECT), "caseload full", STATUS(REJECTED));
        return;
    default:
        break;
    }
    move(sam, out, ACT(ACCEPT), NULL, STATUS(ACCEPTED));
    if (status == STATUS(ACCEPTED))
        return;
    if (status == STATUS(CANCELLED)) {
        move(th, out, ACT(CANCEL), "moved out of area", STATUS(CANCELLED));
        return;
    }
    move(sam, out, ACT(START), NULL, STATUS(IN_PROGRESS));
    if (status == STATUS(ON_HOLD))
        move(sam, out, ACT(HOLD), NULL, STATUS(ON_HOLD));
    else if (status == STATUS(COMPLETED))
        move(sam, out, ACT(COMPLETE), NULL, STATUS(COMPLETED));
}

Test(workflow, every_illegal_referral_move_is_refused)
{
    const char *team[] = {"th.lee", "dr.ahmed", NULL};
    setup(team);
    setup_supervision();
    ct_test_daemon_start(&g_d);
    conn_t th, psy, sam, kim, rao, other;
    connect_idle(&th, "th.lee");
    connect_idle(&psy, "dr.ahmed");
    connect_idle(&sam, "pw.sam");
    connect_idle(&kim, "pw.kim");
    connect_idle(&rao, "ps.rao");
    connect_idle(&other, "ps.other");
    char consent[64];
    record_consent(&th, "p1", CARETEAM__V1__CONSENT_SCOPE__CONSENT_SCOPE_PEER_SUPPORT, consent);

    /* One referral in each status. */
    char rid[8][64];
    for (int st = STATUS(REQUESTED); st <= STATUS(CANCELLED); st++)
        referral_in(&th, &sam, st, rid[st]);

    /* Each move, from each status it may not start from, by the member who may make it. */
    long refused[N_MOVES] = {0};
    for (size_t i = 0; i < N_MOVES; i++) {
        const struct spec_move *mv = &SPEC_MOVES[i];
        for (int st = STATUS(REQUESTED); st <= STATUS(CANCELLED); st++) {
            if (mv->from & (1u << st))
                continue;
            bool assigned = st != STATUS(REQUESTED) && st != STATUS(REJECTED);
            conn_t *who = mv->action == ACT(CANCEL)     ? &th
                          : mv->action == ACT(REASSIGN) ? &rao
                                                        : &sam;
            char what[96];
            snprintf(what, sizeof what, "%s of a %s referral by %s", mv->name, STATUS_NAME[st],
                     who->who);
            Careteam__V1__Envelope *resp =
                rq_update(who, rid[st], mv->action, mv->needs_reason ? "a reason" : NULL,
                          mv->action == ACT(REASSIGN) ? "pw.ann" : NULL);
            refused[i]++;
            cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR,
                         "%s was allowed: '%s'", what, ct_test_body_name(resp));
            int code = (int)resp->error->code;
            if (mv->action == ACT(ACCEPT) && assigned) {
                /* The spec's race rule: a referral someone accepted answers CONFLICT naming them.
                 */
                cr_assert(strstr(resp->error->message, "pw.sam") != NULL, "%s: %s", what,
                          resp->error->message);
                want_error(who, resp, WANT_CONFLICT, what);
            } else if (!assigned && (mv->action == ACT(START) || mv->action == ACT(HOLD) ||
                                     mv->action == ACT(RESUME) || mv->action == ACT(COMPLETE))) {
                /* Nobody has accepted it, so there is no assignee: the addressee is the wrong
                 * person (FORBIDDEN) as much as the status is wrong. Either refusal is right. */
                cr_assert(code == WANT_PRECONDITION || code == WANT_FORBIDDEN, "%s: Error %s (%s)",
                          what, ct_wire_code_name(code), resp->error->message);
                ct_envelope_free(resp);
            } else {
                cr_assert(code != WANT_PRECONDITION ||
                              strstr(resp->error->message, STATUS_NAME[st]) != NULL,
                          "%s: the refusal should name the status: %s", what, resp->error->message);
                want_error(who, resp, WANT_PRECONDITION, what);
            }
        }
    }

    /* A queue referral cannot be declined by one peer worker for everyone. */
    char queued[64];
    create_referral(&th, "p1", NULL, queued);
    want_error(&kim, rq_update(&kim, queued, ACT(REJECT), "not for me", NULL), WANT_PRECONDITION,
               "a peer worker declining a queue referral");

    /* Each move from a status it may start from, by the wrong person. */
    static const struct wrong {
        int action;
        int status;
        const char *who;
    } WRONG[] = {
        {ACT(ACCEPT), STATUS(REQUESTED), "pw.kim"},       /* not the addressee */
        {ACT(ACCEPT), STATUS(REQUESTED), "th.lee"},       /* the referrer */
        {ACT(REJECT), STATUS(REQUESTED), "pw.kim"},       /* not the addressee */
        {ACT(REJECT), STATUS(REQUESTED), "th.lee"},       /* the referrer */
        {ACT(START), STATUS(ACCEPTED), "th.lee"},         /* the referrer */
        {ACT(START), STATUS(ACCEPTED), "pw.kim"},         /* another peer worker */
        {ACT(HOLD), STATUS(IN_PROGRESS), "th.lee"},       /* the referrer */
        {ACT(RESUME), STATUS(ON_HOLD), "th.lee"},         /* the referrer */
        {ACT(RESUME), STATUS(ON_HOLD), "ps.rao"},         /* the assignee's supervisor */
        {ACT(COMPLETE), STATUS(IN_PROGRESS), "dr.ahmed"}, /* on the team, not the assignee */
        {ACT(CANCEL), STATUS(ACCEPTED), "pw.sam"},        /* the assignee */
        {ACT(CANCEL), STATUS(REQUESTED), "dr.ahmed"},     /* on the team, not the referrer */
        {ACT(REASSIGN), STATUS(ACCEPTED), "th.lee"},      /* the referrer */
        {ACT(REASSIGN), STATUS(ACCEPTED), "pw.sam"},      /* the assignee */
        {ACT(REASSIGN), STATUS(IN_PROGRESS), "ps.other"}, /* a supervisor, but not pw.sam's */
    };
    conn_t *by_id[] = {&th, &psy, &sam, &kim, &rao, &other};
    long wrong_refused[N_MOVES] = {0};
    for (size_t i = 0; i < sizeof WRONG / sizeof WRONG[0]; i++) {
        conn_t *who = NULL;
        for (size_t k = 0; k < sizeof by_id / sizeof by_id[0]; k++) {
            if (strcmp(by_id[k]->who, WRONG[i].who) == 0)
                who = by_id[k];
        }
        cr_assert_not_null(who);
        size_t mi = 0;
        while (SPEC_MOVES[mi].action != WRONG[i].action)
            mi++;
        char what[96];
        snprintf(what, sizeof what, "%s of a %s referral by %s", SPEC_MOVES[mi].name,
                 STATUS_NAME[WRONG[i].status], WRONG[i].who);
        Careteam__V1__Envelope *resp =
            rq_update(who, rid[WRONG[i].status], WRONG[i].action,
                      SPEC_MOVES[mi].needs_reason ? "a reason" : NULL,
                      WRONG[i].action == ACT(REASSIGN) ? "pw.ann" : NULL);
        want_error(who, resp, WANT_FORBIDDEN, what);
        wrong_refused[mi]++;
    }

    /* Nothing moved: every referral is still in the status it was driven into. */
    Careteam__V1__Envelope *resp = rq_list_referrals(&th, "p1", true);
    want_body(&th, resp, CARETEAM__V1__ENVELOPE__BODY_REFERRAL_LIST, "ListReferrals");
    cr_assert_eq(resp->referral_list->n_referrals, 8);
    for (size_t i = 0; i < resp->referral_list->n_referrals; i++) {
        const Careteam__V1__Referral *r = resp->referral_list->referrals[i];
        if (strcmp(r->referral_id, queued) == 0) {
            cr_assert_eq((int)r->status, STATUS(REQUESTED));
            continue;
        }
        int st = 0;
        for (int k = STATUS(REQUESTED); k <= STATUS(CANCELLED); k++) {
            if (strcmp(rid[k], r->referral_id) == 0)
                st = k;
        }
        cr_assert_neq(st, 0, "unknown referral %s", r->referral_id);
        cr_assert_eq((int)r->status, st, "the %s referral is now %s after refused moves",
                     STATUS_NAME[st], STATUS_NAME[r->status]);
        cr_assert_str_eq(r->assignee_id,
                         st == STATUS(REQUESTED) || st == STATUS(REJECTED) ? "" : "pw.sam");
    }
    ct_envelope_free(resp);

    /* The one legal REASSIGN: pw.sam's supervisor hands the accepted referral to pw.ann, whom it
     * also supervises. The status stays; pw.ann joins the team; the referrer is told. */
    resp = rq_update(&rao, rid[STATUS(ACCEPTED)], ACT(REASSIGN), NULL, "pw.ann");
    want_body(&rao, resp, CARETEAM__V1__ENVELOPE__BODY_REFERRAL, "reassign");
    cr_assert_eq((int)resp->referral->status, STATUS(ACCEPTED));
    cr_assert_str_eq(resp->referral->assignee_id, "pw.ann");
    ct_envelope_free(resp);
    expect_event(&th, KIND_REFERRAL, "referral.reassign", rid[STATUS(ACCEPTED)]);
    expect_event(&sam, KIND_REFERRAL, "referral.reassign", rid[STATUS(ACCEPTED)]);
    conn_t ann;
    connect_as(&ann, "pw.ann");
    expect_event(&ann, KIND_REFERRAL, "referral.reassign", rid[STATUS(ACCEPTED)]);
    resp = rq_list_consents(&ann, "p1");
    want_body(&ann, resp, CARETEAM__V1__ENVELOPE__BODY_CONSENT_LIST, "ListConsents by pw.ann");
    ct_envelope_free(resp);
    /* pw.sam is no longer the assignee. */
    want_error(&sam, rq_update(&sam, rid[STATUS(ACCEPTED)], ACT(START), NULL, NULL), WANT_FORBIDDEN,
               "start by the former assignee");
    wrong_refused[2]++; /* SPEC_MOVES[2] is START */
    cr_assert_eq(audit_ok("referral.reassign"), 1);
    disconnect(&ann);

    /* Every refusal is in the trail under the move's action code. */
    for (size_t i = 0; i < N_MOVES; i++) {
        char action[48];
        snprintf(action, sizeof action, "referral.%s", SPEC_MOVES[i].name);
        long want = refused[i] + wrong_refused[i] + (SPEC_MOVES[i].action == ACT(REJECT));
        cr_assert_eq(ct_test_audit_failures(&g_d, action), want,
                     "%s: %ld failed rows, expected %ld", action,
                     ct_test_audit_failures(&g_d, action), want);
    }

    disconnect(&th);
    disconnect(&psy);
    disconnect(&sam);
    disconnect(&kim);
    disconnect(&rao);
    disconnect(&other);
    ct_test_daemon_finish(&g_d);
}

/* ---- compliance ------------------------------------------------------------------------------ */

Test(workflow, compliance_cannot_send_or_read_content)
{
    const char *team[] = {"th.lee", NULL};
    setup(team);
    ct_test_daemon_start(&g_d);
    conn_t th, co;
    connect_idle(&th, "th.lee");
    connect_idle(&co, "co.jones");
    char consent[64], rid[64];
    record_consent(&th, "p1", CARETEAM__V1__CONSENT_SCOPE__CONSENT_SCOPE_PEER_SUPPORT, consent);
    create_referral(&th, "p1", NULL, rid);

    const char *to_th[] = {"th.lee"};
    Careteam__V1__Envelope *resp = rq_send(&co, "co-1", "p1", to_th, 1, "about p1");
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR);
    cr_assert(strstr(resp->error->message, "compliance") != NULL, "the refusal names the role: %s",
              resp->error->message);
    want_error(&co, resp, WANT_FORBIDDEN, "compliance SendMessage");
    want_error(&co, rq_send(&co, "co-2", NULL, to_th, 1, "hello"), WANT_FORBIDDEN,
               "compliance SendMessage about nobody");
    want_error(&co, rq_list_summaries(&co, "p1", NULL), WANT_FORBIDDEN, "compliance ListSummaries");
    want_error(&co, rq_list_summaries(&co, NULL, rid), WANT_FORBIDDEN,
               "compliance ListSummaries of a referral");
    want_error(&co, rq_list_referrals(&co, NULL, false), WANT_FORBIDDEN,
               "compliance ListReferrals");
    want_error(&co, rq_list_referrals(&co, "p1", false), WANT_FORBIDDEN,
               "compliance ListReferrals of p1");

    ct_test_await_audit_failures(&g_d, "message.send", 2);
    ct_test_await_audit_failures(&g_d, "summary.list", 2);
    ct_test_await_audit_failures(&g_d, "referral.list", 2);

    disconnect(&th);
    disconnect(&co);
    ct_test_daemon_finish(&g_d);
}

/* ---- alerts across a restart ----------------------------------------------------------------- */

Test(workflow, alert_escalates_after_a_restart)
{
    const char *team[] = {"th.lee", "dr.ahmed", "pw.sam", NULL};
    setup(team);
    ct_test_daemon_start(&g_d);
    conn_t sam;
    connect_idle(&sam, "pw.sam");

    /* The peer worker raises an urgent concern; no referral, so every clinician is alerted. */
    Careteam__V1__Envelope *resp = rq_raise_concern(&sam, "p1", CARETEAM__V1__RISK__RISK_URGENT);
    want_body(&sam, resp, CARETEAM__V1__ENVELOPE__BODY_ALERT, "RaiseConcern");
    char alert[64];
    snprintf(alert, sizeof alert, "%s", resp->alert->alert_id);
    cr_assert_eq((int)resp->alert->status, CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_OPEN);
    cr_assert_eq(resp->alert->deadline_ms - resp->alert->created_at_ms, DEADLINE_MS);
    ct_envelope_free(resp);
    disconnect(&sam);

    /* Down before the deadline, still down after it. */
    int64_t opened = ct_test_now_ms();
    cr_assert_eq(ct_test_daemon_stop(&g_d), 0, "careteamd did not exit cleanly on SIGTERM");
    cr_assert_lt(ct_test_now_ms() - opened, DEADLINE_MS,
                 "the daemon took too long to stop for this test to mean anything");
    cr_assert_eq(ct_test_audit_count(&g_d, "alert.escalate"), 0, "escalated before the stop");
    cr_assert_eq(audit_ok("concern.raise"), 1);
    cr_assert_eq(audit_ok("alert.open"), 1);
    ct_test_sleep_ms(DEADLINE_MS + 500);

    /* Up again on the same directory: the psychiatrist hears of the escalation. */
    ct_test_daemon_start(&g_d);
    conn_t psy;
    connect_as(&psy, "dr.ahmed");
    resp = await_event(&psy, "alert.escalate", alert, ESCALATE_MS);
    const Careteam__V1__Alert *al = resp->deliver->message->alert;
    cr_assert_eq((int)resp->deliver->message->kind, KIND_ALERT);
    cr_assert_eq((int)al->status, CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_ESCALATED);
    cr_assert_eq(al->escalations, 1);
    cr_assert_eq(al->deadline_ms - al->created_at_ms >= 2 * DEADLINE_MS, true,
                 "the new deadline is a full period after the escalation");
    ct_envelope_free(resp);
    cr_assert_eq(audit_ok("alert.escalate"), 1);

    /* Still unacknowledged a period later: escalated a second and last time. */
    resp = await_event(&psy, "alert.escalate", alert, DEADLINE_MS + ESCALATE_MS);
    al = resp->deliver->message->alert;
    cr_assert_eq(al->escalations, 2);
    cr_assert_eq((int)al->status, CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_ESCALATED);
    cr_assert_eq(al->deadline_ms, 0, "after the second escalation there is no further deadline");
    ct_envelope_free(resp);
    ct_test_sleep_ms(DEADLINE_MS + 500);
    cr_assert_eq(audit_ok("alert.escalate"), 2, "no third escalation");
    resp = rq_list_alerts(&psy, "p1");
    want_body(&psy, resp, CARETEAM__V1__ENVELOPE__BODY_ALERT_LIST, "ListAlerts");
    cr_assert_eq(resp->alert_list->n_alerts, 1);
    cr_assert_eq(resp->alert_list->alerts[0]->escalations, 2);
    cr_assert_eq((int)resp->alert_list->alerts[0]->status,
                 CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_ESCALATED);
    ct_envelope_free(resp);

    /* It is listed as escalated, and the psychiatrist can close it. */
    resp = rq_ack_alert(&psy, alert);
    want_body(&psy, resp, CARETEAM__V1__ENVELOPE__BODY_ALERT, "AcknowledgeAlert");
    cr_assert_eq((int)resp->alert->status, CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_ACKNOWLEDGED);
    cr_assert_eq(resp->alert->escalations, 2);
    ct_envelope_free(resp);

    disconnect(&psy);
    ct_test_daemon_finish(&g_d);
}
