/* Member roles, numbered as the wire enum careteam.v1.Role, with their canonical names. */
#ifndef CT_ROLE_H
#define CT_ROLE_H

typedef enum ct_role {
    CT_ROLE_UNSPECIFIED = 0,
    CT_ROLE_PSYCHIATRIST = 1,
    CT_ROLE_THERAPIST = 2,
    CT_ROLE_PEER_WORKER = 3,
    CT_ROLE_PEER_SUPERVISOR = 4,
    CT_ROLE_COMPLIANCE = 5,
    CT_ROLE_ADMIN = 6,
} ct_role_t;

#define CT_ROLE_COUNT 7

/* "psychiatrist", "therapist", "peer_worker", "peer_supervisor", "compliance", "admin";
 * NULL for CT_ROLE_UNSPECIFIED or an unknown value. */
const char *ct_role_name(ct_role_t role);

/* Parses one of the names above. Returns 0 or CT_EINVAL. */
int ct_role_parse(const char *name, ct_role_t *out);

#endif
