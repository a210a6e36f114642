/*
 * The phase machine of a load generator run (see benchrun.h): which phase the run is in, what
 * moves it on, the timers that bound every phase so that every run stops by itself, and the
 * counters the result line is made of. The tool's connections report to it; it asks the tool to
 * send one message and, at the end, to close everything (bench_run_ops_t).
 *
 *   CONNECT --all ready--> IDLE --idle up + settle--> SEND --duration/count/SIGINT--> DRAIN
 *   DRAIN --everything acked delivered, or drain_s--> DONE (close all; uv_run returns; report)
 *     (connect_s bounds CONNECT and IDLE; any phase can jump to DONE on a fatal error, SIGINT
 *     outside SEND, or the overall bound)
 *
 * | from          | to    | when                                    | performed by             |
 * |---------------|-------|-----------------------------------------|--------------------------|
 * | CONNECT       | IDLE  | every sender and receiver ready         | start_idle               |
 * | IDLE          | SEND  | no idle connections, or up and settled  | start_send               |
 * | SEND          | DRAIN | duration, count, SIGINT, or no senders  | begin_drain              |
 * | DRAIN         | DONE  | everything answered and delivered       | bench_run_check_drained  |
 * | DRAIN         | DONE  | drain_s ran out                         | on_phase_timer           |
 * | CONNECT, IDLE | DONE  | connect_s ran out                       | on_phase_timer           |
 * | any but DONE  | DONE  | fatal error (the tool's or a bound's)   | bench_run_fail           |
 * | any but SEND  | DONE  | SIGINT                                  | on_sigint                |
 * | any but DONE  | DONE  | the overall bound ran out               | on_hard_timer            |
 *   (every way into DONE goes through finish)
 *
 * Invariants:
 *  1. Messages are written only in SEND (the window refill and the pacer check it), so the
 *     counters stop moving, but for answers and deliveries, when DRAIN starts.
 *  2. senders[i].outstanding is the number of sender i's sends written and not yet answered; the
 *     drain waits for it to be 0 for every sender.
 *  3. phase_timer always bounds the current phase (connect_s, the settle time, the duration,
 *     drain_s); pace_timer runs only in SEND; hard_timer bounds the whole run, as a backstop.
 *  4. finish runs once, sets DONE and closes the run's handles; after it no callback of the run
 *     moves the phase again. t0_ns != 0 exactly when SEND was entered, so the server's CPU is
 *     sampled at the end only if it was sampled at the start.
 */
#include "benchrun.h"

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define PACE_MS 1               /* the rate-mode pacer's tick */
#define PACE_MAX_PER_TICK 20000 /* sends per tick: bounds one callback's work */
#define COUNT_ONLY_BOUND_S 600  /* the time bound of a run bounded only by --count */

static void start_send(bench_run_t *r);
static void finish(bench_run_t *r);

static bool send_bound_reached(const bench_run_t *r)
{
    return r->o->count > 0 && r->sent_total >= r->o->count;
}

/* Writes sender i's next message through the tool. Returns 0, or -1 (counted as an error). */
static int send_one(bench_run_t *r, unsigned i)
{
    bench_sender_t *s = &r->senders[i];
    if (bl_ledger_add(&s->ledger) != 0) {
        r->res.errors++;
        return -1;
    }
    uint64_t seq = s->ledger.n - 1, now = bl_now_ns();
    bl_body_make(s->body, r->o->payload, r->id, i, seq, now);
    if (r->ops->send(r, i, seq, now, s->body) != 0) {
        r->res.errors++;
        return -1;
    }
    s->outstanding++;
    r->sent_total++;
    return 0;
}

/* ---- timers and signals ---------------------------------------------------------------------- */

static void on_phase_timer(uv_timer_t *t);

/* SEND -> DRAIN (duration, count bound, SIGINT, nothing to send): stops sending and waits at most
 * drain_s for the outstanding answers and deliveries. */
static void begin_drain(bench_run_t *r)
{
    r->phase = BENCH_DRAIN;
    uv_timer_stop(&r->pace_timer);
    uv_timer_start(&r->phase_timer, on_phase_timer, (uint64_t)(r->o->drain_s * 1000), 0);
    bench_run_check_drained(r);
}

/* The phase timer: the connect bound in CONNECT/IDLE, the duration in SEND, the drain bound in
 * DRAIN. (The settle wait in IDLE runs on_settled on the same timer.) */
static void on_phase_timer(uv_timer_t *t)
{
    bench_run_t *r = t->data;
    switch (r->phase) {
    case BENCH_CONNECT:
    case BENCH_IDLE:
        bench_run_fail(r, "not everything connected within --connect-timeout: giving up");
        break;
    case BENCH_SEND:
        begin_drain(r);
        break;
    case BENCH_DRAIN:
        fprintf(stderr, "%s: drain timed out after %.0f s\n", r->ops->prog, r->o->drain_s);
        finish(r);
        break;
    case BENCH_DONE:
        break;
    }
}

/* Rate mode: sends what is due by now, round-robin over the senders. A sender at
 * ops->max_outstanding, or a send that fails, is skipped (and counted as an error at the end), so
 * that the rate stays what was asked. */
static void on_pace(uv_timer_t *t)
{
    bench_run_t *r = t->data;
    if (r->phase != BENCH_SEND)
        return;
    const bl_opts_t *o = r->o;
    uint64_t due = (uint64_t)((double)(bl_now_ns() - r->t0_ns) * o->rate / 1e9) + 1;
    if (o->count > 0 && due > o->count)
        due = o->count;
    unsigned budget = PACE_MAX_PER_TICK;
    while (r->sent_total + r->skipped < due && budget-- > 0) {
        unsigned i = r->next_sender++ % o->senders;
        if (r->senders[i].outstanding >= r->ops->max_outstanding || send_one(r, i) != 0)
            r->skipped++;
    }
    if (o->count > 0 && r->sent_total + r->skipped >= o->count)
        begin_drain(r);
}

static void on_sigint(uv_signal_t *h, int sig)
{
    (void)sig;
    bench_run_t *r = h->data;
    if (r->phase == BENCH_SEND)
        begin_drain(r); /* stop sending, drain */
    else
        finish(r);
}

static void on_hard_timer(uv_timer_t *t)
{
    bench_run_t *r = t->data;
    fprintf(stderr, "%s: the run's overall time bound ran out\n", r->ops->prog);
    r->res.errors++;
    finish(r);
}

/* Ends the run: samples the server, has the tool close its connections, closes the run's handles.
 * uv_run returns once the tool's are closed too. */
static void finish(bench_run_t *r)
{
    if (r->phase == BENCH_DONE)
        return;
    if (r->o->server_pid > 0 && r->t0_ns != 0)
        (void)bl_proc_sample(r->o->server_pid, &r->res.proc1);
    r->phase = BENCH_DONE;
    r->ops->close_all(r);
    uv_close((uv_handle_t *)&r->phase_timer, NULL);
    uv_close((uv_handle_t *)&r->pace_timer, NULL);
    uv_close((uv_handle_t *)&r->hard_timer, NULL);
    uv_close((uv_handle_t *)&r->sigint, NULL);
}

/* ---- phases ---------------------------------------------------------------------------------- */

int bench_run_init(bench_run_t *r, uv_loop_t *loop, const bl_opts_t *o, const bench_run_ops_t *ops)
{
    r->ops = ops;
    r->o = o;
    r->loop = loop;
    r->phase = BENCH_CONNECT;
    r->id = (bl_now_ns() ^ ((uint64_t)getpid() << 40)) & 0xffffffffffffull;
    r->res.system = ops->system;
    uv_timer_init(loop, &r->phase_timer);
    uv_timer_init(loop, &r->pace_timer);
    uv_timer_init(loop, &r->hard_timer);
    uv_signal_init(loop, &r->sigint);
    r->phase_timer.data = r->pace_timer.data = r->hard_timer.data = r;
    r->sigint.data = r;
    uv_signal_start(&r->sigint, on_sigint, SIGINT);
    uv_timer_start(&r->phase_timer, on_phase_timer, (uint64_t)(o->connect_s * 1000), 0);
    /* Every phase's bound, and 10 s to spare: only a bug or a hung server reaches it. */
    double total = o->connect_s * 2 + o->idle_settle_s + o->drain_s + 10 +
                   (o->duration_s > 0 ? o->duration_s : COUNT_ONLY_BOUND_S);
    uv_timer_start(&r->hard_timer, on_hard_timer, (uint64_t)(total * 1000), 0);
    r->senders = calloc(o->senders + 1, sizeof *r->senders);
    if (r->senders == NULL)
        return -1;
    for (unsigned i = 0; i < o->senders; i++) {
        r->senders[i].body = calloc(1, o->payload + 1);
        if (r->senders[i].body == NULL)
            return -1;
    }
    return 0;
}

/* CONNECT -> IDLE once every sender and receiver is ready; straight on to SEND without idle
 * connections. */
static void start_idle(bench_run_t *r)
{
    if (r->phase != BENCH_CONNECT || r->n_ready < r->o->senders + r->o->receivers)
        return;
    r->phase = BENCH_IDLE;
    if (r->o->idle == 0) {
        start_send(r);
        return;
    }
    bl_proc_t p;
    if (r->o->server_pid > 0 && bl_proc_sample(r->o->server_pid, &p) == 0)
        r->res.idle_rss0_kib = p.rss_kib;
    r->ops->open_idle(r);
}

void bench_run_ready(bench_run_t *r)
{
    r->n_ready++;
    start_idle(r);
}

void bench_run_opened(bench_run_t *r)
{
    start_idle(r);
}

static void on_settled(uv_timer_t *t)
{
    bench_run_t *r = t->data;
    bl_proc_t p;
    if (r->o->server_pid > 0 && bl_proc_sample(r->o->server_pid, &p) == 0)
        r->res.idle_rss1_kib = p.rss_kib;
    start_send(r);
}

void bench_run_idle_up(bench_run_t *r)
{
    if (r->phase != BENCH_IDLE)
        return;
    uv_timer_stop(&r->phase_timer);
    uv_timer_start(&r->phase_timer, on_settled, (uint64_t)(r->o->idle_settle_s * 1000), 0);
}

/* IDLE -> SEND: samples the server, starts the clock, and fills every sender's window (window
 * mode) or starts the pacer (rate mode). */
static void start_send(bench_run_t *r)
{
    const bl_opts_t *o = r->o;
    r->phase = BENCH_SEND;
    uv_timer_stop(&r->phase_timer);
    if (o->server_pid > 0)
        (void)bl_proc_sample(o->server_pid, &r->res.proc0);
    r->t0_ns = bl_now_ns();
    r->last_ack_ns = r->last_deliver_ns = r->t0_ns;
    if (o->senders == 0 || (o->duration_s <= 0 && o->count == 0)) {
        begin_drain(r); /* nothing to send: an idle-only run */
        return;
    }
    double limit = o->duration_s > 0 ? o->duration_s : COUNT_ONLY_BOUND_S;
    uv_timer_start(&r->phase_timer, on_phase_timer, (uint64_t)(limit * 1000), 0);
    if (o->rate > 0) {
        uv_timer_start(&r->pace_timer, on_pace, 0, PACE_MS);
        return;
    }
    for (unsigned i = 0; i < o->senders; i++)
        for (unsigned k = 0; k < o->window && !send_bound_reached(r); k++)
            if (send_one(r, i) != 0)
                break;
    if (send_bound_reached(r))
        begin_drain(r);
}

/* ---- traffic --------------------------------------------------------------------------------- */

void bench_run_answered(bench_run_t *r, unsigned i, bool acked, uint64_t seq, uint64_t sent_ns)
{
    bench_sender_t *s = &r->senders[i];
    s->outstanding--;
    if (acked) {
        uint64_t now = bl_now_ns();
        bl_hist_record(&r->res.ack, now - sent_ns);
        s->ledger.st[seq] |= BL_ACKED;
        r->acked_total++;
        r->last_ack_ns = now;
    }
    if (r->phase == BENCH_SEND && r->o->rate <= 0) {
        if (!send_bound_reached(r))
            (void)send_one(r, i);
        else
            begin_drain(r);
    }
    bench_run_check_drained(r);
}

void bench_run_delivered(bench_run_t *r, const char *body, size_t len)
{
    uint64_t now = bl_now_ns();
    uint32_t si;
    uint64_t seq, sent;
    if (len > 0 && bl_body_parse(body, len, r->id, &si, &seq, &sent) && si < r->o->senders &&
        seq < r->senders[si].ledger.n) {
        uint8_t *st = &r->senders[si].ledger.st[seq];
        if ((*st & BL_DELIVERIES) == 0)
            r->distinct_delivered++;
        if ((*st & BL_DELIVERIES) < BL_DELIVERIES)
            (*st)++;
        r->res.delivered++;
        bl_hist_record(&r->res.e2e, now - sent);
        r->last_deliver_ns = now;
    } else {
        r->res.foreign++; /* an earlier run's message still queued for this receiver */
    }
}

void bench_run_check_drained(bench_run_t *r)
{
    if (r->phase != BENCH_DRAIN)
        return;
    for (unsigned i = 0; i < r->o->senders; i++)
        if (r->senders[i].outstanding > 0)
            return;
    if (r->distinct_delivered < r->acked_total)
        return;
    if (r->ops->receivers_done != NULL && !r->ops->receivers_done(r))
        return;
    r->res.drained = true;
    finish(r);
}

void bench_run_fail(bench_run_t *r, const char *fmt, ...)
{
    if (r->phase == BENCH_DONE)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", r->ops->prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    r->res.errors++;
    finish(r);
}

/* ---- the end --------------------------------------------------------------------------------- */

int bench_run_report(bench_run_t *r)
{
    r->res.sent = r->sent_total;
    r->res.acked = r->acked_total;
    r->res.send_s = (double)(r->last_ack_ns - r->t0_ns) / 1e9;
    r->res.deliver_s = (double)(r->last_deliver_ns - r->t0_ns) / 1e9;
    if (r->skipped > 0) {
        fprintf(stderr, "%s: %" PRIu64 " %s\n", r->ops->prog, r->skipped, r->ops->skipped_what);
        r->res.errors += r->skipped;
    }
    for (unsigned i = 0; r->senders != NULL && i < r->o->senders; i++)
        bl_ledger_verdict(&r->senders[i].ledger, &r->res.verdict);
    return bl_report(r->o, &r->res);
}

void bench_run_free(bench_run_t *r)
{
    for (unsigned i = 0; r->senders != NULL && i < r->o->senders; i++) {
        bl_ledger_free(&r->senders[i].ledger);
        free(r->senders[i].body);
    }
    free(r->senders);
    r->senders = NULL;
}
