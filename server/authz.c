/*
 * The authorization table (see authz.h). Rows: request types a client may send. Columns: roles,
 * in ct_role_t order. A request type missing here is refused for every role.
 */
#include "authz.h"

#include <stddef.h>

/* Roles, by column:        unspec psych  ther   peer   sup    compl  admin */
typedef struct authz_row {
    Careteam__V1__Envelope__BodyCase request;
    bool allow[CT_ROLE_COUNT];
} authz_row_t;

static const authz_row_t TABLE[] = {
    /* The connection preamble and keep-alive: every authenticated member. */
    {CARETEAM__V1__ENVELOPE__BODY_HELLO, {false, true, true, true, true, true, true}},
    {CARETEAM__V1__ENVELOPE__BODY_PING, {false, true, true, true, true, true, true}},
    /* Clinical messaging: care-team members only. Compliance reads metadata, never content;
     * admin acts locally on the server host, not over the network (DESIGN.md section 2). */
    {CARETEAM__V1__ENVELOPE__BODY_SEND_MESSAGE, {false, true, true, true, true, false, false}},
    {CARETEAM__V1__ENVELOPE__BODY_DELIVERY_ACK, {false, true, true, true, true, false, false}},
};

bool ct_authz_request(Careteam__V1__Envelope__BodyCase request, ct_role_t role)
{
    if ((int)role < 0 || (int)role >= CT_ROLE_COUNT)
        return false;
    for (size_t i = 0; i < sizeof TABLE / sizeof TABLE[0]; i++) {
        if (TABLE[i].request == request)
            return TABLE[i].allow[role];
    }
    return false;
}

bool ct_authz_may_receive_messages(ct_role_t role)
{
    return ct_authz_request(CARETEAM__V1__ENVELOPE__BODY_DELIVERY_ACK, role);
}
