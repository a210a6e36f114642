/*
 * bench_audit_verify: how long `careteamd audit verify` takes over a large audit log (issue 4,
 * section 7: 1,000,000 rows in under 10 seconds on the 2-core machine; docs/performance.md).
 *
 *   bench_audit_verify [--rows N] [--runs K] [--careteamd PATH] [--keep DIR]
 *
 * 1. Makes a data directory with `careteamd init` (so it has whatever init creates) and appends
 *    N audit rows through the store API (ct_store_audit_append, the path every real row takes:
 *    head lookup, leaf and chain hashes, insert), in large transactions (audit_fill.h).
 * 2. Runs `careteamd audit verify DIR` K times as a child process, timing each on the monotonic
 *    clock and taking its peak RSS from wait4's rusage, and checks each printed "audit log
 *    verified: M records" with M the rows in the log (N plus the rows init wrote).
 * 3. Prints one result line (key=value, for scripts) and exits 0 if every run verified.
 *
 * N and K also come from CT_BENCH_ROWS and CT_BENCH_RUNS (the options win). The directory is
 * made under $TMPDIR (or /tmp) and removed at the end unless --keep DIR names where to put it.
 * The first run reads a cold-ish page cache only as far as the kernel has dropped the file since
 * it was written; the median of K runs is the figure to quote.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit_fill.h"
#include "store.h"

#ifndef CT_BENCH_CARETEAMD
#define CT_BENCH_CARETEAMD "careteamd"
#endif

#define MAX_RUNS 99

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs argv with stdout into out (up to len - 1 bytes, NUL-terminated) and stderr inherited.
 * Returns the exit status (-1 if it could not run) and the child's rusage in *ru. */
static int run(char *const argv[], char *out, size_t len, struct rusage *ru)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        execv(argv[0], argv);
        fprintf(stderr, "bench_audit_verify: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    size_t used = 0;
    ssize_t n;
    char sink[4096];
    while ((n = read(fd[0], used + 1 < len ? out + used : sink,
                     used + 1 < len ? len - 1 - used : sizeof sink)) > 0 ||
           (n < 0 && errno == EINTR)) {
        if (n > 0 && used + 1 < len)
            used += (size_t)n;
    }
    close(fd[0]);
    out[used] = '\0';
    int status;
    while (wait4(pid, &status, 0, ru) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The CPU model from /proc/cpuinfo, for the report. */
static void cpu_model(char *out, size_t len)
{
    snprintf(out, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f == NULL)
        return;
    char line[512];
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "model name", 10) == 0 && strchr(line, ':') != NULL) {
            const char *v = strchr(line, ':') + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            snprintf(out, len, "%.*s", (int)strcspn(v, "\n"), v);
            break;
        }
    }
    fclose(f);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_audit_verify [--rows N] [--runs K] [--careteamd PATH] "
                    "[--keep DIR]\n");
}

int main(int argc, char **argv)
{
    int64_t rows = getenv("CT_BENCH_ROWS") ? strtoll(getenv("CT_BENCH_ROWS"), NULL, 10) : 1000000;
    int runs = getenv("CT_BENCH_RUNS") ? atoi(getenv("CT_BENCH_RUNS")) : 3;
    const char *careteamd = CT_BENCH_CARETEAMD, *keep = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--rows") == 0)
            rows = strtoll(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--careteamd") == 0)
            careteamd = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--keep") == 0)
            keep = argv[++i];
        else {
            usage();
            return 2;
        }
    }
    if (rows < 1 || runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "bench_audit_verify: need rows >= 1 and 1 <= runs <= %d\n", MAX_RUNS);
        return 2;
    }

    char root[4096], data[4200], db[4300], out[1024];
    if (keep != NULL) {
        snprintf(root, sizeof root, "%s", keep);
        if (mkdir(root, 0700) != 0) {
            fprintf(stderr, "bench_audit_verify: cannot create %s: %s\n", root, strerror(errno));
            return 1;
        }
    } else {
        const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(root, sizeof root, "%s/careteam-bench-XXXXXX", tmp);
        if (mkdtemp(root) == NULL) {
            fprintf(stderr, "bench_audit_verify: cannot create a directory in %s\n", tmp);
            return 1;
        }
    }
    snprintf(data, sizeof data, "%s/data", root);
    snprintf(db, sizeof db, "%s/careteam.db", data);

    int rc = 1;
    struct rusage ru;
    char *init_argv[] = {(char *)careteamd, "init", data, NULL};
    if (run(init_argv, out, sizeof out, &ru) != 0) {
        fprintf(stderr, "bench_audit_verify: `%s init %s` failed\n", careteamd, data);
        goto done;
    }
    double t = now_s();
    if (ct_bench_audit_fill(db, rows, "bench_audit_verify") != 0)
        goto done;
    double fill_s = now_s() - t;
    struct stat sb;
    int64_t db_bytes = stat(db, &sb) == 0 ? (int64_t)sb.st_size : -1;
    fprintf(stderr, "appended %" PRId64 " rows in %.2f s (%.0f rows/s), database %.1f MB\n", rows,
            fill_s, (double)rows / fill_s, (double)db_bytes / 1e6);

    double secs[MAX_RUNS];
    long peak_kib = 0;
    int64_t records = -1;
    bool verified = true;
    char *verify_argv[] = {(char *)careteamd, "audit", "verify", data, NULL};
    for (int k = 0; k < runs; k++) {
        t = now_s();
        int status = run(verify_argv, out, sizeof out, &ru);
        secs[k] = now_s() - t;
        long long m = -1;
        bool ok =
            status == 0 && sscanf(out, "audit log verified: %lld records", &m) == 1 && m >= rows;
        if (k == 0)
            records = m;
        verified = verified && ok && m == records;
        if (ru.ru_maxrss > peak_kib)
            peak_kib = ru.ru_maxrss;
        fprintf(stderr, "run %d: %.3f s, peak RSS %ld KiB, exit %d: %s", k + 1, secs[k],
                (long)ru.ru_maxrss, status, out);
    }
    qsort(secs, (size_t)runs, sizeof secs[0], cmp_double);
    double median = runs % 2 ? secs[runs / 2] : (secs[runs / 2 - 1] + secs[runs / 2]) / 2;
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    printf("bench=audit_verify rows=%" PRId64 " records=%" PRId64 " runs=%d median_s=%.3f "
           "min_s=%.3f max_s=%.3f rows_per_s=%.0f peak_rss_kib=%ld db_bytes=%" PRId64
           " fill_s=%.2f nproc=%ld cpu=\"%s\" verified=%s\n",
           rows, records, runs, median, secs[0], secs[runs - 1], (double)records / median, peak_kib,
           db_bytes, fill_s, sysconf(_SC_NPROCESSORS_ONLN), cpu, verified ? "yes" : "no");
    rc = verified ? 0 : 1;

done:
    if (keep == NULL)
        nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    else
        fprintf(stderr, "kept %s\n", root);
    return rc;
}
