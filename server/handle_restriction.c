/*
 * Lockbox: RecordRestriction and LiftRestriction (clinicians on the team) -> Ok. A restricted
 * member is refused everything about the participant from then on: new messages withhold them
 * (handle_send_message.c), events skip them (workflow.c), and the inbox replay skips what was
 * already queued for them (store.h, ct_store_inbox_page).
 */
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "err.h"
#include "workflow.h"
#include "text.h"

static int reply_ok(ct_wf_t *w)
{
    Careteam__V1__Ok ok = CARETEAM__V1__OK__INIT;
    return ct_wf_reply_body(w, CARETEAM__V1__ENVELOPE__BODY_OK, &ok);
}

static int run_record(ct_wf_t *w, ct_store_t *st, int64_t now_ms)
{
    const Careteam__V1__RecordRestriction *m = w->req->record_restriction;
    int err = ct_wf_authorize(w, st, m->participant_id, 0, NULL);
    if (err != 0)
        return err;
    if (strcmp(m->member_id, w->actor_id) == 0)
        return ct_wf_refuse(w, CT_EINVAL,
                            "you cannot restrict yourself; ask another clinician on the team");
    ct_restriction_t r;
    memset(&r, 0, sizeof r);
    ct_text_copy(r.participant_id, sizeof r.participant_id, m->participant_id);
    ct_text_copy(r.member_id, sizeof r.member_id, m->member_id);
    ct_text_copy(r.reason, sizeof r.reason, m->reason);
    ct_text_copy(r.recorded_by, sizeof r.recorded_by, w->actor_id);
    r.recorded_at_ms = now_ms;
    err = ct_store_restriction_add(st, &r);
    if (err == CT_ENOTFOUND)
        return ct_wf_refuse(w, err, "member %s does not exist", m->member_id);
    if (err < 0)
        return err;
    snprintf(w->job.audit.detail, sizeof w->job.audit.detail, "already=%d", err == 1);
    return reply_ok(w);
}

static int run_lift(ct_wf_t *w, ct_store_t *st, int64_t now_ms)
{
    (void)now_ms;
    const Careteam__V1__LiftRestriction *m = w->req->lift_restriction;
    int err = ct_wf_authorize(w, st, m->participant_id, 0, NULL);
    if (err != 0)
        return err;
    err = ct_store_restriction_remove(st, m->participant_id, m->member_id);
    if (err == CT_ENOTFOUND)
        return ct_wf_refuse(w, err, "member %s is not restricted by participant %s", m->member_id,
                            m->participant_id);
    if (err != 0)
        return err;
    return reply_ok(w);
}

static int start(ct_request_t *req, const char *participant_id, const char *member_id,
                 const char *reason, ct_wf_run_fn run)
{
    if (!ct_id_valid(participant_id) || !ct_id_valid(member_id)) {
        snprintf(req->why, sizeof req->why,
                 "participant_id and member_id must be 1-64 characters of A-Z a-z 0-9 . _ -");
        return CT_EINVAL;
    }
    if (reason != NULL && strlen(reason) > CT_NOTE_MAX) {
        snprintf(req->why, sizeof req->why, "reason is over %d bytes", CT_NOTE_MAX);
        return CT_ETOOBIG;
    }
    ct_wf_t *w = ct_wf_new(req, run, participant_id);
    if (w == NULL)
        return CT_ENOMEM;
    ct_audit_rec_object(&w->job.audit, "member", member_id);
    ct_wf_write(w);
    return 0;
}

int ct_handle_record_restriction(ct_request_t *req)
{
    const Careteam__V1__RecordRestriction *m = req->env->record_restriction;
    return start(req, m->participant_id, m->member_id, m->reason, run_record);
}

int ct_handle_lift_restriction(ct_request_t *req)
{
    const Careteam__V1__LiftRestriction *m = req->env->lift_restriction;
    return start(req, m->participant_id, m->member_id, NULL, run_lift);
}
