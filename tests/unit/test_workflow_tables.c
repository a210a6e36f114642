/*
 * The two workflow tables of the daemon, checked against the rules as the issue and DESIGN.md
 * state them, written out here by hand: the authorization table (server/authz.c: request type x
 * role -> the relations that grant it) and the referral transition table (server/referral.c).
 * A cell changed in the code fails here and has to be changed twice, on purpose.
 * test_authz_cells.c then checks, over the wire, that the handlers do what the table says.
 */
#include <criterion/criterion.h>

#include "authz.h"
#include "referral.h"
#include "testsupport.h"

#define BODY(x) CARETEAM__V1__ENVELOPE__BODY_##x
#define ANY CT_REL_NONE
#define TEAM CT_REL_ON_TEAM
#define REF CT_REL_REFERRER
#define ADDR CT_REL_ADDRESSEE
#define ASG CT_REL_ASSIGNEE
#define SUP CT_REL_SUPERVISOR

/* Roles, by column: psychiatrist therapist peer_worker peer_supervisor compliance admin. */
static const struct {
    Careteam__V1__Envelope__BodyCase request;
    const char *name;
    unsigned grant[6];
} EXPECTED[] = {
    {BODY(HELLO), "Hello", {ANY, ANY, ANY, ANY, ANY, ANY}},
    {BODY(PING), "Ping", {ANY, ANY, ANY, ANY, ANY, ANY}},
    /* Messages about a participant stay inside the care team; compliance and admin never. */
    {BODY(SEND_MESSAGE), "SendMessage", {TEAM, TEAM, TEAM, TEAM, 0, 0}},
    {BODY(DELIVERY_ACK), "DeliveryAck", {ANY, ANY, ANY, ANY, 0, 0}},
    /* A clinician on the team records consent and the lockbox; the team may read consents. */
    {BODY(RECORD_CONSENT), "RecordConsent", {TEAM, TEAM, 0, 0, 0, 0}},
    {BODY(WITHDRAW_CONSENT), "WithdrawConsent", {TEAM, TEAM, 0, 0, 0, 0}},
    {BODY(LIST_CONSENTS), "ListConsents", {TEAM, TEAM, TEAM, TEAM, 0, 0}},
    {BODY(RECORD_RESTRICTION), "RecordRestriction", {TEAM, TEAM, 0, 0, 0, 0}},
    {BODY(LIFT_RESTRICTION), "LiftRestriction", {TEAM, TEAM, 0, 0, 0, 0}},
    /* Clinicians only create referrals; moves are named by the transition table below. */
    {BODY(CREATE_REFERRAL), "CreateReferral", {TEAM, TEAM, 0, 0, 0, 0}},
    {BODY(UPDATE_REFERRAL), "UpdateReferral", {REF, REF, ADDR | ASG, SUP, 0, 0}},
    {BODY(LIST_REFERRALS),
     "ListReferrals",
     {TEAM | REF, TEAM | REF, TEAM | ADDR | ASG, TEAM | SUP, 0, 0}},
    /* Summaries: written by the assignee, read by the team and the author's supervisor. */
    {BODY(POST_SUMMARY), "PostSummary", {0, 0, ASG, 0, 0, 0}},
    {BODY(LIST_SUMMARIES), "ListSummaries", {TEAM, TEAM, TEAM, TEAM | SUP, 0, 0}},
    /* Anyone on the team raises a concern; only a clinician acknowledges an alert. */
    {BODY(RAISE_CONCERN), "RaiseConcern", {TEAM, TEAM, TEAM, TEAM, 0, 0}},
    {BODY(ACKNOWLEDGE_ALERT), "AcknowledgeAlert", {TEAM, TEAM, 0, 0, 0, 0}},
    {BODY(LIST_ALERTS), "ListAlerts", {TEAM, TEAM, TEAM, TEAM, 0, 0}},
    /* The audit log: compliance only, about every participant. */
    {BODY(AUDIT_QUERY), "AuditQuery", {0, 0, 0, 0, ANY, 0}},
};

static const ct_role_t ROLES[6] = {CT_ROLE_PSYCHIATRIST,    CT_ROLE_THERAPIST,  CT_ROLE_PEER_WORKER,
                                   CT_ROLE_PEER_SUPERVISOR, CT_ROLE_COMPLIANCE, CT_ROLE_ADMIN};

Test(workflow_tables, authz_grants_are_the_documented_ones)
{
    for (size_t i = 0; i < sizeof EXPECTED / sizeof EXPECTED[0]; i++) {
        for (int r = 0; r < 6; r++) {
            cr_expect_eq(ct_authz_grant(EXPECTED[i].request, ROLES[r]), EXPECTED[i].grant[r],
                         "%s by %s: table grants 0x%x, the rules say 0x%x", EXPECTED[i].name,
                         ct_role_name(ROLES[r]), ct_authz_grant(EXPECTED[i].request, ROLES[r]),
                         EXPECTED[i].grant[r]);
        }
        cr_expect_eq(ct_authz_grant(EXPECTED[i].request, CT_ROLE_UNSPECIFIED), 0u,
                     "%s: a member without a role may do nothing", EXPECTED[i].name);
    }
    ct_test_leak_check();
}

Test(workflow_tables, lockbox_denies_whatever_else_grants)
{
    for (size_t i = 0; i < sizeof EXPECTED / sizeof EXPECTED[0]; i++) {
        for (int r = 0; r < 6; r++) {
            unsigned all = TEAM | REF | ADDR | ASG | SUP;
            cr_expect_not(ct_authz_allowed(EXPECTED[i].request, ROLES[r], all | CT_REL_LOCKBOXED),
                          "%s by %s is allowed though the participant restricted the member",
                          EXPECTED[i].name, ct_role_name(ROLES[r]));
            bool granted = EXPECTED[i].grant[r] != 0;
            cr_expect_eq(ct_authz_allowed(EXPECTED[i].request, ROLES[r], all), granted,
                         "%s by %s with every relation", EXPECTED[i].name, ct_role_name(ROLES[r]));
            bool needs_none = EXPECTED[i].grant[r] & ANY;
            cr_expect_eq(ct_authz_allowed(EXPECTED[i].request, ROLES[r], 0), needs_none,
                         "%s by %s with no relation", EXPECTED[i].name, ct_role_name(ROLES[r]));
        }
    }
    ct_test_leak_check();
}

#define ACT(x) CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_##x
#define S(x) (1u << CT_REFERRAL_##x)

/* The referral moves of the issue (FHIR Task.status), by hand. */
static const struct {
    int action;
    unsigned from;
    int to;
    unsigned who;
    bool reason;
} MOVES[] = {
    {ACT(ACCEPT), S(REQUESTED), CT_REFERRAL_ACCEPTED, ADDR, false},
    {ACT(REJECT), S(REQUESTED), CT_REFERRAL_REJECTED, ADDR, true},
    {ACT(START), S(ACCEPTED), CT_REFERRAL_IN_PROGRESS, ASG, false},
    {ACT(HOLD), S(ACCEPTED) | S(IN_PROGRESS), CT_REFERRAL_ON_HOLD, ASG, false},
    {ACT(RESUME), S(ON_HOLD), CT_REFERRAL_TO_HELD_FROM, ASG, false},
    {ACT(COMPLETE), S(IN_PROGRESS), CT_REFERRAL_COMPLETED, ASG, false},
    {ACT(CANCEL), S(REQUESTED) | S(ACCEPTED) | S(IN_PROGRESS) | S(ON_HOLD), CT_REFERRAL_CANCELLED,
     REF, true},
    {ACT(REASSIGN), S(ACCEPTED) | S(IN_PROGRESS) | S(ON_HOLD), CT_REFERRAL_TO_SAME, SUP, false},
};

Test(workflow_tables, referral_moves_are_the_fhir_task_ones)
{
    size_t n = 0;
    const ct_referral_move_t *all = ct_referral_moves(&n);
    cr_assert_eq(n, sizeof MOVES / sizeof MOVES[0], "the table has %zu moves", n);
    for (size_t i = 0; i < n; i++) {
        const ct_referral_move_t *m = ct_referral_move(MOVES[i].action);
        cr_assert_not_null(m, "no move for action %d", MOVES[i].action);
        cr_expect_eq(m->from, MOVES[i].from, "%s: from 0x%x, expected 0x%x", m->name, m->from,
                     MOVES[i].from);
        cr_expect_eq(m->to, MOVES[i].to, "%s: to %d, expected %d", m->name, m->to, MOVES[i].to);
        cr_expect_eq(m->who, MOVES[i].who, "%s: mover 0x%x, expected 0x%x", m->name, m->who,
                     MOVES[i].who);
        cr_expect_eq(m->needs_reason, MOVES[i].reason, "%s: needs_reason", m->name);
        cr_expect_eq(&all[i], ct_referral_move(all[i].action), "one row per action");
    }
    /* Terminal statuses have no way out. */
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(all[i].from & (S(REJECTED) | S(COMPLETED) | S(CANCELLED)), 0u,
                     "%s starts from a terminal status", all[i].name);
    }
    cr_expect_null(ct_referral_move(0), "UNSPECIFIED is not a move");
    ct_test_leak_check();
}

Test(workflow_tables, describe_from_lists_statuses_in_order)
{
    char buf[128];
    ct_referral_describe_from(S(REQUESTED) | S(ACCEPTED) | S(IN_PROGRESS) | S(ON_HOLD), buf,
                              sizeof buf);
    cr_expect_str_eq(buf, "requested, accepted, in-progress or on-hold");
    ct_referral_describe_from(S(IN_PROGRESS), buf, sizeof buf);
    cr_expect_str_eq(buf, "in-progress");
    ct_test_leak_check();
}
