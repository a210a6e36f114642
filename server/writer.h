/*
 * The store writer: one thread that owns the read-write store handle and commits whatever is
 * queued in one transaction (group commit), then wakes the event loop to finish each job.
 *
 *   loop thread                      writer thread
 *   ct_writer_submit(job) --queue--> take all queued (at most CT_WRITER_BATCH)
 *                                    BEGIN
 *                                      per job: SAVEPOINT; apply(); audit row; audit_more();
 *                                               RELEASE
 *                                               (apply failed: ROLLBACK TO; audit row of refusal)
 *                                      (an audit-only job: its row, no savepoint)
 *                                      (a no_savepoint job, a send: the same without SAVEPOINT,
 *                                       RELEASE; failed after a write: the whole batch fails)
 *                                    COMMIT (synchronous=FULL: durable when it returns)
 *                                    under load, maybe a log checkpoint (CT_WRITER_LOG_MAX)
 *   job->done(job) <--ct_wake------- move the batch to the done queue
 *                                    idle, maybe a log checkpoint
 *
 * A batch is sized by what is queued, never by a timer: a lone request commits at once, and
 * under load many requests share one fsync.
 *
 * Signed checkpoints (when enabled with ct_writer_checkpoints): after a batch's jobs, inside its
 * transaction, the writer signs a checkpoint of the newest audit row (seq and chain head, with
 * the batch's time) when at least `every_rows` rows were added since the newest checkpoint, or
 * `every_ms` passed since it and a row was added, or there is none yet. So the checkpoint commits
 * with the rows it covers, or not at all. While idle with rows not yet covered, the thread wakes
 * when the interval is up and writes one in a transaction of its own; and when it stops, after
 * the last job (the daemon's "daemon.stop" row), it writes a final one. A checkpoint that cannot
 * be written is logged and retried an interval later; it never fails a job. If COMMIT fails (disk
 * full, I/O error), every job of the batch gets result CT_EIO and nothing of it is stored or
 * acknowledged; the writer goes on with the next batch, so the daemon recovers when the disk does.
 *
 * Jobs complete in submission order.
 */
#ifndef CT_WRITER_H
#define CT_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "audit.h"
#include "audit_sign.h"
#include "ids.h"
#include "store.h"

/* Most jobs in one transaction: bounds the latency of the first job in a batch and the work of
 * one loop wake-up that sends the batch's replies. */
#define CT_WRITER_BATCH 1024

/*
 * Log checkpoints (store.h) are the writer's, between batches, never inside a COMMIT:
 *  - when the queue is empty after a batch and at least CT_WRITER_LOG_IDLE pages wait to be
 *    copied: after the batch is handed to the loop, so that no reply waits for it (at a low
 *    rate, where a checkpoint inside the commit was the tail of the ack latency);
 *  - when more jobs are already queued and at least CT_WRITER_LOG_MAX pages wait: before the
 *    replies go out, as SQLite's own checkpoint did. Under a load that keeps the writer busy the
 *    writer is the bottleneck, and replies released early only bring more work to queue while
 *    the loop and the clients take CPU from the checkpoint (measured side by side: 1->1 maximum
 *    throughput 4-9 % lower with every checkpoint after the replies).
 * Small checkpoints are short stalls for the jobs that arrive during one.
 */
#define CT_WRITER_LOG_IDLE 500
#define CT_WRITER_LOG_MAX 1000

typedef struct ct_writer ct_writer_t;
typedef struct ct_job ct_job_t;

/* What the writer lends to apply(): valid only during the call. */
typedef struct ct_writer_env {
    ct_uuid7_gen_t *ids; /* the writer's id generator (time-ordered message ids) */
    int64_t now_ms;      /* the batch's time */
} ct_writer_env_t;

/*
 * A unit of write work. Embed it in the request's own struct and recover that with container_of.
 * The writer owns the job from submit until it calls done; done owns it after (and frees it).
 */
struct ct_job {
    ct_job_t *next; /* queue link; writer-owned */
    /* Writer thread, inside a savepoint (unless no_savepoint). Returns 0 or CT_E*; on error the
     * writer rolls back the savepoint and records the audit row as a refusal (a no_savepoint job
     * that wrote before it failed fails its whole batch instead). May be NULL for an audit-only
     * job. */
    int (*apply)(ct_job_t *job, ct_store_t *st, const ct_writer_env_t *env);
    /* Loop thread, after the batch committed or failed; job->result says which. Must free the
     * job. May be NULL, then the writer frees the job with free(). */
    void (*done)(ct_job_t *job);
    /* Writer thread, after a successful apply and the job's own audit row, in the same
     * savepoint: rows that must follow that row in the log (the deliveries of a sent message
     * come after its message.send). Returns 0 or CT_E*, which fails the job as apply's would.
     * May be NULL. */
    int (*audit_more)(ct_job_t *job, ct_store_t *st, const ct_writer_env_t *env);
    int result;
    bool has_audit; /* append `audit` in the job's transaction */
    /* Run without a savepoint of its own: apply refuses only before it writes anything, so a
     * refusal needs no undo. A failure after a write (the disk, memory) cannot be undone alone
     * then: the writer sees the store's change count (ct_store_changes) move, rolls the whole
     * batch back and fails every job with CT_EIO. Only for a job whose writes are all plain
     * INSERT, UPDATE or DELETE statements through the store (the count sees nothing else) and
     * whose refusals all precede its first write: today the send job, whose savepoint was ~5 % of
     * the daemon's instructions (docs/performance.md, item 9). */
    bool no_savepoint;
    ct_audit_rec_t audit; /* apply may fill in the object and detail */
};

/* Opens the read-write store at db_path and starts the thread. Returns 0 or CT_E* (errbuf). */
int ct_writer_start(uv_loop_t *loop, const char *db_path, ct_writer_t **out, char *errbuf,
                    size_t errlen);

/* Enables signed checkpoints (see the top of this file). Call on the loop thread after
 * ct_writer_start and before the first job is submitted. Takes ownership of signer (freed by
 * ct_writer_free). every_rows and every_ms are at least 1. */
void ct_writer_checkpoints(ct_writer_t *w, ct_audit_signer_t *signer, uint32_t every_rows,
                           uint32_t every_ms);

/* Queues a job. Never blocks on the disk. */
void ct_writer_submit(ct_writer_t *w, ct_job_t *job);

/* Queues an audit-only job (copies r). Returns 0 or CT_ENOMEM. */
int ct_writer_audit(ct_writer_t *w, const ct_audit_rec_t *r);

/*
 * Stops the thread after it has committed everything queued and the loop has run the done
 * callbacks; then the writer closes its wake handle, so the loop can end. Call on the loop
 * thread; the loop must keep running until then. Jobs submitted after the thread has exited are
 * not stored: they complete at once with CT_EUNAVAIL (the only synchronous completion, and only
 * during shutdown).
 */
void ct_writer_stop(ct_writer_t *w);

/* Closes the store and frees the writer. Only after ct_writer_stop and after the loop has run
 * until the writer's handle closed (uv_run returned). NULL is ignored. */
void ct_writer_free(ct_writer_t *w);

/*
 * Sets the hook the loop thread calls after finishing the done callbacks of a batch in which a
 * job carried an audit row (has_audit), so that a reader of the audit log (the syslog forwarder)
 * learns of new rows without polling. fn should be cheap (note the news, start work later); it
 * may submit jobs. One hook; fn NULL removes it. Loop thread only.
 */
void ct_writer_on_audit(ct_writer_t *w, void (*fn)(void *arg), void *arg);

/* Counters for logs and metrics (read on the loop thread; approximate). */
typedef struct ct_writer_stats {
    uint64_t batches;
    uint64_t jobs;
    uint64_t failed_commits;
    uint64_t commit_us_total; /* time from BEGIN to the end of COMMIT, summed over batches */
    uint64_t commit_us_max;
    uint64_t queued;          /* jobs submitted and not yet taken into a batch */
    uint64_t log_checkpoints; /* log checkpoints run between batches */
    uint64_t log_checkpoint_us_total;
} ct_writer_stats_t;
void ct_writer_stats(ct_writer_t *w, ct_writer_stats_t *out);

/* Committed audit records by action (the index of common/audit_actions.h's table, or
 * ct_audit_actions_count for a code not in it) and outcome (ct_audit_outcome_column): what the
 * metrics endpoint reports as requests by type and outcome. Copies the counters into out, which
 * holds (ct_audit_actions_count + 1) * CT_AUDIT_OUTCOME_COLUMNS values. */
void ct_writer_audit_counts(ct_writer_t *w, uint64_t *out);

#endif
