/*
 * The phase machine that careteam-bench and mosq-bench share: connect, open the idle connections,
 * send (window-limited or at a fixed rate), drain, done; with the timers that bound each phase,
 * SIGINT, the per-sender ledgers and the final verdict and result line (bench/README.md).
 *
 * A load generator embeds one bench_run_t in its own state, fills a bench_run_ops_t with what only
 * it knows (how to send one message, open the idle connections, tell whether its receivers still
 * owe the server anything, close everything) and reports its connections' events to the run with
 * the bench_run_* calls below; it recovers its own state in the ops callbacks with
 * bench_container_of. Everything runs on the one loop thread. A bench_run_* call may move the run
 * on and so call the tool back (ops->open_idle, ops->send, ops->close_all), as each says, so the
 * tool must be ready for that wherever it makes the call. Connections are closed in
 * ops->close_all and freed only once closed, never inside the call chain that ended the run.
 *
 * Nothing here knows about careteam or MQTT.
 */
#ifndef CT_BENCHRUN_H
#define CT_BENCHRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "benchlib.h"

/* The struct of type `type` whose member `member` is at ptr. */
#define bench_container_of(ptr, type, member)                                                      \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* The phases, in order; benchrun.c draws the transitions. */
typedef enum bench_phase {
    BENCH_CONNECT, /* senders and receivers connecting (receivers: until ready to receive) */
    BENCH_IDLE,    /* the idle connections opening, then settling */
    BENCH_SEND,    /* sending, until the duration or count bound */
    BENCH_DRAIN,   /* sending stopped; waiting for the outstanding acks and deliveries */
    BENCH_DONE     /* everything closed or closing; the loop is winding down */
} bench_phase_t;

typedef struct bench_run bench_run_t;

/* What the run keeps for sender i (its connection is the tool's). */
typedef struct bench_sender {
    char *body;           /* payload + 1 bytes, NUL-terminated, rewritten for each send; owned */
    uint64_t outstanding; /* sends written and not yet answered */
    bl_ledger_t ledger;   /* one entry per send attempted (seq 0..n-1); owned */
} bench_sender_t;

/*
 * What a load generator supplies. The callbacks run on the loop thread from inside the run (a
 * bench_run_* call or one of its timers). send and close_all must not call into the run;
 * open_idle may end it with bench_run_fail.
 */
typedef struct bench_run_ops {
    const char *prog;         /* prefixes every message on stderr: "careteam-bench" */
    const char *system;       /* the result line's bench= value: "careteamd" */
    uint64_t max_outstanding; /* rate mode: a sender with this many unanswered sends is skipped */
    const char *skipped_what; /* the end-of-run note: "<prog>: <n> <skipped_what>" */

    /* Writes sender i's message seq: body is r->senders[i].body, o->payload bytes (a NUL
     * follows), sent_ns its send time. Returns 0 once it is on its way, then the tool calls
     * bench_run_answered(r, i, ...) exactly once for it, later; or nonzero (the run counts the
     * error; the tool may print why, before r->res.errors is incremented). */
    int (*send)(bench_run_t *r, unsigned i, uint64_t seq, uint64_t sent_ns, char *body);
    /* The run entered BENCH_IDLE with o->idle > 0: start opening the idle connections, counting
     * each in r->res.idle_connected, and call bench_run_idle_up once all are up. */
    void (*open_idle)(bench_run_t *r);
    /* True when the receivers owe the server nothing more (careteam: every DeliveryAck written
     * and answered). NULL when receiving needs no answer from the tool. */
    bool (*receivers_done)(bench_run_t *r);
    /* The run is over (phase BENCH_DONE): close every connection and the tool's own handles, now
     * or from a later loop iteration, so that uv_run returns. Called once. */
    void (*close_all)(bench_run_t *r);
} bench_run_ops_t;

/* One run. Fields the tools may use are marked; the rest are the run's. */
struct bench_run {
    const bench_run_ops_t *ops; /* static; not owned */
    const bl_opts_t *o;         /* the tool's options; outlive the run; not owned */
    uv_loop_t *loop;            /* not owned */
    bench_phase_t phase;        /* tools read it (e.g. to ignore errors while closing) */
    uint64_t id;                /* the run id in every body; tools read it (names, topics) */
    bench_sender_t *senders;    /* [o->senders]; owned, freed by bench_run_free */
    bl_result_t res;            /* tools count errors, idle_connected; the run the rest */
    unsigned n_ready, next_sender;
    uint64_t t0_ns, last_ack_ns, last_deliver_ns;
    uint64_t sent_total, acked_total, distinct_delivered, skipped;
    uv_timer_t phase_timer; /* the bound of the current phase (then: the idle settle time) */
    uv_timer_t pace_timer;  /* rate mode: the 1 ms pacer */
    uv_timer_t hard_timer;  /* the bound of the whole run */
    uv_signal_t sigint;
};

/*
 * Starts a run in BENCH_CONNECT on loop: the run id, the senders' bodies, the SIGINT handler, the
 * connect bound (o->connect_s) and the overall bound. Call before opening any connection. Returns
 * 0, or -1 out of memory; either way the handles are initialised, so bench_run_fail may follow.
 */
int bench_run_init(bench_run_t *r, uv_loop_t *loop, const bl_opts_t *o, const bench_run_ops_t *ops);

/* One sender or receiver is ready (receivers: able to receive). When all o->senders +
 * o->receivers are, the run moves on to the idle connections (ops->open_idle) or, without any,
 * starts sending (ops->send). */
void bench_run_ready(bench_run_t *r);
/* The tool has started connecting every sender and receiver. With none (an idle-only run) the run
 * moves on now, as in bench_run_ready. */
void bench_run_opened(bench_run_t *r);
/* Every idle connection is up: after o->idle_settle_s (from a timer, not from this call) the
 * server's RSS is sampled and sending starts. */
void bench_run_idle_up(bench_run_t *r);

/* Sender i's send seq, written at sent_ns, was answered: acknowledged (acked) or refused or
 * abandoned (the tool counts that error). In window mode this writes the sender's next message
 * (ops->send) or, at the count bound, starts draining; it may end the run (ops->close_all). */
void bench_run_answered(bench_run_t *r, unsigned i, bool acked, uint64_t seq, uint64_t sent_ns);
/* A receiver got body (len bytes): marks it in its sender's ledger and records its end-to-end
 * latency, or counts it as another run's. Never ends the run: call bench_run_check_drained once
 * the tool has taken note of the delivery (careteam: queued its DeliveryAck). */
void bench_run_delivered(bench_run_t *r, const char *body, size_t len);
/* In BENCH_DRAIN, ends the run when every send is answered, every acked message delivered and
 * ops->receivers_done; otherwise does nothing. */
void bench_run_check_drained(bench_run_t *r);

/* A fatal error: unless the run is over already, prints "<prog>: <message>", counts an error and
 * ends the run. */
void bench_run_fail(bench_run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* After uv_run returned: fills the result, prints the human summary (unless quiet) and the result
 * line, and returns the exit status (bl_report). */
int bench_run_report(bench_run_t *r);
/* Frees what the run owns. */
void bench_run_free(bench_run_t *r);

#endif
