/*
 * AuditQuery: compliance staff read the audit log, one page per request.
 *
 * Only the compliance role may send it (authz.c); dispatch refuses every other role with
 * FORBIDDEN and audits that refusal under "audit.query". The filter is checked on the loop
 * thread; the page is read on the readers pool through the workflow job (workflow.h, ct_wf_read)
 * with a read-only store handle, and the query is audited after it is answered, like every
 * read: action "audit.query", the participant filter as the record's participant, and in the
 * detail which filters were set (by name), the actor and action filters' values (ids and codes,
 * never free text) and how many records the page returned.
 *
 * Paging: the client sends after_seq (0, then each page's next_cursor) until more is false. A
 * page holds at most `limit` records, and stops earlier so that its reply frame stays within
 * max_frame, the limit the server holds clients to (so a client need accept no more than it
 * sends): a page never sits in memory beyond one frame, and the whole result never does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "err.h"
#include "frame.h"
#include "ids.h"
#include "workflow.h"
#include "text.h"

#define PAGE_DEFAULT 500
#define PAGE_MAX 1000
#define ACTOR_MAX 128        /* "local:<account>" is longer than a member id may be */
#define ACTION_MAX 47        /* ct_audit_rec_t.action holds 47 bytes */
#define OBJECT_TYPE_MAX 23   /* ct_audit_rec_t.object_type */
#define OBJECT_ID_MAX 256    /* the daemon's object ids are shorter; admin ones may not be */
#define ENVELOPE_OVERHEAD 64 /* request_id, the body's tag and length, next_cursor and more */

/* One record of the page, owning its strings. */
typedef struct page_rec {
    Careteam__V1__AuditRecord pb;
    char *text; /* every string of pb, one allocation */
} page_rec_t;

typedef struct page {
    page_rec_t *recs;
    size_t n, limit;
    size_t budget; /* bytes the records may take in the reply */
    size_t used;
    bool more;
    int err;
} page_t;

static size_t varint_len(size_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Bytes the record takes inside AuditPage: its tag, its length and itself. */
static size_t rec_wire_size(const Careteam__V1__AuditRecord *r)
{
    size_t len = careteam__v1__audit_record__get_packed_size(r);
    return 1 + varint_len(len) + len;
}

/* Copies the strings of a row into one allocation and points rec's fields at them. */
static int rec_copy(page_rec_t *rec, const ct_audit_found_t *row)
{
    const char *src[] = {row->actor_id,    row->cert_fp,   row->peer_addr,      row->action,
                         row->object_type, row->object_id, row->participant_id, row->detail};
    enum { N = sizeof src / sizeof src[0] };
    size_t len[N], total = 0;
    for (size_t i = 0; i < N; i++) {
        len[i] = strlen(src[i]);
        total += len[i] + 1;
    }
    char *p = malloc(total);
    if (p == NULL)
        return CT_ENOMEM;
    char *dst[N];
    rec->text = p;
    for (size_t i = 0; i < N; i++) {
        memcpy(p, src[i], len[i] + 1);
        dst[i] = p;
        p += len[i] + 1;
    }
    Careteam__V1__AuditRecord init = CARETEAM__V1__AUDIT_RECORD__INIT;
    rec->pb = init;
    rec->pb.seq = (uint64_t)row->seq;
    rec->pb.time_ms = row->time_ms;
    rec->pb.actor_id = dst[0];
    rec->pb.actor_role = (Careteam__V1__Role)row->actor_role;
    rec->pb.cert_fp = dst[1];
    rec->pb.peer_addr = dst[2];
    rec->pb.action = dst[3];
    rec->pb.object_type = dst[4];
    rec->pb.object_id = dst[5];
    rec->pb.participant_id = dst[6];
    rec->pb.outcome = (uint32_t)row->outcome;
    rec->pb.detail = dst[7];
    return 0;
}

/* Shortens a record's detail, at a UTF-8 character boundary, until the record fits in budget
 * bytes. Only a record too large for any page gets here (a page must make progress). */
static bool rec_shrink(Careteam__V1__AuditRecord *r, size_t budget)
{
    size_t len = strlen(r->detail);
    while (rec_wire_size(r) > budget && len > 0) {
        size_t over = rec_wire_size(r) - budget;
        len = over < len ? len - over : 0;
        while (len > 0 && ((unsigned char)r->detail[len] & 0xc0) == 0x80)
            len--;
        r->detail[len] = '\0';
    }
    return rec_wire_size(r) <= budget;
}

static int collect(const ct_audit_found_t *row, void *arg)
{
    page_t *pg = arg;
    if (pg->n == pg->limit) { /* the row after a full page: there is more */
        pg->more = true;
        return 1;
    }
    page_rec_t *rec = &pg->recs[pg->n];
    pg->err = rec_copy(rec, row);
    if (pg->err != 0)
        return 1;
    size_t size = rec_wire_size(&rec->pb);
    if (pg->used + size > pg->budget) {
        if (pg->n > 0 || !rec_shrink(&rec->pb, pg->budget)) {
            free(rec->text);
            pg->more = true;
            pg->err = pg->n > 0 ? 0 : CT_EINTERNAL;
            return 1;
        }
        size = rec_wire_size(&rec->pb);
    }
    pg->used += size;
    pg->n++;
    return 0;
}

static int outcome_code(Careteam__V1__AuditOutcomeFilter f)
{
    switch (f) {
    case CARETEAM__V1__AUDIT_OUTCOME_FILTER__AUDIT_OUTCOME_FILTER_SUCCESS:
        return CT_AUDIT_SUCCESS;
    case CARETEAM__V1__AUDIT_OUTCOME_FILTER__AUDIT_OUTCOME_FILTER_MINOR_FAILURE:
        return CT_AUDIT_MINOR_FAILURE;
    case CARETEAM__V1__AUDIT_OUTCOME_FILTER__AUDIT_OUTCOME_FILTER_SERIOUS_FAILURE:
        return CT_AUDIT_SERIOUS_FAILURE;
    case CARETEAM__V1__AUDIT_OUTCOME_FILTER__AUDIT_OUTCOME_FILTER_MAJOR_FAILURE:
        return CT_AUDIT_MAJOR_FAILURE;
    default:
        return -1;
    }
}

/* The audit detail: the filters set (by name), the ids and codes among them, and the result. */
static void describe(ct_wf_t *w, const Careteam__V1__AuditQuery *q, size_t n, bool more)
{
    const struct {
        bool set;
        const char *name;
    } filters[] = {
        {q->since_ms != 0, "since"},
        {q->until_ms != 0, "until"},
        {q->actor_id[0] != '\0', "actor"},
        {q->participant_id[0] != '\0', "participant"},
        {q->action[0] != '\0', "action"},
        {q->outcome != 0, "outcome"},
        {q->object_type[0] != '\0', "object_type"},
        {q->object_id[0] != '\0', "object_id"},
    };
    char names[128] = "";
    size_t used = 0;
    for (size_t i = 0; i < sizeof filters / sizeof filters[0] && used < sizeof names; i++) {
        if (filters[i].set)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", used ? "," : "",
                                     filters[i].name);
    }
    char *d = w->job.audit.detail;
    size_t len = sizeof w->job.audit.detail;
    int k = snprintf(d, len, "filters=%s after=%llu results=%zu more=%d", used ? names : "none",
                     (unsigned long long)q->after_seq, n, more ? 1 : 0);
    if (k > 0 && (size_t)k < len && q->action[0] != '\0')
        k += snprintf(d + k, len - (size_t)k, " action=%s", q->action);
    if (k > 0 && (size_t)k < len && q->actor_id[0] != '\0')
        snprintf(d + k, len - (size_t)k, " actor=%s", q->actor_id);
}

static int run_query(ct_wf_t *w, ct_store_t *st, int64_t now_ms)
{
    (void)now_ms;
    const Careteam__V1__AuditQuery *q = w->req->audit_query;
    ct_audit_filter_t f = {
        .since_ms = q->since_ms,
        .until_ms = q->until_ms,
        .actor_id = q->actor_id,
        .participant_id = q->participant_id,
        .action = q->action,
        .outcome = outcome_code(q->outcome),
        .object_type = q->object_type,
        .object_id = q->object_id,
    };
    size_t max_frame = w->ctx->cfg->max_frame;
    page_t pg = {
        .limit = q->limit == 0 ? PAGE_DEFAULT : q->limit,
        .budget = max_frame > ENVELOPE_OVERHEAD ? max_frame - ENVELOPE_OVERHEAD : 0,
    };
    pg.recs = calloc(pg.limit, sizeof *pg.recs);
    if (pg.recs == NULL)
        return CT_ENOMEM;
    /* One row beyond the page says whether there is more. */
    int err = ct_store_audit_query(st, &f, (int64_t)q->after_seq, (int)pg.limit + 1, collect, &pg);
    err = err < 0 ? err : pg.err;
    Careteam__V1__AuditRecord **pv = NULL;
    if (err == 0 && pg.n > 0) {
        pv = calloc(pg.n, sizeof *pv);
        err = pv != NULL ? 0 : CT_ENOMEM;
    }
    if (err == 0) {
        for (size_t i = 0; i < pg.n; i++)
            pv[i] = &pg.recs[i].pb;
        Careteam__V1__AuditPage page = CARETEAM__V1__AUDIT_PAGE__INIT;
        page.n_records = pg.n;
        page.records = pv;
        page.next_cursor = pg.n > 0 ? pg.recs[pg.n - 1].pb.seq : q->after_seq;
        page.more = pg.more;
        err = ct_wf_reply_body(w, CARETEAM__V1__ENVELOPE__BODY_AUDIT_PAGE, &page);
        if (err == 0 && w->reply.len > CT_FRAME_HEADER + (size_t)max_frame)
            err = CT_EINTERNAL; /* the accounting above is wrong: refuse rather than exceed */
        describe(w, q, pg.n, pg.more);
    }
    for (size_t i = 0; i < pg.n; i++)
        free(pg.recs[i].text);
    free(pg.recs);
    free(pv);
    return err;
}

/* ---- checks on the loop thread ------------------------------------------------------------- */

static bool printable_ascii(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x21 || s[i] > 0x7e)
            return false;
    }
    return true;
}

/* An action code or a prefix ending in '.': lower-case words of [a-z0-9_] joined by '.'. */
static bool action_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > ACTION_MAX || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool word = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        if (!word && !(c == '.' && s[i - 1] != '.'))
            return false;
    }
    return true;
}

static bool object_type_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > OBJECT_TYPE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
            return false;
    }
    return true;
}

static int refuse(ct_request_t *req, const char *why)
{
    ct_text_copy(req->why, sizeof req->why, why);
    return CT_EINVAL;
}

int ct_handle_audit_query(ct_request_t *req)
{
    const Careteam__V1__AuditQuery *q = req->env->audit_query;
    if (q->limit > PAGE_MAX)
        return refuse(req, "limit is at most 1000 (0 means 500)");
    if (q->since_ms < 0 || q->until_ms < 0)
        return refuse(req, "since_ms and until_ms are Unix milliseconds, 0 or more");
    if (q->until_ms != 0 && q->since_ms >= q->until_ms)
        return refuse(req, "since_ms must be before until_ms");
    if (q->after_seq > (uint64_t)INT64_MAX)
        return refuse(req, "after_seq is not a cursor this server gave");
    if (q->actor_id[0] != '\0' && !printable_ascii(q->actor_id, ACTOR_MAX))
        return refuse(req, "actor_id must be 1-128 printable ASCII characters without spaces");
    if (q->participant_id[0] != '\0' && !ct_id_valid(q->participant_id))
        return refuse(req, "participant_id must be 1-64 characters of A-Z a-z 0-9 . _ -");
    if (q->action[0] != '\0' && !action_valid(q->action))
        return refuse(req, "action must be an action code such as message.send, or a prefix "
                           "ending in '.' such as referral.");
    if (outcome_code(q->outcome) < 0 &&
        q->outcome != CARETEAM__V1__AUDIT_OUTCOME_FILTER__AUDIT_OUTCOME_FILTER_ANY)
        return refuse(req, "outcome is not an AuditOutcomeFilter value");
    if (q->object_type[0] != '\0' && !object_type_valid(q->object_type))
        return refuse(req, "object_type must be 1-23 characters of a-z and _");
    if (strlen(q->object_id) > OBJECT_ID_MAX)
        return refuse(req, "object_id is longer than 256 bytes");
    ct_wf_t *w = ct_wf_new(req, run_query, q->participant_id);
    if (w == NULL)
        return CT_ENOMEM;
    ct_audit_rec_object(&w->job.audit, "audit", NULL);
    return ct_wf_read(w);
}
