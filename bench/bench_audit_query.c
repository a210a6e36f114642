/*
 * bench_audit_query: how long compliance queries of the audit log take over a large log, the
 * figure to weigh against the relay's throughput since migrations 7 and 8 replaced the indexes on
 * time, actor and action with zone summaries (docs/performance.md, "Audit queries").
 *
 *   bench_audit_query [--rows N] [--runs K] [--keep DIR]
 *
 * Fills a database with N rows (audit_fill.h: 200 actors, 8 actions, 5,000 participants, a row
 * every 37 ms), then runs each query of QUERIES K times through ct_store_audit_query on a
 * read-only handle, as the daemon's readers do, in pages of 100 (AuditQuery's page): the time to
 * the first page and to ten pages (or the end, if sooner), medians of K. Each query's first page
 * is checked against what the fill's shape says it must hold. Prints one line per query and a
 * summary line (key=value), and exits 0 if every check held. N and K also come from
 * CT_BENCH_ROWS and CT_BENCH_RUNS.
 */
#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "audit_fill.h"
#include "store.h"

#define PAGE 100
#define PAGES 10
#define MAX_RUNS 99

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

typedef struct query {
    const char *name;
    ct_audit_filter_t f;
    int64_t density; /* 1 row in `density` matches (0: none); for the first-page check */
} query_t;

typedef struct page {
    int n;
    int64_t last;
} page_t;

static int count_row(const ct_audit_found_t *row, void *arg)
{
    page_t *p = arg;
    p->n++;
    p->last = row->seq;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Runs q once: *first_ms to the first page, *ten_ms to PAGES pages; *rows on the first page. */
static int run_query(ct_store_t *st, const query_t *q, double *first_ms, double *ten_ms, int *rows)
{
    double t0 = now_ms();
    int64_t after = 0;
    for (int i = 0; i < PAGES; i++) {
        page_t p = {0};
        int r = ct_store_audit_query(st, &q->f, after, PAGE, count_row, &p);
        if (r < 0)
            return r;
        if (i == 0) {
            *first_ms = now_ms() - t0;
            *rows = p.n;
        }
        if (p.n < PAGE)
            break;
        after = p.last;
    }
    *ten_ms = now_ms() - t0;
    return 0;
}

int main(int argc, char **argv)
{
    int64_t rows = getenv("CT_BENCH_ROWS") ? strtoll(getenv("CT_BENCH_ROWS"), NULL, 10) : 1000000;
    int runs = getenv("CT_BENCH_RUNS") ? atoi(getenv("CT_BENCH_RUNS")) : 5;
    const char *keep = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--rows") == 0)
            rows = strtoll(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--keep") == 0)
            keep = argv[++i];
        else {
            fprintf(stderr, "usage: bench_audit_query [--rows N] [--runs K] [--keep DIR]\n"
                            "Times audit queries (time, actor, action, participant) in pages of "
                            "100 over N rows\n(default 1,000,000; CT_BENCH_ROWS), K runs each "
                            "(default 5; CT_BENCH_RUNS).\n");
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (rows < 1000 || runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "bench_audit_query: --rows must be at least 1000 and --runs 1-%d\n",
                MAX_RUNS);
        return 2;
    }
    char root[4096];
    if (keep != NULL) {
        snprintf(root, sizeof root, "%s", keep);
        if (mkdir(root, 0700) != 0) {
            perror(root);
            return 1;
        }
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(root, sizeof root, "%s/bench-audit-query-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (mkdtemp(root) == NULL) {
            perror("mkdtemp");
            return 1;
        }
    }
    char db[4200];
    snprintf(db, sizeof db, "%s/careteam.db", root);
    double t = now_ms();
    int r = ct_bench_audit_fill(db, rows, "bench_audit_query");
    double fill_s = (now_ms() - t) / 1e3;
    ct_store_t *st = NULL;
    char err[512];
    if (r == 0 && (r = ct_store_open(db, CT_STORE_READONLY, &st, err, sizeof err)) != 0)
        fprintf(stderr, "bench_audit_query: %s\n", err);

    /* A minute in the middle of the log, a busy actor, a common and an absent action, an actor
     * and action that never meet (the whole log is read to find nothing), an unknown actor, a
     * participant (its own index). */
    int64_t mid = CT_BENCH_AUDIT_T0 + rows / 2 * CT_BENCH_AUDIT_STEP_MS;
    const query_t queries[] = {
        {"time_1min", {.since_ms = mid, .until_ms = mid + 60000, .outcome = -1}, 1},
        {"actor", {.actor_id = "member.007", .outcome = -1}, CT_BENCH_AUDIT_ACTORS},
        {"action", {.action = "referral.accept", .outcome = -1}, 8},
        {"action_absent", {.action = "admin.restore", .outcome = -1}, 0},
        {"actor_absent", {.actor_id = "member.999", .outcome = -1}, 0},
        {"actor_and_action_never_together",
         {.actor_id = "member.007", .action = "message.send", .outcome = -1},
         0},
        {"participant", {.participant_id = "p-42", .outcome = -1}, CT_BENCH_AUDIT_PARTICIPANTS},
    };
    bool ok = r == 0;
    double worst_first = 0;
    for (size_t q = 0; ok && q < sizeof queries / sizeof queries[0]; q++) {
        double first[MAX_RUNS], ten[MAX_RUNS];
        int got = 0;
        for (int k = 0; ok && k < runs; k++)
            ok = run_query(st, &queries[q], &first[k], &ten[k], &got) == 0;
        if (!ok)
            break;
        int64_t want = queries[q].density == 0             ? 0
                       : rows / queries[q].density >= PAGE ? PAGE
                                                           : rows / queries[q].density;
        bool right = got == want;
        ok = ok && right;
        qsort(first, (size_t)runs, sizeof first[0], cmp_double);
        qsort(ten, (size_t)runs, sizeof ten[0], cmp_double);
        if (first[runs / 2] > worst_first)
            worst_first = first[runs / 2];
        printf("query=%s first_page_ms=%.2f ten_pages_ms=%.2f first_page_rows=%d expected=%" PRId64
               "%s\n",
               queries[q].name, first[runs / 2], ten[runs / 2], got, want, right ? "" : " WRONG");
    }
    ct_store_close(st);
    printf("bench=audit_query rows=%" PRId64 " runs=%d fill_s=%.2f worst_first_page_ms=%.2f "
           "checked=%s\n",
           rows, runs, fill_s, worst_first, ok ? "yes" : "no");
    if (keep == NULL)
        nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return ok ? 0 : 1;
}
