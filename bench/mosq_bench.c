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
 * loop then carries CONNECT/CONNACK and everything after. The phases, their bounds and the
 * counters are benchrun.c's, shared with careteam-bench; this file says when a client is ready
 * (a publisher at CONNACK, a subscriber at SUBACK), how one message is published and how
 * everything is closed.
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
#include "benchrun.h"

#define IDLE_PER_TICK 32
#define READ_BURST 64
#define MAX_OUTSTANDING 60000 /* MQTT message ids are 16-bit */

typedef struct bench bench_t;

typedef struct client {
    bench_t *b;
    struct mosquitto *m; /* owned; destroyed by main after the loop has ended */
    uv_poll_t poll;      /* on m's socket while polling */
    bool polling;
    int kind; /* 0 publisher, 1 subscriber, 2 idle */
    uint32_t idx;
    char topic[96];
    /* publishers (their ledger and body: b->run.senders[idx]); owned */
    uint64_t *mid_seq; /* [65536]: seq of the publish with this mid, or UINT64_MAX */
    uint64_t *mid_ns;  /* [65536]: its send time */
} client_t;

struct bench {
    bl_opts_t o;
    bench_run_t run; /* the phases, counters and result (benchrun.h); the callbacks get &run */
    uv_loop_t loop;
    const char *host, *ca, *cert, *key;
    int port, inflight;
    client_t *pub, *sub, *idle; /* owned, freed by main after the report */
    unsigned idle_started;
    uv_timer_t misc_timer, idle_timer, done_timer;
};

static void update_poll(client_t *c);

static bench_t *bench_of(bench_run_t *r)
{
    return bench_container_of(r, bench_t, run);
}

/* ---- publishing ------------------------------------------------------------------------------ */

/* ops->send: publishes sender i's message at QoS 1; its PUBACK comes to on_publish. */
static int publish(bench_run_t *run, unsigned i, uint64_t seq, uint64_t sent_ns, char *body)
{
    bench_t *b = bench_of(run);
    client_t *c = &b->pub[i];
    int mid = 0;
    int rc = mosquitto_publish(c->m, &mid, c->topic, (int)b->o.payload, body, 1, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        if (run->res.errors < 5) /* the run counts this error after we return */
            fprintf(stderr, "mosq-bench: publish: %s\n", mosquitto_strerror(rc));
        return -1;
    }
    c->mid_seq[mid & 0xffff] = seq;
    c->mid_ns[mid & 0xffff] = sent_ns;
    update_poll(c);
    return 0;
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    (void)m;
    client_t *c = obj;
    bench_run_t *run = &c->b->run;
    uint64_t seq = c->mid_seq[mid & 0xffff];
    if (seq == UINT64_MAX || seq >= run->senders[c->idx].ledger.n) {
        run->res.errors++; /* a PUBACK we did not expect */
        return;
    }
    c->mid_seq[mid & 0xffff] = UINT64_MAX;
    bench_run_answered(run, c->idx, true, seq, c->mid_ns[mid & 0xffff]);
}

/* ---- subscribing ----------------------------------------------------------------------------- */

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    (void)m;
    client_t *c = obj;
    bench_run_delivered(&c->b->run, msg->payload,
                        msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0);
    bench_run_check_drained(&c->b->run);
}

/* ---- connecting ------------------------------------------------------------------------------ */

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
    (void)m;
    (void)mid;
    client_t *c = obj;
    if (n < 1 || granted[0] != 1) {
        bench_run_fail(&c->b->run, "subscribe: QoS 1 not granted");
        return;
    }
    bench_run_ready(&c->b->run);
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    client_t *c = obj;
    bench_t *b = c->b;
    if (rc != 0) {
        bench_run_fail(&b->run, "CONNACK refused: %s", mosquitto_connack_string(rc));
        return;
    }
    if (c->kind == 1) {
        /* A subscriber is ready once its SUBACK grants QoS 1 (on_subscribe). */
        int r = mosquitto_subscribe(m, NULL, c->topic, 1);
        if (r != MOSQ_ERR_SUCCESS)
            bench_run_fail(&b->run, "subscribe: %s", mosquitto_strerror(r));
        update_poll(c);
    } else if (c->kind == 0) {
        bench_run_ready(&b->run);
    } else {
        b->run.res.idle_connected++;
    }
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
    (void)m;
    client_t *c = obj;
    if (c->b->run.phase != BENCH_DONE)
        bench_run_fail(&c->b->run, "disconnected by the broker: %s", mosquitto_strerror(rc));
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    client_t *c = p->data;
    if (status < 0) {
        bench_run_fail(&c->b->run, "poll: %s", uv_strerror(status));
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
    if (rc != MOSQ_ERR_SUCCESS && c->b->run.phase != BENCH_DONE) {
        bench_run_fail(&c->b->run, "connection: %s", mosquitto_strerror(rc));
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
    snprintf(id, sizeof id, "bench-%" PRIx64 "-%s%u", b->run.id, KIND[kind], idx);
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

/* Opens IDLE_PER_TICK idle connections per tick (each a blocking connect and handshake), then
 * tells the run once every CONNACK is in. */
static void on_idle_tick(uv_timer_t *t)
{
    bench_t *b = t->data;
    if (b->run.phase != BENCH_IDLE)
        return;
    for (unsigned k = 0; k < IDLE_PER_TICK && b->idle_started < b->o.idle; k++) {
        unsigned i = b->idle_started++;
        if (open_client(b, &b->idle[i], 2, i) != 0) {
            bench_run_fail(&b->run, "idle connection: cannot connect");
            return;
        }
    }
    if (b->run.res.idle_connected == b->o.idle) {
        uv_timer_stop(&b->idle_timer);
        bench_run_idle_up(&b->run);
    }
}

/* ops->open_idle: from the next loop iteration, a tick every 5 ms. */
static void open_idle(bench_run_t *run)
{
    uv_timer_start(&bench_of(run)->idle_timer, on_idle_tick, 0, 5);
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

static void close_client(client_t *c)
{
    if (c->m == NULL)
        return;
    mosquitto_disconnect(c->m); /* written at once: we are not inside a callback */
    if (c->polling)
        uv_close((uv_handle_t *)&c->poll, NULL);
    c->polling = false;
}

/* The second half of close_all, from the loop rather than from inside a libmosquitto callback
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
    uv_close((uv_handle_t *)&b->misc_timer, NULL);
    uv_close((uv_handle_t *)&b->idle_timer, NULL);
    uv_close((uv_handle_t *)&b->done_timer, NULL);
}

/* ops->close_all: the run may be ending inside a libmosquitto callback, so the clients are
 * disconnected on the next loop iteration (on_done_timer). */
static void close_all(bench_run_t *run)
{
    uv_timer_start(&bench_of(run)->done_timer, on_done_timer, 0, 0);
}

static const bench_run_ops_t MQ_RUN_OPS = {
    .prog = "mosq-bench",
    .system = "mosquitto",
    .max_outstanding = MAX_OUTSTANDING,
    .skipped_what = "publishes skipped",
    .send = publish,
    .open_idle = open_idle,
    .receivers_done = NULL, /* libmosquitto answers each delivery by itself */
    .close_all = close_all,
};

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

/* bl_own_opt_fn: mosq-bench's own options (usage above). */
static bool own_option(void *ctx, int argc, char **argv, int *i)
{
    bench_t *b = ctx;
    const char *a = argv[*i];
    if (*i + 1 >= argc)
        return false; /* each takes a value */
    if (strcmp(a, "--host") == 0)
        b->host = argv[++*i];
    else if (strcmp(a, "--port") == 0)
        b->port = atoi(argv[++*i]);
    else if (strcmp(a, "--ca") == 0)
        b->ca = argv[++*i];
    else if (strcmp(a, "--cert") == 0)
        b->cert = argv[++*i];
    else if (strcmp(a, "--key") == 0)
        b->key = argv[++*i];
    else if (strcmp(a, "--inflight") == 0)
        b->inflight = atoi(argv[++*i]);
    else
        return false;
    return true;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    static bench_t bench;
    bench_t *b = &bench;
    b->host = "127.0.0.1";
    int exit_now = bl_opts_load(&b->o, argc, argv, "mosq-bench", usage, own_option, b);
    if (exit_now >= 0)
        return exit_now;
    if (b->port <= 0 || b->ca == NULL || b->cert == NULL || b->key == NULL) {
        usage(stderr);
        return 2;
    }
    if (bl_opts_check(&b->o, "mosq-bench") != 0)
        return 2;
    mosquitto_lib_init();
    uv_loop_init(&b->loop);
    b->pub = calloc(b->o.senders + 1, sizeof *b->pub);
    b->sub = calloc(b->o.receivers + 1, sizeof *b->sub);
    b->idle = calloc(b->o.idle + 1, sizeof *b->idle);
    if (b->pub == NULL || b->sub == NULL || b->idle == NULL ||
        bench_run_init(&b->run, &b->loop, &b->o, &MQ_RUN_OPS) != 0)
        return 1;
    uv_timer_t *ts[] = {&b->misc_timer, &b->idle_timer, &b->done_timer};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        uv_timer_init(&b->loop, ts[i]);
        ts[i]->data = b;
    }
    uv_timer_start(&b->misc_timer, on_misc, 1000, 1000);

    bool ok = true;
    for (unsigned j = 0; ok && j < b->o.receivers; j++) {
        client_t *c = &b->sub[j];
        snprintf(c->topic, sizeof c->topic, "bench/%" PRIx64 "/r%u", b->run.id, j);
        ok = open_client(b, c, 1, j) == 0;
    }
    for (unsigned i = 0; ok && i < b->o.senders; i++) {
        client_t *c = &b->pub[i];
        snprintf(c->topic, sizeof c->topic, "bench/%" PRIx64 "/r%u", b->run.id, i % b->o.receivers);
        c->mid_seq = malloc(65536 * sizeof *c->mid_seq);
        c->mid_ns = calloc(65536, sizeof *c->mid_ns);
        if (c->mid_seq == NULL || c->mid_ns == NULL)
            return 1;
        memset(c->mid_seq, 0xff, 65536 * sizeof *c->mid_seq);
        ok = open_client(b, c, 0, i) == 0;
    }
    if (!ok)
        bench_run_fail(&b->run, "setup: cannot connect");
    else
        bench_run_opened(&b->run); /* no publishers and subscribers: straight on */
    uv_run(&b->loop, UV_RUN_DEFAULT);
    uv_loop_close(&b->loop);

    int rc = bench_run_report(&b->run);
    client_t *sets[] = {b->pub, b->sub, b->idle};
    unsigned ns[] = {b->o.senders, b->o.receivers, b->idle_started};
    for (int k = 0; k < 3; k++)
        for (unsigned i = 0; i < ns[k]; i++) {
            client_t *c = &sets[k][i];
            if (c->m != NULL)
                mosquitto_destroy(c->m);
            free(c->mid_seq);
            free(c->mid_ns);
        }
    bench_run_free(&b->run);
    free(b->pub);
    free(b->sub);
    free(b->idle);
    mosquitto_lib_cleanup();
    return rc;
}
