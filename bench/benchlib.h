/*
 * What careteam-bench and mosq-bench share, so that both systems are measured the same way:
 * the latency histogram, the message body that carries its own identity and send time, the
 * per-message ledger that proves exactly-once delivery, the /proc sampling of the server, the
 * load options and the result line (docs/performance.md, bench/README.md).
 *
 * Nothing here knows about careteam or MQTT; each load generator owns its connections and calls
 * these helpers from its one libuv loop thread.
 */
#ifndef CT_BENCHLIB_H
#define CT_BENCHLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* ---- time ------------------------------------------------------------------------------------ */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bl_now_ns(void);

/* ---- HDR-style histogram -----------------------------------------------------------------------
 * Log-bucketed: values below 128 have a bucket each; above, every power of two is split into 64
 * linear sub-buckets, so a recorded value is reported within 1/64 (1.6 %) of itself, from 1 ns
 * to 2^63 ns, in a fixed 30 KiB with no allocation while recording. */

#define BL_HIST_BUCKETS (128 + 57 * 64)

typedef struct bl_hist {
    uint64_t counts[BL_HIST_BUCKETS];
    uint64_t total;
    uint64_t max;
} bl_hist_t;

void bl_hist_record(bl_hist_t *h, uint64_t value);
/* The value at quantile q (0..1): the midpoint of the bucket holding it; max for q >= 1. 0 when
 * the histogram is empty. */
uint64_t bl_hist_quantile(const bl_hist_t *h, double q);

/* ---- message bodies ----------------------------------------------------------------------------
 * "<run>:<sender>:<seq>:<send time ns>:" padded with 'x' to the payload size (ASCII, so valid
 * UTF-8 for careteam and plain bytes for MQTT). The run id keeps a message of an earlier run that
 * is still queued for a member from being counted. */

#define BL_BODY_MIN 64 /* the header never needs more */

/* Writes the body into out (size bytes, not NUL-terminated; size >= BL_BODY_MIN). */
void bl_body_make(char *out, size_t size, uint64_t run, uint32_t sender, uint64_t seq,
                  uint64_t sent_ns);
/* Parses a body; false if it is not one of run's. */
bool bl_body_parse(const char *body, size_t len, uint64_t run, uint32_t *sender, uint64_t *seq,
                   uint64_t *sent_ns);

/* ---- the ledger: one byte per message sent -----------------------------------------------------
 */

enum { BL_ACKED = 0x80, BL_DELIVERIES = 0x7f };

typedef struct bl_ledger {
    uint8_t *st; /* st[seq]: BL_ACKED | number of deliveries (saturating at 127); owned */
    uint64_t n;  /* messages sent (seq 0..n-1) */
    uint64_t cap;
} bl_ledger_t;

/* Makes room for seq n (the next send). Returns 0 or -1 out of memory. */
int bl_ledger_add(bl_ledger_t *l);
void bl_ledger_free(bl_ledger_t *l);

typedef struct bl_verdict {
    uint64_t acked, delivered_acked, lost, duplicates, delivered_unacked;
} bl_verdict_t;

/* Adds ledger l's counts to v: lost = acked but never delivered; duplicates = deliveries after
 * the first; delivered_unacked = delivered though the send was not acknowledged. */
void bl_ledger_verdict(const bl_ledger_t *l, bl_verdict_t *v);

/* ---- the server process -------------------------------------------------------------------------
 */

typedef struct bl_proc {
    double cpu_s;      /* user + system, all threads, since it started */
    long rss_kib;      /* VmRSS */
    long peak_rss_kib; /* VmHWM */
} bl_proc_t;

/* Reads /proc/PID/stat and /proc/PID/status. Returns 0, or -1 if the process is gone. */
int bl_proc_sample(pid_t pid, bl_proc_t *out);

/* ---- options and results ----------------------------------------------------------------------
 */

typedef struct bl_opts {
    unsigned senders, receivers; /* connections; sender i sends to receiver i % receivers */
    size_t payload;              /* body bytes */
    double rate;                 /* total msg/s; 0: window-limited, as fast as acks return */
    unsigned window;             /* outstanding sends per sender in window mode */
    double duration_s;           /* stop sending after this long (0: no time bound) */
    uint64_t count;              /* ... or after this many messages (0: no count bound) */
    double drain_s;              /* after sending stops, wait this long at most for the rest */
    double connect_s;            /* bound on connecting everything */
    unsigned idle;               /* extra idle connections held during the run */
    double idle_settle_s;        /* wait after the idle connections are up before sampling RSS */
    pid_t server_pid;            /* the server to sample (0: not sampled) */
    bool quiet;
} bl_opts_t;

/* Defaults: 1 -> 1, 300 bytes, window 64, 5 s, drain 10 s, connect 30 s. */
void bl_opts_defaults(bl_opts_t *o);

/*
 * Parses one common option at argv[*i] (advancing *i past its value). Returns 1 if it was one,
 * 0 if not (the caller's own options), -1 with a message on stderr if its value is bad.
 * Environment: CT_BENCH_SENDERS, _RECEIVERS, _PAYLOAD, _RATE, _WINDOW, _DURATION, _COUNT, _IDLE
 * are read first by bl_opts_from_env.
 */
int bl_opts_parse(bl_opts_t *o, int argc, char **argv, int *i);
void bl_opts_from_env(bl_opts_t *o);
/* After parsing: refuses senders without receivers or the reverse (-1, with a message on stderr
 * prefixed by prog) and gives a run with senders but neither a duration nor a count the default
 * 5 s. Returns 0 or -1. */
int bl_opts_check(bl_opts_t *o, const char *prog);
/* The usage text of the common options. */
extern const char BL_OPTS_USAGE[];

/* A load generator's own options: takes argv[*i] when it is one of them (advancing *i past its
 * value) and returns true; false when it is not one, or its value is missing. */
typedef bool bl_own_opt_fn(void *ctx, int argc, char **argv, int *i);

/*
 * Fills o from the defaults (bl_opts_defaults), then the environment (bl_opts_from_env), then
 * argv[1..] (bl_opts_parse), so that options win; hands every other argument to own (with ctx).
 * Returns -1 when the run goes on, or the exit status to return now: 0 after -h/--help
 * (usage(stdout)); 2 after a bad common option (its message on stderr) or an unknown one or one
 * without its value ("<prog>: unknown option or missing value: ARG" and usage(stderr)).
 */
int bl_opts_load(bl_opts_t *o, int argc, char **argv, const char *prog, void (*usage)(FILE *f),
                 bl_own_opt_fn *own, void *ctx);

/* Everything a run measured. */
typedef struct bl_result {
    const char *system; /* "careteamd" or "mosquitto" */
    uint64_t sent, acked, delivered, errors, foreign;
    double send_s;                     /* from the first send to the last ack */
    double deliver_s;                  /* from the first send to the last delivery */
    bl_hist_t ack, e2e;                /* latency in ns */
    bl_proc_t proc0, proc1;            /* the server at the start and end of the traffic */
    long idle_rss0_kib, idle_rss1_kib; /* the server around opening the idle connections */
    unsigned idle_connected;
    bl_verdict_t verdict;
    bool drained; /* everything acked was delivered before drain_s ran out */
} bl_result_t;

/* Prints a human summary on stderr (unless quiet) and one `key=value` line on stdout. Returns the
 * exit status: 0 when there were no errors, nothing lost or duplicated, everything sent was
 * acknowledged and every connection came up. */
int bl_report(const bl_opts_t *o, bl_result_t *r);

#endif
