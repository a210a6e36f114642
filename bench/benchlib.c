/*
 * Shared helpers of the load generators (see benchlib.h).
 */
#include "benchlib.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t bl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- histogram ------------------------------------------------------------------------------- */

static size_t bucket_of(uint64_t v)
{
    if (v < 128)
        return (size_t)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* 7..63 */
    unsigned shift = e - 6;
    uint64_t top = v >> shift; /* 64..127 */
    return 128 + (size_t)(e - 7) * 64 + (size_t)(top - 64);
}

/* The midpoint of bucket i's range. */
static uint64_t bucket_mid(size_t i)
{
    if (i < 128)
        return i;
    size_t k = i - 128;
    unsigned e = 7 + (unsigned)(k / 64);
    unsigned shift = e - 6;
    uint64_t lo = (uint64_t)(64 + k % 64) << shift;
    return lo + ((uint64_t)1 << shift) / 2;
}

void bl_hist_record(bl_hist_t *h, uint64_t value)
{
    h->counts[bucket_of(value)]++;
    h->total++;
    if (value > h->max)
        h->max = value;
}

uint64_t bl_hist_quantile(const bl_hist_t *h, double q)
{
    if (h->total == 0)
        return 0;
    if (q >= 1.0)
        return h->max;
    uint64_t want = (uint64_t)(q * (double)h->total);
    if ((double)want < q * (double)h->total || want == 0)
        want++; /* the ceiling, at least the first value */
    uint64_t seen = 0;
    for (size_t i = 0; i < BL_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= want) {
            uint64_t mid = bucket_mid(i);
            return mid < h->max ? mid : h->max;
        }
    }
    return h->max;
}

/* ---- bodies ---------------------------------------------------------------------------------- */

void bl_body_make(char *out, size_t size, uint64_t run, uint32_t sender, uint64_t seq,
                  uint64_t sent_ns)
{
    char head[BL_BODY_MIN + 1];
    int n = snprintf(head, sizeof head, "%" PRIx64 ":%" PRIu32 ":%" PRIu64 ":%" PRIu64 ":", run,
                     sender, seq, sent_ns);
    size_t hl = n > 0 && (size_t)n < size ? (size_t)n : size;
    memcpy(out, head, hl);
    if (size > hl)
        memset(out + hl, 'x', size - hl);
}

bool bl_body_parse(const char *body, size_t len, uint64_t run, uint32_t *sender, uint64_t *seq,
                   uint64_t *sent_ns)
{
    char head[BL_BODY_MIN + 1];
    size_t n = len < BL_BODY_MIN ? len : BL_BODY_MIN;
    memcpy(head, body, n);
    head[n] = '\0';
    uint64_t r, s, q, t;
    if (sscanf(head, "%" SCNx64 ":%" SCNu64 ":%" SCNu64 ":%" SCNu64 ":", &r, &s, &q, &t) != 4 ||
        r != run || s > UINT32_MAX)
        return false;
    *sender = (uint32_t)s;
    *seq = q;
    *sent_ns = t;
    return true;
}

/* ---- ledger ---------------------------------------------------------------------------------- */

int bl_ledger_add(bl_ledger_t *l)
{
    if (l->n == l->cap) {
        uint64_t cap = l->cap != 0 ? l->cap * 2 : 4096;
        uint8_t *st = realloc(l->st, cap);
        if (st == NULL)
            return -1;
        memset(st + l->cap, 0, cap - l->cap);
        l->st = st;
        l->cap = cap;
    }
    l->n++;
    return 0;
}

void bl_ledger_free(bl_ledger_t *l)
{
    free(l->st);
    memset(l, 0, sizeof *l);
}

void bl_ledger_verdict(const bl_ledger_t *l, bl_verdict_t *v)
{
    for (uint64_t i = 0; i < l->n; i++) {
        unsigned d = l->st[i] & BL_DELIVERIES;
        if (l->st[i] & BL_ACKED) {
            v->acked++;
            if (d == 0)
                v->lost++;
            else
                v->delivered_acked++;
        } else if (d > 0) {
            v->delivered_unacked++;
        }
        if (d > 1)
            v->duplicates += d - 1;
    }
}

/* ---- /proc ------------------------------------------------------------------------------------
 */

int bl_proc_sample(pid_t pid, bl_proc_t *out)
{
    char path[64], buf[2048];
    memset(out, 0, sizeof *out);
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name is in parentheses and may hold spaces: fields count from the last ')'. */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    unsigned long utime = 0, stime = 0;
    /* After ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime(14) stime(15). */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    out->cpu_s = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char line[256];
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            out->rss_kib = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            out->peak_rss_kib = strtol(line + 6, NULL, 10);
    }
    fclose(f);
    return 0;
}

/* ---- options --------------------------------------------------------------------------------- */

const char BL_OPTS_USAGE[] =
    "  -c, --senders N        sender connections (default 1; CT_BENCH_SENDERS)\n"
    "  -r, --receivers N      receiver connections (default 1; CT_BENCH_RECEIVERS);\n"
    "                         sender i sends to receiver i % N\n"
    "  -s, --payload BYTES    message body size (default 300, at least 64; CT_BENCH_PAYLOAD)\n"
    "  -R, --rate MSG/S       fixed total send rate; 0 = as fast as the window allows\n"
    "                         (default 0; CT_BENCH_RATE)\n"
    "  -w, --window N         outstanding sends per sender, window mode (default 64;\n"
    "                         CT_BENCH_WINDOW)\n"
    "  -d, --duration S       stop sending after S seconds (default 5; 0 = no time bound;\n"
    "                         CT_BENCH_DURATION)\n"
    "  -n, --count N          stop sending after N messages (default 0 = no count bound;\n"
    "                         CT_BENCH_COUNT); with -d 0 -n 0 the duration is 5 s\n"
    "      --drain S          wait at most S s for outstanding acks and deliveries (default 10)\n"
    "      --connect-timeout S  bound on connecting everything (default 30)\n"
    "  -i, --idle N           also hold N idle connections; reports the server's RSS per idle\n"
    "                         connection (default 0; CT_BENCH_IDLE)\n"
    "      --idle-settle S    wait S s after the idle connections are up (default 1)\n"
    "  -p, --pid PID          the server process to sample for CPU and RSS\n"
    "  -q, --quiet            only the result line\n";

void bl_opts_defaults(bl_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->senders = 1;
    o->receivers = 1;
    o->payload = 300;
    o->window = 64;
    o->duration_s = 5;
    o->drain_s = 10;
    o->connect_s = 30;
    o->idle_settle_s = 1;
}

static bool parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

typedef struct opt_desc {
    const char *shortname, *longname, *env;
    double lo, hi;
    size_t field; /* offsetof into bl_opts_t */
    char kind;    /* 'u' unsigned, 'z' size_t, 'd' double, 'q' uint64, 'p' pid */
} opt_desc_t;

#define F(x) offsetof(bl_opts_t, x)
static const opt_desc_t OPTS[] = {
    {"-c", "--senders", "CT_BENCH_SENDERS", 0, 100000, F(senders), 'u'},
    {"-r", "--receivers", "CT_BENCH_RECEIVERS", 0, 100000, F(receivers), 'u'},
    {"-s", "--payload", "CT_BENCH_PAYLOAD", BL_BODY_MIN, 1 << 20, F(payload), 'z'},
    {"-R", "--rate", "CT_BENCH_RATE", 0, 1e7, F(rate), 'd'},
    {"-w", "--window", "CT_BENCH_WINDOW", 1, 100000, F(window), 'u'},
    {"-d", "--duration", "CT_BENCH_DURATION", 0, 86400, F(duration_s), 'd'},
    {"-n", "--count", "CT_BENCH_COUNT", 0, 1e12, F(count), 'q'},
    {NULL, "--drain", NULL, 0, 3600, F(drain_s), 'd'},
    {NULL, "--connect-timeout", NULL, 1, 3600, F(connect_s), 'd'},
    {"-i", "--idle", "CT_BENCH_IDLE", 0, 1000000, F(idle), 'u'},
    {NULL, "--idle-settle", NULL, 0, 600, F(idle_settle_s), 'd'},
    {"-p", "--pid", NULL, 1, 4194304, F(server_pid), 'p'},
};
#undef F

static void store(bl_opts_t *o, const opt_desc_t *d, double v)
{
    char *p = (char *)o + d->field;
    switch (d->kind) {
    case 'u':
        *(unsigned *)(void *)p = (unsigned)v;
        break;
    case 'z':
        *(size_t *)(void *)p = (size_t)v;
        break;
    case 'q':
        *(uint64_t *)(void *)p = (uint64_t)v;
        break;
    case 'p':
        *(pid_t *)(void *)p = (pid_t)v;
        break;
    default:
        *(double *)(void *)p = v;
    }
}

void bl_opts_from_env(bl_opts_t *o)
{
    for (size_t i = 0; i < sizeof OPTS / sizeof OPTS[0]; i++) {
        const char *s = OPTS[i].env != NULL ? getenv(OPTS[i].env) : NULL;
        double v;
        if (s != NULL && *s != '\0') {
            if (parse_num(s, OPTS[i].lo, OPTS[i].hi, &v))
                store(o, &OPTS[i], v);
            else
                fprintf(stderr, "bench: ignoring %s=%s (not a number in %g..%g)\n", OPTS[i].env, s,
                        OPTS[i].lo, OPTS[i].hi);
        }
    }
}

int bl_opts_parse(bl_opts_t *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
        o->quiet = true;
        return 1;
    }
    for (size_t k = 0; k < sizeof OPTS / sizeof OPTS[0]; k++) {
        const opt_desc_t *d = &OPTS[k];
        if (!((d->shortname != NULL && strcmp(a, d->shortname) == 0) ||
              strcmp(a, d->longname) == 0))
            continue;
        double v;
        if (*i + 1 >= argc || !parse_num(argv[*i + 1], d->lo, d->hi, &v)) {
            fprintf(stderr, "bench: %s needs a number in %g..%g\n", d->longname, d->lo, d->hi);
            return -1;
        }
        store(o, d, v);
        (*i)++;
        return 1;
    }
    return 0;
}

int bl_opts_load(bl_opts_t *o, int argc, char **argv, const char *prog, void (*usage)(FILE *f),
                 bl_own_opt_fn *own, void *ctx)
{
    bl_opts_defaults(o);
    bl_opts_from_env(o);
    for (int i = 1; i < argc; i++) {
        int r = bl_opts_parse(o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (!own(ctx, argc, argv, &i)) {
            fprintf(stderr, "%s: unknown option or missing value: %s\n", prog, a);
            usage(stderr);
            return 2;
        }
    }
    return -1;
}

int bl_opts_check(bl_opts_t *o, const char *prog)
{
    if ((o->senders == 0) != (o->receivers == 0)) {
        fprintf(stderr, "%s: senders and receivers must both be 0 or both > 0\n", prog);
        return -1;
    }
    if (o->duration_s <= 0 && o->count == 0 && o->senders > 0)
        o->duration_s = 5;
    return 0;
}

/* ---- report ---------------------------------------------------------------------------------- */

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

int bl_report(const bl_opts_t *o, bl_result_t *r)
{
    static const double QS[] = {0.5, 0.9, 0.99, 0.999, 1.0};
    static const char *const QN[] = {"p50", "p90", "p99", "p999", "max"};
    double acked_per_s = r->send_s > 0 ? (double)r->acked / r->send_s : 0;
    double delivered_per_s = r->deliver_s > 0 ? (double)r->delivered / r->deliver_s : 0;
    double cpu = r->proc1.cpu_s - r->proc0.cpu_s;
    double cpu_us_per_msg = r->acked > 0 ? cpu * 1e6 / (double)r->acked : 0;
    double idle_b = r->idle_connected > 0 ? (double)(r->idle_rss1_kib - r->idle_rss0_kib) * 1024.0 /
                                                (double)r->idle_connected
                                          : 0;
    bool ok = r->errors == 0 && r->verdict.lost == 0 && r->verdict.duplicates == 0 &&
              r->verdict.delivered_unacked == 0 && r->acked == r->sent &&
              r->idle_connected == o->idle && r->drained;
    char mode[64];
    if (o->rate > 0)
        snprintf(mode, sizeof mode, "rate=%.0f", o->rate);
    else
        snprintf(mode, sizeof mode, "window=%u", o->window);

    if (!o->quiet) {
        fprintf(stderr,
                "%s: %u -> %u, %zu-byte bodies, %s, %u idle\n"
                "  sent %" PRIu64 ", acked %" PRIu64 " (%.0f msg/s), delivered %" PRIu64
                " (%.0f msg/s), errors %" PRIu64 "\n"
                "  exactly once: lost %" PRIu64 ", duplicates %" PRIu64
                ", delivered but not acked %" PRIu64 ", other runs' messages %" PRIu64 "\n",
                r->system, o->senders, o->receivers, o->payload, mode, o->idle, r->sent, r->acked,
                acked_per_s, r->delivered, delivered_per_s, r->errors, r->verdict.lost,
                r->verdict.duplicates, r->verdict.delivered_unacked, r->foreign);
        const bl_hist_t *hs[] = {&r->ack, &r->e2e};
        const char *hn[] = {"ack latency us", "delivery latency us"};
        for (int h = 0; h < 2; h++) {
            fprintf(stderr, "  %-20s", hn[h]);
            for (int q = 0; q < 5; q++)
                fprintf(stderr, " %s %.1f", QN[q], us(bl_hist_quantile(hs[h], QS[q])));
            fprintf(stderr, "\n");
        }
        if (o->server_pid > 0)
            fprintf(stderr, "  server: %.2f CPU s (%.1f us/msg), RSS %ld KiB, peak %ld KiB%s\n",
                    cpu, cpu_us_per_msg, r->proc1.rss_kib, r->proc1.peak_rss_kib,
                    r->idle_connected > 0 ? "" : "");
        if (o->idle > 0)
            fprintf(stderr, "  idle: %u of %u connected, server RSS %ld -> %ld KiB, %.0f B each\n",
                    r->idle_connected, o->idle, r->idle_rss0_kib, r->idle_rss1_kib, idle_b);
        fprintf(stderr, "  %s\n", ok ? "OK" : "FAILED");
    }
    printf("bench=%s senders=%u receivers=%u payload=%zu %s idle=%u sent=%" PRIu64 " acked=%" PRIu64
           " delivered=%" PRIu64 " errors=%" PRIu64 " lost=%" PRIu64 " duplicates=%" PRIu64
           " unacked_delivered=%" PRIu64 " acked_per_s=%.0f"
           " delivered_per_s=%.0f",
           r->system, o->senders, o->receivers, o->payload, mode, o->idle, r->sent, r->acked,
           r->delivered, r->errors, r->verdict.lost, r->verdict.duplicates,
           r->verdict.delivered_unacked, acked_per_s, delivered_per_s);
    for (int q = 0; q < 5; q++)
        printf(" ack_%s_us=%.1f", QN[q], us(bl_hist_quantile(&r->ack, QS[q])));
    for (int q = 0; q < 5; q++)
        printf(" e2e_%s_us=%.1f", QN[q], us(bl_hist_quantile(&r->e2e, QS[q])));
    printf(" server_cpu_s=%.3f server_cpu_us_per_msg=%.2f server_rss_kib=%ld"
           " server_peak_rss_kib=%ld idle_connected=%u idle_rss_per_conn_b=%.0f verified=%s\n",
           cpu, cpu_us_per_msg, r->proc1.rss_kib, r->proc1.peak_rss_kib, r->idle_connected, idle_b,
           ok ? "yes" : "no");
    fflush(stdout);
    return ok ? 0 : 1;
}
