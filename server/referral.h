/*
 * The referral lifecycle: one transition table (FHIR Task.status codes), naming for every move
 * the statuses it may start from, where it goes, and the one relation to the referral that the
 * member making it needs. handle_referral.c applies it; docs/workflow.md shows it to people.
 */
#ifndef CT_REFERRAL_H
#define CT_REFERRAL_H

#include <stdbool.h>

#include "store.h"

#define CT_REFERRAL_TO_HELD_FROM 0 /* RESUME: back to the status it was held from */
#define CT_REFERRAL_TO_SAME (-1)   /* REASSIGN: the status does not change */

typedef struct ct_referral_move {
    int action;        /* wire ReferralAction */
    const char *name;  /* "accept"; the audit action is "referral.<name>" */
    unsigned from;     /* statuses it may start from: bit (1u << status) each */
    int to;            /* the status after, or one of the CT_REFERRAL_TO_* above */
    unsigned who;      /* the CT_REL_* relation the mover needs */
    bool needs_reason; /* a reason must be given (REJECT, CANCEL) */
} ct_referral_move_t;

/* The move for a wire ReferralAction, or NULL if there is none. */
const ct_referral_move_t *ct_referral_move(int action);

/* Every move, for tests and docs: *n gets the count. */
const ct_referral_move_t *ct_referral_moves(size_t *n);

/* "requested, accepted or in-progress": the statuses of a `from` mask, for messages. */
void ct_referral_describe_from(unsigned from, char *out, size_t len);

/*
 * The relations of member_id (with role) to a referral: CT_REL_REFERRER, CT_REL_ADDRESSEE (the
 * named addressee; any peer worker for a queue referral), CT_REL_ASSIGNEE, CT_REL_SUPERVISOR
 * (supervises the assignee, or the addressee before acceptance), plus CT_REL_ON_TEAM and
 * CT_REL_LOCKBOXED for the referral's participant. Returns 0 or CT_E*.
 */
int ct_referral_relations(ct_store_t *st, const ct_referral_t *r, const char *member_id,
                          ct_role_t role, unsigned *rel);

/*
 * The referral relations (REFERRER, ADDRESSEE, ASSIGNEE, SUPERVISOR) member_id has to any referral
 * of participant_id, or-ed together: what lets a member who is not on the care team list that
 * participant's referrals or summaries. Returns 0 or CT_E*.
 */
int ct_referral_participant_relations(ct_store_t *st, const char *participant_id,
                                      const char *member_id, ct_role_t role, unsigned *rel);

#endif
