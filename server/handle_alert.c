/*
 * Safety alerts: RaiseConcern (anyone on the team) and risky summaries open them;
 * AcknowledgeAlert (a clinician on the team) closes them; ListAlerts reads them; the deadline
 * timer (alerts.c) escalates the ones nobody acknowledged in time.
 *
 * Escalation: at its deadline an open alert is marked ESCALATED and re-sent to every clinician on
 * the team with a new deadline of the same length; at the second escalation it is re-sent once
 * more and keeps no further deadline (it stays unacknowledged and listed until a clinician
 * acknowledges it). Every step is audited.
 */
#include "handle_alert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "authz.h"
#include "err.h"
#include "workflow_pb.h"
#include "text.h"

#define ALERT_ESCALATIONS_MAX 2
#define LIST_DEFAULT 100
#define LIST_MAX 1000

static int64_t deadline_after(const ct_wf_t *w, int risk, int64_t now_ms)
{
    const ct_config_t *cfg = w->ctx->cfg;
    return now_ms + (risk == CARETEAM__V1__RISK__RISK_URGENT ? cfg->alert_urgent_deadline_ms
                                                             : cfg->alert_concern_deadline_ms);
}

static int alert_event(ct_wf_t *w, ct_store_t *st, int64_t now_ms, const char *event,
                       const ct_alert_t *a, const char *const *to, size_t n_to)
{
    Careteam__V1__Alert pb;
    ct_pb_alert(a, &pb);
    return ct_wf_emit(w, st, now_ms, CT_MSG_ALERT, event, a->participant_id, &pb.base, to, n_to);
}

/* The alert to every clinician on the team. */
static int alert_to_clinicians(ct_wf_t *w, ct_store_t *st, int64_t now_ms, const char *event,
                               const ct_alert_t *a)
{
    char(*ids)[CT_ID_MAX + 1] = NULL;
    size_t n = 0;
    int err = ct_wf_team_clinicians(st, a->participant_id, &ids, &n);
    const char **to = n > 0 ? calloc(n, sizeof *to) : NULL;
    if (err == 0 && n > 0 && to == NULL)
        err = CT_ENOMEM;
    for (size_t i = 0; err == 0 && i < n; i++)
        to[i] = ids[i];
    if (err == 0)
        err = alert_event(w, st, now_ms, event, a, to, n);
    free(to);
    free(ids);
    return err;
}

typedef struct referrers {
    const char *participant_id;
    char ids[8][CT_ID_MAX + 1];
    size_t n;
} referrers_t;

static int collect_referrer(const ct_referral_t *r, void *arg)
{
    referrers_t *rs = arg;
    if (r->status == CT_REFERRAL_REJECTED || r->status == CT_REFERRAL_COMPLETED ||
        r->status == CT_REFERRAL_CANCELLED)
        return 0;
    for (size_t i = 0; i < rs->n; i++) {
        if (strcmp(rs->ids[i], r->referrer_id) == 0)
            return 0;
    }
    ct_text_copy(rs->ids[rs->n], sizeof rs->ids[rs->n], r->referrer_id);
    rs->n++;
    return rs->n == sizeof rs->ids / sizeof rs->ids[0];
}

int ct_alert_open(ct_wf_t *w, ct_store_t *st, int64_t now_ms, ct_alert_t *a)
{
    int err = 0;
    if (a->alert_id[0] == '\0')
        err = ct_uuid7_next(w->ids, (uint64_t)now_ms, a->alert_id);
    if (err != 0)
        return err;
    a->status = CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_OPEN;
    a->escalations = 0;
    a->created_at_ms = now_ms;
    a->deadline_ms = deadline_after(w, a->risk, now_ms);
    err = ct_store_alert_insert(st, a);
    if (err != 0)
        return err;
    w->alerts_changed = true;
    char detail[64];
    snprintf(detail, sizeof detail, "risk=%d source=%d", a->risk, a->source);
    err = ct_wf_audit(w, st, now_ms, "alert.open", "alert", a->alert_id, a->participant_id, detail);
    if (err != 0)
        return err;
    /* First to the clinicians who referred the participant to peer support and are still on
     * the team; if there are none (or none left on the team), to every clinician on the team. */
    referrers_t rs = {.participant_id = a->participant_id};
    ct_referral_filter_t f = {.participant_id = a->participant_id, .limit = 1000};
    err = ct_store_referral_list(st, &f, collect_referrer, &rs);
    if (err < 0)
        return err;
    const char *to[8];
    size_t n = 0;
    for (size_t i = 0; i < rs.n; i++) {
        unsigned rel = 0;
        err = ct_wf_relation(st, a->participant_id, rs.ids[i], &rel);
        if (err != 0)
            return err;
        if ((rel & CT_REL_ON_TEAM) && !(rel & CT_REL_LOCKBOXED))
            to[n++] = rs.ids[i];
    }
    if (n == 0)
        return alert_to_clinicians(w, st, now_ms, "alert.open", a);
    return alert_event(w, st, now_ms, "alert.open", a, to, n);
}

/* ---- escalation (system job) ------------------------------------------------------------- */

typedef struct due {
    ct_alert_t *items;
    size_t n, cap;
} due_t;

static int collect_due(const ct_alert_t *a, void *arg)
{
    due_t *d = arg;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        void *grown = realloc(d->items, cap * sizeof *d->items);
        if (grown == NULL)
            return CT_ENOMEM;
        d->items = grown;
        d->cap = cap;
    }
    d->items[d->n++] = *a;
    return 0;
}

int ct_alert_escalate_due(ct_wf_t *w, ct_store_t *st, int64_t now_ms)
{
    due_t d = {0};
    int err = ct_store_alert_due(st, now_ms, collect_due, &d);
    if (err > 0)
        err = 0;
    for (size_t i = 0; err == 0 && i < d.n; i++) {
        ct_alert_t *a = &d.items[i];
        if (a->status == CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_ACKNOWLEDGED)
            continue;
        a->escalations++;
        a->status = CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_ESCALATED;
        a->deadline_ms =
            a->escalations < ALERT_ESCALATIONS_MAX ? deadline_after(w, a->risk, now_ms) : 0;
        err = ct_store_alert_update(st, a);
        if (err == 0)
            err = alert_to_clinicians(w, st, now_ms, "alert.escalate", a);
        if (err == 0) {
            char detail[64];
            snprintf(detail, sizeof detail, "escalations=%u risk=%d", a->escalations, a->risk);
            err = ct_wf_audit(w, st, now_ms, "alert.escalate", "alert", a->alert_id,
                              a->participant_id, detail);
        }
    }
    free(d.items);
    return err;
}

/* ---- requests ---------------------------------------------------------------------------- */

static int reply_alert(ct_wf_t *w, const ct_alert_t *a)
{
    Careteam__V1__Alert pb;
    ct_pb_alert(a, &pb);
    return ct_wf_reply_body(w, CARETEAM__V1__ENVELOPE__BODY_ALERT, &pb);
}

static int run_concern(ct_wf_t *w, ct_store_t *st, int64_t now_ms)
{
    const Careteam__V1__RaiseConcern *m = w->req->raise_concern;
    int err = ct_wf_authorize(w, st, m->participant_id, 0, NULL);
    if (err != 0)
        return err;
    ct_alert_t a;
    memset(&a, 0, sizeof a);
    ct_text_copy(a.participant_id, sizeof a.participant_id, m->participant_id);
    ct_text_copy(a.raised_by, sizeof a.raised_by, w->actor_id);
    a.source = CARETEAM__V1__ALERT_SOURCE__ALERT_SOURCE_CONCERN;
    a.risk = (int)m->risk;
    ct_text_copy(a.text, sizeof a.text, m->text);
    err = ct_alert_open(w, st, now_ms, &a);
    if (err != 0)
        return err;
    ct_audit_rec_object(&w->job.audit, "alert", a.alert_id);
    snprintf(w->job.audit.detail, sizeof w->job.audit.detail, "risk=%d", a.risk);
    return reply_alert(w, &a);
}

int ct_handle_raise_concern(ct_request_t *req)
{
    const Careteam__V1__RaiseConcern *m = req->env->raise_concern;
    int bad = ct_wf_check_participant_id(req, m->participant_id, false);
    if (bad != 0)
        return bad;
    if (m->risk != CARETEAM__V1__RISK__RISK_CONCERN && m->risk != CARETEAM__V1__RISK__RISK_URGENT) {
        snprintf(req->why, sizeof req->why, "risk must be CONCERN or URGENT");
        return CT_EINVAL;
    }
    size_t len = strlen(m->text);
    if (len == 0 || len > CT_LONGTEXT_MAX) {
        snprintf(req->why, sizeof req->why, "text must be 1-%d bytes (got %zu)", CT_LONGTEXT_MAX,
                 len);
        return len == 0 ? CT_EINVAL : CT_ETOOBIG;
    }
    ct_wf_t *w = ct_wf_new(req, run_concern, m->participant_id);
    if (w == NULL)
        return CT_ENOMEM;
    ct_wf_write(w);
    return 0;
}

static int run_acknowledge(ct_wf_t *w, ct_store_t *st, int64_t now_ms)
{
    const Careteam__V1__AcknowledgeAlert *m = w->req->acknowledge_alert;
    ct_alert_t a;
    int err = ct_store_alert_get(st, m->alert_id, &a);
    if (err == CT_ENOTFOUND)
        return ct_wf_refuse(w, err, "alert %s does not exist", m->alert_id);
    if (err != 0)
        return err;
    ct_wf_set_participant(w, a.participant_id);
    err = ct_wf_authorize(w, st, a.participant_id, 0, NULL);
    if (err != 0)
        return err;
    if (a.status == CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_ACKNOWLEDGED)
        return ct_wf_refuse(w, CT_ECONFLICT, "alert %s was already acknowledged by %s", a.alert_id,
                            a.acknowledged_by);
    a.status = CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_ACKNOWLEDGED;
    a.deadline_ms = 0;
    ct_text_copy(a.acknowledged_by, sizeof a.acknowledged_by, w->actor_id);
    a.acknowledged_at_ms = now_ms;
    ct_text_copy(a.note, sizeof a.note, m->note);
    err = ct_store_alert_update(st, &a);
    if (err != 0)
        return err;
    w->alerts_changed = true;
    const char *to[] = {a.raised_by};
    err = alert_event(w, st, now_ms, "alert.acknowledge", &a, to, 1);
    if (err != 0)
        return err;
    snprintf(w->job.audit.detail, sizeof w->job.audit.detail, "escalations=%u", a.escalations);
    return reply_alert(w, &a);
}

int ct_handle_acknowledge_alert(ct_request_t *req)
{
    const Careteam__V1__AcknowledgeAlert *m = req->env->acknowledge_alert;
    if (!ct_uuid_valid(m->alert_id)) {
        snprintf(req->why, sizeof req->why, "alert_id is not an alert id (a UUID)");
        return CT_EINVAL;
    }
    if (strlen(m->note) > CT_NOTE_MAX) {
        snprintf(req->why, sizeof req->why, "note is over %d bytes", CT_NOTE_MAX);
        return CT_ETOOBIG;
    }
    ct_wf_t *w = ct_wf_new(req, run_acknowledge, NULL);
    if (w == NULL)
        return CT_ENOMEM;
    ct_audit_rec_object(&w->job.audit, "alert", m->alert_id);
    ct_wf_write(w);
    return 0;
}

typedef struct alert_list {
    ct_wf_t *w;
    ct_store_t *st;
    ct_alert_t *items;
    size_t n, limit;
    int err;
} alert_list_t;

static int collect_alert(const ct_alert_t *a, void *arg)
{
    alert_list_t *l = arg;
    unsigned rel = 0;
    l->err = ct_wf_relation(l->st, a->participant_id, l->w->actor_id, &rel);
    if (l->err != 0)
        return 1;
    if (!ct_authz_allowed(CARETEAM__V1__ENVELOPE__BODY_LIST_ALERTS, l->w->actor_role, rel))
        return 0;
    l->items[l->n++] = *a;
    return l->n == l->limit;
}

static int run_list(ct_wf_t *w, ct_store_t *st, int64_t now_ms)
{
    (void)now_ms;
    const Careteam__V1__ListAlerts *m = w->req->list_alerts;
    int err = 0;
    if (m->participant_id[0] != '\0')
        err = ct_wf_authorize(w, st, m->participant_id, 0, NULL);
    if (err != 0)
        return err;
    alert_list_t l = {.w = w, .st = st, .limit = m->limit == 0 ? LIST_DEFAULT : m->limit};
    l.items = calloc(l.limit, sizeof *l.items);
    Careteam__V1__Alert *pb = calloc(l.limit, sizeof *pb);
    Careteam__V1__Alert **pv = calloc(l.limit, sizeof *pv);
    err = l.items && pb && pv ? 0 : CT_ENOMEM;
    if (err == 0) {
        err = ct_store_alert_list(st, m->participant_id, m->open_only, 100000, collect_alert, &l);
        err = err < 0 ? err : l.err;
    }
    if (err == 0) {
        for (size_t i = 0; i < l.n; i++) {
            ct_pb_alert(&l.items[i], &pb[i]);
            pv[i] = &pb[i];
        }
        Careteam__V1__AlertList list = CARETEAM__V1__ALERT_LIST__INIT;
        list.n_alerts = l.n;
        list.alerts = pv;
        err = ct_wf_reply_body(w, CARETEAM__V1__ENVELOPE__BODY_ALERT_LIST, &list);
        snprintf(w->job.audit.detail, sizeof w->job.audit.detail, "results=%zu", l.n);
    }
    free(l.items);
    free(pb);
    free(pv);
    return err;
}

int ct_handle_list_alerts(ct_request_t *req)
{
    const Careteam__V1__ListAlerts *m = req->env->list_alerts;
    if (m->limit > LIST_MAX) {
        snprintf(req->why, sizeof req->why, "limit is at most %d", LIST_MAX);
        return CT_EINVAL;
    }
    int bad = ct_wf_check_participant_id(req, m->participant_id, true);
    if (bad != 0)
        return bad;
    ct_wf_t *w = ct_wf_new(req, run_list, m->participant_id);
    if (w == NULL)
        return CT_ENOMEM;
    return ct_wf_read(w);
}
