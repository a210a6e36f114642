/*
 * A large audit log for the benchmarks of the audit trail (bench_audit_verify, bench_audit_query):
 * rows shaped like a busy day's, written through the store API (ct_store_audit_append, the path
 * every real row takes: head lookup, leaf and chain hashes, insert, zone summary).
 *
 * Row i (from 0): time 1700000000000 + 37 * i ms; actor "member.NNN" with NNN = i % 200; action
 * the i % 8-th of CT_BENCH_AUDIT_ACTIONS; participant "p-K" with K = i % 5000; a refusal every
 * 50 rows. The query bench relies on this shape to know how many rows each filter matches.
 */
#ifndef CT_BENCH_AUDIT_FILL_H
#define CT_BENCH_AUDIT_FILL_H

#include <stdint.h>

#define CT_BENCH_AUDIT_T0 1700000000000
#define CT_BENCH_AUDIT_STEP_MS 37
#define CT_BENCH_AUDIT_ACTORS 200
#define CT_BENCH_AUDIT_PARTICIPANTS 5000
#define CT_BENCH_AUDIT_ACTIONS                                                                     \
    "message.send", "message.delivery_ack", "session.hello", "referral.accept", "summary.post",    \
        "consent.record", "session.ping", "alert.acknowledge"

/* Creates (or opens) the database at db and appends rows rows in transactions of 50,000. `who`
 * names the program in error messages. Returns 0 or a CT_E* code (after printing why). */
int ct_bench_audit_fill(const char *db, int64_t rows, const char *who);

#endif
