/*
 * durability_load: the load side of the crash-durability test (tests/durability/run.sh, issue 5
 * section 4). Several members send messages to careteamd over libcareteam's asynchronous API on
 * one libuv loop, and every write the daemon acknowledges is appended to a log that
 * durability_check later compares with the database, after the daemon was killed with SIGKILL
 * and restarted.
 *
 * What it does:
 *  - one connection per sender (the first --senders ids of --team); each keeps --window
 *    SendMessage requests outstanding, each to 2 or 3 other team members, with bodies of varied
 *    size (most small, a few large enough to span several database pages); a sender refused
 *    with RATE_LIMITED backs off until the next FLUSH_MS tick;
 *  - every connection also acknowledges the Deliver pushes it receives (DeliveryAck, batched);
 *  - it stops by itself when its connections drop (the daemon was killed), after --max-seconds,
 *    after --max-messages per sender, or on SIGTERM / SIGINT.
 *
 * The log (--log, opened O_APPEND) gets one line per acknowledged write, written with one
 * write(2) as soon as the acknowledgement is read, so a SIGKILL of the daemon cannot lose a line:
 *     ack SENDER CLIENT_MSG_ID MESSAGE_ID TO[,TO...]     an Ack of a SendMessage
 *     dack MEMBER MESSAGE_ID                              an Ok of a DeliveryAck, per id
 * Ids never contain spaces or commas (DESIGN.md section 5, and the client_msg_ids made here).
 *
 * Exit status: 0 when every sender connected and every response was one the protocol allows
 * (Ack, Ok, RATE_LIMITED, or none because the connection dropped); 1 otherwise (the reasons are
 * printed); 2 for a usage error. The last line on stdout sums up the run.
 *
 * SIGPIPE is ignored: writes to a connection the killed daemon has just dropped must fail with
 * EPIPE, not end the program (careteam.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "careteam.h"

#define MAX_TEAM 16
#define MAX_TO 3
#define MIN_TO 2
#define ID_LEN 65          /* a client_msg_id or a message id (at most 64 characters), and NUL */
#define BODY_MAX 60000     /* the largest body sent: under the default max_body of 64 KiB */
#define ACK_BATCH_MAX 256  /* ids per DeliveryAck; the daemon accepts up to 1024 */
#define FLUSH_MS 20        /* batched DeliveryAcks are sent, and backed-off senders resume */
#define GRACE_MS 10000     /* after a stop, how long the connections get to close */
#define SURPRISES_SHOWN 10 /* surprises printed in full; the rest are only counted */
#define LINE_MAX_LEN 512   /* one log line */
#define PATH_MAX_LEN 4096

typedef struct load load_t;

/* One member's connection. Owned by load_t; the client it points to is freed by libcareteam
 * after ct_client_close, once its socket is closed. */
typedef struct sender {
    load_t *load;
    const char *id;        /* points into load->team_buf */
    bool sends;            /* false for a member that only receives and acknowledges deliveries */
    ct_client_t *client;   /* NULL before connect and once released */
    bool ready;            /* Welcome received */
    bool closing;          /* ct_client_close called */
    bool done;             /* counted in load->n_done */
    bool finished;         /* counted in load->n_finished */
    uint64_t next_n;       /* number of the next message: client_msg_id PREFIX.sINDEX.N */
    size_t outstanding;    /* SendMessages not yet answered */
    bool backoff;          /* RATE_LIMITED: wait for the next on_flush before sending more */
    char (*batch)[ID_LEN]; /* message ids received, not yet acknowledged; ACK_BATCH_MAX */
    size_t n_batch;
} sender_t;

/* One SendMessage in flight: the response callback's argument. Freed by that callback. */
typedef struct send_req {
    sender_t *s;
    char cmid[ID_LEN];
    const char *to[MAX_TO];
    size_t n_to;
} send_req_t;

/* One DeliveryAck in flight. Freed by its response callback. */
typedef struct dack_req {
    sender_t *s;
    size_t n;
    char (*ids)[ID_LEN]; /* owned */
} dack_req_t;

typedef struct load_opts {
    const char *server, *ca, *creds, *prefix, *log, *ready_file;
    char team_buf[1024];
    const char *team[MAX_TEAM];
    size_t n_team;
    size_t n_senders;
    size_t window;
    uint64_t max_messages;
    uint64_t max_seconds;
    uint64_t seed;
} load_opts_t;

typedef struct counters {
    uint64_t sent, acked, rate_limited, unanswered;
    uint64_t delivered, dack_sent, dack_ok, dack_unanswered;
    uint64_t connect_failed, surprises;
} counters_t;

struct load {
    uv_loop_t loop;
    load_opts_t o;
    int log_fd;
    sender_t senders[MAX_TEAM];
    size_t n_ready, n_done;
    size_t n_finished; /* senders that sent --max-messages and had every one answered */
    bool stopping;
    bool handles_closed; /* the timers and signal handles below are closing */
    const char *stop_reason;
    uv_timer_t deadline; /* max_seconds, then GRACE_MS for the connections to close */
    uv_timer_t flush;    /* sends batched DeliveryAcks */
    uv_signal_t sigterm, sigint;
    uint64_t rng;
    char *body;   /* scratch for one body: BODY_MAX + 1 */
    char *filler; /* printable text that bodies are cut from: BODY_MAX */
    counters_t n;
    uint64_t started_ms;
};

static void begin_stop(load_t *l, const char *why);
static void pump(sender_t *s);

/* The connections did not close within GRACE_MS of a stop: the run is abandoned (exit 3),
 * without the orderly teardown that could not finish. */
static void on_grace_over(uv_timer_t *t)
{
    load_t *l = t->data;
    fprintf(stderr, "durability_load: connections still open %d ms after the stop (%s)\n", GRACE_MS,
            l->stop_reason);
    fflush(NULL);
    _exit(3);
}

/* ---- small helpers -------------------------------------------------------------------------- */

/* Records something the protocol does not allow; the run then exits 1. */
static void surprise(load_t *l, const char *fmt, const char *a, const char *b)
{
    if (l->n.surprises++ < SURPRISES_SHOWN) {
        fprintf(stderr, "durability_load: ");
        fprintf(stderr, fmt, a, b);
        fputc('\n', stderr);
    }
}

/* xorshift64*: the body sizes, reproducible for a given --seed. */
static uint64_t next_rand(load_t *l)
{
    uint64_t x = l->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    l->rng = x;
    return x * 2685821657736338717ULL;
}

/* Appends one line to the log with a single write(2) (retried only if the kernel took part of
 * it). A line written is in the kernel and survives whatever happens to the daemon. */
static void log_line(load_t *l, const char *line, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(l->log_fd, line + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            surprise(l, "cannot write the log %s: %s", l->o.log, strerror(errno));
            begin_stop(l, "log write failed");
            return;
        }
        off += (size_t)w;
    }
}

/* Called when a sender will never do anything again: its connection failed or closed. */
static void sender_done(sender_t *s)
{
    load_t *l = s->load;
    if (s->done)
        return;
    s->done = true;
    l->n_done++;
    if (l->n_done == l->o.n_team) {
        /* Nothing is left to wait for: closing the last handles lets uv_run return. */
        l->handles_closed = true;
        uv_close((uv_handle_t *)&l->deadline, NULL);
        uv_close((uv_handle_t *)&l->flush, NULL);
        uv_close((uv_handle_t *)&l->sigterm, NULL);
        uv_close((uv_handle_t *)&l->sigint, NULL);
    }
}

/* Closes the connection (at most once). libcareteam frees the client when its socket is closed. */
static void sender_close(sender_t *s)
{
    if (s->client != NULL && !s->closing) {
        s->closing = true;
        ct_client_close(s->client);
    }
}

/* ---- DeliveryAck ---------------------------------------------------------------------------- */

static void on_dack_response(ct_client_t *c, int status, const Careteam__V1__Envelope *resp,
                             void *arg)
{
    dack_req_t *r = arg;
    load_t *l = r->s->load;
    (void)c;
    if (status != 0) {
        l->n.dack_unanswered += r->n;
    } else if (resp->body_case == CARETEAM__V1__ENVELOPE__BODY_OK) {
        l->n.dack_ok += r->n;
        for (size_t i = 0; i < r->n; i++) {
            char line[LINE_MAX_LEN];
            int len = snprintf(line, sizeof line, "dack %s %s\n", r->s->id, r->ids[i]);
            log_line(l, line, (size_t)len);
        }
    } else if (ct_response_status(resp) == CT_ERATELIMIT) {
        l->n.rate_limited++;
    } else {
        surprise(l, "DeliveryAck of %s refused: %s", r->s->id, ct_response_message(resp));
    }
    free(r->ids);
    free(r);
}

/* Sends the sender's batched message ids in one DeliveryAck. */
static void flush_batch(sender_t *s)
{
    if (s->n_batch == 0 || s->client == NULL || s->closing || !s->ready)
        return;
    dack_req_t *r = calloc(1, sizeof *r);
    char **ids = calloc(s->n_batch, sizeof *ids);
    if (r == NULL || ids == NULL) {
        free(r);
        free(ids);
        return;
    }
    r->s = s;
    r->n = s->n_batch;
    r->ids = s->batch;
    s->batch = calloc(ACK_BATCH_MAX, sizeof *s->batch);
    s->n_batch = 0;
    for (size_t i = 0; i < r->n; i++)
        ids[i] = r->ids[i];
    Careteam__V1__DeliveryAck da = CARETEAM__V1__DELIVERY_ACK__INIT;
    da.n_message_ids = r->n;
    da.message_ids = ids;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_DELIVERY_ACK;
    env.delivery_ack = &da;
    int rc = ct_client_request(s->client, &env, on_dack_response, r);
    free(ids);
    if (rc != 0) {
        s->load->n.dack_unanswered += r->n;
        free(r->ids);
        free(r);
        return;
    }
    s->load->n.dack_sent += r->n;
}

static void on_flush(uv_timer_t *t)
{
    load_t *l = t->data;
    for (size_t i = 0; i < l->o.n_team; i++) {
        sender_t *s = &l->senders[i];
        flush_batch(s);
        s->backoff = false;
        pump(s);
    }
}

static void on_push(ct_client_t *c, const Careteam__V1__Envelope *push, void *arg)
{
    sender_t *s = arg;
    (void)c;
    if (push->body_case != CARETEAM__V1__ENVELOPE__BODY_DELIVER || push->deliver == NULL ||
        push->deliver->message == NULL)
        return; /* ReplayComplete, or the Error that precedes a close */
    s->load->n.delivered++;
    if (s->batch == NULL)
        return; /* out of memory earlier: the message stays pending, which is allowed */
    snprintf(s->batch[s->n_batch++], ID_LEN, "%s", push->deliver->message->message_id);
    if (s->n_batch == ACK_BATCH_MAX)
        flush_batch(s);
}

/* ---- SendMessage ---------------------------------------------------------------------------- */

/* Fills l->body with a body of a varied size: most a few hundred bytes, one in ten a few KiB, and
 * one in two hundred up to BODY_MAX, so that rows spill to overflow pages now and then. */
static void make_body(load_t *l, const char *cmid)
{
    uint64_t r = next_rand(l);
    size_t len;
    if (r % 200 == 0)
        len = 4000 + (size_t)((r >> 8) % (BODY_MAX - 4000));
    else if (r % 200 < 20)
        len = 400 + (size_t)((r >> 8) % 3600);
    else
        len = 40 + (size_t)((r >> 8) % 360);
    int head = snprintf(l->body, BODY_MAX + 1, "durability test message %s: ", cmid);
    if ((size_t)head < len)
        memcpy(l->body + head, l->filler, len - (size_t)head);
    else
        len = (size_t)head;
    l->body[len] = '\0';
}

static void on_send_response(ct_client_t *c, int status, const Careteam__V1__Envelope *resp,
                             void *arg)
{
    send_req_t *r = arg;
    sender_t *s = r->s;
    load_t *l = s->load;
    (void)c;
    s->outstanding--;
    if (status != 0) {
        l->n.unanswered++;
    } else if (resp->body_case == CARETEAM__V1__ENVELOPE__BODY_ACK && resp->ack != NULL) {
        const Careteam__V1__Ack *a = resp->ack;
        if (a->client_msg_id == NULL || strcmp(a->client_msg_id, r->cmid) != 0)
            surprise(l, "the Ack of %s names client_msg_id %s", r->cmid,
                     a->client_msg_id != NULL ? a->client_msg_id : "(none)");
        else if (a->duplicate)
            surprise(l, "the first send of %s was acked as a duplicate (%s)", r->cmid,
                     a->message_id);
        else if (a->message_id == NULL || strlen(a->message_id) != 36)
            surprise(l, "the Ack of %s has message_id '%s'", r->cmid,
                     a->message_id != NULL ? a->message_id : "");
        l->n.acked++;
        /* Logged even when surprising: the checker then says what the database holds. */
        char line[LINE_MAX_LEN];
        int len =
            snprintf(line, sizeof line, "ack %s %s %s %s", s->id, r->cmid,
                     a->message_id != NULL && a->message_id[0] ? a->message_id : "-", r->to[0]);
        for (size_t i = 1; i < r->n_to; i++)
            len += snprintf(line + len, sizeof line - (size_t)len, ",%s", r->to[i]);
        len += snprintf(line + len, sizeof line - (size_t)len, "\n");
        log_line(l, line, (size_t)len);
    } else if (ct_response_status(resp) == CT_ERATELIMIT) {
        /* Over rate_limit: the window is topped up again by the next on_flush, not now, so a
         * refused sender backs off instead of spinning on refusals. */
        l->n.rate_limited++;
        s->backoff = true;
    } else {
        surprise(l, "SendMessage %s refused: %s", r->cmid, ct_response_message(resp));
    }
    free(r);
    if (status == 0 && !s->backoff)
        pump(s);
}

/* Sends one SendMessage. Returns 0, or CT_E* when the connection cannot take it. */
static int send_one(sender_t *s)
{
    load_t *l = s->load;
    send_req_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return CT_ENOMEM;
    r->s = s;
    uint64_t n = s->next_n++;
    snprintf(r->cmid, sizeof r->cmid, "%s.s%zu.%" PRIu64, l->o.prefix, (size_t)(s - l->senders), n);
    /* Recipients: 2 or 3 consecutive members after the sender, in team order, rotating. */
    size_t me = (size_t)(s - l->senders), others = l->o.n_team - 1;
    r->n_to = MIN_TO + (size_t)(n % (MAX_TO - MIN_TO + 1));
    if (r->n_to > others)
        r->n_to = others;
    for (size_t i = 0; i < r->n_to; i++)
        r->to[i] = l->o.team[(me + 1 + (n + i) % others) % l->o.n_team];
    make_body(l, r->cmid);

    Careteam__V1__SendMessage m = CARETEAM__V1__SEND_MESSAGE__INIT;
    m.client_msg_id = r->cmid;
    m.n_to = r->n_to;
    m.to = (char **)r->to;
    m.subject = "durability";
    m.body = l->body;
    m.priority = CARETEAM__V1__PRIORITY__PRIORITY_ROUTINE;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_SEND_MESSAGE;
    env.send_message = &m;
    int rc = ct_client_request(s->client, &env, on_send_response, r);
    if (rc != 0) {
        free(r);
        return rc;
    }
    s->outstanding++;
    l->n.sent++;
    return 0;
}

/* Tops the sender's window up. Once it has sent --max-messages and every one is answered, it
 * counts as finished; when all senders are, the run stops. */
static void pump(sender_t *s)
{
    load_t *l = s->load;
    if (s->client == NULL || s->closing || !s->ready || !s->sends)
        return;
    while (!l->stopping && s->outstanding < l->o.window && s->next_n < l->o.max_messages) {
        if (send_one(s) != 0)
            return; /* the connection is going: closed_cb follows */
    }
    if (s->outstanding == 0 && s->next_n >= l->o.max_messages && !s->finished) {
        s->finished = true;
        /* All sent and answered: once every sender is there, the run is over. */
        if (++l->n_finished == l->o.n_senders)
            begin_stop(l, "--max-messages reached");
    }
}

/* ---- connections ---------------------------------------------------------------------------- */

/* Writes the ready file (whole, by rename) once every connection is welcomed. */
static void write_ready(load_t *l)
{
    if (l->o.ready_file == NULL)
        return;
    char tmp[PATH_MAX_LEN];
    snprintf(tmp, sizeof tmp, "%s.tmp", l->o.ready_file);
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fprintf(f, "ready\n") < 0 || fclose(f) != 0 ||
        rename(tmp, l->o.ready_file) != 0) {
        surprise(l, "cannot write the ready file %s: %s", l->o.ready_file, strerror(errno));
        begin_stop(l, "ready file failed");
    }
}

static void on_closed(ct_client_t *c, int err, const char *why, void *arg)
{
    sender_t *s = arg;
    (void)err;
    (void)why;
    s->client = NULL; /* freed by libcareteam when this callback returns */
    if (!s->closing) {
        s->closing = true;
        ct_client_close(c);
    }
    sender_done(s);
    begin_stop(s->load, "a connection dropped"); /* no-op if we were stopping already */
}

static void on_connected(ct_client_t *c, int status, const char *why, void *arg)
{
    sender_t *s = arg;
    load_t *l = s->load;
    if (status != 0) {
        l->n.connect_failed++;
        surprise(l, "%s cannot connect: %s", s->id, why);
        s->client = NULL;
        if (!s->closing) {
            s->closing = true;
            ct_client_close(c);
        }
        sender_done(s);
        begin_stop(l, "a connection failed");
        return;
    }
    s->ready = true;
    if (++l->n_ready == l->o.n_team)
        write_ready(l);
    pump(s);
}

static int start_sender(load_t *l, sender_t *s)
{
    char cert[PATH_MAX_LEN], key[PATH_MAX_LEN], err[512];
    snprintf(cert, sizeof cert, "%s/%s.crt", l->o.creds, s->id);
    snprintf(key, sizeof key, "%s/%s.key", l->o.creds, s->id);
    ct_client_opts_t co = {.server = l->o.server, .cert = cert, .key = key, .ca = l->o.ca};
    int rc = ct_client_new(&l->loop, &co, &s->client, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "durability_load: %s: %s\n", s->id, err);
        return rc;
    }
    ct_client_on_push(s->client, on_push, s);
    ct_client_on_closed(s->client, on_closed, s);
    rc = ct_client_connect(s->client, on_connected, s);
    if (rc != 0) {
        fprintf(stderr, "durability_load: %s: cannot connect: %s\n", s->id, ct_errname(rc));
        ct_client_close(s->client);
        s->client = NULL;
    }
    return rc;
}

/* ---- stopping ------------------------------------------------------------------------------- */

/* Stops sending and closes every connection; the loop ends when the last one has closed. */
static void begin_stop(load_t *l, const char *why)
{
    if (l->stopping)
        return;
    l->stopping = true;
    l->stop_reason = why;
    for (size_t i = 0; i < l->o.n_team; i++) {
        flush_batch(&l->senders[i]);
        sender_close(&l->senders[i]);
    }
    /* The connections now get GRACE_MS to close; after that the run is abandoned. */
    if (!l->handles_closed)
        uv_timer_start(&l->deadline, on_grace_over, GRACE_MS, 0);
}

static void on_deadline(uv_timer_t *t)
{
    load_t *l = t->data;
    begin_stop(l, "--max-seconds reached");
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    begin_stop(h->data, "signal");
}

/* ---- options -------------------------------------------------------------------------------- */

static const char USAGE[] =
    "usage: durability_load --server HOST:PORT --ca FILE --creds DIR --team ID,ID,ID[,...]\n"
    "                       --prefix P --log FILE [--senders N] [--window N] [--ready-file F]\n"
    "                       [--max-seconds S] [--max-messages N] [--seed N]\n"
    "\n"
    "Connects every team member (DIR/ID.crt, DIR/ID.key); the first N (default 4) send\n"
    "SendMessages to 2-3 other members, each keeping --window (default 16) unanswered; all\n"
    "acknowledge their deliveries. Every Ack and DeliveryAck Ok is appended to --log.\n"
    "client_msg_ids are P.sINDEX.N; P must be unique for the database.\n";

/* Parses a decimal count in [min, max]. Returns false if s is not one. */
static bool parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Splits o->team_buf at commas into o->team. Returns false for an empty id or too many. */
static bool split_team(load_opts_t *o)
{
    o->n_team = 0;
    for (char *p = o->team_buf;;) {
        char *comma = strchr(p, ',');
        if (comma != NULL)
            *comma = '\0';
        if (p[0] == '\0' || strchr(p, ' ') != NULL || o->n_team == MAX_TEAM)
            return false;
        o->team[o->n_team++] = p;
        if (comma == NULL)
            return true;
        p = comma + 1;
    }
}

/* Fills o from argv. Returns 0, or 2 after printing why (usage error). */
static int parse_opts(int argc, char **argv, load_opts_t *o)
{
    static const struct option opts[] = {{"server", required_argument, NULL, 'S'},
                                         {"ca", required_argument, NULL, 'C'},
                                         {"creds", required_argument, NULL, 'D'},
                                         {"team", required_argument, NULL, 'T'},
                                         {"prefix", required_argument, NULL, 'P'},
                                         {"log", required_argument, NULL, 'L'},
                                         {"senders", required_argument, NULL, 'n'},
                                         {"window", required_argument, NULL, 'w'},
                                         {"ready-file", required_argument, NULL, 'R'},
                                         {"max-seconds", required_argument, NULL, 't'},
                                         {"max-messages", required_argument, NULL, 'm'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    uint64_t senders = 4, window = 16;
    o->max_seconds = 60;
    o->max_messages = 1000000;
    o->seed = 1;
    const char *team = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'S':
            o->server = optarg;
            break;
        case 'C':
            o->ca = optarg;
            break;
        case 'D':
            o->creds = optarg;
            break;
        case 'T':
            team = optarg;
            break;
        case 'P':
            o->prefix = optarg;
            break;
        case 'L':
            o->log = optarg;
            break;
        case 'R':
            o->ready_file = optarg;
            break;
        case 'n':
            ok = parse_count(optarg, 1, MAX_TEAM, &senders);
            break;
        case 'w':
            ok = parse_count(optarg, 1, 1024, &window);
            break;
        case 't':
            ok = parse_count(optarg, 1, 86400, &o->max_seconds);
            break;
        case 'm':
            ok = parse_count(optarg, 1, UINT32_MAX, &o->max_messages);
            break;
        case 's':
            ok = parse_count(optarg, 1, UINT64_MAX, &o->seed);
            break;
        case 'h':
            fputs(USAGE, stdout);
            exit(0);
        default:
            ok = false;
            break;
        }
        if (!ok) {
            fprintf(stderr, "durability_load: bad option value '%s'\n%s", optarg ? optarg : "",
                    USAGE);
            return 2;
        }
    }
    if (optind != argc || o->server == NULL || o->ca == NULL || o->creds == NULL || team == NULL ||
        o->prefix == NULL || o->log == NULL) {
        fprintf(stderr, "durability_load: missing or extra arguments\n%s", USAGE);
        return 2;
    }
    /* PREFIX.sINDEX.N must stay within the 64 characters of a client_msg_id. */
    if (strlen(o->prefix) < 1 || strlen(o->prefix) > 32 || strpbrk(o->prefix, " ,") != NULL) {
        fprintf(stderr, "durability_load: --prefix must be 1-32 characters, no space or comma\n");
        return 2;
    }
    if (strlen(team) >= sizeof o->team_buf ||
        (snprintf(o->team_buf, sizeof o->team_buf, "%s", team), !split_team(o)) ||
        o->n_team < MAX_TO || senders > o->n_team) {
        fprintf(stderr, "durability_load: --team needs %d to %d ids and at least --senders\n",
                MAX_TO, MAX_TEAM);
        return 2;
    }
    o->n_senders = (size_t)senders;
    o->window = (size_t)window;
    return 0;
}

/* ---- main ----------------------------------------------------------------------------------- */

/* Sets up the loop's handles and the senders' state. Returns 0 or -1 (out of memory). */
static int load_init(load_t *l)
{
    l->rng = l->o.seed;
    l->body = malloc(BODY_MAX + 1);
    l->filler = malloc(BODY_MAX);
    if (l->body == NULL || l->filler == NULL)
        return -1;
    static const char words[] = "lorem ipsum dolor sit amet consectetur adipiscing elit ";
    for (size_t i = 0; i < BODY_MAX; i++)
        l->filler[i] = words[i % (sizeof words - 1)];
    if (uv_loop_init(&l->loop) != 0)
        return -1;
    uv_timer_init(&l->loop, &l->deadline);
    uv_timer_init(&l->loop, &l->flush);
    uv_signal_init(&l->loop, &l->sigterm);
    uv_signal_init(&l->loop, &l->sigint);
    l->deadline.data = l->flush.data = l->sigterm.data = l->sigint.data = l;
    uv_timer_start(&l->deadline, on_deadline, l->o.max_seconds * 1000, 0);
    uv_timer_start(&l->flush, on_flush, FLUSH_MS, FLUSH_MS);
    uv_signal_start(&l->sigterm, on_signal, SIGTERM);
    uv_signal_start(&l->sigint, on_signal, SIGINT);
    for (size_t i = 0; i < l->o.n_team; i++) {
        sender_t *s = &l->senders[i];
        s->load = l;
        s->id = l->o.team[i];
        s->sends = i < l->o.n_senders;
        s->batch = calloc(ACK_BATCH_MAX, sizeof *s->batch);
        if (s->batch == NULL)
            return -1;
    }
    return 0;
}

static void load_free(load_t *l)
{
    for (size_t i = 0; i < l->o.n_team; i++)
        free(l->senders[i].batch);
    free(l->body);
    free(l->filler);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    static load_t load;
    load_t *l = &load;
    if (parse_opts(argc, argv, &l->o) != 0)
        return 2;
    l->log_fd = open(l->o.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (l->log_fd < 0) {
        fprintf(stderr, "durability_load: cannot open %s: %s\n", l->o.log, strerror(errno));
        return 1;
    }
    if (load_init(l) != 0) {
        fprintf(stderr, "durability_load: out of memory\n");
        return 1;
    }
    l->started_ms = uv_now(&l->loop);
    for (size_t i = 0; i < l->o.n_team; i++) {
        sender_t *s = &l->senders[i];
        if (l->stopping || start_sender(l, s) != 0) {
            sender_done(s);
            begin_stop(l, "a client could not be started");
        }
    }
    uv_run(&l->loop, UV_RUN_DEFAULT);
    uv_update_time(&l->loop);
    uint64_t elapsed = uv_now(&l->loop) - l->started_ms;
    int closed = uv_loop_close(&l->loop);
    load_free(l);
    close(l->log_fd);
    const counters_t *n = &l->n;
    printf("durability_load: stop=\"%s\" elapsed_ms=%" PRIu64 " sent=%" PRIu64 " acked=%" PRIu64
           " unanswered=%" PRIu64 " rate_limited=%" PRIu64 " delivered=%" PRIu64 " dack_ok=%" PRIu64
           " dack_unanswered=%" PRIu64 " surprises=%" PRIu64 "\n",
           l->stop_reason ? l->stop_reason : "-", elapsed, n->sent, n->acked, n->unanswered,
           n->rate_limited, n->delivered, n->dack_ok, n->dack_unanswered, n->surprises);
    if (closed != 0)
        fprintf(stderr, "durability_load: the loop still had handles: %s\n", uv_strerror(closed));
    return n->surprises != 0 || n->connect_failed != 0 || closed != 0 ? 1 : 0;
}
