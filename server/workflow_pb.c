/*
 * Stored <-> wire forms of workflow objects (see workflow_pb.h).
 */
#include "workflow_pb.h"

#include <stdlib.h>

#include "err.h"
#include "workflow.h"

void ct_pb_scratch_free(ct_pb_scratch_t *sc)
{
    free(sc->buf);
    free(sc->v);
    sc->buf = NULL;
    sc->v = NULL;
}

void ct_pb_consent(const ct_consent_t *c, Careteam__V1__Consent *out)
{
    careteam__v1__consent__init(out);
    out->consent_id = (char *)c->consent_id;
    out->participant_id = (char *)c->participant_id;
    out->scope = (Careteam__V1__ConsentScope)c->scope;
    out->method = (Careteam__V1__ConsentMethod)c->method;
    out->note = (char *)c->note;
    out->recorded_by = (char *)c->recorded_by;
    out->recorded_at_ms = c->recorded_at_ms;
    out->active = c->withdrawn_at_ms == 0;
    out->withdrawn_by = (char *)c->withdrawn_by;
    out->withdrawn_at_ms = c->withdrawn_at_ms;
    out->withdraw_reason = (char *)c->withdraw_reason;
}

int ct_pb_referral(const ct_referral_t *r, Careteam__V1__Referral *out, ct_pb_scratch_t *sc)
{
    careteam__v1__referral__init(out);
    out->referral_id = (char *)r->referral_id;
    out->participant_id = (char *)r->participant_id;
    out->referrer_id = (char *)r->referrer_id;
    out->addressee_id = (char *)r->addressee_id;
    out->assignee_id = (char *)r->assignee_id;
    out->status = (Careteam__V1__ReferralStatus)r->status;
    out->reason = (char *)r->reason;
    out->priority = (Careteam__V1__Priority)r->priority;
    out->status_reason = (char *)r->status_reason;
    out->created_at_ms = r->created_at_ms;
    out->updated_at_ms = r->updated_at_ms;
    out->held_from = (Careteam__V1__ReferralStatus)r->held_from;
    if (ct_wf_split_lines(r->goals, &sc->buf, &out->goals, &out->n_goals) != 0)
        return CT_ENOMEM;
    sc->v = out->goals;
    return 0;
}

int ct_pb_summary(const ct_summary_t *s, Careteam__V1__Summary *out, ct_pb_scratch_t *sc)
{
    careteam__v1__summary__init(out);
    out->summary_id = (char *)s->summary_id;
    out->referral_id = (char *)s->referral_id;
    out->participant_id = (char *)s->participant_id;
    out->author_id = (char *)s->author_id;
    out->session_date = (char *)s->session_date;
    out->duration_minutes = s->duration_minutes;
    out->format = (Careteam__V1__SessionFormat)s->format;
    out->goals_progress = (char *)s->goals_progress;
    out->next_steps = (char *)s->next_steps;
    out->participant_reviewed = s->participant_reviewed;
    out->risk = (Careteam__V1__Risk)s->risk;
    out->text = s->text != NULL ? s->text : "";
    out->amends_summary_id = (char *)s->amends_summary_id;
    out->created_at_ms = s->created_at_ms;
    out->alert_id = (char *)s->alert_id;
    if (ct_wf_split_lines(s->themes, &sc->buf, &out->themes, &out->n_themes) != 0)
        return CT_ENOMEM;
    sc->v = out->themes;
    return 0;
}

void ct_pb_alert(const ct_alert_t *a, Careteam__V1__Alert *out)
{
    careteam__v1__alert__init(out);
    out->alert_id = (char *)a->alert_id;
    out->participant_id = (char *)a->participant_id;
    out->raised_by = (char *)a->raised_by;
    out->source = (Careteam__V1__AlertSource)a->source;
    out->summary_id = (char *)a->summary_id;
    out->risk = (Careteam__V1__Risk)a->risk;
    out->text = (char *)a->text;
    out->status = (Careteam__V1__AlertStatus)a->status;
    out->escalations = a->escalations;
    out->deadline_ms = a->deadline_ms;
    out->created_at_ms = a->created_at_ms;
    out->acknowledged_by = (char *)a->acknowledged_by;
    out->acknowledged_at_ms = a->acknowledged_at_ms;
    out->note = (char *)a->note;
    out->referral_id = (char *)a->referral_id;
}

const char *ct_referral_status_name(int status)
{
    static const char *const names[] = {"unspecified", "requested", "accepted",  "rejected",
                                        "in-progress", "on-hold",   "completed", "cancelled"};
    return status >= 0 && status < (int)(sizeof names / sizeof names[0]) ? names[status]
                                                                         : "unknown";
}
