/*
 * The store writer thread and its group commit. See writer.h for the protocol between the loop
 * and this thread.
 *
 * Invariants:
 *  - Only the writer thread touches `st` and `ids` (after start, until the thread is joined).
 *  - `queue_*` and `done_*` are touched only under `mu`.
 *  - A job is in exactly one place: the submitter's hands, the queue, the running batch, the done
 *    list, or its done callback.
 *  - done callbacks run in the order jobs were submitted.
 *  - `signer` and the cp_every_* settings are written once, under `mu`, before the first job;
 *    cp_pending and cp_due_ms belong to the writer thread alone.
 *  - A checkpoint is only written inside a transaction, after the rows it covers: it commits
 *    with them or not at all.
 */
#include "writer.h"

#include "audit_actions.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "wake.h"

struct ct_writer {
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cv;
    ct_job_t *queue_head, *queue_tail; /* submitted, not yet taken */
    ct_job_t *done_head, *done_tail;   /* finished, waiting for the loop */
    bool stop;                         /* set by ct_writer_stop */
    bool stopped;                      /* the thread has exited */
    bool wake_closed;                  /* the loop has closed `wake`: safe to free */
    ct_wake_t wake;                    /* wakes the loop for done jobs (not uv_async: wake.h) */
    ct_store_t *st;
    ct_uuid7_gen_t ids;
    ct_writer_stats_t stats;
    uint64_t *audit_counts; /* (ct_audit_actions_count + 1) * CT_AUDIT_OUTCOME_COLUMNS, under mu */
    ct_audit_signer_t *signer; /* owned; NULL: no checkpoints */
    uint32_t cp_every_rows, cp_every_ms;
    bool cp_pending;   /* committed audit rows are not covered by a checkpoint yet */
    int64_t cp_due_ms; /* when cp_pending: when the interval makes one due */
    /* Writer thread only: after a failed log checkpoint, no new try before this many pages wait
     * (a disk that refuses every checkpoint must not get one, and a log line, per batch). */
    int64_t log_retry_at;
    /* Loop thread only: see ct_writer_on_audit. */
    void (*on_audit)(void *arg);
    void *on_audit_arg;
};

/* Puts the next checkpoint attempt an interval from now (after a failure or a deferral). */
static void checkpoint_later(ct_writer_t *w, int64_t now_ms)
{
    w->cp_pending = true;
    w->cp_due_ms = now_ms + w->cp_every_ms;
}

/*
 * Writer thread, inside a transaction after its audit rows: signs and stores a checkpoint of the
 * newest audit row if one is due (see writer.h), or with force whenever a row was added since the
 * newest checkpoint. Sets *wrote. Failures are logged, never returned: the batch's jobs do not
 * depend on the checkpoint.
 */
static void checkpoint_in_txn(ct_writer_t *w, int64_t now_ms, bool force, bool *wrote)
{
    int64_t head_seq = 0, cp_seq = 0, cp_time = 0;
    uint8_t head[CT_AUDIT_HASH_LEN];
    *wrote = false;
    int r = ct_store_audit_head(w->st, &head_seq, head);
    if (r == 0)
        r = ct_store_audit_checkpoint_newest(w->st, &cp_seq, &cp_time);
    if (r == 0 && head_seq <= cp_seq) {
        w->cp_pending = false; /* nothing new since the newest checkpoint */
        return;
    }
    bool due = force || cp_seq == 0 || cp_time > now_ms ||
               head_seq - cp_seq >= (int64_t)w->cp_every_rows ||
               now_ms - cp_time >= (int64_t)w->cp_every_ms;
    if (r == 0 && !due) {
        w->cp_pending = true;
        w->cp_due_ms = cp_time + w->cp_every_ms;
        return;
    }
    ct_audit_checkpoint_t cp;
    if (r == 0)
        r = ct_audit_signer_sign(w->signer, head_seq, head, now_ms, &cp);
    /* A failed insert is undone by SQLite alone (statement rollback): the batch stays intact. */
    if (r == 0)
        r = ct_store_audit_checkpoint_add(w->st, &cp);
    if (r < 0) {
        ct_log_error("audit.checkpoint_failed", "seq=%lld code=%s", (long long)head_seq,
                     ct_errname(r));
        checkpoint_later(w, now_ms);
        return;
    }
    *wrote = true;
    w->cp_pending = false;
    ct_log_info("audit.checkpoint", "seq=%lld key_id=%s", (long long)head_seq, cp.key_id);
}

/* Writer thread, outside a batch: a checkpoint in a transaction of its own, when the interval is
 * up while idle, or (force) when the writer stops. */
static void run_checkpoint(ct_writer_t *w, bool force)
{
    int64_t now = ct_now_ms();
    bool wrote = false;
    int r = ct_store_begin(w->st);
    if (r == 0) {
        checkpoint_in_txn(w, now, force, &wrote);
        r = wrote ? ct_store_commit(w->st) : ct_store_rollback(w->st);
    }
    if (r != 0) {
        ct_log_error("audit.checkpoint_failed", "code=%s", ct_errname(r));
        checkpoint_later(w, now);
    }
}

/* Runs one job inside the batch's transaction and sets its result. Returns false when the job
 * failed and its part could not be undone: then nothing of the batch may commit. */
static bool run_one(ct_writer_t *w, ct_job_t *job, const ct_writer_env_t *env)
{
    if (job->apply == NULL) {
        /* An audit row alone (a delivery, a refusal) is one INSERT, which SQLite undoes by itself
         * if it fails: no savepoint, whose page copies cost more than the row. */
        int64_t seq = 0;
        if (job->has_audit)
            seq = ct_audit_rec_append(w->st, &job->audit);
        job->result = seq < 0 ? (int)seq : 0;
        return true;
    }
    int64_t changes = ct_store_changes(w->st);
    int r = job->no_savepoint ? 0 : ct_store_savepoint(w->st);
    if (r == 0 && job->apply != NULL)
        r = job->apply(job, w->st, env);
    if (r == 0 && job->has_audit) {
        int64_t seq = ct_audit_rec_append(w->st, &job->audit);
        if (seq < 0)
            r = (int)seq;
    }
    if (r == 0 && job->audit_more != NULL)
        r = job->audit_more(job, w->st, env);
    if (r == 0) {
        r = job->no_savepoint ? 0 : ct_store_release(w->st);
        if (r == 0) {
            job->result = 0;
            return true;
        }
    }
    /* The job failed: undo its part, and keep a record of the refusal. A job without a savepoint
     * has nothing to undo only if it wrote nothing (writer.h, no_savepoint). */
    job->result = r;
    bool undone =
        job->no_savepoint ? ct_store_changes(w->st) == changes : ct_store_rollback_to(w->st) == 0;
    if (!undone) {
        /* Its part (a half-written message, say) is still in the transaction: the whole batch
         * must go, not only this job. */
        ct_log_error("store.job_undo_failed", "job_code=%s no_savepoint=%d", ct_errname(r),
                     job->no_savepoint ? 1 : 0);
        return false;
    }
    if (job->has_audit && r != CT_EIO) {
        if (job->audit.outcome == CT_AUDIT_SUCCESS)
            ct_audit_rec_fail(&job->audit, r, NULL);
        (void)ct_audit_rec_append(w->st, &job->audit);
    }
    return true;
}

/* Runs one batch in one transaction. On a failed BEGIN or COMMIT, or a failed job whose part
 * could not be undone, every job fails with CT_EIO (or the store's error): nothing of the batch
 * is stored. */
static int run_batch(ct_writer_t *w, ct_job_t *batch)
{
    ct_writer_env_t env = {.ids = &w->ids, .now_ms = ct_now_ms()};
    bool checkpointed = false;
    int r = ct_store_begin(w->st);
    bool undoable = true;
    for (ct_job_t *j = batch; r == 0 && undoable && j != NULL; j = j->next)
        undoable = run_one(w, j, &env);
    if (!undoable) {
        (void)ct_store_rollback(w->st);
        r = CT_EIO;
    }
    if (r == 0) {
        if (w->signer != NULL)
            checkpoint_in_txn(w, env.now_ms, false, &checkpointed);
        r = ct_store_commit(w->st);
    }
    if (r != 0 && w->signer != NULL)
        checkpoint_later(w, env.now_ms); /* the checkpoint, if any, went with the batch */
    if (r != 0) {
        size_t n = 0;
        for (ct_job_t *j = batch; j != NULL; j = j->next, n++)
            j->result = r == CT_EIO || r == CT_EUNAVAIL ? r : CT_EIO;
        w->stats.failed_commits++;
        /* The batch's audit rows are lost with it: the log is their only trace. */
        ct_log_error("store.commit_failed", "code=%s jobs_refused=%zu", ct_errname(r), n);
    }
    return r;
}

/* Writer thread, between batches (not under mu): a log checkpoint if one is due (writer.h).
 * idle: the queue was empty when the batch was handed back. A failure is logged by the store
 * and tried again once CT_WRITER_LOG_IDLE more pages wait; the jobs never depend on it. */
static void checkpoint_log_if_due(ct_writer_t *w, bool idle)
{
    int64_t waiting = ct_store_log_uncopied(w->st);
    if (waiting + CT_WRITER_LOG_IDLE < w->log_retry_at)
        w->log_retry_at = 0; /* fewer wait than at the failure: another process copied them */
    int64_t due = idle ? CT_WRITER_LOG_IDLE : CT_WRITER_LOG_MAX;
    if (waiting < due || waiting < w->log_retry_at)
        return;
    uint64_t t0 = uv_hrtime();
    int r = ct_store_checkpoint(w->st);
    uint64_t us = (uv_hrtime() - t0) / 1000;
    w->log_retry_at = r == 0 ? 0 : waiting + CT_WRITER_LOG_IDLE;
    uv_mutex_lock(&w->mu);
    if (r == 0)
        w->stats.log_checkpoints++;
    w->stats.log_checkpoint_us_total += us;
    uv_mutex_unlock(&w->mu);
}

/* Under mu, after a committed batch: its audit rows by action and outcome, for the metrics.
 * The store lists them, so rows a job's apply appended (deliveries, workflow state changes) count
 * as well as each job's own row, and rows a failed job rolled back do not. */
static void count_audit_rows(ct_writer_t *w)
{
    const uint16_t *slots = NULL;
    size_t n = ct_store_audit_committed(w->st, &slots);
    for (size_t i = 0; w->audit_counts != NULL && i < n; i++)
        w->audit_counts[slots[i]]++;
}

static void writer_main(void *arg)
{
    ct_writer_t *w = arg;
    /* Named, so that `top -H`, `ps -L` and `perf` tell it from the loop thread ("careteamd"). */
    (void)pthread_setname_np(pthread_self(), "ct-writer");
    uv_mutex_lock(&w->mu);
    for (;;) {
        /* Idle: sleep until a job comes, or a checkpoint falls due for rows already committed. */
        while (w->queue_head == NULL && !w->stop) {
            if (!w->cp_pending) {
                uv_cond_wait(&w->cv, &w->mu);
                continue;
            }
            int64_t wait_ms = w->cp_due_ms - ct_now_ms();
            if (wait_ms <= 0)
                break;
            (void)uv_cond_timedwait(&w->cv, &w->mu, (uint64_t)wait_ms * 1000000u);
        }
        if (w->queue_head == NULL && w->stop)
            break;
        if (w->queue_head == NULL) {
            uv_mutex_unlock(&w->mu);
            run_checkpoint(w, false);
            uv_mutex_lock(&w->mu);
            continue;
        }
        /* Take up to CT_WRITER_BATCH jobs; the rest wait for the next transaction. */
        ct_job_t *batch = w->queue_head, *last = batch;
        size_t n = 1;
        while (last->next != NULL && n < CT_WRITER_BATCH) {
            last = last->next;
            n++;
        }
        w->queue_head = last->next;
        if (w->queue_head == NULL)
            w->queue_tail = NULL;
        last->next = NULL;
        uv_mutex_unlock(&w->mu);

        uint64_t t0 = uv_hrtime();
        int committed = run_batch(w, batch);
        uint64_t us = (uv_hrtime() - t0) / 1000;

        uv_mutex_lock(&w->mu);
        w->stats.batches++;
        w->stats.jobs += n;
        w->stats.queued -= n;
        w->stats.commit_us_total += us;
        if (us > w->stats.commit_us_max)
            w->stats.commit_us_max = us;
        if (committed == 0)
            count_audit_rows(w);
        if (w->done_tail != NULL)
            w->done_tail->next = batch;
        else
            w->done_head = batch;
        w->done_tail = last;
        bool idle = w->queue_head == NULL;
        uv_mutex_unlock(&w->mu);
        /* Under load the checkpoint goes before the replies (writer.h, "Log checkpoints"). */
        if (!idle)
            checkpoint_log_if_due(w, false);
        ct_wake_send(&w->wake);
        if (idle)
            checkpoint_log_if_due(w, true);
        uv_mutex_lock(&w->mu);
    }
    /* Everything queued is committed, the daemon's stop row last: cover it. */
    if (w->signer != NULL) {
        uv_mutex_unlock(&w->mu);
        run_checkpoint(w, true);
        uv_mutex_lock(&w->mu);
    }
    w->stopped = true;
    uv_mutex_unlock(&w->mu);
    ct_wake_send(&w->wake);
}

static void on_wake_closed(ct_wake_t *wk)
{
    ct_writer_t *w = wk->poll.data;
    w->wake_closed = true;
}

static void writer_destroy(ct_writer_t *w)
{
    ct_audit_signer_free(w->signer);
    ct_store_close(w->st);
    uv_cond_destroy(&w->cv);
    uv_mutex_destroy(&w->mu);
    free(w->audit_counts);
    free(w);
}

void ct_writer_free(ct_writer_t *w)
{
    if (w == NULL)
        return;
    if (!w->wake_closed) {
        /* Misuse: the loop still holds the handle. Leak rather than free memory in use. */
        return;
    }
    writer_destroy(w);
}

/* Loop thread: finish every job the writer handed back, in order. */
static void on_wake(ct_wake_t *wk)
{
    ct_writer_t *w = wk->poll.data;
    uv_mutex_lock(&w->mu);
    ct_job_t *j = w->done_head;
    w->done_head = w->done_tail = NULL;
    bool stopped = w->stopped;
    uv_mutex_unlock(&w->mu);
    bool audited = false;
    while (j != NULL) {
        ct_job_t *next = j->next;
        j->next = NULL;
        audited = audited || j->has_audit;
        if (j->done != NULL)
            j->done(j);
        else
            free(j);
        j = next;
    }
    if (audited && w->on_audit != NULL)
        w->on_audit(w->on_audit_arg);
    if (stopped && !ct_wake_is_closing(&w->wake)) {
        uv_thread_join(&w->thread);
        ct_wake_close(&w->wake, on_wake_closed);
    }
}

int ct_writer_start(uv_loop_t *loop, const char *db_path, ct_writer_t **out, char *errbuf,
                    size_t errlen)
{
    *out = NULL;
    ct_writer_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        return CT_ENOMEM;
    int r = ct_store_open(db_path, CT_STORE_READWRITE, &w->st, errbuf, errlen);
    if (r != 0) {
        free(w);
        return r;
    }
    ct_store_checkpoints_manual(w->st);
    ct_uuid7_gen_init(&w->ids);
    /* Counters only: without them the daemon serves, and the metrics report zeros. */
    w->audit_counts =
        calloc((ct_audit_actions_count + 1) * CT_AUDIT_OUTCOME_COLUMNS, sizeof *w->audit_counts);
    if (uv_mutex_init(&w->mu) != 0)
        goto fail_store;
    if (uv_cond_init(&w->cv) != 0)
        goto fail_mutex;
    if (ct_wake_init(loop, &w->wake, on_wake) != 0) {
        if (!ct_wake_is_closing(&w->wake))
            goto fail_cond;
        /* The handle is closing inside w: w stays allocated, as when the thread cannot start. */
        if (errbuf != NULL)
            snprintf(errbuf, errlen, "cannot watch the store writer's wake-up descriptor");
        return CT_ESYS;
    }
    w->wake.poll.data = w;
    if (uv_thread_create(&w->thread, writer_main, w) != 0) {
        /* The wake handle is initialised and must be closed; the caller's loop run finishes that,
         * and the writer stays allocated until then (it is not returned, so it is leaked only if
         * the process goes on; careteamd exits). */
        if (errbuf != NULL)
            snprintf(errbuf, errlen, "cannot start the store writer thread");
        w->stopped = true;
        ct_wake_close(&w->wake, on_wake_closed);
        return CT_ESYS;
    }
    *out = w;
    return 0;
fail_cond:
    uv_cond_destroy(&w->cv);
fail_mutex:
    uv_mutex_destroy(&w->mu);
fail_store:
    ct_store_close(w->st);
    free(w->audit_counts);
    free(w);
    if (errbuf != NULL)
        snprintf(errbuf, errlen, "cannot start the store writer");
    return CT_ESYS;
}

void ct_writer_submit(ct_writer_t *w, ct_job_t *job)
{
    job->next = NULL;
    job->result = 0;
    uv_mutex_lock(&w->mu);
    if (w->stopped) {
        uv_mutex_unlock(&w->mu);
        ct_log_warn("writer.job_refused", "reason=shutting_down action=%s",
                    job->has_audit ? job->audit.action : "-");
        job->result = CT_EUNAVAIL;
        if (job->done != NULL)
            job->done(job);
        else
            free(job);
        return;
    }
    if (w->queue_tail != NULL)
        w->queue_tail->next = job;
    else
        w->queue_head = job;
    w->queue_tail = job;
    w->stats.queued++;
    uv_cond_signal(&w->cv);
    uv_mutex_unlock(&w->mu);
}

int ct_writer_audit(ct_writer_t *w, const ct_audit_rec_t *r)
{
    ct_job_t *job = calloc(1, sizeof *job);
    if (job == NULL)
        return CT_ENOMEM;
    job->has_audit = true;
    job->audit = *r;
    ct_writer_submit(w, job);
    return 0;
}

void ct_writer_checkpoints(ct_writer_t *w, ct_audit_signer_t *signer, uint32_t every_rows,
                           uint32_t every_ms)
{
    uv_mutex_lock(&w->mu);
    ct_audit_signer_free(w->signer);
    w->signer = signer;
    w->cp_every_rows = every_rows > 0 ? every_rows : 1;
    w->cp_every_ms = every_ms > 0 ? every_ms : 1;
    uv_mutex_unlock(&w->mu);
}

void ct_writer_stop(ct_writer_t *w)
{
    uv_mutex_lock(&w->mu);
    w->stop = true;
    uv_cond_signal(&w->cv);
    uv_mutex_unlock(&w->mu);
}

void ct_writer_on_audit(ct_writer_t *w, void (*fn)(void *arg), void *arg)
{
    w->on_audit = fn;
    w->on_audit_arg = arg;
}

void ct_writer_audit_counts(ct_writer_t *w, uint64_t *out)
{
    size_t n = (ct_audit_actions_count + 1) * CT_AUDIT_OUTCOME_COLUMNS;
    uv_mutex_lock(&w->mu);
    for (size_t i = 0; i < n; i++)
        out[i] = w->audit_counts != NULL ? w->audit_counts[i] : 0;
    uv_mutex_unlock(&w->mu);
}

void ct_writer_stats(ct_writer_t *w, ct_writer_stats_t *out)
{
    uv_mutex_lock(&w->mu);
    *out = w->stats;
    uv_mutex_unlock(&w->mu);
}
