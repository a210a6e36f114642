/*
 * Authorization: one table, request type x role x relation to the participant -> allowed. The
 * server decides; the client's opinion is never consulted.
 *
 * Each cell of the table is a set of relations that grant the request to that role:
 *  - 0: the role may never make the request;
 *  - CT_REL_NONE: the role may make it whatever its relation (the connection preamble, messages
 *    about no participant, delivery acks);
 *  - otherwise: the member needs at least one of the relations in the set.
 * A member the participant has restricted (CT_REL_LOCKBOXED) is refused every request about that
 * participant, whatever else the cell says. Referral moves are checked once more against the
 * transition table (referral.h), which names the one relation each move needs.
 */
#ifndef CT_AUTHZ_H
#define CT_AUTHZ_H

#include <stdbool.h>

#include "careteam.pb-c.h"
#include "role.h"

/*
 * A member's relations to the participant (and, for referrals and summaries, to the object):
 *   ON_TEAM     on the participant's care team
 *   LOCKBOXED   restricted by the participant: refused everything about them
 *   REFERRER    created the referral
 *   ASSIGNEE    the peer worker who accepted the referral
 *   ADDRESSEE   the referral's named addressee, or any peer worker for a queue referral
 *   SUPERVISOR  supervises the referral's assignee (or addressee) or the summary's author
 *   NONE        table cells only: no relation needed
 */
#define CT_REL_ON_TEAM 0x01u
#define CT_REL_LOCKBOXED 0x02u
#define CT_REL_REFERRER 0x04u
#define CT_REL_ASSIGNEE 0x08u
#define CT_REL_ADDRESSEE 0x10u
#define CT_REL_SUPERVISOR 0x20u
#define CT_REL_NONE 0x80u

/* May a member with `role` make this request at all (some relation may still be needed)? */
bool ct_authz_request(Careteam__V1__Envelope__BodyCase request, ct_role_t role);

/* The table cell: the relations that grant the request to the role (see above). */
unsigned ct_authz_grant(Careteam__V1__Envelope__BodyCase request, ct_role_t role);

/* May a member with `role` and relations `rel` make this request about a participant? */
bool ct_authz_allowed(Careteam__V1__Envelope__BodyCase request, ct_role_t role, unsigned rel);

/* May a member with `role` receive clinical messages? (Compliance and admin may not.) */
bool ct_authz_may_receive_messages(ct_role_t role);

/* Is the role a clinician (psychiatrist or therapist)? */
bool ct_authz_is_clinician(ct_role_t role);

#endif
