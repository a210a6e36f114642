/*
 * The store writer (server/writer.c): group commit on its own thread, completions on the loop.
 *
 * Each test runs a real writer on a temporary database and a private libuv loop. Jobs insert
 * members through the store interface, so what was committed can be read back afterwards with
 * a separate read-only handle.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "store.h"
#include "testsupport.h"
#include "writer.h"

TestSuite(writer, .fini = ct_test_leak_check);

#define MAX_JOBS 256

typedef struct test_job {
    ct_job_t job; /* first member */
    int index;
    bool fail_after_insert; /* apply inserts, then fails: its insert must be undone */
    bool undo_breaks;       /* and first ends the job's savepoint, so the undo itself fails */
    bool refuse_first;      /* apply refuses before it writes anything */
} test_job_t;

typedef struct fixture {
    char *dir;
    char db[4096];
    uv_loop_t loop;
    ct_writer_t *w;
    int done_order[MAX_JOBS];
    int results[MAX_JOBS];
    int n_done;
} fixture_t;

static fixture_t F;

static void start(void)
{
    memset(&F, 0, sizeof F);
    F.dir = ct_test_tmpdir("writer");
    snprintf(F.db, sizeof F.db, "%s/careteam.db", F.dir);
    cr_assert_eq(uv_loop_init(&F.loop), 0);
    char err[256] = "";
    cr_assert_eq(ct_writer_start(&F.loop, F.db, &F.w, err, sizeof err), 0, "%s", err);
}

/* Stops the writer, runs the loop dry, frees everything, and checks for leaks. */
static void finish(void)
{
    ct_writer_stop(F.w);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    ct_writer_free(F.w);
    cr_assert_eq(uv_loop_close(&F.loop), 0, "every handle is closed");
    ct_test_rmtree(F.dir);
    free(F.dir);
    ct_test_leak_check();
}

static int apply_insert(ct_job_t *job, ct_store_t *st, const ct_writer_env_t *env)
{
    test_job_t *t = (test_job_t *)job;
    if (t->refuse_first)
        return CT_ECONFLICT;
    ct_member_t m = {.role = CT_ROLE_PEER_WORKER, .active = true, .created_at_ms = env->now_ms};
    snprintf(m.id, sizeof m.id, "member%03d", t->index);
    snprintf(m.display_name, sizeof m.display_name, "Member %d", t->index);
    int r = ct_store_member_add(st, &m);
    if (r == 0 && t->undo_breaks)
        r = ct_store_release(st) == 0 ? CT_ECONFLICT : CT_EINTERNAL;
    if (r == 0 && t->fail_after_insert)
        return CT_ECONFLICT;
    return r;
}

static void on_done(ct_job_t *job)
{
    test_job_t *t = (test_job_t *)job;
    F.results[t->index] = job->result;
    F.done_order[F.n_done++] = t->index;
    free(t);
}

static test_job_t *make_job(int index, bool fail_after_insert)
{
    test_job_t *t = calloc(1, sizeof *t);
    cr_assert_not_null(t);
    t->index = index;
    t->fail_after_insert = fail_after_insert;
    t->job.apply = apply_insert;
    t->job.done = on_done;
    t->job.has_audit = true;
    ct_audit_rec_init(&t->job.audit, NULL, "test.insert");
    return t;
}

/* Queues job `index` (see test_job_t). */
static void submit(int index, bool fail_after_insert)
{
    ct_writer_submit(F.w, &make_job(index, fail_after_insert)->job);
}

static void run_until_done(int n)
{
    for (int i = 0; i < 10000 && F.n_done < n; i++)
        uv_run(&F.loop, UV_RUN_ONCE);
    cr_assert_eq(F.n_done, n, "all %d jobs completed", n);
}

/* Reads a committed member back through a separate read-only handle. */
static int member_exists(int index)
{
    ct_store_t *ro;
    char err[256];
    cr_assert_eq(ct_store_open(F.db, CT_STORE_READONLY, &ro, err, sizeof err), 0, "%s", err);
    char id[32];
    snprintf(id, sizeof id, "member%03d", index);
    ct_member_t m;
    int r = ct_store_member_get(ro, id, &m);
    ct_store_close(ro);
    return r == 0;
}

static long audit_rows(const char *action)
{
    ct_store_t *ro;
    char err[256];
    cr_assert_eq(ct_store_open(F.db, CT_STORE_READONLY, &ro, err, sizeof err), 0, "%s", err);
    long n = (long)ct_store_audit_count(ro, action);
    ct_store_close(ro);
    return n;
}

Test(writer, jobs_complete_in_submission_order_and_are_committed)
{
    start();
    for (int i = 0; i < 100; i++)
        submit(i, false);
    run_until_done(100);
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(F.done_order[i], i, "completion %d was job %d", i, F.done_order[i]);
        cr_assert_eq(F.results[i], 0);
        cr_assert(member_exists(i), "job %d is committed when its done callback runs", i);
    }
    cr_assert_eq(audit_rows("test.insert"), 100, "each job's audit row is committed with it");
    finish();
}

Test(writer, queued_jobs_share_transactions)
{
    start();
    /* Submitted before the loop runs: the writer finds many queued at once. */
    for (int i = 0; i < 200; i++)
        submit(i, false);
    run_until_done(200);
    ct_writer_stats_t st;
    ct_writer_stats(F.w, &st);
    cr_assert_eq(st.jobs, 200);
    cr_assert_lt(st.batches, 200u, "group commit: %llu batches for 200 jobs",
                 (unsigned long long)st.batches);
    cr_assert_eq(st.failed_commits, 0);
    finish();
}

Test(writer, a_failed_job_is_undone_alone_and_audited_as_refused)
{
    start();
    submit(0, false);
    submit(1, true); /* inserts member001, then fails */
    submit(2, false);
    run_until_done(3);
    cr_assert_eq(F.results[0], 0);
    cr_assert_eq(F.results[1], CT_ECONFLICT);
    cr_assert_eq(F.results[2], 0);
    cr_assert(member_exists(0));
    cr_assert_not(member_exists(1), "the failed job's own write is rolled back");
    cr_assert(member_exists(2), "jobs after a failed one in the same batch still commit");
    cr_assert_eq(audit_rows("test.insert"), 3, "the refusal is audited too");
    finish();
}

/* Runs jobs 0, `bad` (job 1) and 2 and checks that job 1's batch failed as a whole: job 1 is
 * refused and nothing of it is stored, jobs 0 and 2 (which may have had batches of their own)
 * report what is stored, and the writer goes on with job 3. */
static void expect_whole_batch_failed(test_job_t *bad)
{
    submit(0, false);
    ct_writer_submit(F.w, &bad->job);
    submit(2, false);
    run_until_done(3);
    cr_assert_neq(F.results[1], 0);
    cr_assert_not(member_exists(1), "the part that could not be undone is not committed");
    for (int i = 0; i < 3; i += 2)
        cr_assert_eq(F.results[i] == 0, member_exists(i) != 0,
                     "job %d: result %d agrees with what is stored", i, F.results[i]);
    ct_writer_stats_t st;
    ct_writer_stats(F.w, &st);
    cr_assert_geq(st.failed_commits, 1);
    submit(3, false);
    run_until_done(4);
    cr_assert_eq(F.results[3], 0, "the writer goes on after the failed batch");
    cr_assert(member_exists(3));
}

/* A failed job whose part cannot be undone (here its apply has ended its own savepoint, as a
 * failing ROLLBACK TO would leave it) must not let that part commit with the rest of its batch:
 * the whole batch fails, and every job says so truthfully. */
Test(writer, a_job_that_cannot_be_undone_fails_its_whole_batch)
{
    start();
    test_job_t *t = make_job(1, false);
    t->undo_breaks = true;
    expect_whole_batch_failed(t);
    finish();
}

/* A job with no savepoint of its own (the send job's way) that refuses before writing is refused
 * alone, as with a savepoint, and its refusal is audited. */
Test(writer, a_job_without_a_savepoint_that_refuses_first_is_refused_alone)
{
    start();
    submit(0, false);
    test_job_t *t = make_job(1, false);
    t->job.no_savepoint = true;
    t->refuse_first = true;
    ct_writer_submit(F.w, &t->job);
    t = make_job(2, false);
    t->job.no_savepoint = true;
    ct_writer_submit(F.w, &t->job);
    run_until_done(3);
    cr_assert_eq(F.results[0], 0);
    cr_assert_eq(F.results[1], CT_ECONFLICT);
    cr_assert_eq(F.results[2], 0);
    cr_assert(member_exists(0));
    cr_assert_not(member_exists(1));
    cr_assert(member_exists(2), "a job without a savepoint commits");
    cr_assert_eq(audit_rows("test.insert"), 3, "the refusal is audited too");
    ct_writer_stats_t st;
    ct_writer_stats(F.w, &st);
    cr_assert_eq(st.failed_commits, 0);
    finish();
}

/* One that fails after it wrote has nothing to undo its part alone: its whole batch fails, and
 * every job says so truthfully; the writer goes on. */
Test(writer, a_job_without_a_savepoint_that_fails_after_writing_fails_its_whole_batch)
{
    start();
    test_job_t *t = make_job(1, true);
    t->job.no_savepoint = true;
    expect_whole_batch_failed(t);
    cr_assert_eq(F.results[1], CT_EIO);
    finish();
}

Test(writer, a_constraint_failure_refuses_only_that_job)
{
    start();
    submit(5, false);
    submit(5, false); /* the same member id: the store refuses it */
    run_until_done(2);
    cr_assert_eq(F.results[5], CT_EEXISTS, "the second insert of member005 is refused");
    cr_assert(member_exists(5));
    finish();
}

Test(writer, audit_only_jobs_are_written_and_freed)
{
    start();
    ct_audit_rec_t rec;
    ct_audit_rec_init(&rec, NULL, "test.audit_only");
    for (int i = 0; i < 10; i++)
        cr_assert_eq(ct_writer_audit(F.w, &rec), 0);
    /* A job with a done callback after them: when it completes, the audit jobs have too. */
    submit(0, false);
    run_until_done(1);
    cr_assert_eq(audit_rows("test.audit_only"), 10);
    finish();
}

/* The writer checkpoints the log itself between batches (writer.h): committing one job at a
 * time, well past SQLite's automatic threshold, the log file never holds much more than
 * CT_WRITER_LOG_MAX pages. */
Test(writer, checkpoints_the_log_between_batches)
{
    start();
    for (int i = 0; i < MAX_JOBS; i++) {
        submit(i, false);
        run_until_done(i + 1); /* one job per transaction */
    }
    for (int i = 0; i < MAX_JOBS; i += 51)
        cr_assert(member_exists(i), "member %d is stored", i);
    ct_writer_stats_t ws;
    ct_writer_stats(F.w, &ws);
    cr_assert_eq(ws.batches, MAX_JOBS);
    cr_assert_geq(ws.log_checkpoints, 1, "at least one checkpoint in %d commits", MAX_JOBS);
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", F.db);
    struct stat sb;
    cr_assert_eq(stat(wal, &sb), 0);
    /* Pages of 4 KiB plus a 24-byte frame header; a batch adds at most a few dozen. */
    cr_assert_leq(sb.st_size, (CT_WRITER_LOG_MAX + 64) * (4096 + 24) + 32,
                  "the log was started over, not grown: %lld bytes", (long long)sb.st_size);
    finish();
}

Test(writer, stop_commits_what_was_queued)
{
    start();
    for (int i = 0; i < 50; i++)
        submit(i, false);
    ct_writer_stop(F.w); /* before the loop ran once: the queue must still be drained */
    uv_run(&F.loop, UV_RUN_DEFAULT);
    cr_assert_eq(F.n_done, 50, "every queued job completed before the writer stopped");
    for (int i = 0; i < 50; i++)
        cr_assert_eq(F.results[i], 0);
    ct_writer_free(F.w);
    cr_assert_eq(uv_loop_close(&F.loop), 0);
    cr_assert(member_exists(49));
    ct_test_rmtree(F.dir);
    free(F.dir);
    ct_test_leak_check();
}
