/*
 * Audit records as the daemon builds them before they reach the store.
 *
 * A ct_audit_rec_t owns copies of its strings (fixed-size fields, truncated if longer), so a
 * record can wait in a writer job after the request that caused it is freed. Action codes are
 * stable strings "<object>.<verb>" listed in docs/protocol.md (and docs/compliance.md later).
 * Records never hold message bodies, subjects or participant labels.
 */
#ifndef CT_AUDIT_H
#define CT_AUDIT_H

#include "session.h"
#include "store.h"

typedef struct ct_audit_rec {
    int64_t time_ms;
    char actor_id[CT_ID_MAX + 1];
    ct_role_t actor_role;
    char cert_fp[65]; /* the session's certificate SHA-256 in hex; "" if none (see init) */
    char peer_addr[64];
    char action[48];
    char object_type[24];
    char object_id[CT_ID_MAX + 1];
    char participant_id[CT_ID_MAX + 1];
    ct_audit_outcome_t outcome;
    char detail[256];
} ct_audit_rec_t;

/* Starts a record for an action by the session's member (or by an unauthenticated peer, when
 * s->member_id is still empty): actor id, role, certificate fingerprint and peer address from s
 * (all empty when s is NULL, as for the daemon's own records). Time is now. */
void ct_audit_rec_init(ct_audit_rec_t *r, const ct_session_t *s, const char *action);

/* Sets the object; either may be NULL. */
void ct_audit_rec_object(ct_audit_rec_t *r, const char *type, const char *id);

/* Marks the record failed: outcome from the error (CT_EINTERNAL / CT_EIO serious, others minor),
 * and detail "code=<WIRE CODE>" followed by `extra` if not NULL. */
void ct_audit_rec_fail(ct_audit_rec_t *r, int err, const char *extra);

/* Views the record as the store's ct_audit_t (pointers into r). */
void ct_audit_rec_view(const ct_audit_rec_t *r, ct_audit_t *out);

/* Appends r to the audit log in st's open transaction (writer thread). Returns the new row's seq
 * (> 0) or a negative CT_E*. */
int64_t ct_audit_rec_append(ct_store_t *st, const ct_audit_rec_t *r);

#endif
