/*
 * The referral transition table (see referral.h).
 */
#include "referral.h"

#include <stdio.h>
#include <string.h>

#include "authz.h"
#include "careteam.pb-c.h"
#include "err.h"
#include "workflow.h"
#include "workflow_pb.h"

#define S(x) (1u << CT_REFERRAL_##x)

/* clang-format off */
static const ct_referral_move_t MOVES[] = {
    /* action                                            name        from                                              to                        who               reason */
    {CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_ACCEPT,   "accept",   S(REQUESTED),                                     CT_REFERRAL_ACCEPTED,     CT_REL_ADDRESSEE, false},
    {CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_REJECT,   "reject",   S(REQUESTED),                                     CT_REFERRAL_REJECTED,     CT_REL_ADDRESSEE, true},
    {CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_START,    "start",    S(ACCEPTED),                                      CT_REFERRAL_IN_PROGRESS,  CT_REL_ASSIGNEE,  false},
    {CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_HOLD,     "hold",     S(ACCEPTED) | S(IN_PROGRESS),                     CT_REFERRAL_ON_HOLD,      CT_REL_ASSIGNEE,  false},
    {CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_RESUME,   "resume",   S(ON_HOLD),                                       CT_REFERRAL_TO_HELD_FROM, CT_REL_ASSIGNEE,  false},
    {CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_COMPLETE, "complete", S(IN_PROGRESS),                                   CT_REFERRAL_COMPLETED,    CT_REL_ASSIGNEE,  false},
    {CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_CANCEL,   "cancel",   S(REQUESTED) | S(ACCEPTED) | S(IN_PROGRESS) | S(ON_HOLD), CT_REFERRAL_CANCELLED, CT_REL_REFERRER, true},
    {CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_REASSIGN, "reassign", S(ACCEPTED) | S(IN_PROGRESS) | S(ON_HOLD),        CT_REFERRAL_TO_SAME,      CT_REL_SUPERVISOR, false},
};
/* clang-format on */

const ct_referral_move_t *ct_referral_move(int action)
{
    for (size_t i = 0; i < sizeof MOVES / sizeof MOVES[0]; i++) {
        if (MOVES[i].action == action)
            return &MOVES[i];
    }
    return NULL;
}

const ct_referral_move_t *ct_referral_moves(size_t *n)
{
    *n = sizeof MOVES / sizeof MOVES[0];
    return MOVES;
}

void ct_referral_describe_from(unsigned from, char *out, size_t len)
{
    size_t used = 0, left = 0;
    out[0] = '\0';
    for (int st = CT_REFERRAL_REQUESTED; st <= CT_REFERRAL_CANCELLED; st++)
        left += (from >> st) & 1u;
    for (int st = CT_REFERRAL_REQUESTED; st <= CT_REFERRAL_CANCELLED && used < len; st++) {
        if (!((from >> st) & 1u))
            continue;
        left--;
        const char *sep = used == 0 ? "" : left == 0 ? " or " : ", ";
        int n = snprintf(out + used, len - used, "%s%s", sep, ct_referral_status_name(st));
        used += n > 0 ? (size_t)n : 0;
    }
}

/* Whether member_id supervises peer. */
static int supervises(ct_store_t *st, const char *member_id, const char *peer, bool *yes)
{
    *yes = false;
    if (peer[0] == '\0')
        return 0;
    ct_member_t m;
    int err = ct_store_member_get(st, peer, &m);
    if (err == CT_ENOTFOUND)
        return 0;
    if (err != 0)
        return err;
    *yes = m.supervisor_id[0] != '\0' && strcmp(m.supervisor_id, member_id) == 0;
    return 0;
}

int ct_referral_relations(ct_store_t *st, const ct_referral_t *r, const char *member_id,
                          ct_role_t role, unsigned *rel)
{
    unsigned out = 0;
    int err = ct_wf_relation(st, r->participant_id, member_id, &out);
    if (err != 0)
        return err;
    if (strcmp(r->referrer_id, member_id) == 0)
        out |= CT_REL_REFERRER;
    if (strcmp(r->addressee_id, member_id) == 0 ||
        (r->addressee_id[0] == '\0' && role == CT_ROLE_PEER_WORKER))
        out |= CT_REL_ADDRESSEE;
    /* Accepting joins the care team; an assignee taken off it since (`careteamd team remove`)
     * keeps no rights over the participant's referral. */
    if (r->assignee_id[0] != '\0' && strcmp(r->assignee_id, member_id) == 0 &&
        (out & CT_REL_ON_TEAM) != 0)
        out |= CT_REL_ASSIGNEE;
    if (role == CT_ROLE_PEER_SUPERVISOR) {
        bool yes = false;
        err = supervises(st, member_id, r->assignee_id[0] ? r->assignee_id : r->addressee_id, &yes);
        if (err != 0)
            return err;
        if (yes)
            out |= CT_REL_SUPERVISOR;
    }
    *rel = out;
    return 0;
}

typedef struct any_relation {
    ct_store_t *st;
    const char *member_id;
    ct_role_t role;
    unsigned rel;
    int err;
} any_relation_t;

static int add_relations(const ct_referral_t *r, void *arg)
{
    any_relation_t *a = arg;
    unsigned rel = 0;
    a->err = ct_referral_relations(a->st, r, a->member_id, a->role, &rel);
    if (a->err != 0)
        return 1;
    a->rel |= rel & (CT_REL_REFERRER | CT_REL_ADDRESSEE | CT_REL_ASSIGNEE | CT_REL_SUPERVISOR);
    return 0;
}

int ct_referral_participant_relations(ct_store_t *st, const char *participant_id,
                                      const char *member_id, ct_role_t role, unsigned *rel)
{
    any_relation_t a = {.st = st, .member_id = member_id, .role = role};
    ct_referral_filter_t f = {.participant_id = participant_id};
    int err = ct_store_referral_list(st, &f, add_relations, &a);
    *rel = a.rel;
    return err < 0 ? err : a.err;
}
