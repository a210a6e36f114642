/*
 * Consent: RecordConsent and WithdrawConsent (clinicians on the team) -> Consent; ListConsents
 * (the team) -> ConsentList. A referral to peer support needs an active PEER_SUPPORT consent
 * (handle_referral.c); withdrawn consents are kept with who withdrew them, when and why.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "err.h"
#include "workflow.h"
#include "workflow_pb.h"
#include "text.h"

#define CONSENT_LIST_MAX 200

static int reply_consent(ct_wf_t *w, const ct_consent_t *c)
{
    Careteam__V1__Consent pb;
    ct_pb_consent(c, &pb);
    return ct_wf_reply_body(w, CARETEAM__V1__ENVELOPE__BODY_CONSENT, &pb);
}

static int run_record(ct_wf_t *w, ct_store_t *st, int64_t now_ms)
{
    const Careteam__V1__RecordConsent *m = w->req->record_consent;
    int err = ct_wf_authorize(w, st, m->participant_id, 0, NULL);
    if (err != 0)
        return err;
    ct_consent_t c;
    memset(&c, 0, sizeof c);
    err = ct_uuid7_next(w->ids, (uint64_t)now_ms, c.consent_id);
    if (err != 0)
        return err;
    ct_text_copy(c.participant_id, sizeof c.participant_id, m->participant_id);
    c.scope = (int)m->scope;
    c.method = (int)m->method;
    ct_text_copy(c.note, sizeof c.note, m->note);
    ct_text_copy(c.recorded_by, sizeof c.recorded_by, w->actor_id);
    c.recorded_at_ms = now_ms;
    err = ct_store_consent_add(st, &c);
    if (err != 0)
        return err;
    ct_audit_rec_object(&w->job.audit, "consent", c.consent_id);
    snprintf(w->job.audit.detail, sizeof w->job.audit.detail, "scope=%d method=%d", c.scope,
             c.method);
    return reply_consent(w, &c);
}

static int check_note(ct_request_t *req, const char *field, const char *s)
{
    if (strlen(s) > CT_NOTE_MAX) {
        snprintf(req->why, sizeof req->why, "%s is %zu bytes; the limit is %d", field, strlen(s),
                 CT_NOTE_MAX);
        return CT_ETOOBIG;
    }
    return 0;
}

int ct_handle_record_consent(ct_request_t *req)
{
    const Careteam__V1__RecordConsent *m = req->env->record_consent;
    int bad = ct_wf_check_participant_id(req, m->participant_id, false);
    if (bad != 0)
        return bad;
    if (m->scope != CARETEAM__V1__CONSENT_SCOPE__CONSENT_SCOPE_PEER_SUPPORT &&
        m->scope != CARETEAM__V1__CONSENT_SCOPE__CONSENT_SCOPE_INFORMATION_SHARING) {
        snprintf(req->why, sizeof req->why,
                 "scope must be PEER_SUPPORT or INFORMATION_SHARING (got %d)", (int)m->scope);
        return CT_EINVAL;
    }
    if (m->method != CARETEAM__V1__CONSENT_METHOD__CONSENT_METHOD_VERBAL &&
        m->method != CARETEAM__V1__CONSENT_METHOD__CONSENT_METHOD_WRITTEN) {
        snprintf(req->why, sizeof req->why, "method must be VERBAL or WRITTEN (got %d)",
                 (int)m->method);
        return CT_EINVAL;
    }
    int r = check_note(req, "note", m->note);
    if (r != 0)
        return r;
    ct_wf_t *w = ct_wf_new(req, run_record, m->participant_id);
    if (w == NULL)
        return CT_ENOMEM;
    ct_wf_write(w);
    return 0;
}

static int run_withdraw(ct_wf_t *w, ct_store_t *st, int64_t now_ms)
{
    const Careteam__V1__WithdrawConsent *m = w->req->withdraw_consent;
    ct_consent_t c;
    int err = ct_store_consent_get(st, m->consent_id, &c);
    if (err == CT_ENOTFOUND)
        return ct_wf_refuse(w, err, "consent %s does not exist", m->consent_id);
    if (err != 0)
        return err;
    ct_wf_set_participant(w, c.participant_id);
    err = ct_wf_authorize(w, st, c.participant_id, 0, NULL);
    if (err != 0)
        return err;
    err = ct_store_consent_withdraw(st, m->consent_id, w->actor_id, m->reason, now_ms);
    if (err == CT_ECONFLICT)
        return ct_wf_refuse(w, err, "consent %s was already withdrawn by %s", m->consent_id,
                            c.withdrawn_by);
    if (err != 0)
        return err;
    err = ct_store_consent_get(st, m->consent_id, &c);
    if (err != 0)
        return err;
    return reply_consent(w, &c);
}

int ct_handle_withdraw_consent(ct_request_t *req)
{
    const Careteam__V1__WithdrawConsent *m = req->env->withdraw_consent;
    if (!ct_uuid_valid(m->consent_id)) {
        snprintf(req->why, sizeof req->why, "consent_id is not a consent id (a UUID)");
        return CT_EINVAL;
    }
    int r = check_note(req, "reason", m->reason);
    if (r != 0)
        return r;
    ct_wf_t *w = ct_wf_new(req, run_withdraw, NULL);
    if (w == NULL)
        return CT_ENOMEM;
    ct_audit_rec_object(&w->job.audit, "consent", m->consent_id);
    ct_wf_write(w);
    return 0;
}

typedef struct consent_list {
    ct_consent_t *items;
    size_t n;
} consent_list_t;

static int collect_consent(const ct_consent_t *c, void *arg)
{
    consent_list_t *l = arg;
    if (l->n == CONSENT_LIST_MAX)
        return 1;
    l->items[l->n++] = *c;
    return 0;
}

static int run_list(ct_wf_t *w, ct_store_t *st, int64_t now_ms)
{
    (void)now_ms;
    const Careteam__V1__ListConsents *m = w->req->list_consents;
    int err = ct_wf_authorize(w, st, m->participant_id, 0, NULL);
    if (err != 0)
        return err;
    consent_list_t l = {.items = calloc(CONSENT_LIST_MAX, sizeof(ct_consent_t))};
    Careteam__V1__Consent *pb = calloc(CONSENT_LIST_MAX, sizeof *pb);
    Careteam__V1__Consent **pv = calloc(CONSENT_LIST_MAX, sizeof *pv);
    if (l.items == NULL || pb == NULL || pv == NULL)
        err = CT_ENOMEM;
    if (err == 0) {
        err = ct_store_consent_list(st, m->participant_id, collect_consent, &l);
        if (err > 0)
            err = 0;
    }
    if (err == 0) {
        for (size_t i = 0; i < l.n; i++) {
            ct_pb_consent(&l.items[i], &pb[i]);
            pv[i] = &pb[i];
        }
        Careteam__V1__ConsentList list = CARETEAM__V1__CONSENT_LIST__INIT;
        list.n_consents = l.n;
        list.consents = pv;
        err = ct_wf_reply_body(w, CARETEAM__V1__ENVELOPE__BODY_CONSENT_LIST, &list);
        snprintf(w->job.audit.detail, sizeof w->job.audit.detail, "results=%zu", l.n);
    }
    free(l.items);
    free(pb);
    free(pv);
    return err;
}

int ct_handle_list_consents(ct_request_t *req)
{
    const Careteam__V1__ListConsents *m = req->env->list_consents;
    int bad = ct_wf_check_participant_id(req, m->participant_id, false);
    if (bad != 0)
        return bad;
    ct_wf_t *w = ct_wf_new(req, run_list, m->participant_id);
    if (w == NULL)
        return CT_ENOMEM;
    return ct_wf_read(w);
}
