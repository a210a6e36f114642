/* A large audit log for the benchmarks (see audit_fill.h). */
#include "audit_fill.h"

#include <inttypes.h>
#include <stdio.h>

#include "store.h"

#define BATCH 50000 /* rows per transaction: one fsync per batch, bounded WAL growth */

int ct_bench_audit_fill(const char *db, int64_t rows, const char *who)
{
    static const char *const actions[] = {CT_BENCH_AUDIT_ACTIONS};
    ct_store_t *st = NULL;
    char err[512];
    int r = ct_store_open(db, CT_STORE_READWRITE, &st, err, sizeof err);
    if (r != 0) {
        fprintf(stderr, "%s: %s\n", who, err);
        return r;
    }
    for (int64_t i = 0; r == 0 && i < rows; i++) {
        if (i % BATCH == 0 && (r = ct_store_begin(st)) != 0)
            break;
        char actor[32], peer[32], object[48], participant[16], detail[64];
        snprintf(actor, sizeof actor, "member.%03" PRId64, i % CT_BENCH_AUDIT_ACTORS);
        snprintf(peer, sizeof peer, "10.0.%d.%d:%d", (int)(i % 7), (int)(i % 250),
                 40000 + (int)(i % 20000));
        snprintf(object, sizeof object, "01900000-0000-7000-8000-%012" PRIx64, (uint64_t)i);
        snprintf(participant, sizeof participant, "p-%" PRId64, i % CT_BENCH_AUDIT_PARTICIPANTS);
        snprintf(detail, sizeof detail, "recipients=%d bytes=%d", (int)(i % 4) + 1,
                 (int)(i % 3000));
        ct_audit_t a = {
            .time_ms = CT_BENCH_AUDIT_T0 + i * CT_BENCH_AUDIT_STEP_MS,
            .actor_id = actor,
            .actor_role = (ct_role_t)(1 + i % 4),
            .peer_addr = peer,
            .action = actions[i % (int64_t)(sizeof actions / sizeof actions[0])],
            .object_type = "message",
            .object_id = object,
            .participant_id = participant,
            .outcome = i % 50 == 0 ? CT_AUDIT_MINOR_FAILURE : CT_AUDIT_SUCCESS,
            .detail = i % 50 == 0 ? "code=FORBIDDEN" : detail,
        };
        int64_t seq = ct_store_audit_append(st, &a);
        if (seq < 0)
            r = (int)seq;
        if (r == 0 && (i % BATCH == BATCH - 1 || i == rows - 1))
            r = ct_store_commit(st);
    }
    if (r != 0)
        fprintf(stderr, "%s: appending rows failed: %d\n", who, r);
    ct_store_close(st);
    return r;
}
