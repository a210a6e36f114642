/* Building audit records (see audit.h). */
#include "audit.h"

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "text.h"

void ct_audit_rec_init(ct_audit_rec_t *r, const ct_session_t *s, const char *action)
{
    memset(r, 0, sizeof *r);
    r->time_ms = ct_now_ms();
    if (s != NULL) {
        ct_text_copy(r->actor_id, sizeof r->actor_id, s->member_id);
        r->actor_role = s->role;
        ct_text_copy(r->cert_fp, sizeof r->cert_fp, s->cert_fp);
        ct_text_copy(r->peer_addr, sizeof r->peer_addr, s->peer_addr);
    }
    ct_text_copy(r->action, sizeof r->action, action);
    r->outcome = CT_AUDIT_SUCCESS;
}

void ct_audit_rec_object(ct_audit_rec_t *r, const char *type, const char *id)
{
    if (type != NULL)
        ct_text_copy(r->object_type, sizeof r->object_type, type);
    if (id != NULL)
        ct_text_copy(r->object_id, sizeof r->object_id, id);
}

void ct_audit_rec_fail(ct_audit_rec_t *r, int err, const char *extra)
{
    r->outcome = (err == CT_EINTERNAL || err == CT_EIO || err == CT_ENOMEM)
                     ? CT_AUDIT_SERIOUS_FAILURE
                     : CT_AUDIT_MINOR_FAILURE;
    snprintf(r->detail, sizeof r->detail, "code=%s%s%s", ct_wire_code_name(ct_err_to_wire(err)),
             extra != NULL ? " " : "", extra != NULL ? extra : "");
}

void ct_audit_rec_view(const ct_audit_rec_t *r, ct_audit_t *out)
{
    out->time_ms = r->time_ms;
    out->actor_id = r->actor_id;
    out->actor_role = r->actor_role;
    out->cert_fp = r->cert_fp;
    out->peer_addr = r->peer_addr;
    out->action = r->action;
    out->object_type = r->object_type;
    out->object_id = r->object_id;
    out->participant_id = r->participant_id;
    out->outcome = r->outcome;
    out->detail = r->detail;
}

int64_t ct_audit_rec_append(ct_store_t *st, const ct_audit_rec_t *r)
{
    ct_audit_t a;
    ct_audit_rec_view(r, &a);
    return ct_store_audit_append(st, &a);
}
