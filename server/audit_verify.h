/*
 * Verification of the audit log's hash chain (`careteamd audit verify`).
 *
 * ct_audit_verify reads every audit row in seq order (one at a time, through the store) and
 * recomputes from the genesis value what the store computed when it appended each row
 * (audit_chain.h): seq must be 1, 2, 3, ...; the row's content must hash to its stored leaf; the
 * stored chain must be SHA-256(previous chain || leaf). It stops at the first row where one of
 * these fails and says which row that is and what the evidence points to.
 *
 * What the chain alone cannot show: rows removed from the end (truncation), and a log rewritten
 * from some row on with every later leaf and chain recomputed (the algorithm is public). Signed
 * checkpoints (issue 4, not built yet) close both; they will be checked in this same pass, by
 * comparing the running head with each checkpoint as its row goes by.
 */
#ifndef CT_AUDIT_VERIFY_H
#define CT_AUDIT_VERIFY_H

#include <stdint.h>

#include "audit_chain.h"
#include "store.h"

/* What is wrong with the first bad row; see what_text in audit_verify.c for the wording. */
typedef enum ct_audit_fault {
    CT_AUDIT_FAULT_NONE = 0,   /* the whole log verified */
    CT_AUDIT_FAULT_MISSING,    /* seq jumps: rows bad_seq.. are gone (deleted) */
    CT_AUDIT_FAULT_MALFORMED,  /* a column has the wrong type, a hash the wrong length */
    CT_AUDIT_FAULT_EDITED,     /* the content does not hash to the stored leaf */
    CT_AUDIT_FAULT_RENUMBERED, /* the row was written as seq bad_seq + 1 (a row was deleted or
                                  moved, and the rows after it renumbered) */
    CT_AUDIT_FAULT_INSERTED,   /* the row was not in the chain as written: the row after it was
                                  written directly after the row before it */
    CT_AUDIT_FAULT_CHAIN,      /* the leaf matches but the chain does not follow from the row
                                  before (rows before it altered and re-hashed, or chain edited) */
} ct_audit_fault_t;

typedef struct ct_audit_verdict {
    ct_audit_fault_t fault;
    int64_t bad_seq; /* the first bad sequence number; 0 when fault is NONE */
    int64_t records; /* rows verified: all rows when fault is NONE, else those before bad_seq */
    uint8_t head[CT_AUDIT_HASH_LEN]; /* chain value after the verified rows (genesis if none) */
    char what[256];                  /* one sentence for a person; "" when fault is NONE */
} ct_audit_verdict_t;

/*
 * Verifies the audit log of st (a read-only handle is enough) and fills *out. Returns 0 when the
 * check ran to a verdict, good or bad (see out->fault), or a negative CT_E* code when the log
 * could not be read to the end (out is then unspecified). Memory use does not grow with the log.
 */
int ct_audit_verify(ct_store_t *st, ct_audit_verdict_t *out);

/* The fault's short name ("edited", "missing", ...), for logs and tests; "ok" for NONE. */
const char *ct_audit_fault_name(ct_audit_fault_t fault);

#endif
