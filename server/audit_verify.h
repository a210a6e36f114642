/*
 * Verification of the audit log (`careteamd audit verify`): its hash chain and its signed
 * checkpoints.
 *
 * ct_audit_verify reads every audit row in seq order (one at a time, through the store) and
 * recomputes from the genesis value what the store computed when it appended each row
 * (audit_chain.h): seq must be 1, 2, 3, ...; the row's content must hash to its stored leaf under
 * the row's encoding version; the stored chain must be SHA-256(previous chain || leaf). It stops
 * at the first row where one of these fails and says which row that is and what the evidence
 * points to.
 *
 * What the chain alone cannot show: rows removed from the end (truncation), and a log rewritten
 * from some row on with every later leaf and chain recomputed (the algorithm is public). Signed
 * checkpoints close both, and are checked in the same pass: as the row of each checkpoint's seq
 * goes by, the checkpoint's signature must verify under the audit public key and its head must
 * equal the recomputed chain value there; after the last row, no checkpoint may cover more rows
 * than the log has. The checkpoints come from the caller: the database's own table, or an export
 * kept off the host (which an attacker who rewrites the database cannot rewrite too).
 *
 * What neither covers: the zone summary of the log (audit_zones), which queries by time, actor or
 * action read to find rows. ct_audit_verify_zones checks it after a clean verdict.
 */
#ifndef CT_AUDIT_VERIFY_H
#define CT_AUDIT_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "audit_chain.h"
#include "audit_sign.h"
#include "store.h"

/* What is wrong with the first bad row; see what_text in audit_verify.c for the wording. */
typedef enum ct_audit_fault {
    CT_AUDIT_FAULT_NONE = 0,   /* the whole log verified */
    CT_AUDIT_FAULT_MISSING,    /* seq jumps: rows bad_seq.. are gone (deleted) */
    CT_AUDIT_FAULT_MALFORMED,  /* a column has the wrong type, a hash the wrong length, or the
                                  encoding version is unknown */
    CT_AUDIT_FAULT_EDITED,     /* the content does not hash to the stored leaf */
    CT_AUDIT_FAULT_RENUMBERED, /* the row was written as seq bad_seq + 1 (a row was deleted or
                                  moved, and the rows after it renumbered) */
    CT_AUDIT_FAULT_INSERTED,   /* the row was not in the chain as written: the row after it was
                                  written directly after the row before it */
    CT_AUDIT_FAULT_CHAIN,      /* the leaf matches but the chain does not follow from the row
                                  before (rows before it altered and re-hashed, or chain edited) */
    CT_AUDIT_FAULT_SIGNATURE,  /* the checkpoint at bad_seq is not signed by the audit key
                                  (forged, altered, made with another key, or malformed) */
    CT_AUDIT_FAULT_REWRITTEN,  /* the chain value at bad_seq is not the one its signed checkpoint
                                  holds: rows after the previous good checkpoint up to bad_seq
                                  were rewritten and re-hashed */
    CT_AUDIT_FAULT_TRUNCATED,  /* the log ends before bad_seq, but a signed checkpoint covers
                                  it: rows bad_seq.. were cut off the end */
    CT_AUDIT_FAULT_ZONES,      /* the chain and the checkpoints verify, but the zone summary
                                  (audit_zones, outside the chain) leaves out rows of
                                  zones_uncovered zones, the first of them starting at bad_seq:
                                  queries by time, actor or action may miss rows there
                                  (ct_audit_verify_zones) */
} ct_audit_fault_t;

typedef struct ct_audit_verdict {
    ct_audit_fault_t fault;
    int64_t bad_seq; /* the first bad sequence number; 0 when fault is NONE */
    int64_t records; /* rows verified: all rows when fault is NONE or ZONES, else those before
                        bad_seq */
    uint8_t head[CT_AUDIT_HASH_LEN]; /* chain value after the verified rows (genesis if none) */
    char what[320];                  /* one sentence for a person; "" when fault is NONE */
    /* Checkpoints verified before the verdict (all of them when fault is NONE), and the newest
     * of those: seq and signing time, 0 if none. */
    int64_t checkpoints;
    int64_t checkpoint_seq;
    int64_t checkpoint_time_ms;
    int64_t zones_uncovered; /* ZONES: how many zones the zone summary leaves rows out of; else 0 */
} ct_audit_verdict_t;

/* The checkpoints to check the log against, and the key that must have signed them. */
typedef struct ct_audit_verify_opts {
    const ct_audit_checkpoint_t *checkpoints; /* any order; NULL when n_checkpoints is 0 */
    size_t n_checkpoints;
    const ct_audit_pubkey_t *pubkey; /* required when n_checkpoints > 0 (else CT_EINVAL) */
} ct_audit_verify_opts_t;

/*
 * Verifies the audit log of st (a read-only handle is enough) against opts (NULL: the chain
 * only) and fills *out. Returns 0 when the check ran to a verdict, good or bad (see out->fault),
 * or a negative CT_E* code when the log could not be read to the end (out is then unspecified).
 * Memory use does not grow with the log, only with the number of checkpoints (a sorted copy).
 * Read the checkpoints before calling this (the log only grows, so rows a checkpoint covers are
 * then always in the scan's snapshot).
 */
int ct_audit_verify(ct_store_t *st, const ct_audit_verify_opts_t *opts, ct_audit_verdict_t *out);

/*
 * The second check of `careteamd audit verify`, after ct_audit_verify gave *v on st: that the
 * zone summary queries by time, actor or action rely on (audit_zones, store.h
 * ct_store_audit_zones_check) covers every row. It is not part of the hash chain, so an edited
 * or incomplete summary leaves the chain intact while a time-range audit query silently misses
 * rows. One pass over the log. Only a verdict of NONE is checked; it becomes ZONES (bad_seq: the
 * first row of the first zone not covered; records, head and checkpoints stay those of the whole
 * log). Any other verdict is left as it is: the chain fault comes first, and the rows it names may
 * be what a zone leaves out. Returns 0, or a negative CT_E* code when the summary could not be read
 * (*v is then unchanged).
 */
int ct_audit_verify_zones(ct_store_t *st, ct_audit_verdict_t *v);

/* The fault's short name ("edited", "missing", ...), for logs and tests; "ok" for NONE. */
const char *ct_audit_fault_name(ct_audit_fault_t fault);

/* Writes time_ms as "YYYY-MM-DDTHH:MM:SSZ" (UTC), for messages. */
void ct_audit_time_text(int64_t time_ms, char *out, size_t len);

/* Reads every checkpoint of st's audit_checkpoints table into a new array (*out, freed by the
 * caller with free(); NULL when *n is 0). Returns 0 or a CT_E* code. */
int ct_audit_checkpoints_read(ct_store_t *st, ct_audit_checkpoint_t **out, size_t *n);

#endif
