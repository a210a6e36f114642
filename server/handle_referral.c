/*
 * Referrals to peer support: CreateReferral, UpdateReferral (one move of the transition table in
 * referral.c) -> Referral; ListReferrals -> ReferralList. Every change is pushed to the people it
 * concerns (the referrer and the addressee or assignee: the closed loop) and audited.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "authz.h"
#include "err.h"
#include "referral.h"
#include "workflow.h"
#include "workflow_pb.h"
#include "text.h"

#define REASON_MAX CT_LONGTEXT_MAX
#define GOALS_MAX 16
#define GOAL_BYTES 512
#define LIST_DEFAULT 100
#define LIST_MAX 1000

static const char ID_RULE[] = "1-64 characters of A-Z a-z 0-9 . _ -";

/* Off-loop: the Referral reply, or the snapshot an event carries. */
static int referral_envelope(ct_wf_t *w, const ct_referral_t *r)
{
    Careteam__V1__Referral pb;
    ct_pb_scratch_t sc = {0};
    int err = ct_pb_referral(r, &pb, &sc);
    if (err == 0)
        err = ct_wf_reply_body(w, CARETEAM__V1__ENVELOPE__BODY_REFERRAL, &pb);
    ct_pb_scratch_free(&sc);
    return err;
}

/* Writer thread: stores and queues the event of a referral change for `to`. */
static int referral_event(ct_wf_t *w, ct_store_t *st, int64_t now_ms, const char *event,
                          const ct_referral_t *r, const char *const *to, size_t n_to)
{
    Careteam__V1__Referral pb;
    ct_pb_scratch_t sc = {0};
    int err = ct_pb_referral(r, &pb, &sc);
    if (err == 0)
        err = ct_wf_emit(w, st, now_ms, CT_MSG_REFERRAL, event, r->participant_id, &pb.base, to,
                         n_to);
    ct_pb_scratch_free(&sc);
    return err;
}

/* ---- CreateReferral ---------------------------------------------------------------------- */

typedef struct peers {
    const char **ids;
    char (*buf)[CT_ID_MAX + 1];
    size_t n, cap;
} peers_t;

static int collect_peer(const ct_member_t *m, void *arg)
{
    peers_t *p = arg;
    if (m->role != CT_ROLE_PEER_WORKER || !m->active)
        return 0;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        void *nb = realloc(p->buf, cap * sizeof *p->buf);
        if (nb == NULL)
            return CT_ENOMEM;
        p->buf = nb;
        p->cap = cap;
    }
    ct_text_copy(p->buf[p->n], sizeof p->buf[p->n], m->id);
    p->n++;
    return 0;
}

/* Writer thread: tells the addressee, or every active peer worker for a queue referral. */
static int announce(ct_wf_t *w, ct_store_t *st, int64_t now_ms, const ct_referral_t *r)
{
    if (r->addressee_id[0] != '\0') {
        const char *to[] = {r->addressee_id};
        return referral_event(w, st, now_ms, "referral.create", r, to, 1);
    }
    peers_t p = {0};
    int err = ct_store_member_list(st, collect_peer, &p);
    if (err == 0 && p.n > 0) {
        p.ids = calloc(p.n, sizeof *p.ids);
        if (p.ids == NULL)
            err = CT_ENOMEM;
        for (size_t i = 0; err == 0 && i < p.n; i++)
            p.ids[i] = p.buf[i];
        if (err == 0)
            err = referral_event(w, st, now_ms, "referral.create", r, p.ids, p.n);
    }
    free(p.ids);
    free(p.buf);
    return err < 0 ? err : 0;
}

static int run_create(ct_wf_t *w, ct_store_t *st, int64_t now_ms)
{
    const Careteam__V1__CreateReferral *m = w->req->create_referral;
    int err = ct_wf_authorize(w, st, m->participant_id, 0, NULL);
    if (err != 0)
        return err;
    bool consent = false;
    err = ct_store_consent_active(
        st, m->participant_id, CARETEAM__V1__CONSENT_SCOPE__CONSENT_SCOPE_PEER_SUPPORT, &consent);
    if (err != 0)
        return err;
    if (!consent) {
        ct_audit_rec_fail(&w->job.audit, CT_EPRECONDITION, "reason=no_consent");
        return ct_wf_refuse(w, CT_EPRECONDITION,
                            "participant %s has no active peer-support consent; record one first "
                            "(careteam consent record --participant %s --scope peer-support ...)",
                            m->participant_id, m->participant_id);
    }
    if (!m->to_queue) {
        ct_member_t peer;
        err = ct_store_member_get(st, m->peer_worker_id, &peer);
        if (err == CT_ENOTFOUND || (err == 0 && !peer.active))
            return ct_wf_refuse(w, CT_ENOTFOUND, "peer worker %s is not an active member",
                                m->peer_worker_id);
        if (err != 0)
            return err;
        if (peer.role != CT_ROLE_PEER_WORKER)
            return ct_wf_refuse(w, CT_EINVAL,
                                "%s is a %s; a referral goes to a peer worker or to the queue",
                                m->peer_worker_id, ct_role_name(peer.role));
        unsigned rel = 0;
        err = ct_wf_relation(st, m->participant_id, m->peer_worker_id, &rel);
        if (err != 0)
            return err;
        if (rel & CT_REL_LOCKBOXED)
            return ct_wf_refuse(w, CT_EFORBIDDEN,
                                "participant %s has restricted %s (lockbox); refer to someone "
                                "else or to the queue",
                                m->participant_id, m->peer_worker_id);
    }
    ct_referral_t r;
    memset(&r, 0, sizeof r);
    err = ct_uuid7_next(w->ids, (uint64_t)now_ms, r.referral_id);
    if (err != 0)
        return err;
    ct_text_copy(r.participant_id, sizeof r.participant_id, m->participant_id);
    ct_text_copy(r.referrer_id, sizeof r.referrer_id, w->actor_id);
    ct_text_copy(r.addressee_id, sizeof r.addressee_id, m->to_queue ? "" : m->peer_worker_id);
    r.status = CT_REFERRAL_REQUESTED;
    r.priority = m->priority == CARETEAM__V1__PRIORITY__PRIORITY_UNSPECIFIED
                     ? CARETEAM__V1__PRIORITY__PRIORITY_ROUTINE
                     : (int)m->priority;
    ct_text_copy(r.reason, sizeof r.reason, m->reason);
    err = ct_wf_join_lines(w->why, sizeof w->why, "goals", m->goals, m->n_goals, GOALS_MAX,
                           GOAL_BYTES, r.goals, sizeof r.goals);
    if (err != 0)
        return err;
    r.created_at_ms = r.updated_at_ms = now_ms;
    err = ct_store_referral_insert(st, &r);
    if (err == 0)
        err = announce(w, st, now_ms, &r);
    if (err != 0)
        return err;
    ct_audit_rec_object(&w->job.audit, "referral", r.referral_id);
    snprintf(w->job.audit.detail, sizeof w->job.audit.detail, "to=%s priority=%d",
             m->to_queue ? "queue" : r.addressee_id, r.priority);
    return referral_envelope(w, &r);
}

int ct_handle_create_referral(ct_request_t *req)
{
    const Careteam__V1__CreateReferral *m = req->env->create_referral;
    char goals[CT_LONGTEXT_MAX + 1];
    int bad = ct_wf_check_participant_id(req, m->participant_id, false);
    if (bad != 0)
        return bad;
    bool named = m->peer_worker_id[0] != '\0';
    if (named == m->to_queue) {
        snprintf(req->why, sizeof req->why,
                 "name exactly one of peer_worker_id and to_queue (the peer-worker queue)");
        return CT_EINVAL;
    }
    if (named && !ct_id_valid(m->peer_worker_id)) {
        snprintf(req->why, sizeof req->why, "peer_worker_id must be %s", ID_RULE);
        return CT_EINVAL;
    }
    size_t len = strlen(m->reason);
    if (len == 0 || len > REASON_MAX) {
        snprintf(req->why, sizeof req->why, "reason must be 1-%d bytes (got %zu)", REASON_MAX, len);
        return len == 0 ? CT_EINVAL : CT_ETOOBIG;
    }
    int r = ct_wf_join_lines(req->why, sizeof req->why, "goals", m->goals, m->n_goals, GOALS_MAX,
                             GOAL_BYTES, goals, sizeof goals);
    if (r != 0)
        return r;
    if ((int)m->priority < 0 || m->priority > CARETEAM__V1__PRIORITY__PRIORITY_STAT) {
        snprintf(req->why, sizeof req->why, "priority %d is not a known Priority value",
                 (int)m->priority);
        return CT_EINVAL;
    }
    ct_wf_t *w = ct_wf_new(req, run_create, m->participant_id);
    if (w == NULL)
        return CT_ENOMEM;
    ct_wf_write(w);
    return 0;
}

/* ---- UpdateReferral ---------------------------------------------------------------------- */

static const char *who_name(unsigned who)
{
    switch (who) {
    case CT_REL_REFERRER:
        return "the referrer";
    case CT_REL_ADDRESSEE:
        return "the peer worker it is addressed to (any peer worker, for the queue)";
    case CT_REL_ASSIGNEE:
        return "the peer worker who accepted it";
    case CT_REL_SUPERVISOR:
        return "the supervisor of the peer worker who accepted it";
    default:
        return "nobody";
    }
}

/* Writer thread: REASSIGN's extra checks on the new assignee. */
static int check_reassign(ct_wf_t *w, ct_store_t *st, const ct_referral_t *r, const char *to)
{
    ct_member_t peer;
    int err = ct_store_member_get(st, to, &peer);
    if (err == CT_ENOTFOUND || (err == 0 && !peer.active))
        return ct_wf_refuse(w, CT_ENOTFOUND, "peer worker %s is not an active member", to);
    if (err != 0)
        return err;
    if (peer.role != CT_ROLE_PEER_WORKER || strcmp(peer.supervisor_id, w->actor_id) != 0)
        return ct_wf_refuse(w, CT_EFORBIDDEN,
                            "%s is not a peer worker you supervise; you can reassign only between "
                            "your own peer workers",
                            to);
    if (strcmp(to, r->assignee_id) == 0)
        return ct_wf_refuse(w, CT_ECONFLICT, "referral %s is already assigned to %s",
                            r->referral_id, to);
    unsigned rel = 0;
    err = ct_wf_relation(st, r->participant_id, to, &rel);
    if (err != 0)
        return err;
    if (rel & CT_REL_LOCKBOXED)
        return ct_wf_refuse(w, CT_EFORBIDDEN, "participant %s has restricted %s (lockbox)",
                            r->participant_id, to);
    return 0;
}

static int run_update(ct_wf_t *w, ct_store_t *st, int64_t now_ms)
{
    const Careteam__V1__UpdateReferral *m = w->req->update_referral;
    const ct_referral_move_t *mv = ct_referral_move((int)m->action);
    ct_referral_t r;
    int err = ct_store_referral_get(st, m->referral_id, &r);
    if (err == CT_ENOTFOUND)
        return ct_wf_refuse(w, err, "referral %s does not exist", m->referral_id);
    if (err != 0)
        return err;
    ct_wf_set_participant(w, r.participant_id);
    unsigned rel = 0;
    err = ct_referral_relations(st, &r, w->actor_id, w->actor_role, &rel);
    if (err == 0)
        err = ct_wf_authorize(w, st, r.participant_id, rel, &rel);
    if (err != 0)
        return err;
    /* A queue referral someone else claimed first: the race the issue names. */
    if (mv->action == CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_ACCEPT &&
        r.assignee_id[0] != '\0') {
        ct_audit_rec_fail(&w->job.audit, CT_ECONFLICT, "reason=already_accepted");
        return ct_wf_refuse(w, CT_ECONFLICT, "referral %s was already accepted by %s",
                            r.referral_id, r.assignee_id);
    }
    if (!(rel & mv->who)) {
        ct_audit_rec_fail(&w->job.audit, CT_EFORBIDDEN, "reason=not_the_mover");
        return ct_wf_refuse(w, CT_EFORBIDDEN, "only %s may %s referral %s", who_name(mv->who),
                            mv->name, r.referral_id);
    }
    if (!((mv->from >> r.status) & 1u)) {
        char from[96];
        ct_referral_describe_from(mv->from, from, sizeof from);
        ct_audit_rec_fail(&w->job.audit, CT_EPRECONDITION, "reason=illegal_transition");
        return ct_wf_refuse(w, CT_EPRECONDITION, "referral %s is %s; %s needs it to be %s",
                            r.referral_id, ct_referral_status_name(r.status), mv->name, from);
    }
    if (mv->action == CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_REJECT &&
        r.addressee_id[0] == '\0')
        return ct_wf_refuse(w, CT_EPRECONDITION,
                            "referral %s is in the peer-worker queue; one peer worker cannot "
                            "decline it for everyone (leave it, or ask the referrer to cancel it)",
                            r.referral_id);

    int before = r.status;
    char previous_assignee[CT_ID_MAX + 1];
    ct_text_copy(previous_assignee, sizeof previous_assignee, r.assignee_id);
    if (mv->action == CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_REASSIGN) {
        err = check_reassign(w, st, &r, m->assignee_id);
        if (err != 0)
            return err;
        ct_text_copy(r.assignee_id, sizeof r.assignee_id, m->assignee_id);
    } else if (mv->action == CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_ACCEPT) {
        ct_text_copy(r.assignee_id, sizeof r.assignee_id, w->actor_id);
    }
    if (mv->to == CT_REFERRAL_TO_HELD_FROM) {
        r.status = r.held_from != 0 ? r.held_from : CT_REFERRAL_ACCEPTED;
        r.held_from = 0;
    } else if (mv->to != CT_REFERRAL_TO_SAME) {
        if (mv->to == CT_REFERRAL_ON_HOLD)
            r.held_from = r.status;
        r.status = mv->to;
    }
    ct_text_copy(r.status_reason, sizeof r.status_reason, m->reason);
    r.updated_at_ms = now_ms;
    err = ct_store_referral_update(st, &r);
    if (err != 0)
        return err;
    /* Accepting (or being handed the referral) joins the peer worker to the care team. */
    if (strcmp(r.assignee_id, previous_assignee) != 0) {
        char via[64];
        snprintf(via, sizeof via, "referral:%s", r.referral_id);
        err = ct_store_team_add(st, r.participant_id, r.assignee_id, via, now_ms);
        if (err < 0)
            return err;
    }
    char event[48];
    snprintf(event, sizeof event, "referral.%s", mv->name);
    const char *to[] = {r.referrer_id, r.assignee_id[0] ? r.assignee_id : r.addressee_id,
                        previous_assignee};
    err = referral_event(w, st, now_ms, event, &r, to, 3);
    if (err != 0)
        return err;
    ct_audit_rec_object(&w->job.audit, "referral", r.referral_id);
    snprintf(w->job.audit.detail, sizeof w->job.audit.detail, "from=%s to=%s%s%s",
             ct_referral_status_name(before), ct_referral_status_name(r.status),
             mv->to == CT_REFERRAL_TO_SAME ? " assignee=" : "",
             mv->to == CT_REFERRAL_TO_SAME ? r.assignee_id : "");
    return referral_envelope(w, &r);
}

int ct_handle_update_referral(ct_request_t *req)
{
    const Careteam__V1__UpdateReferral *m = req->env->update_referral;
    const ct_referral_move_t *mv = ct_referral_move((int)m->action);
    if (!ct_uuid_valid(m->referral_id)) {
        snprintf(req->why, sizeof req->why, "referral_id is not a referral id (a UUID)");
        return CT_EINVAL;
    }
    if (mv == NULL) {
        snprintf(req->why, sizeof req->why,
                 "action %d is not a ReferralAction (ACCEPT, REJECT, START, HOLD, RESUME, "
                 "COMPLETE, CANCEL, REASSIGN)",
                 (int)m->action);
        return CT_EINVAL;
    }
    size_t len = strlen(m->reason);
    if (len > CT_NOTE_MAX) {
        snprintf(req->why, sizeof req->why, "reason is %zu bytes; the limit is %d", len,
                 CT_NOTE_MAX);
        return CT_ETOOBIG;
    }
    if (mv->needs_reason && len == 0) {
        snprintf(req->why, sizeof req->why, "%s needs a reason", mv->name);
        return CT_EINVAL;
    }
    bool reassign = m->action == CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_REASSIGN;
    if (reassign != (m->assignee_id[0] != '\0') || (reassign && !ct_id_valid(m->assignee_id))) {
        snprintf(req->why, sizeof req->why,
                 reassign ? "reassign needs assignee_id: the peer worker to hand it to (%s)"
                          : "assignee_id is only for REASSIGN%s",
                 reassign ? ID_RULE : "");
        return CT_EINVAL;
    }
    ct_wf_t *w = ct_wf_new(req, run_update, NULL);
    if (w == NULL)
        return CT_ENOMEM;
    snprintf(w->job.audit.action, sizeof w->job.audit.action, "referral.%s", mv->name);
    ct_audit_rec_object(&w->job.audit, "referral", m->referral_id);
    ct_wf_write(w);
    return 0;
}

/* ---- ListReferrals ----------------------------------------------------------------------- */

typedef struct referral_list {
    ct_wf_t *w;
    ct_store_t *st;
    ct_referral_t *items;
    size_t n, limit;
    int err;
} referral_list_t;

static int collect_referral(const ct_referral_t *r, void *arg)
{
    referral_list_t *l = arg;
    unsigned rel = 0;
    l->err = ct_referral_relations(l->st, r, l->w->actor_id, l->w->actor_role, &rel);
    if (l->err != 0)
        return 1;
    if (!ct_authz_allowed(CARETEAM__V1__ENVELOPE__BODY_LIST_REFERRALS, l->w->actor_role, rel))
        return 0;
    l->items[l->n++] = *r;
    return l->n == l->limit;
}

static int run_list(ct_wf_t *w, ct_store_t *st, int64_t now_ms)
{
    (void)now_ms;
    const Careteam__V1__ListReferrals *m = w->req->list_referrals;
    referral_list_t l = {.w = w, .st = st};
    l.limit = m->limit == 0 ? LIST_DEFAULT : m->limit;
    l.items = calloc(l.limit, sizeof *l.items);
    Careteam__V1__Referral *pb = calloc(l.limit, sizeof *pb);
    Careteam__V1__Referral **pv = calloc(l.limit, sizeof *pv);
    ct_pb_scratch_t *sc = calloc(l.limit, sizeof *sc);
    int err = l.items && pb && pv && sc ? 0 : CT_ENOMEM;
    /* The store's limit bounds the scan; rows the member may not see are skipped here. */
    ct_referral_filter_t f = {
        .participant_id = m->participant_id,
        .assignee_id = m->assigned_to_me ? w->actor_id : NULL,
        .referrer_id = m->created_by_me ? w->actor_id : NULL,
        .queue_only = m->queue,
        .status = (int)m->status,
        .limit = 100000,
    };
    /* About one participant: the member needs a relation to them (the care team, or a part in
     * one of their referrals), and a lockbox refuses even that. */
    if (err == 0 && m->participant_id[0] != '\0') {
        unsigned extra = 0;
        err = ct_referral_participant_relations(st, m->participant_id, w->actor_id, w->actor_role,
                                                &extra);
        if (err == 0)
            err = ct_wf_authorize(w, st, m->participant_id, extra, NULL);
    }
    if (err == 0) {
        err = ct_store_referral_list(st, &f, collect_referral, &l);
        err = err < 0 ? err : l.err;
    }
    for (size_t i = 0; err == 0 && i < l.n; i++) {
        err = ct_pb_referral(&l.items[i], &pb[i], &sc[i]);
        pv[i] = &pb[i];
    }
    if (err == 0) {
        Careteam__V1__ReferralList list = CARETEAM__V1__REFERRAL_LIST__INIT;
        list.n_referrals = l.n;
        list.referrals = pv;
        err = ct_wf_reply_body(w, CARETEAM__V1__ENVELOPE__BODY_REFERRAL_LIST, &list);
        snprintf(w->job.audit.detail, sizeof w->job.audit.detail, "results=%zu", l.n);
    }
    for (size_t i = 0; sc != NULL && i < l.limit; i++)
        ct_pb_scratch_free(&sc[i]);
    free(sc);
    free(pv);
    free(pb);
    free(l.items);
    return err;
}

int ct_handle_list_referrals(ct_request_t *req)
{
    const Careteam__V1__ListReferrals *m = req->env->list_referrals;
    if (m->limit > LIST_MAX) {
        snprintf(req->why, sizeof req->why, "limit is at most %d", LIST_MAX);
        return CT_EINVAL;
    }
    int bad = ct_wf_check_participant_id(req, m->participant_id, true);
    if (bad != 0)
        return bad;
    if ((int)m->status < 0 ||
        m->status > CARETEAM__V1__REFERRAL_STATUS__REFERRAL_STATUS_CANCELLED) {
        snprintf(req->why, sizeof req->why, "status %d is not a ReferralStatus", (int)m->status);
        return CT_EINVAL;
    }
    ct_wf_t *w = ct_wf_new(req, run_list, m->participant_id);
    if (w == NULL)
        return CT_ENOMEM;
    return ct_wf_read(w);
}
