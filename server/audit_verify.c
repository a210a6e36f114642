/*
 * The audit log verifier (see audit_verify.h).
 *
 * One pass over the rows in seq order keeps O(1) state besides the sorted checkpoints: the seq
 * the next row must have, the chain value after the rows verified so far (head), the one before
 * the last of them (before), and the next checkpoint to meet. The checks on each row, in order,
 * so that the verdict names the earliest sequence number that is wrong:
 *
 *   1. seq is the expected one              else MISSING at the expected seq (or MALFORMED)
 *   2. every column has its type, hashes
 *      are 32 bytes, the encoding version
 *      is known                              else MALFORMED
 *      a version-1 row has no cert_fp        else EDITED (version 1 does not hash one)
 *   3. leaf(content at seq) = stored leaf    else, looking one position either side:
 *        leaf(content at seq - 1) matches      INSERTED at seq - 1 (this row was written there)
 *        leaf(content at seq + 1) matches      RENUMBERED at seq
 *        neither                               EDITED at seq
 *   4. SHA-256(head || leaf) = stored chain  else
 *        SHA-256(before || leaf) or
 *        SHA-256(before || leaf at seq - 1)
 *        matches                               INSERTED at seq - 1 (this row was chained to the
 *                                              row before that one)
 *        otherwise                             CHAIN at seq
 *   5. for each checkpoint at this seq:
 *        well-formed, signed with the key's id,
 *        signature valid                     else SIGNATURE at seq
 *        head = the chain value just computed  else REWRITTEN at seq
 *
 * After the last row, a checkpoint beyond it with a valid signature is TRUNCATED at the first
 * missing seq (one with a bad signature there is SIGNATURE at its own seq).
 *
 * The neighbour checks only run on a row already found bad, so a clean log costs two hashes a
 * row (and one signature check per checkpoint). A row blamed as inserted at seq - 1 had itself
 * passed: it is taken back out of the count.
 */
#include "audit_verify.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "text.h"

#define FOUND 1 /* returned by check_row to stop the scan at a bad row */

typedef struct verify_state {
    int64_t expect; /* the seq the next row must have */
    int64_t n;      /* rows verified */
    uint8_t head[CT_AUDIT_HASH_LEN];
    uint8_t before[CT_AUDIT_HASH_LEN]; /* chain before the last verified row; valid if n >= 1 */
    ct_audit_verdict_t *out;
    const ct_audit_checkpoint_t *cps; /* sorted by seq */
    size_t n_cps;
    size_t next_cp;               /* the first checkpoint not yet checked */
    const ct_audit_pubkey_t *key; /* NULL when there are no checkpoints */
    int64_t cps_ok;               /* checkpoints verified */
    int64_t cp_seq, cp_time_ms;   /* the newest verified checkpoint; 0 if none */
} verify_state_t;

const char *ct_audit_fault_name(ct_audit_fault_t fault)
{
    switch (fault) {
    case CT_AUDIT_FAULT_NONE:
        return "ok";
    case CT_AUDIT_FAULT_MISSING:
        return "missing";
    case CT_AUDIT_FAULT_MALFORMED:
        return "malformed";
    case CT_AUDIT_FAULT_EDITED:
        return "edited";
    case CT_AUDIT_FAULT_RENUMBERED:
        return "renumbered";
    case CT_AUDIT_FAULT_INSERTED:
        return "inserted";
    case CT_AUDIT_FAULT_CHAIN:
        return "chain";
    case CT_AUDIT_FAULT_SIGNATURE:
        return "signature";
    case CT_AUDIT_FAULT_REWRITTEN:
        return "rewritten";
    case CT_AUDIT_FAULT_TRUNCATED:
        return "truncated";
    case CT_AUDIT_FAULT_ZONES:
        return "zones";
    }
    return "?";
}

/* Records the verdict "fault at bad_seq", with vs->n rows and vs->head verified before it. */
static int found(verify_state_t *vs, ct_audit_fault_t fault, int64_t bad_seq, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int found(verify_state_t *vs, ct_audit_fault_t fault, int64_t bad_seq, const char *fmt, ...)
{
    ct_audit_verdict_t *out = vs->out;
    out->fault = fault;
    out->bad_seq = bad_seq;
    out->records = vs->n;
    memcpy(out->head, vs->head, CT_AUDIT_HASH_LEN);
    out->checkpoints = vs->cps_ok;
    out->checkpoint_seq = vs->cp_seq;
    out->checkpoint_time_ms = vs->cp_time_ms;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->what, sizeof out->what, fmt, ap);
    va_end(ap);
    return FOUND;
}

/* Takes the last verified row back out: it is the one found bad. */
static void unverify_last(verify_state_t *vs)
{
    vs->n--;
    memcpy(vs->head, vs->before, CT_AUDIT_HASH_LEN);
}

/* Whether row's content, placed at seq, hashes to leaf. Sets *err on a hashing failure. */
static bool leaf_at(const ct_audit_row_t *row, int64_t seq, const uint8_t *leaf, int *err)
{
    ct_audit_row_t moved = *row;
    moved.seq = seq;
    uint8_t h[CT_AUDIT_HASH_LEN];
    *err = ct_audit_chain_leaf(&moved, h);
    return *err == 0 && memcmp(h, leaf, CT_AUDIT_HASH_LEN) == 0;
}

/* Steps 3: the stored leaf does not match; finds the most specific explanation. */
static int bad_leaf(verify_state_t *vs, const ct_audit_stored_t *r)
{
    int64_t seq = r->row.seq;
    int err = 0;
    if (vs->n >= 1 && leaf_at(&r->row, seq - 1, r->leaf, &err)) {
        unverify_last(vs);
        return found(vs, CT_AUDIT_FAULT_INSERTED, seq - 1,
                     "this row is not in the chain as written: the row after it was written as "
                     "seq %lld (a row was inserted here)",
                     (long long)(seq - 1));
    }
    if (err == 0 && seq < INT64_MAX && leaf_at(&r->row, seq + 1, r->leaf, &err))
        return found(vs, CT_AUDIT_FAULT_RENUMBERED, seq,
                     "this row was written as seq %lld: the row written as seq %lld was deleted "
                     "or moved elsewhere, and this one moved down",
                     (long long)(seq + 1), (long long)seq);
    if (err != 0)
        return err;
    return found(vs, CT_AUDIT_FAULT_EDITED, seq,
                 "the row's content does not match its leaf hash: the row was edited, replaced, "
                 "or moved here from another position");
}

/* Whether the stored chain of r is the one it had at seq - 1, chained to the row before that
 * (vs->before): with the leaf as it is, or as it was at seq - 1 if the leaf was recomputed after
 * the row was moved up. Sets *err on a hashing failure. */
static bool chained_one_back(const verify_state_t *vs, const ct_audit_stored_t *r,
                             const uint8_t *leaf, int *err)
{
    uint8_t old_leaf[CT_AUDIT_HASH_LEN], h[CT_AUDIT_HASH_LEN];
    ct_audit_row_t moved = r->row;
    moved.seq--;
    *err = ct_audit_chain_link(vs->before, leaf, h);
    if (*err != 0 || memcmp(h, r->chain, CT_AUDIT_HASH_LEN) == 0)
        return *err == 0;
    *err = ct_audit_chain_leaf(&moved, old_leaf);
    if (*err == 0)
        *err = ct_audit_chain_link(vs->before, old_leaf, h);
    return *err == 0 && memcmp(h, r->chain, CT_AUDIT_HASH_LEN) == 0;
}

/* Step 4: the leaf matches but the stored chain does not follow from head. */
static int bad_chain(verify_state_t *vs, const ct_audit_stored_t *r, const uint8_t *leaf)
{
    int64_t seq = r->row.seq;
    if (vs->n >= 1) {
        int err = 0;
        bool inserted = chained_one_back(vs, r, leaf, &err);
        if (err != 0)
            return err;
        if (inserted) {
            unverify_last(vs);
            return found(vs, CT_AUDIT_FAULT_INSERTED, seq - 1,
                         "this row is not in the chain as written: the row after it is chained "
                         "directly to %s (a row was inserted here)",
                         seq - 1 > 1 ? "the row before it" : "the genesis value");
        }
    }
    if (seq == 1)
        return found(vs, CT_AUDIT_FAULT_CHAIN, seq,
                     "the row's chain hash does not follow from the genesis value: the chain "
                     "value was altered");
    return found(vs, CT_AUDIT_FAULT_CHAIN, seq,
                 "the row's chain hash does not follow from row %lld: the row was edited, "
                 "moved or replaced and its leaf recomputed, or its chain value was altered",
                 (long long)(seq - 1));
}

void ct_audit_time_text(int64_t time_ms, char *out, size_t len)
{
    time_t t = (time_t)(time_ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, len, "%lld ms", (long long)time_ms);
}

/*
 * Whether cp is a checkpoint made with the key: well-formed, of the key's id, with a valid
 * signature. Returns 1 if so, 0 if not (with why filled), or a CT_E* code.
 */
static int signed_by_key(const verify_state_t *vs, const ct_audit_checkpoint_t *cp, char *why,
                         size_t len)
{
    if (cp->malformed != NULL) {
        snprintf(why, len, "it is malformed: %s", cp->malformed);
        return 0;
    }
    const char *id = ct_audit_pubkey_key_id(vs->key);
    if (strcmp(cp->key_id, id) != 0) {
        snprintf(why, len,
                 "it names signing key %.16s, not the audit key %s it is checked against: it "
                 "was made with another key, or its key id was altered",
                 cp->key_id, id);
        return 0;
    }
    int r = ct_audit_pubkey_verify(vs->key, cp);
    if (r == 0)
        snprintf(why, len,
                 "its signature does not verify under audit key %s: the checkpoint was forged, "
                 "or its seq, head, time or signature altered",
                 id);
    return r;
}

/* Step 5: the checkpoint at the row just verified, whose chain value is vs->head. */
static int check_checkpoint(verify_state_t *vs, const ct_audit_checkpoint_t *cp)
{
    char why[240];
    int r = signed_by_key(vs, cp, why, sizeof why);
    if (r < 0)
        return r;
    /* A bad checkpoint leaves its own row unproven too: the verdict's records and head are those
     * before it (audit_verify.h). */
    if (r == 0) {
        unverify_last(vs);
        return found(vs, CT_AUDIT_FAULT_SIGNATURE, cp->seq, "the checkpoint at seq %lld is bad: %s",
                     (long long)cp->seq, why);
    }
    if (memcmp(cp->head, vs->head, CT_AUDIT_HASH_LEN) != 0) {
        unverify_last(vs);
        char when[40];
        ct_audit_time_text(cp->time_ms, when, sizeof when);
        return found(vs, CT_AUDIT_FAULT_REWRITTEN, cp->seq,
                     "the chain value at seq %lld is not the one signed in the checkpoint of %s: "
                     "rows %lld to %lld (after the last checkpoint that matched) were altered and "
                     "every later hash recomputed",
                     (long long)cp->seq, when, (long long)(vs->cp_seq + 1), (long long)cp->seq);
    }
    vs->cps_ok++;
    vs->cp_seq = cp->seq;
    vs->cp_time_ms = cp->time_ms;
    return 0;
}

/* After the last row (vs->n of them, all verified): checkpoints beyond the end of the log. */
static int check_beyond_end(verify_state_t *vs)
{
    const ct_audit_checkpoint_t *newest_good = NULL, *first_bad = NULL;
    char why[240] = "";
    for (size_t i = vs->next_cp; i < vs->n_cps; i++) {
        char w[240];
        int r = signed_by_key(vs, &vs->cps[i], w, sizeof w);
        if (r < 0)
            return r;
        if (r == 1) {
            newest_good = &vs->cps[i];
        } else if (first_bad == NULL) {
            first_bad = &vs->cps[i];
            ct_text_copy(why, sizeof why, w);
        }
    }
    if (newest_good != NULL) {
        char when[40];
        ct_audit_time_text(newest_good->time_ms, when, sizeof when);
        return found(vs, CT_AUDIT_FAULT_TRUNCATED, vs->n + 1,
                     "the log ends at seq %lld, but the checkpoint signed %s covers %lld records: "
                     "rows %lld to %lld (at least) were cut off the end",
                     (long long)vs->n, when, (long long)newest_good->seq, (long long)(vs->n + 1),
                     (long long)newest_good->seq);
    }
    if (first_bad != NULL)
        return found(vs, CT_AUDIT_FAULT_SIGNATURE, first_bad->seq,
                     "the checkpoint at seq %lld, beyond the end of the log, is bad: %s",
                     (long long)first_bad->seq, why);
    return 0;
}

static int by_seq(const void *a, const void *b)
{
    const ct_audit_checkpoint_t *x = a, *y = b;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* The scan callback: checks one row (steps 1-5). Returns 0 to go on, FOUND, or a CT_E* code. */
static int check_row(const ct_audit_stored_t *r, void *arg)
{
    verify_state_t *vs = arg;
    int64_t seq = r->row.seq;
    if (r->bad_column != NULL && strcmp(r->bad_column, "seq") == 0)
        return found(vs, CT_AUDIT_FAULT_MALFORMED, vs->expect,
                     "the row after seq %lld has a sequence number that is not an integer",
                     (long long)(vs->expect - 1));
    if (seq > vs->expect) {
        if (seq == vs->expect + 1)
            return found(vs, CT_AUDIT_FAULT_MISSING, vs->expect,
                         "row %lld is missing (deleted); the next row is %lld",
                         (long long)vs->expect, (long long)seq);
        return found(vs, CT_AUDIT_FAULT_MISSING, vs->expect,
                     "rows %lld to %lld are missing (deleted); the next row is %lld",
                     (long long)vs->expect, (long long)(seq - 1), (long long)seq);
    }
    if (seq < vs->expect)
        return found(vs, CT_AUDIT_FAULT_MALFORMED, seq,
                     "sequence number %lld is out of place: sequence numbers start at 1",
                     (long long)seq);
    if (r->bad_column != NULL)
        return found(vs, CT_AUDIT_FAULT_MALFORMED, seq, "column %s holds a value of the wrong type",
                     r->bad_column);
    if (r->leaf_len != CT_AUDIT_HASH_LEN || r->chain_len != CT_AUDIT_HASH_LEN)
        return found(vs, CT_AUDIT_FAULT_MALFORMED, seq,
                     "the stored leaf is %zu bytes and the chain %zu bytes; both must be %d",
                     r->leaf_len, r->chain_len, CT_AUDIT_HASH_LEN);
    if (r->row.version != CT_AUDIT_ENCODING_V1 && r->row.version != CT_AUDIT_ENCODING_V2)
        return found(vs, CT_AUDIT_FAULT_MALFORMED, seq,
                     "the row's encoding version (column enc) is not 1 or 2, the versions "
                     "careteam has written");
    if (r->row.version == CT_AUDIT_ENCODING_V1 && r->row.cert_fp.len != 0)
        return found(vs, CT_AUDIT_FAULT_EDITED, seq,
                     "the row is of encoding version 1, written before certificate fingerprints "
                     "were recorded, yet holds one: the fingerprint was added afterwards");

    uint8_t leaf[CT_AUDIT_HASH_LEN], chain[CT_AUDIT_HASH_LEN];
    int err = ct_audit_chain_leaf(&r->row, leaf);
    if (err != 0)
        return err;
    if (memcmp(leaf, r->leaf, CT_AUDIT_HASH_LEN) != 0)
        return bad_leaf(vs, r);
    err = ct_audit_chain_link(vs->head, leaf, chain);
    if (err != 0)
        return err;
    if (memcmp(chain, r->chain, CT_AUDIT_HASH_LEN) != 0)
        return bad_chain(vs, r, leaf);

    memcpy(vs->before, vs->head, CT_AUDIT_HASH_LEN);
    memcpy(vs->head, chain, CT_AUDIT_HASH_LEN);
    vs->n++;
    vs->expect = seq < INT64_MAX ? seq + 1 : seq; /* no row can follow INT64_MAX anyway */
    while (vs->next_cp < vs->n_cps && vs->cps[vs->next_cp].seq == seq) {
        int rc = check_checkpoint(vs, &vs->cps[vs->next_cp]);
        if (rc != 0)
            return rc;
        vs->next_cp++;
    }
    return 0;
}

int ct_audit_verify(ct_store_t *st, const ct_audit_verify_opts_t *opts, ct_audit_verdict_t *out)
{
    memset(out, 0, sizeof *out);
    verify_state_t vs = {.expect = 1, .out = out};
    memcpy(vs.head, ct_audit_genesis, CT_AUDIT_HASH_LEN);
    ct_audit_checkpoint_t *sorted = NULL;
    if (opts != NULL && opts->n_checkpoints > 0) {
        if (opts->pubkey == NULL || opts->checkpoints == NULL)
            return CT_EINVAL;
        sorted = malloc(opts->n_checkpoints * sizeof *sorted);
        if (sorted == NULL)
            return CT_ENOMEM;
        memcpy(sorted, opts->checkpoints, opts->n_checkpoints * sizeof *sorted);
        qsort(sorted, opts->n_checkpoints, sizeof *sorted, by_seq);
        vs.cps = sorted;
        vs.n_cps = opts->n_checkpoints;
        vs.key = opts->pubkey;
    }
    int r = 0;
    /* A checkpoint before seq 1 covers nothing: only a hand-made one can be there. */
    if (vs.n_cps > 0 && sorted[0].seq < 1)
        r = found(&vs, CT_AUDIT_FAULT_SIGNATURE, sorted[0].seq,
                  "a checkpoint claims seq %lld; checkpoints cover seq 1 or more",
                  (long long)sorted[0].seq);
    if (r == 0)
        r = ct_store_audit_scan(st, check_row, &vs);
    if (r == 0)
        r = check_beyond_end(&vs);
    free(sorted);
    if (r == FOUND)
        return 0;
    if (r != 0)
        return r;
    out->fault = CT_AUDIT_FAULT_NONE;
    out->records = vs.n;
    memcpy(out->head, vs.head, CT_AUDIT_HASH_LEN);
    out->checkpoints = vs.cps_ok;
    out->checkpoint_seq = vs.cp_seq;
    out->checkpoint_time_ms = vs.cp_time_ms;
    return 0;
}

int ct_audit_verify_zones(ct_store_t *st, ct_audit_verdict_t *v)
{
    if (v->fault != CT_AUDIT_FAULT_NONE)
        return 0;
    int64_t n = 0, first = 0;
    int err = ct_store_audit_zones_check(st, &n, &first);
    if (err != 0 || n == 0)
        return err;
    v->fault = CT_AUDIT_FAULT_ZONES;
    v->bad_seq = first;
    v->zones_uncovered = n;
    if (n == 1)
        snprintf(v->what, sizeof v->what,
                 "1 zone of the log, starting at seq %lld, is not covered by its zone summary, "
                 "so audit queries by time, actor or action may miss rows there: the summary table "
                 "(audit_zones) was altered or is incomplete",
                 (long long)first);
    else
        snprintf(v->what, sizeof v->what,
                 "%lld zones of the log, the first starting at seq %lld, are not covered by "
                 "their zone summary, so audit queries by time, actor or action may miss rows "
                 "there: the summary table (audit_zones) was altered or is incomplete",
                 (long long)n, (long long)first);
    return 0;
}

typedef struct cp_collect {
    ct_audit_checkpoint_t *v;
    size_t n, cap;
} cp_collect_t;

static int collect_checkpoint(const ct_audit_checkpoint_t *cp, void *arg)
{
    cp_collect_t *c = arg;
    if (c->n == c->cap) {
        size_t cap = c->cap == 0 ? 16 : 2 * c->cap;
        ct_audit_checkpoint_t *v = realloc(c->v, cap * sizeof *v);
        if (v == NULL)
            return CT_ENOMEM;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = *cp;
    return 0;
}

int ct_audit_checkpoints_read(ct_store_t *st, ct_audit_checkpoint_t **out, size_t *n)
{
    cp_collect_t c = {0};
    int r = ct_store_audit_checkpoint_scan(st, collect_checkpoint, &c);
    if (r != 0) {
        free(c.v);
        *out = NULL;
        *n = 0;
        return r;
    }
    *out = c.v;
    *n = c.n;
    return 0;
}
