/*
 * mosq-bench: the Mosquitto side of bench/compare (issue 6). The same load, measurements and
 * verdict as careteam-bench (benchlib.[ch]), over MQTT 3.1.1 with libmosquitto: QoS 1, mutual
 * TLS 1.3, on one libuv loop (each client's socket in a uv_poll_t, driven with
 * mosquitto_loop_read/_write/_misc, never libmosquitto's own threads), so that the load
 * generator costs the machine what careteam-bench does.
 *
 *   mosq-bench [common options] --port P --ca CA --cert CRT --key KEY [--host H]
 *              [--inflight N]
 *
 * Publisher i publishes to bench/<run>/r<i % R>; subscriber j (clean_session false, a persistent
 * session, as careteam members have a durable inbox) subscribes to its topic with QoS 1. A
 * publish counts as acknowledged when its PUBACK arrives (on_publish); a delivery when the
 * subscriber's on_message runs (libmosquitto then sends the PUBACK). The broker is started and
 * configured by bench/compare; --pid names it for the CPU and RSS figures.
 *
 * Connections are made with the blocking mosquitto_connect (TCP + TLS handshake), before the
 * loop runs for publishers and subscribers and in small batches from a timer for idle ones; the
 * loop then carries CONNECT/CONNACK and everything after. Phases and bounds as careteam-bench.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <uv.h>

#include "benchlib.h"

#define IDLE_PER_TICK 32
#define READ_BURST 64
#define PACE_MAX_PER_TICK 20000
#define MAX_OUTSTANDING 60000 /* MQTT message ids are 16-bit */
#define COUNT_ONLY_BOUND_S 600

typedef enum phase { PH_CONNECT, PH_IDLE, PH_SEND, PH_DRAIN, PH_DONE } phase_t;

typedef struct bench bench_t;

typedef struct client {
    bench_t *b;
    struct mosquitto *m;
    uv_poll_t poll;
    bool polling, ready;
    int kind; /* 0 publisher, 1 subscriber, 2 idle */
    uint32_t idx;
    char topic[96];
    /* publishers */
    char *body;
    uint64_t outstanding;
    bl_ledger_t ledger;
    uint64_t *mid_seq; /* [65536]: seq of the publish with this mid, or UINT64_MAX */
    uint64_t *mid_ns;  /* [65536]: its send time */
} client_t;

struct bench {
    bl_opts_t o;
    uv_loop_t loop;
    phase_t phase;
    uint64_t run;
    const char *host, *ca, *cert, *key;
    int port, inflight;
    client_t *pub, *sub, *idle;
    unsigned n_ready, idle_started, next_pub;
    uv_timer_t phase_timer, pace_timer, misc_timer, idle_timer, hard_timer, done_timer;
    uv_signal_t sigint;
    uint64_t t0_ns, last_ack_ns, last_deliver_ns, sent_total, acked_total, distinct_delivered,
        skipped;
    bl_result_t res;
};

static void finish(bench_t *b);
static void update_poll(client_t *c);

static void fatal(bench_t *b, const char *what, const char *why)
{
    if (b->phase == PH_DONE)
        return;
    fprintf(stderr, "mosq-bench: %s: %s\n", what, why);
    b->res.errors++;
    finish(b);
}

static void check_drained(bench_t *b)
{
    if (b->phase != PH_DRAIN)
        return;
    for (unsigned i = 0; i < b->o.senders; i++)
        if (b->pub[i].outstanding > 0)
            return;
    if (b->distinct_delivered < b->acked_total)
        return;
    b->res.drained = true;
    finish(b);
}

static void on_phase_timer(uv_timer_t *t);

static void begin_drain(bench_t *b)
{
    b->phase = PH_DRAIN;
    uv_timer_stop(&b->pace_timer);
    uv_timer_start(&b->phase_timer, on_phase_timer, (uint64_t)(b->o.drain_s * 1000), 0);
    check_drained(b);
}

static bool send_bound_reached(const bench_t *b)
{
    return b->o.count > 0 && b->sent_total >= b->o.count;
}

/* ---- publishing ------------------------------------------------------------------------------ */

static int publish_one(client_t *c)
{
    bench_t *b = c->b;
    if (bl_ledger_add(&c->ledger) != 0) {
        b->res.errors++;
        return -1;
    }
    uint64_t seq = c->ledger.n - 1, now = bl_now_ns();
    bl_body_make(c->body, b->o.payload, b->run, c->idx, seq, now);
    int mid = 0;
    int rc = mosquitto_publish(c->m, &mid, c->topic, (int)b->o.payload, c->body, 1, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        b->res.errors++;
        if (b->res.errors <= 5)
            fprintf(stderr, "mosq-bench: publish: %s\n", mosquitto_strerror(rc));
        return -1;
    }
    c->mid_seq[mid & 0xffff] = seq;
    c->mid_ns[mid & 0xffff] = now;
    c->outstanding++;
    b->sent_total++;
    update_poll(c);
    return 0;
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    (void)m;
    client_t *c = obj;
    bench_t *b = c->b;
    uint64_t seq = c->mid_seq[mid & 0xffff];
    if (seq == UINT64_MAX || seq >= c->ledger.n) {
        b->res.errors++; /* a PUBACK we did not expect */
        return;
    }
    c->mid_seq[mid & 0xffff] = UINT64_MAX;
    uint64_t now = bl_now_ns();
    bl_hist_record(&b->res.ack, now - c->mid_ns[mid & 0xffff]);
    c->ledger.st[seq] |= BL_ACKED;
    c->outstanding--;
    b->acked_total++;
    b->last_ack_ns = now;
    if (b->phase == PH_SEND && b->o.rate <= 0) {
        if (!send_bound_reached(b))
            (void)publish_one(c);
        else
            begin_drain(b);
    }
    check_drained(b);
}

static void on_pace(uv_timer_t *t)
{
    bench_t *b = t->data;
    if (b->phase != PH_SEND)
        return;
    uint64_t due = (uint64_t)((double)(bl_now_ns() - b->t0_ns) * b->o.rate / 1e9) + 1;
    if (b->o.count > 0 && due > b->o.count)
        due = b->o.count;
    unsigned budget = PACE_MAX_PER_TICK;
    while (b->sent_total + b->skipped < due && budget-- > 0) {
        client_t *c = &b->pub[b->next_pub++ % b->o.senders];
        if (c->outstanding >= MAX_OUTSTANDING || publish_one(c) != 0)
            b->skipped++;
    }
    if (b->o.count > 0 && b->sent_total + b->skipped >= b->o.count)
        begin_drain(b);
}

/* ---- subscribing ----------------------------------------------------------------------------- */

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    (void)m;
    client_t *c = obj;
    bench_t *b = c->b;
    uint64_t now = bl_now_ns();
    uint32_t si;
    uint64_t seq, sent;
    if (msg->payloadlen > 0 &&
        bl_body_parse(msg->payload, (size_t)msg->payloadlen, b->run, &si, &seq, &sent) &&
        si < b->o.senders && seq < b->pub[si].ledger.n) {
        uint8_t *st = &b->pub[si].ledger.st[seq];
        if ((*st & BL_DELIVERIES) == 0)
            b->distinct_delivered++;
        if ((*st & BL_DELIVERIES) < BL_DELIVERIES)
            (*st)++;
        b->res.delivered++;
        bl_hist_record(&b->res.e2e, now - sent);
        b->last_deliver_ns = now;
    } else {
        b->res.foreign++;
    }
    check_drained(b);
}

/* ---- connecting ------------------------------------------------------------------------------ */

static void start_idle(bench_t *b);

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
    (void)m;
    (void)mid;
    client_t *c = obj;
    if (n < 1 || granted[0] != 1) {
        fatal(c->b, "subscribe", "QoS 1 not granted");
        return;
    }
    c->ready = true;
    c->b->n_ready++;
    start_idle(c->b);
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    client_t *c = obj;
    bench_t *b = c->b;
    if (rc != 0) {
        fatal(b, "CONNACK refused", mosquitto_connack_string(rc));
        return;
    }
    if (c->kind == 1) {
        int r = mosquitto_subscribe(m, NULL, c->topic, 1);
        if (r != MOSQ_ERR_SUCCESS)
            fatal(b, "subscribe", mosquitto_strerror(r));
        update_poll(c);
    } else if (c->kind == 0) {
        c->ready = true;
        b->n_ready++;
        start_idle(b);
    } else {
        c->ready = true;
        b->res.idle_connected++;
    }
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
    (void)m;
    client_t *c = obj;
    if (c->b->phase != PH_DONE)
        fatal(c->b, "disconnected by the broker", mosquitto_strerror(rc));
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    client_t *c = p->data;
    if (status < 0) {
        fatal(c->b, "poll", uv_strerror(status));
        return;
    }
    int rc = MOSQ_ERR_SUCCESS;
    /* mosquitto_loop_read handles one packet for a QoS 1 subscriber (its queue is empty) and
     * leaves the rest to the next poll: read on while it did not stop at EAGAIN, at most
     * READ_BURST packets (one client cannot starve the loop). */
    for (int k = 0; (events & UV_READABLE) && k < READ_BURST && c->m != NULL; k++) {
        errno = 0;
        rc = mosquitto_loop_read(c->m, 1);
        if (rc != MOSQ_ERR_SUCCESS || errno == EAGAIN || errno == EWOULDBLOCK)
            break;
    }
    if (rc == MOSQ_ERR_SUCCESS && (events & UV_WRITABLE) && c->m != NULL)
        rc = mosquitto_loop_write(c->m, 1);
    if (rc != MOSQ_ERR_SUCCESS && c->b->phase != PH_DONE) {
        fatal(c->b, "connection", mosquitto_strerror(rc));
        return;
    }
    update_poll(c);
}

/* Watches for writability only while libmosquitto has output queued. */
static void update_poll(client_t *c)
{
    if (!c->polling || c->m == NULL)
        return;
    int ev = UV_READABLE | (mosquitto_want_write(c->m) ? UV_WRITABLE : 0);
    uv_poll_start(&c->poll, ev, on_poll);
}

static int open_client(bench_t *b, client_t *c, int kind, uint32_t idx)
{
    char id[64];
    static const char *const KIND[] = {"p", "r", "idle"};
    snprintf(id, sizeof id, "bench-%" PRIx64 "-%s%u", b->run, KIND[kind], idx);
    c->b = b;
    c->kind = kind;
    c->idx = idx;
    c->m = mosquitto_new(id, kind != 1, c);
    if (c->m == NULL)
        return -1;
    mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    /* careteam sets TCP_NODELAY on both ends (common/tls.c); so does this side (the broker:
     * set_tcp_nodelay true in bench/compare's mosquitto.conf). */
    mosquitto_int_option(c->m, MOSQ_OPT_TCP_NODELAY, 1);
    if (kind == 0)
        mosquitto_max_inflight_messages_set(c->m, (unsigned)b->inflight);
    int rc = mosquitto_tls_set(c->m, b->ca, NULL, b->cert, b->key, NULL);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_tls_opts_set(c->m, 1, "tlsv1.3", NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "mosq-bench: TLS setup: %s\n", mosquitto_strerror(rc));
        return -1;
    }
    mosquitto_connect_callback_set(c->m, on_connect);
    mosquitto_disconnect_callback_set(c->m, on_disconnect);
    mosquitto_publish_callback_set(c->m, on_publish);
    mosquitto_message_callback_set(c->m, on_message);
    mosquitto_subscribe_callback_set(c->m, on_subscribe);
    rc = mosquitto_connect(c->m, b->host, b->port, 300);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "mosq-bench: connect %s:%d: %s\n", b->host, b->port,
                mosquitto_strerror(rc));
        return -1;
    }
    if (uv_poll_init(&b->loop, &c->poll, mosquitto_socket(c->m)) != 0)
        return -1;
    c->poll.data = c;
    c->polling = true;
    update_poll(c);
    return 0;
}

static void start_send(bench_t *b);

static void on_settled(uv_timer_t *t)
{
    bench_t *b = t->data;
    bl_proc_t p;
    if (b->o.server_pid > 0 && bl_proc_sample(b->o.server_pid, &p) == 0)
        b->res.idle_rss1_kib = p.rss_kib;
    start_send(b);
}

/* Opens IDLE_PER_TICK idle connections per tick (each a blocking connect and handshake), then
 * waits for every CONNACK and the settle time. */
static void on_idle_tick(uv_timer_t *t)
{
    bench_t *b = t->data;
    if (b->phase != PH_IDLE)
        return;
    for (unsigned k = 0; k < IDLE_PER_TICK && b->idle_started < b->o.idle; k++) {
        unsigned i = b->idle_started++;
        if (open_client(b, &b->idle[i], 2, i) != 0) {
            fatal(b, "idle connection", "cannot connect");
            return;
        }
    }
    if (b->res.idle_connected == b->o.idle) {
        uv_timer_stop(&b->idle_timer);
        uv_timer_stop(&b->phase_timer);
        uv_timer_start(&b->phase_timer, on_settled, (uint64_t)(b->o.idle_settle_s * 1000), 0);
    }
}

static void start_idle(bench_t *b)
{
    if (b->phase != PH_CONNECT || b->n_ready < b->o.senders + b->o.receivers)
        return;
    b->phase = PH_IDLE;
    if (b->o.idle == 0) {
        start_send(b);
        return;
    }
    bl_proc_t p;
    if (b->o.server_pid > 0 && bl_proc_sample(b->o.server_pid, &p) == 0)
        b->res.idle_rss0_kib = p.rss_kib;
    uv_timer_start(&b->idle_timer, on_idle_tick, 0, 5);
}

static void start_send(bench_t *b)
{
    b->phase = PH_SEND;
    uv_timer_stop(&b->phase_timer);
    if (b->o.server_pid > 0)
        (void)bl_proc_sample(b->o.server_pid, &b->res.proc0);
    b->t0_ns = bl_now_ns();
    b->last_ack_ns = b->last_deliver_ns = b->t0_ns;
    double limit = b->o.duration_s > 0 ? b->o.duration_s : COUNT_ONLY_BOUND_S;
    if (b->o.senders == 0) {
        b->phase = PH_DRAIN;
        check_drained(b);
        return;
    }
    uv_timer_start(&b->phase_timer, on_phase_timer, (uint64_t)(limit * 1000), 0);
    if (b->o.rate > 0) {
        uv_timer_start(&b->pace_timer, on_pace, 0, 1);
        return;
    }
    for (unsigned i = 0; i < b->o.senders; i++)
        for (unsigned k = 0; k < b->o.window && !send_bound_reached(b); k++)
            if (publish_one(&b->pub[i]) != 0)
                break;
    if (send_bound_reached(b))
        begin_drain(b);
}

static void on_phase_timer(uv_timer_t *t)
{
    bench_t *b = t->data;
    switch (b->phase) {
    case PH_CONNECT:
    case PH_IDLE:
        fatal(b, "not everything connected within --connect-timeout", "giving up");
        break;
    case PH_SEND:
        begin_drain(b);
        break;
    case PH_DRAIN:
        fprintf(stderr, "mosq-bench: drain timed out after %.0f s\n", b->o.drain_s);
        finish(b);
        break;
    case PH_DONE:
        break;
    }
}

/* Keep-alive and retries: libmosquitto's periodic work, once a second for every client. */
static void on_misc(uv_timer_t *t)
{
    bench_t *b = t->data;
    client_t *sets[] = {b->pub, b->sub, b->idle};
    unsigned ns[] = {b->o.senders, b->o.receivers, b->idle_started};
    for (int k = 0; k < 3; k++)
        for (unsigned i = 0; i < ns[k]; i++)
            if (sets[k][i].m != NULL) {
                mosquitto_loop_misc(sets[k][i].m);
                update_poll(&sets[k][i]);
            }
}

static void on_sigint(uv_signal_t *h, int sig)
{
    (void)sig;
    bench_t *b = h->data;
    if (b->phase == PH_SEND)
        begin_drain(b);
    else
        finish(b);
}

static void on_hard(uv_timer_t *t)
{
    bench_t *b = t->data;
    fprintf(stderr, "mosq-bench: the run's overall time bound ran out\n");
    b->res.errors++;
    finish(b);
}

static void close_client(client_t *c)
{
    if (c->m == NULL)
        return;
    mosquitto_disconnect(c->m); /* written at once: we are not inside a callback */
    if (c->polling)
        uv_close((uv_handle_t *)&c->poll, NULL);
    c->polling = false;
}

/* The second half of finish, from the loop rather than from inside a libmosquitto callback
 * (whose mutexes are held there: disconnecting from one deadlocks). */
static void on_done_timer(uv_timer_t *t)
{
    bench_t *b = t->data;
    for (unsigned i = 0; i < b->o.senders; i++)
        close_client(&b->pub[i]);
    for (unsigned i = 0; i < b->o.receivers; i++)
        close_client(&b->sub[i]);
    for (unsigned i = 0; i < b->idle_started; i++)
        close_client(&b->idle[i]);
    uv_handle_t *hs[] = {(uv_handle_t *)&b->phase_timer, (uv_handle_t *)&b->pace_timer,
                         (uv_handle_t *)&b->misc_timer,  (uv_handle_t *)&b->idle_timer,
                         (uv_handle_t *)&b->hard_timer,  (uv_handle_t *)&b->sigint,
                         (uv_handle_t *)&b->done_timer};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++)
        uv_close(hs[i], NULL);
}

/* Ends the run: samples the server now, stops all traffic, and closes everything from the loop
 * on the next iteration. */
static void finish(bench_t *b)
{
    if (b->phase == PH_DONE)
        return;
    if (b->o.server_pid > 0 && b->t0_ns != 0)
        (void)bl_proc_sample(b->o.server_pid, &b->res.proc1);
    b->phase = PH_DONE;
    uv_timer_start(&b->done_timer, on_done_timer, 0, 0);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mosq-bench [options] --port P --ca CA --cert CRT --key KEY\n"
            "The Mosquitto counterpart of careteam-bench (QoS 1, mutual TLS 1.3); see\n"
            "bench/README.md.\n\n%s"
            "      --host H         broker address (default 127.0.0.1)\n"
            "      --port P         broker TLS port\n"
            "      --ca/--cert/--key  PEM files for mutual TLS (one client certificate for all)\n"
            "      --inflight N     the publishers' QoS 1 in-flight limit (default 0 = none;\n"
            "                       the window bounds it)\n",
            BL_OPTS_USAGE);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    static bench_t bench;
    bench_t *b = &bench;
    bl_opts_defaults(&b->o);
    bl_opts_from_env(&b->o);
    b->host = "127.0.0.1";
    for (int i = 1; i < argc; i++) {
        int r = bl_opts_parse(&b->o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--host") == 0 && has) {
            b->host = argv[++i];
        } else if (strcmp(a, "--port") == 0 && has) {
            b->port = atoi(argv[++i]);
        } else if (strcmp(a, "--ca") == 0 && has) {
            b->ca = argv[++i];
        } else if (strcmp(a, "--cert") == 0 && has) {
            b->cert = argv[++i];
        } else if (strcmp(a, "--key") == 0 && has) {
            b->key = argv[++i];
        } else if (strcmp(a, "--inflight") == 0 && has) {
            b->inflight = atoi(argv[++i]);
        } else {
            fprintf(stderr, "mosq-bench: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (b->port <= 0 || b->ca == NULL || b->cert == NULL || b->key == NULL) {
        usage(stderr);
        return 2;
    }
    if ((b->o.senders == 0) != (b->o.receivers == 0)) {
        fprintf(stderr, "mosq-bench: senders and receivers must both be 0 or both > 0\n");
        return 2;
    }
    if (b->o.duration_s <= 0 && b->o.count == 0 && b->o.senders > 0)
        b->o.duration_s = 5;
    b->run = (bl_now_ns() ^ ((uint64_t)getpid() << 40)) & 0xffffffffffffull;
    b->res.system = "mosquitto";
    mosquitto_lib_init();
    uv_loop_init(&b->loop);
    b->pub = calloc(b->o.senders + 1, sizeof *b->pub);
    b->sub = calloc(b->o.receivers + 1, sizeof *b->sub);
    b->idle = calloc(b->o.idle + 1, sizeof *b->idle);
    if (b->pub == NULL || b->sub == NULL || b->idle == NULL)
        return 1;
    uv_timer_t *ts[] = {&b->phase_timer, &b->pace_timer, &b->misc_timer,
                        &b->idle_timer,  &b->hard_timer, &b->done_timer};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        uv_timer_init(&b->loop, ts[i]);
        ts[i]->data = b;
    }
    uv_signal_init(&b->loop, &b->sigint);
    b->sigint.data = b;
    uv_signal_start(&b->sigint, on_sigint, SIGINT);
    uv_timer_start(&b->phase_timer, on_phase_timer, (uint64_t)(b->o.connect_s * 1000), 0);
    uv_timer_start(&b->misc_timer, on_misc, 1000, 1000);
    double total = b->o.connect_s * 2 + b->o.idle_settle_s + b->o.drain_s + 10 +
                   (b->o.duration_s > 0 ? b->o.duration_s : COUNT_ONLY_BOUND_S);
    uv_timer_start(&b->hard_timer, on_hard, (uint64_t)(total * 1000), 0);

    bool ok = true;
    for (unsigned j = 0; ok && j < b->o.receivers; j++) {
        client_t *c = &b->sub[j];
        snprintf(c->topic, sizeof c->topic, "bench/%" PRIx64 "/r%u", b->run, j);
        ok = open_client(b, c, 1, j) == 0;
    }
    for (unsigned i = 0; ok && i < b->o.senders; i++) {
        client_t *c = &b->pub[i];
        snprintf(c->topic, sizeof c->topic, "bench/%" PRIx64 "/r%u", b->run, i % b->o.receivers);
        c->body = calloc(1, b->o.payload + 1);
        c->mid_seq = malloc(65536 * sizeof *c->mid_seq);
        c->mid_ns = calloc(65536, sizeof *c->mid_ns);
        if (c->body == NULL || c->mid_seq == NULL || c->mid_ns == NULL)
            return 1;
        memset(c->mid_seq, 0xff, 65536 * sizeof *c->mid_seq);
        ok = open_client(b, c, 0, i) == 0;
    }
    if (!ok)
        fatal(b, "setup", "cannot connect");
    else
        start_idle(b); /* no publishers and subscribers: straight on */
    uv_run(&b->loop, UV_RUN_DEFAULT);
    uv_loop_close(&b->loop);

    b->res.sent = b->sent_total;
    b->res.acked = b->acked_total;
    b->res.send_s = (double)(b->last_ack_ns - b->t0_ns) / 1e9;
    b->res.deliver_s = (double)(b->last_deliver_ns - b->t0_ns) / 1e9;
    if (b->skipped > 0) {
        fprintf(stderr, "mosq-bench: %" PRIu64 " publishes skipped\n", b->skipped);
        b->res.errors += b->skipped;
    }
    for (unsigned i = 0; i < b->o.senders; i++)
        bl_ledger_verdict(&b->pub[i].ledger, &b->res.verdict);
    int rc = bl_report(&b->o, &b->res);
    client_t *sets[] = {b->pub, b->sub, b->idle};
    unsigned ns[] = {b->o.senders, b->o.receivers, b->idle_started};
    for (int k = 0; k < 3; k++)
        for (unsigned i = 0; i < ns[k]; i++) {
            client_t *c = &sets[k][i];
            if (c->m != NULL)
                mosquitto_destroy(c->m);
            bl_ledger_free(&c->ledger);
            free(c->body);
            free(c->mid_seq);
            free(c->mid_ns);
        }
    free(b->pub);
    free(b->sub);
    free(b->idle);
    mosquitto_lib_cleanup();
    return rc;
}
