/*
 * Authorization: one table, request type x role -> allowed. The server decides; the client's
 * opinion is never consulted. Relations to a participant (care team, lockbox, referral roles)
 * join this table with the care-team workflow.
 */
#ifndef CT_AUTHZ_H
#define CT_AUTHZ_H

#include <stdbool.h>

#include "careteam.pb-c.h"
#include "role.h"

/* May a member with `role` make this request? */
bool ct_authz_request(Careteam__V1__Envelope__BodyCase request, ct_role_t role);

/* May a member with `role` receive clinical messages? (Compliance and admin may not.) */
bool ct_authz_may_receive_messages(ct_role_t role);

#endif
