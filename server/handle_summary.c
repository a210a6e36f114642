/*
 * Session summaries: PostSummary (the referral's assignee) -> Summary, delivered to the referrer
 * and every clinician on the team; ListSummaries -> SummaryList. A summary is never edited: a
 * correction is a new summary naming the one it amends. Risk CONCERN or URGENT opens a safety
 * alert (handle_alert.c) in the same transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "authz.h"
#include "err.h"
#include "handle_alert.h"
#include "referral.h"
#include "timeparse.h"
#include "workflow.h"
#include "workflow_pb.h"
#include "text.h"

#define THEMES_MAX 16
#define THEME_BYTES 256
#define LIST_DEFAULT 20
#define LIST_MAX 1000

static int summary_to_pb_envelope(ct_wf_t *w, const ct_summary_t *s)
{
    Careteam__V1__Summary pb;
    ct_pb_scratch_t sc = {0};
    int err = ct_pb_summary(s, &pb, &sc);
    if (err == 0)
        err = ct_wf_reply_body(w, CARETEAM__V1__ENVELOPE__BODY_SUMMARY, &pb);
    ct_pb_scratch_free(&sc);
    return err;
}

/* The summary to the referrer and every clinician on the team. */
static int summary_event(ct_wf_t *w, ct_store_t *st, int64_t now_ms, const ct_summary_t *s,
                         const ct_referral_t *r)
{
    char(*ids)[CT_ID_MAX + 1] = NULL;
    size_t n = 0;
    int err = ct_wf_team_clinicians(st, s->participant_id, &ids, &n);
    const char **to = calloc(n + 1, sizeof *to);
    if (err == 0 && to == NULL)
        err = CT_ENOMEM;
    if (err == 0) {
        to[0] = r->referrer_id;
        for (size_t i = 0; i < n; i++)
            to[i + 1] = ids[i];
        Careteam__V1__Summary pb;
        ct_pb_scratch_t sc = {0};
        err = ct_pb_summary(s, &pb, &sc);
        if (err == 0)
            err = ct_wf_emit(w, st, now_ms, CT_MSG_SUMMARY, "summary.post", s->participant_id,
                             &pb.base, to, n + 1);
        ct_pb_scratch_free(&sc);
    }
    free(to);
    free(ids);
    return err;
}

static int check_amends(ct_wf_t *w, ct_store_t *st, const char *amends, const ct_referral_t *r)
{
    if (amends[0] == '\0')
        return 0;
    ct_summary_t old;
    memset(&old, 0, sizeof old);
    int err = ct_store_summary_get(st, amends, &old);
    if (err == CT_ENOTFOUND)
        return ct_wf_refuse(w, err, "summary %s (amends_summary_id) does not exist", amends);
    if (err != 0)
        return err;
    bool same = strcmp(old.referral_id, r->referral_id) == 0;
    ct_summary_clear(&old);
    if (!same)
        return ct_wf_refuse(w, CT_EINVAL,
                            "summary %s belongs to another referral; a correction amends a "
                            "summary of the same referral",
                            amends);
    return 0;
}

static int run_post(ct_wf_t *w, ct_store_t *st, int64_t now_ms)
{
    const Careteam__V1__PostSummary *m = w->req->post_summary;
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
        err = ct_wf_authorize(w, st, r.participant_id, rel, NULL);
    if (err != 0)
        return err;
    if (r.status != CT_REFERRAL_ACCEPTED && r.status != CT_REFERRAL_IN_PROGRESS &&
        r.status != CT_REFERRAL_ON_HOLD)
        return ct_wf_refuse(w, CT_EPRECONDITION,
                            "referral %s is %s; summaries are posted while it is accepted, "
                            "in-progress or on-hold",
                            r.referral_id, ct_referral_status_name(r.status));
    err = check_amends(w, st, m->amends_summary_id, &r);
    if (err != 0)
        return err;

    ct_summary_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return CT_ENOMEM;
    err = ct_uuid7_next(w->ids, (uint64_t)now_ms, s->summary_id);
    ct_text_copy(s->referral_id, sizeof s->referral_id, r.referral_id);
    ct_text_copy(s->participant_id, sizeof s->participant_id, r.participant_id);
    ct_text_copy(s->author_id, sizeof s->author_id, w->actor_id);
    ct_text_copy(s->session_date, sizeof s->session_date, m->session_date);
    s->duration_minutes = m->duration_minutes;
    s->format = (int)m->format;
    if (err == 0)
        err = ct_wf_join_lines(w->why, sizeof w->why, "themes", m->themes, m->n_themes, THEMES_MAX,
                               THEME_BYTES, s->themes, sizeof s->themes);
    ct_text_copy(s->goals_progress, sizeof s->goals_progress, m->goals_progress);
    ct_text_copy(s->next_steps, sizeof s->next_steps, m->next_steps);
    s->participant_reviewed = m->participant_reviewed;
    s->risk = m->risk == CARETEAM__V1__RISK__RISK_UNSPECIFIED ? CARETEAM__V1__RISK__RISK_NONE
                                                              : (int)m->risk;
    s->text = m->text; /* borrowed from the request copy; not freed below */
    ct_text_copy(s->amends_summary_id, sizeof s->amends_summary_id, m->amends_summary_id);
    s->created_at_ms = now_ms;

    ct_alert_t a;
    memset(&a, 0, sizeof a);
    bool risky =
        s->risk == CARETEAM__V1__RISK__RISK_CONCERN || s->risk == CARETEAM__V1__RISK__RISK_URGENT;
    if (err == 0 && risky) {
        err = ct_uuid7_next(w->ids, (uint64_t)now_ms, a.alert_id);
        ct_text_copy(s->alert_id, sizeof s->alert_id, a.alert_id);
    }
    if (err == 0)
        err = ct_store_summary_insert(st, s);
    if (err == 0)
        err = summary_event(w, st, now_ms, s, &r);
    if (err == 0 && risky) {
        ct_text_copy(a.participant_id, sizeof a.participant_id, r.participant_id);
        ct_text_copy(a.raised_by, sizeof a.raised_by, w->actor_id);
        a.source = CARETEAM__V1__ALERT_SOURCE__ALERT_SOURCE_SUMMARY;
        ct_text_copy(a.summary_id, sizeof a.summary_id, s->summary_id);
        ct_text_copy(a.referral_id, sizeof a.referral_id, r.referral_id);
        a.risk = s->risk;
        err = ct_alert_open(w, st, now_ms, &a);
    }
    if (err == 0) {
        ct_audit_rec_object(&w->job.audit, "summary", s->summary_id);
        snprintf(w->job.audit.detail, sizeof w->job.audit.detail,
                 "referral=%s risk=%d reviewed=%d amends=%s", r.referral_id, s->risk,
                 s->participant_reviewed, s->amends_summary_id[0] ? s->amends_summary_id : "-");
        err = summary_to_pb_envelope(w, s);
    }
    free(s);
    return err;
}

int ct_handle_post_summary(ct_request_t *req)
{
    const Careteam__V1__PostSummary *m = req->env->post_summary;
    const char *bad = NULL;
    int code = CT_EINVAL;
    if (!ct_uuid_valid(m->referral_id))
        bad = "referral_id is not a referral id (a UUID)";
    else if (!ct_date_valid(m->session_date))
        bad = "session_date must be a date written YYYY-MM-DD";
    else if (m->duration_minutes < 1 || m->duration_minutes > 1440)
        bad = "duration_minutes must be 1-1440";
    else if (m->format < CARETEAM__V1__SESSION_FORMAT__SESSION_FORMAT_ONE_TO_ONE ||
             m->format > CARETEAM__V1__SESSION_FORMAT__SESSION_FORMAT_OUTREACH)
        bad = "format must be ONE_TO_ONE, GROUP, PHONE, VIDEO or OUTREACH";
    else if ((int)m->risk < 0 || m->risk > CARETEAM__V1__RISK__RISK_URGENT)
        bad = "risk must be NONE, CONCERN or URGENT";
    else if (m->amends_summary_id[0] != '\0' && !ct_uuid_valid(m->amends_summary_id))
        bad = "amends_summary_id is not a summary id (a UUID)";
    else if (strlen(m->goals_progress) > CT_LONGTEXT_MAX || strlen(m->next_steps) > CT_LONGTEXT_MAX)
        bad = "goals_progress and next_steps are at most 4096 bytes each", code = CT_ETOOBIG;
    if (bad != NULL) {
        ct_text_copy(req->why, sizeof req->why, bad);
        return code;
    }
    size_t len = strlen(m->text);
    if (len > req->ctx->cfg->max_body) {
        snprintf(req->why, sizeof req->why, "text is %zu bytes; the limit is %u", len,
                 req->ctx->cfg->max_body);
        return CT_ETOOBIG;
    }
    char themes[CT_LONGTEXT_MAX + 1];
    int r = ct_wf_join_lines(req->why, sizeof req->why, "themes", m->themes, m->n_themes,
                             THEMES_MAX, THEME_BYTES, themes, sizeof themes);
    if (r != 0)
        return r;
    ct_wf_t *w = ct_wf_new(req, run_post, NULL);
    if (w == NULL)
        return CT_ENOMEM;
    ct_wf_write(w);
    return 0;
}

typedef struct summary_list {
    ct_wf_t *w;
    ct_store_t *st;
    unsigned base_rel; /* the requester's relation to the participant */
    ct_summary_t *items;
    size_t n, limit;
    size_t bytes, budget; /* text in the reply so far, and what fits in one frame */
    int err;
} summary_list_t;

static int collect_summary(const ct_summary_t *s, void *arg)
{
    summary_list_t *l = arg;
    unsigned rel = l->base_rel;
    if (l->w->actor_role == CT_ROLE_PEER_SUPERVISOR) {
        ct_member_t author;
        l->err = ct_store_member_get(l->st, s->author_id, &author);
        if (l->err == CT_ENOTFOUND)
            l->err = 0;
        else if (l->err != 0)
            return 1;
        else if (strcmp(author.supervisor_id, l->w->actor_id) == 0)
            rel |= CT_REL_SUPERVISOR;
    }
    if (!ct_authz_allowed(CARETEAM__V1__ENVELOPE__BODY_LIST_SUMMARIES, l->w->actor_role, rel))
        return 0;
    size_t len = s->text != NULL ? strlen(s->text) : 0;
    if (l->n > 0 && l->bytes + len > l->budget)
        return 1; /* the reply is one frame: stop before it would not fit */
    l->items[l->n] = *s;
    l->items[l->n].text = strdup(s->text != NULL ? s->text : "");
    if (l->items[l->n].text == NULL) {
        l->err = CT_ENOMEM;
        return 1;
    }
    l->n++;
    l->bytes += len + 2 * CT_LONGTEXT_MAX;
    return l->n == l->limit;
}

static int run_list(ct_wf_t *w, ct_store_t *st, int64_t now_ms)
{
    (void)now_ms;
    const Careteam__V1__ListSummaries *m = w->req->list_summaries;
    char participant[CT_ID_MAX + 1];
    ct_text_copy(participant, sizeof participant, m->participant_id);
    unsigned extra = 0;
    if (m->referral_id[0] != '\0') {
        ct_referral_t r;
        int err = ct_store_referral_get(st, m->referral_id, &r);
        if (err == CT_ENOTFOUND)
            return ct_wf_refuse(w, err, "referral %s does not exist", m->referral_id);
        if (err == 0)
            err = ct_referral_relations(st, &r, w->actor_id, w->actor_role, &extra);
        if (err != 0)
            return err;
        extra &= CT_REL_SUPERVISOR;
        ct_text_copy(participant, sizeof participant, r.participant_id);
    }
    ct_wf_set_participant(w, participant);
    /* A supervisor off the care team reads the summaries of the peer workers they supervise:
     * the relation to the participant comes from those peer workers' referrals, and the rows
     * are then filtered one by one (collect_summary). */
    if (w->actor_role == CT_ROLE_PEER_SUPERVISOR && m->referral_id[0] == '\0') {
        unsigned via = 0;
        int err =
            ct_referral_participant_relations(st, participant, w->actor_id, w->actor_role, &via);
        if (err != 0)
            return err;
        extra |= via & CT_REL_SUPERVISOR;
    }
    unsigned rel = 0;
    int err = ct_wf_authorize(w, st, participant, extra, &rel);
    if (err != 0)
        return err;
    rel &= ~(unsigned)CT_REL_SUPERVISOR; /* per row: only the summaries of their own peers */
    summary_list_t l = {.w = w, .st = st, .base_rel = rel};
    l.limit = m->limit == 0 ? LIST_DEFAULT : m->limit;
    l.budget = w->ctx->cfg->max_frame / 2;
    l.items = calloc(l.limit, sizeof *l.items);
    Careteam__V1__Summary *pb = calloc(l.limit, sizeof *pb);
    Careteam__V1__Summary **pv = calloc(l.limit, sizeof *pv);
    ct_pb_scratch_t *sc = calloc(l.limit, sizeof *sc);
    err = l.items && pb && pv && sc ? 0 : CT_ENOMEM;
    if (err == 0) {
        err = ct_store_summary_list(st, m->referral_id[0] ? NULL : participant,
                                    m->referral_id[0] ? m->referral_id : NULL, 100000,
                                    collect_summary, &l);
        err = err < 0 ? err : l.err;
    }
    for (size_t i = 0; err == 0 && i < l.n; i++) {
        err = ct_pb_summary(&l.items[i], &pb[i], &sc[i]);
        pv[i] = &pb[i];
    }
    if (err == 0) {
        Careteam__V1__SummaryList list = CARETEAM__V1__SUMMARY_LIST__INIT;
        list.n_summaries = l.n;
        list.summaries = pv;
        err = ct_wf_reply_body(w, CARETEAM__V1__ENVELOPE__BODY_SUMMARY_LIST, &list);
        snprintf(w->job.audit.detail, sizeof w->job.audit.detail, "results=%zu", l.n);
    }
    for (size_t i = 0; l.items != NULL && i < l.n; i++)
        free(l.items[i].text);
    for (size_t i = 0; sc != NULL && i < l.limit; i++)
        ct_pb_scratch_free(&sc[i]);
    free(sc);
    free(pv);
    free(pb);
    free(l.items);
    return err;
}

int ct_handle_list_summaries(ct_request_t *req)
{
    const Careteam__V1__ListSummaries *m = req->env->list_summaries;
    bool by_participant = m->participant_id[0] != '\0', by_referral = m->referral_id[0] != '\0';
    if (by_participant == by_referral) {
        snprintf(req->why, sizeof req->why, "name exactly one of participant_id and referral_id");
        return CT_EINVAL;
    }
    if ((by_participant && !ct_id_valid(m->participant_id)) ||
        (by_referral && !ct_uuid_valid(m->referral_id))) {
        snprintf(req->why, sizeof req->why,
                 by_participant ? "participant_id must be 1-64 characters of A-Z a-z 0-9 . _ -"
                                : "referral_id is not a referral id (a UUID)");
        return CT_EINVAL;
    }
    if (m->limit > LIST_MAX) {
        snprintf(req->why, sizeof req->why, "limit is at most %d", LIST_MAX);
        return CT_EINVAL;
    }
    ct_wf_t *w = ct_wf_new(req, run_list, NULL);
    if (w == NULL)
        return CT_ENOMEM;
    return ct_wf_read(w);
}
