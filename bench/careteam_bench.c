/*
 * careteam-bench: a load generator for careteamd on libcareteam's asynchronous layer (issue 6;
 * bench/README.md, docs/performance.md).
 *
 *   careteam-bench [common options] [--careteamd PATH] [--dir DIR] [--keep] [--conf LINE]...
 *   careteam-bench [common options] --connect HOST:PORT --data DIR [--certs DIR]
 *
 * Two ways to find a daemon:
 *  - self-managed (default): makes DIR with `careteamd init`, enrolls the run's members with
 *    `careteamd enroll`, appends the --conf lines (default: rate_limit = 1000000, so that the
 *    per-connection admission limit of 1,000 requests/s is not what is measured) and runs
 *    `careteamd serve DIR --listen 127.0.0.1:0`; stops it with SIGTERM at the end and requires
 *    exit status 0. Durability and audit are the defaults (synchronous=FULL, an audit row per
 *    request) and are not configurable.
 *  - --connect: a daemon already serving data directory DIR; the members are enrolled into it
 *    with `careteamd enroll` when their certificates are not in --certs yet, and the daemon's pid
 *    is read from DIR/careteamd.pid (or --pid) for the CPU and RSS figures.
 *
 * Members: senders bench.s<i> (therapist), receivers bench.r<j> (peer_worker), idle connections
 * all as bench.idle. Sender i sends SendMessage to receiver i % R; a receiver acknowledges every
 * Deliver with DeliveryAck, batched once per loop iteration (at most 1,024 ids each).
 *
 * Phases, each bounded by a timer so that every run stops by itself, are benchrun.c's (shared with
 * mosq-bench); this file says when a connection is ready (a sender when welcomed, a receiver when
 * its replay is complete), how one message is sent and how everything is closed:
 *
 *   CONNECT --all welcomed and replayed--> IDLE --idle up + settle--> SEND --duration/count-->
 *   DRAIN --everything acked delivered and DeliveryAck'ed, or drain_s--> DONE (close all, report)
 *     (connect_s bounds CONNECT and IDLE; any phase can jump to DONE on a fatal error or SIGINT)
 *
 * Every message's body carries (run, sender, seq, send time), so the receiver measures end-to-end
 * latency on the same clock and marks the message in the sender's ledger; the verdict counts
 * acked-but-never-delivered and duplicate deliveries. Everything runs on one libuv loop thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchlib.h"
#include "benchrun.h"
#include "careteam.h"

#ifndef CT_BENCH_CARETEAMD
#define CT_BENCH_CARETEAMD "careteamd"
#endif

#define ACK_BATCH 1024         /* DeliveryAck carries at most 1,024 ids (handle_delivery_ack.c) */
#define IDLE_PARALLEL 64       /* idle connections being set up at once */
#define MAX_OUTSTANDING 100000 /* per sender in rate mode; beyond it sends are skipped */
#define MAX_CONF 16
#define STR_(x) #x
#define STR(x) STR_(x)

typedef struct bench bench_t;

typedef struct creds {
    char id[32];
    char cert[4096], key[4096];
} creds_t;

/* Sender idx's connection; its ledger and body are b->run.senders[idx]. */
typedef struct sender {
    bench_t *b;
    uint32_t idx;
    ct_client_t *c; /* owned; closed by close_all, or on a failed connect */
    char to[32];
} sender_t;

typedef struct receiver {
    bench_t *b;
    ct_client_t *c;  /* owned; closed by close_all, or on a failed connect */
    bool replayed;   /* its ReplayComplete came: it counts as ready (bench_run_ready) */
    char (*ids)[40]; /* message ids waiting for DeliveryAck; owned */
    size_t n_ids;
    unsigned acks_outstanding;
} receiver_t;

/* One SendMessage in flight: allocated by send_message, freed by on_ack. */
typedef struct send_req {
    sender_t *s;
    uint64_t seq;
    uint64_t sent_ns;
} send_req_t;

struct bench {
    bl_opts_t o;
    bench_run_t run; /* the phases, counters and result (benchrun.h); the callbacks get &run */
    uv_loop_t *loop;
    /* where the daemon is */
    struct {
        const char *dir, *connect, *data, *certs; /* as given; point into argv, or NULL */
    } arg;
    const char *careteamd;
    char root[4096], data[4096], certdir[4096], addr[128];
    bool self_managed, keep;
    const char *conf[MAX_CONF];
    size_t n_conf;
    pid_t daemon; /* self-managed: our child */
    char ca[4096];
    creds_t *screds, *rcreds, idle_creds;
    /* connections: arrays owned, freed by main after the report */
    sender_t *s;
    receiver_t *r;
    ct_client_t **idle;
    unsigned idle_started, idle_done;
    uv_check_t flush_check;
};

/* ---- the daemon ------------------------------------------------------------------------------ */

/* Runs careteamd with argv (NULL-terminated, argv[0] ignored) to completion, output appended to
 * ROOT/careteamd.log (or discarded). Returns its exit status, or -1. */
static int run_careteamd(bench_t *b, char **argv, bool wait_for_it, pid_t *child)
{
    char log[4200];
    snprintf(log, sizeof log, "%s/careteamd.log", b->root[0] ? b->root : "/tmp");
    argv[0] = (char *)b->careteamd;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the benchmark */
        int fd = b->root[0] ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)
                            : open("/dev/null", O_WRONLY);
        int in = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        if (in >= 0)
            dup2(in, STDIN_FILENO);
        execv(argv[0], argv);
        fprintf(stderr, "careteam-bench: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (!wait_for_it) {
        *child = pid;
        return 0;
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Enrolls id (role) unless its certificate is already in certdir. Fills c. */
static int enroll(bench_t *b, creds_t *c, const char *id, const char *role)
{
    snprintf(c->id, sizeof c->id, "%s", id);
    snprintf(c->cert, sizeof c->cert, "%s/%s.crt", b->certdir, id);
    snprintf(c->key, sizeof c->key, "%s/%s.key", b->certdir, id);
    if (file_exists(c->cert) && file_exists(c->key))
        return 0;
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s/%s", b->certdir, id);
    char *argv[] = {NULL,       "enroll", b->data,      "--id",  (char *)id, "--name",
                    (char *)id, "--role", (char *)role, "--out", prefix,     NULL};
    int rc = run_careteamd(b, argv, true, NULL);
    if (rc != 0)
        fprintf(stderr, "careteam-bench: careteamd enroll %s exited %d (log: %s/careteamd.log)\n",
                id, rc, b->root);
    return rc == 0 ? 0 : -1;
}

static int setup_members(bench_t *b)
{
    b->screds = calloc(b->o.senders + 1, sizeof *b->screds);
    b->rcreds = calloc(b->o.receivers + 1, sizeof *b->rcreds);
    if (b->screds == NULL || b->rcreds == NULL)
        return -1;
    char id[32];
    for (unsigned i = 0; i < b->o.senders; i++) {
        snprintf(id, sizeof id, "bench.s%u", i);
        if (enroll(b, &b->screds[i], id, "therapist") != 0)
            return -1;
    }
    for (unsigned i = 0; i < b->o.receivers; i++) {
        snprintf(id, sizeof id, "bench.r%u", i);
        if (enroll(b, &b->rcreds[i], id, "peer_worker") != 0)
            return -1;
    }
    if (b->o.idle > 0 && enroll(b, &b->idle_creds, "bench.idle", "peer_worker") != 0)
        return -1;
    return 0;
}

/* Self-managed: init, configure, enroll, serve; waits for the ready file (10 s). */
static int start_daemon(bench_t *b)
{
    snprintf(b->data, sizeof b->data, "%s/data", b->root);
    snprintf(b->certdir, sizeof b->certdir, "%s/certs", b->root);
    if (mkdir(b->certdir, 0700) != 0 && errno != EEXIST)
        return -1;
    char *init[] = {NULL, "init", b->data, NULL};
    if (run_careteamd(b, init, true, NULL) != 0) {
        fprintf(stderr, "careteam-bench: careteamd init %s failed (log: %s/careteamd.log)\n",
                b->data, b->root);
        return -1;
    }
    char conf[4200];
    snprintf(conf, sizeof conf, "%s/careteamd.conf", b->data);
    FILE *f = fopen(conf, "a");
    if (f == NULL)
        return -1;
    /* A key given twice takes its last value, so appending overrides the default. */
    fprintf(f, "\n# careteam-bench\n");
    for (size_t i = 0; i < b->n_conf; i++)
        fprintf(f, "%s\n", b->conf[i]);
    unsigned conns = b->o.senders + b->o.receivers + b->o.idle + 16;
    if (conns > 10000)
        fprintf(f, "max_connections = %u\n", conns);
    if (fclose(f) != 0)
        return -1;
    if (setup_members(b) != 0)
        return -1;
    char ready[4200];
    snprintf(ready, sizeof ready, "%s/ready", b->root);
    /* careteamd refuses to serve as root unless told: a benchmark rig run as root is the case
     * --allow-root is for (the daemon's cost does not depend on its account). */
    char *serve[] = {NULL,          "serve",        b->data, "--listen",
                     "127.0.0.1:0", "--ready-file", ready,   geteuid() == 0 ? "--allow-root" : NULL,
                     NULL};
    if (run_careteamd(b, serve, false, &b->daemon) != 0)
        return -1;
    for (int waited = 0; waited < 10000; waited += 10) {
        FILE *rf = fopen(ready, "r");
        if (rf != NULL) {
            char line[128] = "";
            bool ok = fgets(line, sizeof line, rf) != NULL && strchr(line, '\n') != NULL;
            fclose(rf);
            if (ok) {
                line[strcspn(line, "\n")] = '\0';
                snprintf(b->addr, sizeof b->addr, "%s", line);
                b->o.server_pid = b->daemon;
                return 0;
            }
        }
        int st;
        if (waitpid(b->daemon, &st, WNOHANG) == b->daemon) {
            b->daemon = 0;
            fprintf(stderr,
                    "careteam-bench: careteamd serve exited early (log: %s/careteamd.log)\n",
                    b->root);
            return -1;
        }
        usleep(10000);
    }
    fprintf(stderr, "careteam-bench: careteamd did not listen within 10 s\n");
    return -1;
}

/* SIGTERM, then up to 15 s for it to exit (SIGKILL after). Returns its exit status or -1. */
static int stop_daemon(bench_t *b)
{
    if (b->daemon <= 0)
        return 0;
    kill(b->daemon, SIGTERM);
    int st = 0;
    for (int waited = 0; waited < 15000; waited += 10) {
        pid_t r = waitpid(b->daemon, &st, WNOHANG);
        if (r == b->daemon) {
            b->daemon = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        usleep(10000);
    }
    kill(b->daemon, SIGKILL);
    waitpid(b->daemon, &st, 0);
    b->daemon = 0;
    fprintf(stderr, "careteam-bench: careteamd did not stop within 15 s of SIGTERM; killed\n");
    return -1;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* ---- helpers --------------------------------------------------------------------------------- */

static bench_t *bench_of(bench_run_t *r)
{
    return bench_container_of(r, bench_t, run);
}

static int new_client(bench_t *b, const creds_t *cr, ct_client_t **out)
{
    ct_client_opts_t opts = {.server = b->addr,
                             .cert = cr->cert,
                             .key = cr->key,
                             .ca = b->ca,
                             .client_name = "careteam-bench"};
    char err[512] = "";
    int r = ct_client_new(b->loop, &opts, out, err, sizeof err);
    if (r != 0)
        fprintf(stderr, "careteam-bench: %s: %s (%s)\n", cr->id, err, ct_errname(r));
    return r;
}

static void fatal(bench_t *b, const char *what, const char *id, const char *why)
{
    bench_run_fail(&b->run, "%s %s: %s", what, id, why);
}

/* ---- senders --------------------------------------------------------------------------------- */

/* The answer to one SendMessage (or its abandonment when the connection closes). Frees q. */
static void on_ack(ct_client_t *c, int status, const Careteam__V1__Envelope *resp, void *arg)
{
    (void)c;
    send_req_t *q = arg;
    sender_t *s = q->s;
    bench_t *b = s->b;
    int st = status != 0 ? status : ct_response_status(resp);
    bool acked = st == 0 && resp->body_case == CARETEAM__V1__ENVELOPE__BODY_ACK;
    if (!acked && b->run.phase != BENCH_DONE) {
        b->run.res.errors++;
        if (b->run.res.errors <= 5)
            fprintf(stderr, "careteam-bench: send refused: %s %s\n", ct_errname(st),
                    ct_response_message(resp));
    }
    uint64_t seq = q->seq, sent_ns = q->sent_ns;
    free(q);
    bench_run_answered(&b->run, s->idx, acked, seq, sent_ns);
}

/* ops->send: SendMessage from sender i to its receiver, answered in on_ack. Returns 0 or a CT_E*
 * code. */
static int send_message(bench_run_t *run, unsigned i, uint64_t seq, uint64_t sent_ns, char *body)
{
    bench_t *b = bench_of(run);
    sender_t *s = &b->s[i];
    send_req_t *q = malloc(sizeof *q); /* owned by the request; freed in on_ack */
    if (q == NULL)
        return CT_ENOMEM;
    q->s = s;
    q->seq = seq;
    q->sent_ns = sent_ns;
    char cmid[64];
    snprintf(cmid, sizeof cmid, "%" PRIx64 "-%" PRIu32 "-%" PRIu64, run->id, s->idx, seq);
    char *to[] = {s->to};
    Careteam__V1__SendMessage sm = CARETEAM__V1__SEND_MESSAGE__INIT;
    sm.client_msg_id = cmid;
    sm.n_to = 1;
    sm.to = to;
    sm.body = body;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_SEND_MESSAGE;
    env.send_message = &sm;
    int r = ct_client_request(s->c, &env, on_ack, q);
    if (r != 0)
        free(q);
    return r;
}

/* ---- receivers ------------------------------------------------------------------------------- */

static void on_delivery_ok(ct_client_t *c, int status, const Careteam__V1__Envelope *resp,
                           void *arg)
{
    (void)c;
    receiver_t *r = arg;
    r->acks_outstanding--;
    int st = status != 0 ? status : ct_response_status(resp);
    if (st != 0 && r->b->run.phase != BENCH_DONE) {
        r->b->run.res.errors++;
        fprintf(stderr, "careteam-bench: DeliveryAck refused: %s %s\n", ct_errname(st),
                ct_response_message(resp));
    }
    bench_run_check_drained(&r->b->run);
}

static void flush_acks(receiver_t *r)
{
    if (r->n_ids == 0 || r->c == NULL)
        return;
    char *ids[ACK_BATCH];
    for (size_t i = 0; i < r->n_ids; i++)
        ids[i] = r->ids[i];
    Careteam__V1__DeliveryAck da = CARETEAM__V1__DELIVERY_ACK__INIT;
    da.n_message_ids = r->n_ids;
    da.message_ids = ids;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_DELIVERY_ACK;
    env.delivery_ack = &da;
    r->n_ids = 0;
    if (ct_client_request(r->c, &env, on_delivery_ok, r) == 0)
        r->acks_outstanding++;
    else
        r->b->run.res.errors++;
}

/* Once per loop iteration: one DeliveryAck per receiver for what arrived in it. */
static void on_flush_check(uv_check_t *h)
{
    bench_t *b = h->data;
    for (unsigned j = 0; j < b->o.receivers; j++)
        flush_acks(&b->r[j]);
}

/* ops->receivers_done: the drain also waits for every DeliveryAck to be written and answered, so
 * that the daemon's work for the run is over when it is sampled. */
static bool receivers_done(bench_run_t *run)
{
    bench_t *b = bench_of(run);
    for (unsigned j = 0; j < b->o.receivers; j++)
        if (b->r[j].acks_outstanding > 0 || b->r[j].n_ids > 0)
            return false;
    return true;
}

static void on_deliver(receiver_t *r, const Careteam__V1__Message *m)
{
    const char *body = m->body != NULL ? m->body : "";
    bench_run_delivered(&r->b->run, body, strlen(body));
    if (m->message_id != NULL) {
        snprintf(r->ids[r->n_ids++], sizeof r->ids[0], "%s", m->message_id);
        if (r->n_ids == ACK_BATCH)
            flush_acks(r);
    }
}

static void on_receiver_push(ct_client_t *c, const Careteam__V1__Envelope *push, void *arg)
{
    (void)c;
    receiver_t *r = arg;
    if (push->body_case == CARETEAM__V1__ENVELOPE__BODY_DELIVER && push->deliver != NULL &&
        push->deliver->message != NULL) {
        on_deliver(r, push->deliver->message);
    } else if (push->body_case == CARETEAM__V1__ENVELOPE__BODY_REPLAY_COMPLETE && !r->replayed) {
        r->replayed = true; /* ready: what was queued for it has been replayed */
        bench_run_ready(&r->b->run);
    } else if (push->body_case == CARETEAM__V1__ENVELOPE__BODY_ERROR) {
        fatal(r->b, "server error on", "a receiver", ct_response_message(push));
    }
    bench_run_check_drained(&r->b->run);
}

/* ---- connecting ------------------------------------------------------------------------------ */

static void on_closed(ct_client_t *c, int err, const char *why, void *arg)
{
    (void)c;
    bench_t *b = arg;
    if (b->run.phase != BENCH_DONE)
        fatal(b, "connection closed by the server:", ct_errname(err), why);
}

static void on_sender_connected(ct_client_t *c, int status, const char *why, void *arg)
{
    (void)c;
    sender_t *s = arg;
    if (status != 0) {
        s->c = NULL; /* it frees itself once we close it below */
        ct_client_close(c);
        fatal(s->b, "cannot connect as", s->b->screds[s->idx].id, why);
        return;
    }
    bench_run_ready(&s->b->run);
}

static void on_receiver_connected(ct_client_t *c, int status, const char *why, void *arg)
{
    receiver_t *r = arg;
    if (status != 0) {
        r->c = NULL;
        ct_client_close(c);
        fatal(r->b, "cannot connect as", "a receiver", why);
        return;
    }
    /* Counted as ready once its replay is complete (on_receiver_push). */
}

static void open_more_idle(bench_t *b);

static void on_idle_connected(ct_client_t *c, int status, const char *why, void *arg)
{
    bench_t *b = arg;
    b->idle_done++;
    if (status != 0) {
        for (unsigned i = 0; i < b->o.idle; i++)
            if (b->idle[i] == c)
                b->idle[i] = NULL;
        ct_client_close(c);
        fatal(b, "cannot open idle connection:", "bench.idle", why);
        return;
    }
    b->run.res.idle_connected++;
    open_more_idle(b);
}

/* Keeps IDLE_PARALLEL idle connections being set up at once until all are started; tells the run
 * once every one has connected. */
static void open_more_idle(bench_t *b)
{
    if (b->run.phase != BENCH_IDLE)
        return;
    while (b->idle_started < b->o.idle && b->idle_started - b->idle_done < IDLE_PARALLEL) {
        unsigned i = b->idle_started++;
        if (new_client(b, &b->idle_creds, &b->idle[i]) != 0 ||
            ct_client_connect(b->idle[i], on_idle_connected, b) != 0) {
            fatal(b, "cannot open idle connection", "bench.idle", "");
            return;
        }
        ct_client_on_closed(b->idle[i], on_closed, b);
    }
    if (b->idle_done == b->o.idle)
        bench_run_idle_up(&b->run);
}

/* ops->open_idle */
static void open_idle(bench_run_t *run)
{
    open_more_idle(bench_of(run));
}

/* ops->close_all: closes every client (each frees itself later, from the loop) and the flush
 * check. The arrays stay until main frees them after the report. */
static void close_all(bench_run_t *run)
{
    bench_t *b = bench_of(run);
    for (unsigned i = 0; b->s != NULL && i < b->o.senders; i++)
        if (b->s[i].c != NULL) {
            ct_client_close(b->s[i].c);
            b->s[i].c = NULL;
        }
    for (unsigned j = 0; b->r != NULL && j < b->o.receivers; j++)
        if (b->r[j].c != NULL) {
            ct_client_close(b->r[j].c);
            b->r[j].c = NULL;
        }
    for (unsigned i = 0; b->idle != NULL && i < b->o.idle; i++)
        if (b->idle[i] != NULL) {
            ct_client_close(b->idle[i]);
            b->idle[i] = NULL;
        }
    uv_close((uv_handle_t *)&b->flush_check, NULL);
}

static const bench_run_ops_t CT_RUN_OPS = {
    .prog = "careteam-bench",
    .system = "careteamd",
    .max_outstanding = MAX_OUTSTANDING,
    .skipped_what = "sends skipped (over " STR(MAX_OUTSTANDING) " outstanding)",
    .send = send_message,
    .open_idle = open_idle,
    .receivers_done = receivers_done,
    .close_all = close_all,
};

/* Starts the run and every sender and receiver connection. Returns 0 or -1 (then the caller ends
 * the run with bench_run_fail). */
static int connect_all(bench_t *b)
{
    uv_check_init(b->loop, &b->flush_check);
    b->flush_check.data = b;
    uv_check_start(&b->flush_check, on_flush_check);
    if (bench_run_init(&b->run, b->loop, &b->o, &CT_RUN_OPS) != 0)
        return -1;
    b->s = calloc(b->o.senders + 1, sizeof *b->s);
    b->r = calloc(b->o.receivers + 1, sizeof *b->r);
    b->idle = calloc(b->o.idle + 1, sizeof *b->idle);
    if (b->s == NULL || b->r == NULL || b->idle == NULL)
        return -1;
    for (unsigned j = 0; j < b->o.receivers; j++) {
        receiver_t *r = &b->r[j];
        r->b = b;
        r->ids = calloc(ACK_BATCH, sizeof *r->ids);
        if (r->ids == NULL || new_client(b, &b->rcreds[j], &r->c) != 0)
            return -1;
        ct_client_on_push(r->c, on_receiver_push, r);
        ct_client_on_closed(r->c, on_closed, b);
        if (ct_client_connect(r->c, on_receiver_connected, r) != 0)
            return -1;
    }
    for (unsigned i = 0; i < b->o.senders; i++) {
        sender_t *s = &b->s[i];
        s->b = b;
        s->idx = i;
        snprintf(s->to, sizeof s->to, "%s", b->rcreds[i % b->o.receivers].id);
        if (new_client(b, &b->screds[i], &s->c) != 0)
            return -1;
        ct_client_on_closed(s->c, on_closed, b);
        if (ct_client_connect(s->c, on_sender_connected, s) != 0)
            return -1;
    }
    bench_run_opened(&b->run); /* no senders and no receivers: straight on */
    return 0;
}

/* ---- main ------------------------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: careteam-bench [options]\n"
            "Load generator for careteamd: C senders, R receivers, acked and delivered msg/s,\n"
            "latency, exactly-once check, the daemon's CPU and RSS. See bench/README.md.\n\n"
            "%s\n"
            "Daemon (default: self-managed, a fresh data directory and careteamd serve):\n"
            "      --careteamd PATH   the daemon binary (default: the one of this build)\n"
            "      --dir DIR          make the data directory under DIR (must not exist;\n"
            "                         default: a new directory under $TMPDIR or /tmp)\n"
            "      --keep             keep the directory (database, log) afterwards\n"
            "      --conf 'KEY = VAL' extra careteamd.conf line (repeatable; default\n"
            "                         'rate_limit = 1000000')\n"
            "      --connect H:P      use a daemon already serving --data DIR instead\n"
            "      --data DIR         its data directory (members are enrolled into it)\n"
            "      --certs DIR        where the members' certificates go (default\n"
            "                         DIR/../careteam-bench-certs)\n",
            BL_OPTS_USAGE);
}

/* bl_own_opt_fn: careteam-bench's own options (usage above). */
static bool own_option(void *ctx, int argc, char **argv, int *i)
{
    bench_t *b = ctx;
    const char *a = argv[*i];
    bool has = *i + 1 < argc;
    if (strcmp(a, "--keep") == 0)
        b->keep = true;
    else if (strcmp(a, "--careteamd") == 0 && has)
        b->careteamd = argv[++*i];
    else if (strcmp(a, "--dir") == 0 && has)
        b->arg.dir = argv[++*i];
    else if (strcmp(a, "--conf") == 0 && has && b->n_conf < MAX_CONF)
        b->conf[b->n_conf++] = argv[++*i];
    else if (strcmp(a, "--connect") == 0 && has)
        b->arg.connect = argv[++*i];
    else if (strcmp(a, "--data") == 0 && has)
        b->arg.data = argv[++*i];
    else if (strcmp(a, "--certs") == 0 && has)
        b->arg.certs = argv[++*i];
    else
        return false;
    return true;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    static bench_t bench;
    bench_t *b = &bench;
    b->careteamd = CT_BENCH_CARETEAMD;
    b->self_managed = true;
    int exit_now = bl_opts_load(&b->o, argc, argv, "careteam-bench", usage, own_option, b);
    if (exit_now >= 0)
        return exit_now;
    if (bl_opts_check(&b->o, "careteam-bench") != 0)
        return 2;
    if (b->n_conf == 0)
        b->conf[b->n_conf++] = "rate_limit = 1000000";

    int rc = 1;
    if (b->arg.connect != NULL) {
        if (b->arg.data == NULL) {
            fprintf(stderr, "careteam-bench: --connect needs --data DIR\n");
            return 2;
        }
        b->self_managed = false;
        snprintf(b->addr, sizeof b->addr, "%s", b->arg.connect);
        snprintf(b->data, sizeof b->data, "%s", b->arg.data);
        if (b->arg.certs != NULL)
            snprintf(b->certdir, sizeof b->certdir, "%s", b->arg.certs);
        else
            snprintf(b->certdir, sizeof b->certdir, "%s/../careteam-bench-certs", b->arg.data);
        if (mkdir(b->certdir, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "careteam-bench: cannot make %s: %s\n", b->certdir, strerror(errno));
            return 1;
        }
        snprintf(b->root, sizeof b->root, "%s", b->certdir);
        if (b->o.server_pid == 0) {
            char pidf[4200];
            snprintf(pidf, sizeof pidf, "%s/careteamd.pid", b->arg.data);
            FILE *f = fopen(pidf, "r");
            long pid = 0;
            if (f != NULL) {
                if (fscanf(f, "%ld", &pid) != 1)
                    pid = 0;
                fclose(f);
            }
            b->o.server_pid = (pid_t)pid;
        }
        if (setup_members(b) != 0)
            return 1;
    } else {
        if (b->arg.dir != NULL) {
            if (mkdir(b->arg.dir, 0700) != 0) {
                fprintf(stderr, "careteam-bench: cannot make %s: %s\n", b->arg.dir,
                        strerror(errno));
                return 1;
            }
            snprintf(b->root, sizeof b->root, "%s", b->arg.dir);
        } else {
            const char *tmp = getenv("TMPDIR");
            snprintf(b->root, sizeof b->root, "%s/careteam-bench.XXXXXX",
                     tmp != NULL && *tmp ? tmp : "/tmp");
            if (mkdtemp(b->root) == NULL) {
                fprintf(stderr, "careteam-bench: mkdtemp: %s\n", strerror(errno));
                return 1;
            }
        }
        if (start_daemon(b) != 0)
            goto out;
    }
    snprintf(b->ca, sizeof b->ca, "%s/ca.crt", b->data);

    uv_loop_t loop;
    uv_loop_init(&loop);
    b->loop = &loop;
    if (connect_all(b) != 0)
        bench_run_fail(&b->run, "cannot start the connections");
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    rc = bench_run_report(&b->run);

out:
    if (b->self_managed && b->daemon > 0) {
        int st = stop_daemon(b);
        if (st != 0) {
            fprintf(stderr,
                    "careteam-bench: careteamd exited with status %d (log: %s/careteamd.log)\n", st,
                    b->root);
            rc = 1;
        }
    }
    if (b->self_managed && !b->keep && rc == 0 && b->root[0] != '\0')
        nftw(b->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    else if (b->self_managed && b->root[0] != '\0')
        fprintf(stderr, "careteam-bench: kept %s%s\n", b->root,
                rc != 0 ? " (the run failed; remove it when done)" : "");
    bench_run_free(&b->run);
    for (unsigned j = 0; b->r != NULL && j < b->o.receivers; j++)
        free(b->r[j].ids);
    free(b->s);
    free(b->r);
    free(b->idle);
    free(b->screds);
    free(b->rcreds);
    return rc;
}
