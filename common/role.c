/*
 * Role names (see role.h). The table is indexed by the wire value, so it must list the roles in
 * the order of careteam.v1.Role; index 0 (UNSPECIFIED) has no name on purpose: it is never a
 * role a member can hold.
 */
#include "role.h"

#include <stddef.h>
#include <string.h>

#include "err.h"

static const char *const role_names[CT_ROLE_COUNT] = {
    [CT_ROLE_UNSPECIFIED] = NULL,
    [CT_ROLE_PSYCHIATRIST] = "psychiatrist",
    [CT_ROLE_THERAPIST] = "therapist",
    [CT_ROLE_PEER_WORKER] = "peer_worker",
    [CT_ROLE_PEER_SUPERVISOR] = "peer_supervisor",
    [CT_ROLE_COMPLIANCE] = "compliance",
    [CT_ROLE_ADMIN] = "admin",
};

const char *ct_role_name(ct_role_t role)
{
    /* Compare as unsigned: the value may come from the wire and be anything. */
    if ((unsigned)role >= CT_ROLE_COUNT)
        return NULL;
    return role_names[role];
}

int ct_role_parse(const char *name, ct_role_t *out)
{
    if (name == NULL)
        return CT_EINVAL;
    for (int i = 0; i < CT_ROLE_COUNT; i++) {
        if (role_names[i] != NULL && strcmp(name, role_names[i]) == 0) {
            *out = (ct_role_t)i;
            return 0;
        }
    }
    return CT_EINVAL;
}
