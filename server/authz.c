/*
 * The authorization table (see authz.h). Rows: request types a client may send. Columns: roles,
 * in ct_role_t order. A request type missing here is refused for every role.
 */
#include "authz.h"

#include <stddef.h>

#define ANY CT_REL_NONE
#define TEAM CT_REL_ON_TEAM

typedef struct authz_row {
    Careteam__V1__Envelope__BodyCase request;
    unsigned grant[CT_ROLE_COUNT];
} authz_row_t;

/* clang-format off */
static const authz_row_t TABLE[] = {
    /*                                               unspec psychiatrist therapist peer_worker peer_supervisor compliance admin */
    /* The connection preamble and keep-alive: every authenticated member. */
    {CARETEAM__V1__ENVELOPE__BODY_HELLO,              {0, ANY, ANY, ANY, ANY, ANY, ANY}},
    {CARETEAM__V1__ENVELOPE__BODY_PING,               {0, ANY, ANY, ANY, ANY, ANY, ANY}},
    /* Clinical messaging: care-team members only. A message about a participant needs the
     * sender on that participant's team (handle_send_message.c asks only then). Compliance reads
     * metadata, never content; admin acts locally on the server host (DESIGN.md section 2). */
    {CARETEAM__V1__ENVELOPE__BODY_SEND_MESSAGE,       {0, TEAM, TEAM, TEAM, TEAM, 0, 0}},
    {CARETEAM__V1__ENVELOPE__BODY_DELIVERY_ACK,       {0, ANY, ANY, ANY, ANY, 0, 0}},
    /* Consent and lockbox: clinicians on the team record them; the team may read consents. */
    {CARETEAM__V1__ENVELOPE__BODY_RECORD_CONSENT,     {0, TEAM, TEAM, 0, 0, 0, 0}},
    {CARETEAM__V1__ENVELOPE__BODY_WITHDRAW_CONSENT,   {0, TEAM, TEAM, 0, 0, 0, 0}},
    {CARETEAM__V1__ENVELOPE__BODY_LIST_CONSENTS,      {0, TEAM, TEAM, TEAM, TEAM, 0, 0}},
    {CARETEAM__V1__ENVELOPE__BODY_RECORD_RESTRICTION, {0, TEAM, TEAM, 0, 0, 0, 0}},
    {CARETEAM__V1__ENVELOPE__BODY_LIFT_RESTRICTION,   {0, TEAM, TEAM, 0, 0, 0, 0}},
    /* Referrals: clinicians on the team create them; each move's actor is named by the
     * transition table (referral.c): the referrer, the addressee, the assignee, or the
     * assignee's supervisor. */
    {CARETEAM__V1__ENVELOPE__BODY_CREATE_REFERRAL,    {0, TEAM, TEAM, 0, 0, 0, 0}},
    {CARETEAM__V1__ENVELOPE__BODY_UPDATE_REFERRAL,    {0, CT_REL_REFERRER, CT_REL_REFERRER,
                                                       CT_REL_ADDRESSEE | CT_REL_ASSIGNEE,
                                                       CT_REL_SUPERVISOR, 0, 0}},
    {CARETEAM__V1__ENVELOPE__BODY_LIST_REFERRALS,     {0, TEAM | CT_REL_REFERRER, TEAM | CT_REL_REFERRER,
                                                       TEAM | CT_REL_ADDRESSEE | CT_REL_ASSIGNEE,
                                                       TEAM | CT_REL_SUPERVISOR, 0, 0}},
    /* Summaries: written by the assignee; read by the team and the author's supervisor. */
    {CARETEAM__V1__ENVELOPE__BODY_POST_SUMMARY,       {0, 0, 0, CT_REL_ASSIGNEE, 0, 0, 0}},
    {CARETEAM__V1__ENVELOPE__BODY_LIST_SUMMARIES,     {0, TEAM, TEAM, TEAM, TEAM | CT_REL_SUPERVISOR, 0, 0}},
    /* Safety: anyone on the team raises a concern; only a clinician on the team acknowledges. */
    {CARETEAM__V1__ENVELOPE__BODY_RAISE_CONCERN,      {0, TEAM, TEAM, TEAM, TEAM, 0, 0}},
    {CARETEAM__V1__ENVELOPE__BODY_ACKNOWLEDGE_ALERT,  {0, TEAM, TEAM, 0, 0, 0, 0}},
    {CARETEAM__V1__ENVELOPE__BODY_LIST_ALERTS,        {0, TEAM, TEAM, TEAM, TEAM, 0, 0}},
    /* The audit log: compliance reads it whole (metadata only, never content); no one else. */
    {CARETEAM__V1__ENVELOPE__BODY_AUDIT_QUERY,        {0, 0, 0, 0, 0, ANY, 0}},
};
/* clang-format on */

unsigned ct_authz_grant(Careteam__V1__Envelope__BodyCase request, ct_role_t role)
{
    if ((int)role < 0 || (int)role >= CT_ROLE_COUNT)
        return 0;
    for (size_t i = 0; i < sizeof TABLE / sizeof TABLE[0]; i++) {
        if (TABLE[i].request == request)
            return TABLE[i].grant[role];
    }
    return 0;
}

bool ct_authz_request(Careteam__V1__Envelope__BodyCase request, ct_role_t role)
{
    return ct_authz_grant(request, role) != 0;
}

bool ct_authz_allowed(Careteam__V1__Envelope__BodyCase request, ct_role_t role, unsigned rel)
{
    unsigned grant = ct_authz_grant(request, role);
    if (grant == 0 || (rel & CT_REL_LOCKBOXED))
        return false;
    return (grant & CT_REL_NONE) || (grant & rel) != 0;
}

bool ct_authz_may_receive_messages(ct_role_t role)
{
    return ct_authz_request(CARETEAM__V1__ENVELOPE__BODY_DELIVERY_ACK, role);
}

bool ct_authz_is_clinician(ct_role_t role)
{
    return role == CT_ROLE_PSYCHIATRIST || role == CT_ROLE_THERAPIST;
}
