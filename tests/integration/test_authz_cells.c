/*
 * The workflow authorization table (server/authz.c), walked cell by cell over the wire: every
 * workflow request type x every role x the relations that matter (on the participant's care team,
 * off it, restricted by the lockbox on and off it; for referral requests also referrer,
 * addressee, assignee and the assignee's supervisor). The expected outcome of each cell comes
 * from the server's own ct_authz_allowed() (and, for UpdateReferral, the mover the transition
 * table of referral.h names), so this test checks that what the server answers over real TLS
 * agrees with its table: allowed -> anything but FORBIDDEN (NOT_FOUND, FAILED_PRECONDITION or
 * CONFLICT for a dummy or finished object is fine), denied -> FORBIDDEN. test_authz.c checks the
 * table itself against DESIGN.md; this one checks the handlers against the table.
 *
 * The relations of the fixture are modelled here, independently of the server's code, from how
 * the fixture was built:
 *   members walked: dr.ahmed psychiatrist, th.lee therapist, pw.sam peer_worker (supervised by
 *     ps.rao), ps.rao peer_supervisor, co.jones compliance, ad.ops admin;
 *   fixture only: dr.fix psychiatrist (on every team), pw.kim peer worker (unsupervised),
 *     pw.dummy (the member restricted and released by the walk);
 *   participants: p.on (walked members on the team), p.off (walked members off the team, after
 *     having created or accepted its referrals), p.lock (on the team and lockboxed), p.lo
 *     (lockboxed, off the team), p.none (no relation at all);
 *   referrals, all finished so that no walked move changes anything: R1 dr.ahmed -> pw.sam,
 *     accepted, a summary, completed; R2 th.lee -> queue, cancelled; R3 dr.fix -> pw.kim,
 *     rejected; R4 th.lee -> pw.sam, rejected.
 * Participants, teams, supervisors and the lockbox are set with the admin commands; the rest over
 * the wire. One daemon serves the whole walk. Every mismatch is collected and reported at the end,
 * and nothing is printed on success.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "careteam.h"
#include "daemon.h"
#include "envelope.h"
#include "referral.h"
#include "role.h"
#include "testsupport.h"

#define CALL_MS 5000
#define FORBIDDEN CARETEAM__V1__ERROR_CODE__ERROR_CODE_FORBIDDEN
#define INVALID CARETEAM__V1__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT
#define ACT(x) CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_##x
#define BODY(x) CARETEAM__V1__ENVELOPE__BODY_##x

static ct_test_daemon_t g_d;

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

TestSuite(authz_cells, .init = ct_test_ignore_sigpipe, .fini = teardown, .timeout = 110);

/* ---- the request types and roles walked ------------------------------------------------------ */

enum {
    RECORD_CONSENT,
    WITHDRAW_CONSENT,
    LIST_CONSENTS,
    RECORD_RESTRICTION,
    LIFT_RESTRICTION,
    CREATE_REFERRAL,
    UPDATE_REFERRAL,
    LIST_REFERRALS,
    POST_SUMMARY,
    LIST_SUMMARIES,
    RAISE_CONCERN,
    ACKNOWLEDGE_ALERT,
    LIST_ALERTS,
    SEND_MESSAGE,
    N_REQ
};

static const struct req_type {
    const char *name;
    Careteam__V1__Envelope__BodyCase body;
} REQ[N_REQ] = {
    [RECORD_CONSENT] = {"RecordConsent", BODY(RECORD_CONSENT)},
    [WITHDRAW_CONSENT] = {"WithdrawConsent", BODY(WITHDRAW_CONSENT)},
    [LIST_CONSENTS] = {"ListConsents", BODY(LIST_CONSENTS)},
    [RECORD_RESTRICTION] = {"RecordRestriction", BODY(RECORD_RESTRICTION)},
    [LIFT_RESTRICTION] = {"LiftRestriction", BODY(LIFT_RESTRICTION)},
    [CREATE_REFERRAL] = {"CreateReferral", BODY(CREATE_REFERRAL)},
    [UPDATE_REFERRAL] = {"UpdateReferral", BODY(UPDATE_REFERRAL)},
    [LIST_REFERRALS] = {"ListReferrals", BODY(LIST_REFERRALS)},
    [POST_SUMMARY] = {"PostSummary", BODY(POST_SUMMARY)},
    [LIST_SUMMARIES] = {"ListSummaries", BODY(LIST_SUMMARIES)},
    [RAISE_CONCERN] = {"RaiseConcern", BODY(RAISE_CONCERN)},
    [ACKNOWLEDGE_ALERT] = {"AcknowledgeAlert", BODY(ACKNOWLEDGE_ALERT)},
    [LIST_ALERTS] = {"ListAlerts", BODY(LIST_ALERTS)},
    [SEND_MESSAGE] = {"SendMessage", BODY(SEND_MESSAGE)},
};

static const struct walker {
    const char *id;
    ct_role_t role;
} WALKERS[] = {
    {"dr.ahmed", CT_ROLE_PSYCHIATRIST}, {"th.lee", CT_ROLE_THERAPIST},
    {"pw.sam", CT_ROLE_PEER_WORKER},    {"ps.rao", CT_ROLE_PEER_SUPERVISOR},
    {"co.jones", CT_ROLE_COMPLIANCE},   {"ad.ops", CT_ROLE_ADMIN},
};
#define N_WALKERS (sizeof WALKERS / sizeof WALKERS[0])

/* ---- the fixture's model --------------------------------------------------------------------- */

enum { P_ON, P_OFF, P_LOCK, P_LO, P_NONE, N_PARTS };

typedef struct part {
    const char *id;
    const char *team[8]; /* the care team when the walk starts */
    bool lockboxed;      /* every walked member is restricted */
    bool peer_consent;   /* has PEER_SUPPORT consent (referrals) */
    char consent[64];    /* an INFORMATION_SHARING consent, for WithdrawConsent */
    char alert[64];      /* an open alert, for AcknowledgeAlert */
} part_t;

static part_t g_parts[N_PARTS] = {
    [P_ON] = {"p.on", {"dr.fix", "dr.ahmed", "th.lee", "ps.rao", "pw.sam"}, false, true, "", ""},
    [P_OFF] = {"p.off", {"dr.fix"}, false, true, "", ""},
    [P_LOCK] = {"p.lock", {"dr.fix", "dr.ahmed", "th.lee", "ps.rao", "pw.sam"}, true, true, "", ""},
    [P_LO] = {"p.lo", {"dr.fix"}, true, false, "", ""},
    [P_NONE] = {"p.none", {"dr.fix"}, false, false, "", ""},
};

typedef struct fxref {
    const char *label;
    int part;
    const char *referrer;
    const char *addressee; /* "" for the queue */
    const char *assignee;  /* "" if nobody accepted it */
    bool summary;          /* the assignee posted a summary */
    char id[64];
} fxref_t;

static fxref_t g_refs[] = {
    {"p.on R1", P_ON, "dr.ahmed", "pw.sam", "pw.sam", true, ""},
    {"p.on R2", P_ON, "th.lee", "", "", false, ""},
    {"p.on R3", P_ON, "dr.fix", "pw.kim", "", false, ""},
    {"p.on R4", P_ON, "th.lee", "pw.sam", "", false, ""},
    {"p.off R1", P_OFF, "dr.ahmed", "pw.sam", "pw.sam", true, ""},
    {"p.off R2", P_OFF, "th.lee", "", "", false, ""},
    {"p.off R4", P_OFF, "th.lee", "pw.sam", "", false, ""},
    {"p.lock R1", P_LOCK, "dr.ahmed", "pw.sam", "pw.sam", true, ""},
};
#define N_REFS (sizeof g_refs / sizeof g_refs[0])

/* Alerts that exist (fixture and walk), for the rows ListAlerts must return. */
typedef struct alert_row {
    char id[64];
    int part;
} alert_row_t;
static alert_row_t g_alerts[64];
static size_t g_n_alerts;

static bool supervises(const char *member, const char *peer)
{
    return strcmp(member, "ps.rao") == 0 && strcmp(peer, "pw.sam") == 0;
}

/* The member's relation to a participant: care team and lockbox. */
static unsigned part_rel(const char *member, int p)
{
    unsigned rel = 0;
    for (size_t i = 0; i < 8 && g_parts[p].team[i] != NULL; i++) {
        if (strcmp(g_parts[p].team[i], member) == 0)
            rel |= CT_REL_ON_TEAM;
    }
    if (g_parts[p].lockboxed)
        rel |= CT_REL_LOCKBOXED; /* every walked member */
    return rel;
}

/* The member's relations to a referral (and its participant). */
static unsigned ref_rel(const struct walker *w, const fxref_t *r)
{
    unsigned rel = part_rel(w->id, r->part);
    if (strcmp(r->referrer, w->id) == 0)
        rel |= CT_REL_REFERRER;
    if (strcmp(r->addressee, w->id) == 0 ||
        (r->addressee[0] == '\0' && w->role == CT_ROLE_PEER_WORKER))
        rel |= CT_REL_ADDRESSEE;
    /* An assignee taken off the team (p.off) is no longer one (docs/workflow.md). */
    if (r->assignee[0] != '\0' && strcmp(r->assignee, w->id) == 0 && (rel & CT_REL_ON_TEAM))
        rel |= CT_REL_ASSIGNEE;
    if (w->role == CT_ROLE_PEER_SUPERVISOR &&
        supervises(w->id, r->assignee[0] ? r->assignee : r->addressee))
        rel |= CT_REL_SUPERVISOR;
    return rel;
}

/* A participant-wide request's relations: to the participant, plus (for the lists of referrals
 * and summaries) those to its referrals and to the authors of its summaries. */
static unsigned list_rel(const struct walker *w, int p, int req)
{
    unsigned rel = part_rel(w->id, p);
    for (size_t i = 0; i < N_REFS; i++) {
        if (g_refs[i].part != p)
            continue;
        if (req == LIST_REFERRALS)
            rel |= ref_rel(w, &g_refs[i]) & ~(CT_REL_ON_TEAM | CT_REL_LOCKBOXED);
        if (req == LIST_SUMMARIES && g_refs[i].summary && w->role == CT_ROLE_PEER_SUPERVISOR &&
            supervises(w->id, g_refs[i].assignee))
            rel |= CT_REL_SUPERVISOR;
    }
    return rel;
}

/* ---- mismatches and coverage ----------------------------------------------------------------- */

static char g_report[65536];
static size_t g_report_len;
static int g_mismatches;
static struct {
    int walked, allowed, denied;
} g_cov[N_REQ][CT_ROLE_COUNT];

static void mismatch(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mismatch(const char *fmt, ...)
{
    g_mismatches++;
    if (g_report_len + 2 >= sizeof g_report)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(g_report + g_report_len, sizeof g_report - g_report_len - 1, fmt, ap);
    va_end(ap);
    if (n > 0)
        g_report_len += (size_t)n < sizeof g_report - g_report_len - 1
                            ? (size_t)n
                            : sizeof g_report - g_report_len - 2;
    g_report[g_report_len++] = '\n';
    g_report[g_report_len] = '\0';
}

static const char *rel_name(unsigned rel, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s%s%s%s", rel & CT_REL_ON_TEAM ? "team " : "off-team ",
             rel & CT_REL_LOCKBOXED ? "lockboxed " : "", rel & CT_REL_REFERRER ? "referrer " : "",
             rel & CT_REL_ADDRESSEE ? "addressee " : "", rel & CT_REL_ASSIGNEE ? "assignee " : "",
             rel & CT_REL_SUPERVISOR ? "supervisor " : "");
    return buf;
}

/*
 * Checks one cell: resp is the server's answer to request `req` by walker w about `about`, with
 * relations rel; `allowed` is what the tables say. Frees resp. Returns whether the server said
 * anything but FORBIDDEN.
 */
static bool check(const struct walker *w, int req, const char *about, const char *detail,
                  unsigned rel, bool allowed, Careteam__V1__Envelope *resp)
{
    g_cov[req][w->role].walked++;
    if (allowed)
        g_cov[req][w->role].allowed++;
    else
        g_cov[req][w->role].denied++;
    int code = resp->body_case == BODY(ERROR) ? (int)resp->error->code : 0;
    char rb[96];
    if (code == INVALID)
        mismatch("%s%s by %s (%s) about %s: INVALID_ARGUMENT (%s): the walk sent a malformed "
                 "request, so the cell was not reached",
                 REQ[req].name, detail, w->id, ct_role_name(w->role), about, resp->error->message);
    else if (allowed && code == FORBIDDEN)
        mismatch("%s%s by %s (%s, %s) about %s: the table allows it, the server said FORBIDDEN "
                 "(%s)",
                 REQ[req].name, detail, w->id, ct_role_name(w->role), rel_name(rel, rb, sizeof rb),
                 about, resp->error->message);
    else if (!allowed && code != FORBIDDEN)
        mismatch("%s%s by %s (%s, %s) about %s: the table denies it, the server answered '%s'%s%s",
                 REQ[req].name, detail, w->id, ct_role_name(w->role), rel_name(rel, rb, sizeof rb),
                 about, ct_test_body_name(resp), code ? " " : "",
                 code ? ct_wire_code_name(code) : "");
    ct_envelope_free(resp);
    return code != FORBIDDEN;
}

/* ---- requests -------------------------------------------------------------------------------- */

static Careteam__V1__Envelope *call(ct_sync_t *s, const char *who, Careteam__V1__Envelope *env)
{
    Careteam__V1__Envelope *resp = NULL;
    int rc = ct_sync_call(s, env, CALL_MS, &resp);
    cr_assert_eq(rc, 0, "%s: %s: %s (%s)", who, ct_test_body_name(env), ct_errname(rc),
                 ct_sync_last_error(s));
    return resp;
}

/* Builds and sends request `req` about participant p / referral rid (whichever applies), with
 * UpdateReferral action `action`. */
static Careteam__V1__Envelope *request(ct_sync_t *s, const char *who, int req, const char *p,
                                       const char *rid, int action, const char *id_arg)
{
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = REQ[req].body;
    Careteam__V1__RecordConsent rc = CARETEAM__V1__RECORD_CONSENT__INIT;
    Careteam__V1__WithdrawConsent wc = CARETEAM__V1__WITHDRAW_CONSENT__INIT;
    Careteam__V1__ListConsents lc = CARETEAM__V1__LIST_CONSENTS__INIT;
    Careteam__V1__RecordRestriction rr = CARETEAM__V1__RECORD_RESTRICTION__INIT;
    Careteam__V1__LiftRestriction lr = CARETEAM__V1__LIFT_RESTRICTION__INIT;
    Careteam__V1__CreateReferral cr = CARETEAM__V1__CREATE_REFERRAL__INIT;
    Careteam__V1__UpdateReferral ur = CARETEAM__V1__UPDATE_REFERRAL__INIT;
    Careteam__V1__ListReferrals lrf = CARETEAM__V1__LIST_REFERRALS__INIT;
    Careteam__V1__PostSummary ps = CARETEAM__V1__POST_SUMMARY__INIT;
    Careteam__V1__ListSummaries ls = CARETEAM__V1__LIST_SUMMARIES__INIT;
    Careteam__V1__RaiseConcern rcn = CARETEAM__V1__RAISE_CONCERN__INIT;
    Careteam__V1__AcknowledgeAlert aa = CARETEAM__V1__ACKNOWLEDGE_ALERT__INIT;
    Careteam__V1__ListAlerts la = CARETEAM__V1__LIST_ALERTS__INIT;
    Careteam__V1__SendMessage sm = CARETEAM__V1__SEND_MESSAGE__INIT;
    char *to[] = {"dr.fix"};
    static unsigned long n_sent;
    char cmid[64];
    switch (req) {
    case RECORD_CONSENT:
        rc.participant_id = (char *)p;
        rc.scope = CARETEAM__V1__CONSENT_SCOPE__CONSENT_SCOPE_INFORMATION_SHARING;
        rc.method = CARETEAM__V1__CONSENT_METHOD__CONSENT_METHOD_WRITTEN;
        env.record_consent = &rc;
        break;
    case WITHDRAW_CONSENT:
        wc.consent_id = (char *)id_arg;
        wc.reason = "walk";
        env.withdraw_consent = &wc;
        break;
    case LIST_CONSENTS:
        lc.participant_id = (char *)p;
        env.list_consents = &lc;
        break;
    case RECORD_RESTRICTION:
        rr.participant_id = (char *)p;
        rr.member_id = "pw.dummy";
        rr.reason = "walk";
        env.record_restriction = &rr;
        break;
    case LIFT_RESTRICTION:
        lr.participant_id = (char *)p;
        lr.member_id = "pw.dummy";
        env.lift_restriction = &lr;
        break;
    case CREATE_REFERRAL:
        /* A peer worker who does not exist: an allowed request stops at NOT_FOUND (or at the
         * missing consent) and creates nothing. */
        cr.participant_id = (char *)p;
        cr.peer_worker_id = "pw.nobody";
        cr.reason = "walk";
        env.create_referral = &cr;
        break;
    case UPDATE_REFERRAL:
        ur.referral_id = (char *)rid;
        ur.action = action;
        ur.reason = action == ACT(REJECT) || action == ACT(CANCEL) ? "walk" : "";
        ur.assignee_id = action == ACT(REASSIGN) ? "pw.kim" : "";
        env.update_referral = &ur;
        break;
    case LIST_REFERRALS:
        lrf.participant_id = p != NULL ? (char *)p : "";
        env.list_referrals = &lrf;
        break;
    case POST_SUMMARY:
        ps.referral_id = (char *)rid;
        ps.session_date = "2024-06-01";
        ps.duration_minutes = 30;
        ps.format = CARETEAM__V1__SESSION_FORMAT__SESSION_FORMAT_PHONE;
        ps.risk = CARETEAM__V1__RISK__RISK_NONE;
        ps.text = "walk";
        env.post_summary = &ps;
        break;
    case LIST_SUMMARIES:
        ls.participant_id = p != NULL ? (char *)p : "";
        ls.referral_id = rid != NULL ? (char *)rid : "";
        env.list_summaries = &ls;
        break;
    case RAISE_CONCERN:
        rcn.participant_id = (char *)p;
        rcn.risk = CARETEAM__V1__RISK__RISK_CONCERN;
        rcn.text = "walk";
        env.raise_concern = &rcn;
        break;
    case ACKNOWLEDGE_ALERT:
        aa.alert_id = (char *)id_arg;
        env.acknowledge_alert = &aa;
        break;
    case LIST_ALERTS:
        la.participant_id = p != NULL ? (char *)p : "";
        env.list_alerts = &la;
        break;
    case SEND_MESSAGE:
        snprintf(cmid, sizeof cmid, "walk-%lu", ++n_sent);
        sm.client_msg_id = cmid;
        sm.n_to = 1;
        sm.to = to;
        sm.participant_id = (char *)p;
        sm.body = "walk";
        env.send_message = &sm;
        break;
    default:
        cr_assert_fail("no request %d", req);
    }
    return call(s, who, &env);
}

/* ---- the fixture ----------------------------------------------------------------------------- */

#define ADMIN(...)                                                                                 \
    do {                                                                                           \
        int rc_ = ct_test_careteamd(&g_d, __VA_ARGS__, NULL);                                      \
        cr_assert_eq(rc_, 0, "careteamd %s exited %d; see %s", #__VA_ARGS__, rc_, g_d.log);        \
    } while (0)

typedef struct fxconn {
    const char *id;
    ct_sync_t *s;
} fxconn_t;

static fxconn_t g_fx[] = {
    {"dr.fix", NULL}, {"dr.ahmed", NULL}, {"th.lee", NULL}, {"pw.sam", NULL}, {"pw.kim", NULL}};

static ct_sync_t *fx(const char *id)
{
    for (size_t i = 0; i < sizeof g_fx / sizeof g_fx[0]; i++) {
        if (strcmp(g_fx[i].id, id) == 0)
            return g_fx[i].s;
    }
    cr_assert_fail("no fixture connection for %s", id);
    return NULL;
}

/* Sends a fixture request and asserts its answer has body `want`; returns it (caller frees). */
static Careteam__V1__Envelope *must(const char *who, Careteam__V1__Envelope *env,
                                    Careteam__V1__Envelope__BodyCase want)
{
    Careteam__V1__Envelope *resp = call(fx(who), who, env);
    cr_assert_eq(resp->body_case, want, "fixture: %s: %s answered '%s' %s", who,
                 ct_test_body_name(env), ct_test_body_name(resp), ct_response_message(resp));
    return resp;
}

static void fx_consent(const char *p, int scope, char *out)
{
    Careteam__V1__RecordConsent m = CARETEAM__V1__RECORD_CONSENT__INIT;
    m.participant_id = (char *)p;
    m.scope = scope;
    m.method = CARETEAM__V1__CONSENT_METHOD__CONSENT_METHOD_VERBAL;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = BODY(RECORD_CONSENT);
    env.record_consent = &m;
    Careteam__V1__Envelope *resp = must("dr.fix", &env, BODY(CONSENT));
    if (out != NULL)
        snprintf(out, 64, "%s", resp->consent->consent_id);
    ct_envelope_free(resp);
}

static void fx_move(const char *who, const char *rid, int action, const char *reason)
{
    Careteam__V1__UpdateReferral m = CARETEAM__V1__UPDATE_REFERRAL__INIT;
    m.referral_id = (char *)rid;
    m.action = action;
    m.reason = reason != NULL ? (char *)reason : "";
    m.assignee_id = "";
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = BODY(UPDATE_REFERRAL);
    env.update_referral = &m;
    ct_envelope_free(must(who, &env, BODY(REFERRAL)));
}

static void fx_referral(fxref_t *r)
{
    Careteam__V1__CreateReferral m = CARETEAM__V1__CREATE_REFERRAL__INIT;
    m.participant_id = (char *)g_parts[r->part].id;
    m.peer_worker_id = (char *)r->addressee;
    m.to_queue = r->addressee[0] == '\0';
    m.reason = "fixture";
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = BODY(CREATE_REFERRAL);
    env.create_referral = &m;
    Careteam__V1__Envelope *resp = must(r->referrer, &env, BODY(REFERRAL));
    snprintf(r->id, sizeof r->id, "%s", resp->referral->referral_id);
    ct_envelope_free(resp);

    if (r->assignee[0] != '\0') { /* R1: accepted, a summary, completed */
        fx_move(r->assignee, r->id, ACT(ACCEPT), NULL);
        fx_move(r->assignee, r->id, ACT(START), NULL);
        Careteam__V1__PostSummary ps = CARETEAM__V1__POST_SUMMARY__INIT;
        ps.referral_id = r->id;
        ps.session_date = "2024-06-01";
        ps.duration_minutes = 50;
        ps.format = CARETEAM__V1__SESSION_FORMAT__SESSION_FORMAT_ONE_TO_ONE;
        ps.risk = CARETEAM__V1__RISK__RISK_NONE;
        ps.text = "fixture";
        Careteam__V1__Envelope e2 = CARETEAM__V1__ENVELOPE__INIT;
        e2.body_case = BODY(POST_SUMMARY);
        e2.post_summary = &ps;
        ct_envelope_free(must(r->assignee, &e2, BODY(SUMMARY)));
        fx_move(r->assignee, r->id, ACT(COMPLETE), NULL);
    } else if (r->addressee[0] == '\0') { /* R2: cancelled in the queue */
        fx_move(r->referrer, r->id, ACT(CANCEL), "fixture");
    } else { /* R3, R4: declined */
        fx_move(r->addressee, r->id, ACT(REJECT), "fixture");
    }
}

static void fx_alert(int p)
{
    Careteam__V1__RaiseConcern m = CARETEAM__V1__RAISE_CONCERN__INIT;
    m.participant_id = (char *)g_parts[p].id;
    m.risk = CARETEAM__V1__RISK__RISK_CONCERN;
    m.text = "fixture";
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = BODY(RAISE_CONCERN);
    env.raise_concern = &m;
    Careteam__V1__Envelope *resp = must("dr.fix", &env, BODY(ALERT));
    snprintf(g_parts[p].alert, sizeof g_parts[p].alert, "%s", resp->alert->alert_id);
    snprintf(g_alerts[g_n_alerts].id, sizeof g_alerts[0].id, "%s", resp->alert->alert_id);
    g_alerts[g_n_alerts++].part = p;
    ct_envelope_free(resp);
}

static void build_fixture(void)
{
    ct_test_daemon_init(&g_d, NULL);
    cr_assert_eq(ct_test_daemon_enroll(&g_d, "ps.rao", "Priya Rao", "peer_supervisor"), 0);
    cr_assert_eq(ct_test_daemon_enroll(&g_d, "ad.ops", "Alex Ops", "admin"), 0);
    cr_assert_eq(ct_test_daemon_enroll(&g_d, "dr.fix", "Dr Fixture", "psychiatrist"), 0);
    cr_assert_eq(ct_test_daemon_enroll(&g_d, "pw.dummy", "Dee Dummy", "peer_worker"), 0);
    ADMIN("supervisor", "set", g_d.data, "--member", "pw.sam", "--supervisor", "ps.rao");
    for (int p = 0; p < N_PARTS; p++)
        ADMIN("participant", "add", g_d.data, "--id", g_parts[p].id, "--label", "W.K.");
    /* Who is on each team while the fixture is built; p.off loses its walked members later. */
    static const char *const build_team[N_PARTS][5] = {
        [P_ON] = {"dr.fix", "dr.ahmed", "th.lee", "ps.rao"},
        [P_OFF] = {"dr.fix", "dr.ahmed", "th.lee"},
        [P_LOCK] = {"dr.fix", "dr.ahmed", "th.lee", "ps.rao"},
        [P_LO] = {"dr.fix"},
        [P_NONE] = {"dr.fix"},
    };
    for (int p = 0; p < N_PARTS; p++) {
        for (size_t i = 0; i < 5 && build_team[p][i] != NULL; i++)
            ADMIN("team", "add", g_d.data, "--participant", g_parts[p].id, "--member",
                  build_team[p][i]);
    }
    ct_test_daemon_start(&g_d);

    for (size_t i = 0; i < sizeof g_fx / sizeof g_fx[0]; i++)
        g_fx[i].s = ct_test_connect(&g_d, g_fx[i].id);
    for (int p = 0; p < N_PARTS; p++) {
        if (g_parts[p].peer_consent)
            fx_consent(g_parts[p].id, CARETEAM__V1__CONSENT_SCOPE__CONSENT_SCOPE_PEER_SUPPORT,
                       NULL);
    }
    for (size_t i = 0; i < N_REFS; i++)
        fx_referral(&g_refs[i]);
    for (int p = 0; p < N_PARTS; p++) {
        fx_consent(g_parts[p].id, CARETEAM__V1__CONSENT_SCOPE__CONSENT_SCOPE_INFORMATION_SHARING,
                   g_parts[p].consent);
        fx_alert(p);
    }
    for (size_t i = 0; i < sizeof g_fx / sizeof g_fx[0]; i++) {
        ct_sync_close(g_fx[i].s);
        g_fx[i].s = NULL;
    }

    /* With the daemon running: it asks the store on every request. */
    static const char *const leave_off[] = {"dr.ahmed", "th.lee", "pw.sam"};
    for (size_t i = 0; i < 3; i++)
        ADMIN("team", "remove", g_d.data, "--participant", "p.off", "--member", leave_off[i]);
    for (int p = 0; p < N_PARTS; p++) {
        if (!g_parts[p].lockboxed)
            continue;
        for (size_t i = 0; i < N_WALKERS; i++)
            ADMIN("lockbox", "add", g_d.data, "--participant", g_parts[p].id, "--member",
                  WALKERS[i].id, "--reason", "walk");
    }
}

/* ---- the walk -------------------------------------------------------------------------------- */

/* Checks the rows of a ReferralList answered to w (about participant p, or -1 for any) against
 * the rows its relations allow: nothing the table hides may leak, nothing it shows may be lost. */
static void check_referral_rows(const struct walker *w, int p, const Careteam__V1__Envelope *resp)
{
    if (resp->body_case != BODY(REFERRAL_LIST))
        return;
    const Careteam__V1__ReferralList *l = resp->referral_list;
    for (size_t i = 0; i < N_REFS; i++) {
        bool want = (p < 0 || g_refs[i].part == p) &&
                    ct_authz_allowed(BODY(LIST_REFERRALS), w->role, ref_rel(w, &g_refs[i]));
        bool got = false;
        for (size_t k = 0; k < l->n_referrals; k++)
            got = got || strcmp(l->referrals[k]->referral_id, g_refs[i].id) == 0;
        if (want != got)
            mismatch("ListReferrals by %s: referral %s is %s, the table says it should %s", w->id,
                     g_refs[i].label, got ? "listed" : "missing", want ? "be" : "not be");
    }
    if (l->n_referrals > N_REFS)
        mismatch("ListReferrals by %s: %zu rows, more than the %zu referrals", w->id,
                 l->n_referrals, N_REFS);
}

static void check_alert_rows(const struct walker *w, const Careteam__V1__Envelope *resp)
{
    if (resp->body_case != BODY(ALERT_LIST))
        return;
    const Careteam__V1__AlertList *l = resp->alert_list;
    size_t wanted = 0;
    for (size_t i = 0; i < g_n_alerts; i++) {
        bool want = ct_authz_allowed(BODY(LIST_ALERTS), w->role, part_rel(w->id, g_alerts[i].part));
        bool got = false;
        for (size_t k = 0; k < l->n_alerts; k++)
            got = got || strcmp(l->alerts[k]->alert_id, g_alerts[i].id) == 0;
        wanted += want;
        if (want != got)
            mismatch("ListAlerts by %s: the alert of %s is %s, the table says it should %s", w->id,
                     g_parts[g_alerts[i].part].id, got ? "listed" : "missing",
                     want ? "be" : "not be");
    }
    if (l->n_alerts != wanted)
        mismatch("ListAlerts by %s: %zu rows, expected %zu", w->id, l->n_alerts, wanted);
}

static void walk_participant(ct_sync_t *s, const struct walker *w, int p)
{
    const char *pid = g_parts[p].id;
    for (int req = 0; req < N_REQ; req++) {
        if (req == UPDATE_REFERRAL || req == POST_SUMMARY)
            continue; /* about a referral: walk_referral */
        unsigned rel = req == LIST_REFERRALS || req == LIST_SUMMARIES ? list_rel(w, p, req)
                                                                      : part_rel(w->id, p);
        bool allowed = ct_authz_allowed(REQ[req].body, w->role, rel);
        const char *id_arg = req == WITHDRAW_CONSENT    ? g_parts[p].consent
                             : req == ACKNOWLEDGE_ALERT ? g_parts[p].alert
                                                        : NULL;
        Careteam__V1__Envelope *resp = request(s, w->id, req, pid, NULL, 0, id_arg);
        if (req == RAISE_CONCERN && resp->body_case == BODY(ALERT)) {
            cr_assert_lt(g_n_alerts, sizeof g_alerts / sizeof g_alerts[0]);
            snprintf(g_alerts[g_n_alerts].id, sizeof g_alerts[0].id, "%s", resp->alert->alert_id);
            g_alerts[g_n_alerts++].part = p;
        }
        if (req == LIST_REFERRALS)
            check_referral_rows(w, p, resp);
        const char *detail = req == LIST_SUMMARIES || req == LIST_REFERRALS || req == LIST_ALERTS
                                 ? " (by participant)"
                                 : "";
        check(w, req, pid, detail, rel, allowed, resp);
    }
}

static void walk_referral(ct_sync_t *s, const struct walker *w, const fxref_t *r)
{
    unsigned rel = ref_rel(w, r);
    size_t n_moves = 0;
    const ct_referral_move_t *moves = ct_referral_moves(&n_moves);
    for (size_t i = 0; i < n_moves; i++) {
        const ct_referral_move_t *mv = &moves[i];
        bool allowed = ct_authz_allowed(BODY(UPDATE_REFERRAL), w->role, rel);
        /* Past the table, the transition table names the one relation each move needs. Accepting
         * a referral somebody already accepted answers CONFLICT before the mover is asked. */
        bool conflict = mv->action == ACT(ACCEPT) && r->assignee[0] != '\0';
        if (allowed && !conflict && !(rel & mv->who))
            allowed = false;
        char detail[48];
        snprintf(detail, sizeof detail, " %s", mv->name);
        check(w, UPDATE_REFERRAL, r->label, detail, rel, allowed,
              request(s, w->id, UPDATE_REFERRAL, NULL, r->id, mv->action, NULL));
    }
    check(w, POST_SUMMARY, r->label, "", rel, ct_authz_allowed(BODY(POST_SUMMARY), w->role, rel),
          request(s, w->id, POST_SUMMARY, NULL, r->id, 0, NULL));
    check(w, LIST_SUMMARIES, r->label, " (by referral)", rel,
          ct_authz_allowed(BODY(LIST_SUMMARIES), w->role, rel),
          request(s, w->id, LIST_SUMMARIES, NULL, r->id, 0, NULL));
}

/* The lists with no participant: any role that may send them, rows filtered by relation. */
static void walk_unfiltered(ct_sync_t *s, const struct walker *w)
{
    Careteam__V1__Envelope *resp = request(s, w->id, LIST_REFERRALS, NULL, NULL, 0, NULL);
    check_referral_rows(w, -1, resp);
    check(w, LIST_REFERRALS, "(any participant)", "", CT_REL_NONE,
          ct_authz_request(BODY(LIST_REFERRALS), w->role), resp);
    resp = request(s, w->id, LIST_ALERTS, NULL, NULL, 0, NULL);
    check_alert_rows(w, resp);
    check(w, LIST_ALERTS, "(any participant)", "", CT_REL_NONE,
          ct_authz_request(BODY(LIST_ALERTS), w->role), resp);
}

Test(authz_cells, every_workflow_cell_over_the_wire)
{
    build_fixture();
    for (size_t i = 0; i < N_WALKERS; i++) {
        const struct walker *w = &WALKERS[i];
        ct_sync_t *s = ct_test_connect(&g_d, w->id);
        for (int p = 0; p < N_PARTS; p++)
            walk_participant(s, w, p);
        for (size_t r = 0; r < N_REFS; r++)
            walk_referral(s, w, &g_refs[r]);
        walk_unfiltered(s, w);
        ct_sync_close(s);
    }

    /* Every request type x role was walked, with an allowed cell wherever the table has one and
     * a denied cell everywhere (the lockbox denies every role). */
    for (int req = 0; req < N_REQ; req++) {
        for (size_t i = 0; i < N_WALKERS; i++) {
            ct_role_t role = WALKERS[i].role;
            if (g_cov[req][role].walked == 0)
                mismatch("%s x %s: never walked", REQ[req].name, ct_role_name(role));
            if (ct_authz_request(REQ[req].body, role) && g_cov[req][role].allowed == 0)
                mismatch("%s x %s: the table grants it, but no walked cell was allowed",
                         REQ[req].name, ct_role_name(role));
            if (g_cov[req][role].denied == 0)
                mismatch("%s x %s: no walked cell was denied", REQ[req].name, ct_role_name(role));
        }
    }
    if (g_mismatches > 0) {
        cr_log_error("%d cells disagree with the authorization table:\n%s", g_mismatches, g_report);
        cr_assert_fail("%d cells of the authorization table disagree with the server (listed "
                       "above)",
                       g_mismatches);
    }
    ct_test_daemon_finish(&g_d);
}
