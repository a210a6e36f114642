/*
 * The audit chain verifier (see audit_verify.h).
 *
 * One pass over the rows in seq order keeps O(1) state: the seq the next row must have, the chain
 * value after the rows verified so far (head), and the one before the last of them (before). The
 * checks on each row, in order, so that the verdict names the earliest sequence number that is
 * wrong:
 *
 *   1. seq is the expected one              else MISSING at the expected seq (or MALFORMED)
 *   2. every column has its type, hashes
 *      are 32 bytes                          else MALFORMED
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
 *
 * The neighbour checks only run on a row already found bad, so a clean log costs two hashes a
 * row. A row blamed as inserted at seq - 1 had itself passed: it is taken back out of the count.
 */
#include "audit_verify.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

#define FOUND 1 /* returned by check_row to stop the scan at a bad row */

typedef struct verify_state {
    int64_t expect; /* the seq the next row must have */
    int64_t n;      /* rows verified */
    uint8_t head[CT_AUDIT_HASH_LEN];
    uint8_t before[CT_AUDIT_HASH_LEN]; /* chain before the last verified row; valid if n >= 1 */
    ct_audit_verdict_t *out;
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

/* The scan callback: checks one row (steps 1-4). Returns 0 to go on, FOUND, or a CT_E* code. */
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
    return 0;
}

int ct_audit_verify(ct_store_t *st, ct_audit_verdict_t *out)
{
    memset(out, 0, sizeof *out);
    verify_state_t vs = {.expect = 1, .out = out};
    memcpy(vs.head, ct_audit_genesis, CT_AUDIT_HASH_LEN);
    int r = ct_store_audit_scan(st, check_row, &vs);
    if (r == FOUND)
        return 0;
    if (r != 0)
        return r;
    out->fault = CT_AUDIT_FAULT_NONE;
    out->records = vs.n;
    memcpy(out->head, vs.head, CT_AUDIT_HASH_LEN);
    return 0;
}
