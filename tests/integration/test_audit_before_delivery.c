/*
 * Audit before disclosure: a member is never shown a message before the audit row that records
 * that delivery (action message.deliver, object the message, actor the recipient) is durably
 * committed. The audit trail is the record of who saw what about a participant; a delivery that
 * reaches a screen while its row is still only in the daemon's memory is a disclosure the record
 * can lose: a crash, kill -9 or power cut between the push and the commit leaves a member who has
 * read the message and a trail that says nobody did. Checking that the row eventually appears
 * (as test_audit_completeness.c does) cannot see this window; only checking at the moment of
 * receipt can.
 *
 * So every test here runs its members on one libuv loop in the test process with libcareteam's
 * asynchronous layer, and the push callback's first act on each Deliver, before any other
 * bookkeeping, is a read of the daemon's audit table (read-only, through the sqlite3 library; the
 * database is in WAL mode, so the read sees exactly what is committed and never blocks the
 * writer). The blocking layer would not do: a push it queues while the test waits for something
 * else is checked late, and a late check passes even when the push ran ahead of the commit.
 *
 * What a receipt needs: the k-th Deliver of message M to member R (counted over all of R's
 * connections) needs at least k committed message.deliver rows for M with actor R, because each
 * delivery writes its own row (a live push one per member, a replay one per message, detail
 * "replay=1", docs/protocol.md section 13). A Deliver that arrives inside a replay (before that
 * connection's ReplayComplete) must in addition find as many "replay=1" rows as it is replay
 * receipts. A receipt that finds fewer is a miss; the tests count misses and require none.
 * Counting receipts this way relies on each member having at most one connection open at a time
 * (a reconnecting member connects again only once its previous connection is closed on the
 * test's side): one live push to two sessions of a member is a single row (sessions=2), but
 * here it can only ever be received once.
 *
 * Each test starts its own daemon on 127.0.0.1 (tests/support/daemon.h), keeps each case to a
 * few seconds with bounded message counts and deadlines, frees everything it made and ends with
 * ct_test_daemon_finish. The suite's .fini only cleans up after a failed assertion.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <uv.h>

#include "careteam.h"
#include "daemon.h"
#include "envelope.h"
#include "testsupport.h"

#define WAIT_MS 10000     /* longest wait for a connection, an answer or a replay */
#define SETTLE_MS 5000    /* longest wait for a late row, to tell "late" from "never" */
#define TICK_MS 5         /* the loop wakes at least this often to check deadlines */
#define MAX_RECEIPTS 4096 /* distinct (message, recipient) pairs one test receives */
#define MAX_EVENTS 4      /* workflow event names one member counts */

static ct_test_daemon_t g_d;

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

/* SIGPIPE is ignored: libcareteam may write to a connection the server has just closed. */
TestSuite(audit_before_delivery, .init = ct_test_ignore_sigpipe, .fini = teardown, .timeout = 90);

/* ---- the record, read at the moment of receipt ---------------------------------------------- */

static sqlite3 *g_db;
static sqlite3_stmt *g_rows;

/* Opens the daemon's database read-only once per test: a fresh connection per check would add
 * its open time to every check and make the check later than the receipt. */
static void record_open(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/careteam.db", g_d.data);
    int rc = sqlite3_open_v2(path, &g_db, SQLITE_OPEN_READONLY, NULL);
    cr_assert_eq(rc, SQLITE_OK, "cannot open %s read-only: %s", path, sqlite3_errstr(rc));
    sqlite3_busy_timeout(g_db, 2000);
    rc = sqlite3_prepare_v2(g_db,
                            "SELECT count(*), coalesce(sum(detail = 'replay=1'), 0) FROM audit"
                            " WHERE action = 'message.deliver' AND object_type = 'message'"
                            " AND object_id = ?1 AND actor_id = ?2 AND outcome = 0",
                            -1, &g_rows, NULL);
    cr_assert_eq(rc, SQLITE_OK, "%s", sqlite3_errmsg(g_db));
}

static void record_close(void)
{
    sqlite3_finalize(g_rows);
    g_rows = NULL;
    sqlite3_close(g_db);
    g_db = NULL;
}

/* The committed message.deliver rows of message id with actor member, and how many of them are
 * replay rows. Each step in autocommit mode is its own read transaction: it sees every commit
 * made before it and nothing the writer has not committed. */
static void committed_rows(const char *id, const char *member, int *rows, int *replay_rows)
{
    sqlite3_bind_text(g_rows, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(g_rows, 2, member, -1, SQLITE_STATIC);
    int rc = sqlite3_step(g_rows);
    cr_assert_eq(rc, SQLITE_ROW, "reading the audit table: %s", sqlite3_errmsg(g_db));
    *rows = sqlite3_column_int(g_rows, 0);
    *replay_rows = sqlite3_column_int(g_rows, 1);
    sqlite3_reset(g_rows);
    sqlite3_clear_bindings(g_rows);
}

/* ---- receipts -------------------------------------------------------------------------------- */

/* Every (message, recipient) pair received in a test, with how often and on which connection. */
typedef struct receipt {
    char id[40];
    char member[24];
    int n;         /* Delivers received, over all connections */
    int n_replay;  /* of those, inside a replay */
    int last_conn; /* the connection number of the latest receipt */
} receipt_t;

typedef struct tally {
    int live, replayed;             /* Delivers received live and inside a replay */
    int live_misses, replay_misses; /* of those, shown before their row was committed */
    char first_miss[512];           /* the first miss, for the failure message */
    receipt_t *rx;                  /* MAX_RECEIPTS; owned */
    size_t n_rx;
} tally_t;

static tally_t g_tally;

static void tally_open(void)
{
    memset(&g_tally, 0, sizeof g_tally);
    g_tally.rx = calloc(MAX_RECEIPTS, sizeof *g_tally.rx);
    cr_assert_not_null(g_tally.rx);
}

static void tally_close(void)
{
    free(g_tally.rx);
    g_tally.rx = NULL;
}

/* The receipt entry of (id, member), added on first sight. Linear: a test has a few hundred. */
static receipt_t *receipt_of(const char *id, const char *member)
{
    for (size_t i = 0; i < g_tally.n_rx; i++) {
        receipt_t *r = &g_tally.rx[i];
        if (strcmp(r->id, id) == 0 && strcmp(r->member, member) == 0)
            return r;
    }
    cr_assert_lt(g_tally.n_rx, MAX_RECEIPTS, "more than %d distinct deliveries", MAX_RECEIPTS);
    receipt_t *r = &g_tally.rx[g_tally.n_rx++];
    snprintf(r->id, sizeof r->id, "%s", id);
    snprintf(r->member, sizeof r->member, "%s", member);
    return r;
}

/* How often message id reached member, over all connections (0 if never). */
static int receipts(const char *id, const char *member)
{
    for (size_t i = 0; i < g_tally.n_rx; i++) {
        const receipt_t *r = &g_tally.rx[i];
        if (strcmp(r->id, id) == 0 && strcmp(r->member, member) == 0)
            return r->n;
    }
    return 0;
}

/* The receipts still not matched by enough committed rows after waiting SETTLE_MS for the
 * writer: a miss whose row never comes is a lost record, not only a late one. */
static int never_recorded(void)
{
    int64_t end = ct_test_now_ms() + SETTLE_MS;
    for (;;) {
        int missing = 0;
        for (size_t i = 0; i < g_tally.n_rx; i++) {
            const receipt_t *r = &g_tally.rx[i];
            int rows = 0, replay_rows = 0;
            committed_rows(r->id, r->member, &rows, &replay_rows);
            if (rows < r->n || replay_rows < r->n_replay)
                missing++;
        }
        if (missing == 0 || ct_test_now_ms() >= end)
            return missing;
        ct_test_sleep_ms(20);
    }
}

/* ---- members on the test's loop -------------------------------------------------------------- */

static uv_loop_t g_loop;
static uv_timer_t g_tick;

/* A timer that only wakes the loop, so that run_until sees its deadline pass even when no
 * frame arrives. */
static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void loop_open(void)
{
    cr_assert_eq(uv_loop_init(&g_loop), 0);
    cr_assert_eq(uv_timer_init(&g_loop, &g_tick), 0);
    cr_assert_eq(uv_timer_start(&g_tick, on_tick, TICK_MS, TICK_MS), 0);
}

/* Closes the loop once every client on it has been closed (they free themselves on it). */
static void loop_close(void)
{
    uv_timer_stop(&g_tick);
    uv_close((uv_handle_t *)&g_tick, NULL);
    int64_t end = ct_test_now_ms() + WAIT_MS;
    while (uv_run(&g_loop, UV_RUN_NOWAIT) != 0 && ct_test_now_ms() < end)
        ct_test_sleep_ms(1);
    cr_assert_eq(uv_loop_close(&g_loop), 0, "handles still open on the test's loop");
}

typedef bool (*cond_fn)(void *arg);

/* Runs the loop until done(arg) or ms pass; returns done(arg). */
static bool run_until(cond_fn done, void *arg, int ms)
{
    int64_t end = ct_test_now_ms() + ms;
    while (!done(arg) && ct_test_now_ms() < end)
        uv_run(&g_loop, UV_RUN_ONCE);
    return done(arg);
}

typedef struct event_count {
    const char *event; /* a workflow event name, e.g. "referral.create" */
    int n;
} event_count_t;

/* One member's connection (and, for a reconnecting member, its successive connections). */
typedef struct peer {
    const char *who;
    ct_client_t *c; /* the current connection; NULL between connections */
    int conn;       /* connections started so far; the current one's number */
    bool ready;     /* Welcome received on the current connection */
    bool replay_done;
    bool closed; /* the current connection ended (and was freed) */
    int connect_err;
    char why[256];
    uint64_t replayed;  /* ReplayComplete of the latest connection */
    int delivers;       /* Delivers on the current connection */
    int total_delivers; /* Delivers over all connections */
    /* The order within one connection: store order, which message ids follow within one daemon
     * run (docs/protocol.md section 7: time-ordered, strictly increasing). */
    char last_id[40];
    int out_of_order, dups;
    char first_fault[256];
    int errors; /* connection-level Error pushes */
    char first_error[256];
    /* Behaviour: acknowledge each Deliver; close connection k after close_after[k] Delivers
     * (0: as soon as it is welcomed) and connect again, for the first n_close connections. */
    bool ack;
    int acks_ok, acks_failed;
    const int *close_after;
    int n_close;
    bool closing; /* this peer asked the current connection to close */
    /* Optional: the ids received, in order (capacity max_log), and counted event names. */
    char (*log)[40];
    int n_log, max_log;
    event_count_t events[MAX_EVENTS];
} peer_t;

static void peer_connect(peer_t *p);

static void count_event(peer_t *p, const char *event)
{
    for (int i = 0; i < MAX_EVENTS && p->events[i].event != NULL; i++) {
        if (strcmp(p->events[i].event, event) == 0)
            p->events[i].n++;
    }
}

static int event_count(const peer_t *p, const char *event)
{
    for (int i = 0; i < MAX_EVENTS && p->events[i].event != NULL; i++) {
        if (strcmp(p->events[i].event, event) == 0)
            return p->events[i].n;
    }
    return 0;
}

static void peer_close(peer_t *p)
{
    if (p->c != NULL && !p->closing) {
        p->closing = true;
        ct_client_close(p->c);
    }
}

/* Closes the current connection if this connection's plan says it has had enough. */
static void maybe_cycle(peer_t *p)
{
    if (p->conn <= p->n_close && p->delivers >= p->close_after[p->conn - 1])
        peer_close(p);
}

static void on_ack_answer(ct_client_t *c, int status, const Careteam__V1__Envelope *resp, void *arg)
{
    (void)c;
    peer_t *p = arg;
    /* CT_ECLOSED: the connection ended first; the message stays pending and is replayed. */
    if (status == 0 && resp->body_case == CARETEAM__V1__ENVELOPE__BODY_OK)
        p->acks_ok++;
    else if (status != CT_ECLOSED)
        p->acks_failed++;
}

static void send_delivery_ack(peer_t *p, const char *id)
{
    char *ids[] = {(char *)id};
    Careteam__V1__DeliveryAck m = CARETEAM__V1__DELIVERY_ACK__INIT;
    m.n_message_ids = 1;
    m.message_ids = ids;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_DELIVERY_ACK;
    env.delivery_ack = &m;
    if (ct_client_request(p->c, &env, on_ack_answer, p) != 0)
        p->acks_failed++;
}

static void on_deliver(peer_t *p, const Careteam__V1__Message *m)
{
    /* First, before anything else: what the record holds at this moment of receipt. */
    int rows = 0, replay_rows = 0;
    committed_rows(m->message_id, p->who, &rows, &replay_rows);

    bool in_replay = !p->replay_done;
    receipt_t *r = receipt_of(m->message_id, p->who);
    bool dup_here = r->n > 0 && r->last_conn == p->conn;
    r->n++;
    if (in_replay)
        r->n_replay++;
    r->last_conn = p->conn;
    bool miss = rows < r->n || (in_replay && replay_rows < r->n_replay);
    if (in_replay) {
        g_tally.replayed++;
        g_tally.replay_misses += miss;
    } else {
        g_tally.live++;
        g_tally.live_misses += miss;
    }
    if (miss && g_tally.first_miss[0] == '\0')
        snprintf(g_tally.first_miss, sizeof g_tally.first_miss,
                 "%s received %s (%s, event '%s', connection %d, receipt %d) with %d committed "
                 "message.deliver rows, %d of them replay=1",
                 p->who, m->message_id, in_replay ? "replay" : "live",
                 m->event != NULL ? m->event : "", p->conn, r->n, rows, replay_rows);

    /* Store order within this connection, each message at most once. */
    if (dup_here || (p->last_id[0] != '\0' && strcmp(m->message_id, p->last_id) <= 0)) {
        if (dup_here)
            p->dups++;
        else
            p->out_of_order++;
        if (p->first_fault[0] == '\0')
            snprintf(p->first_fault, sizeof p->first_fault, "connection %d: %s %s after %s",
                     p->conn, m->message_id, dup_here ? "again" : "out of order", p->last_id);
    }
    snprintf(p->last_id, sizeof p->last_id, "%s", m->message_id);
    p->delivers++;
    p->total_delivers++;
    if (p->log != NULL && p->n_log < p->max_log)
        snprintf(p->log[p->n_log++], sizeof p->log[0], "%s", m->message_id);
    if (m->event != NULL && m->event[0] != '\0')
        count_event(p, m->event);
    if (p->ack)
        send_delivery_ack(p, m->message_id);
    maybe_cycle(p);
}

static void on_push(ct_client_t *c, const Careteam__V1__Envelope *push, void *arg)
{
    (void)c;
    peer_t *p = arg;
    if (p->closing)
        return; /* already let go of: what it still reads is never shown */
    switch (push->body_case) {
    case CARETEAM__V1__ENVELOPE__BODY_DELIVER:
        cr_assert(push->deliver != NULL && push->deliver->message != NULL,
                  "%s: a Deliver without a message", p->who);
        on_deliver(p, push->deliver->message);
        break;
    case CARETEAM__V1__ENVELOPE__BODY_REPLAY_COMPLETE:
        p->replay_done = true;
        p->replayed = push->replay_complete != NULL ? push->replay_complete->replayed : 0;
        break;
    default:
        p->errors++;
        if (p->first_error[0] == '\0')
            snprintf(p->first_error, sizeof p->first_error, "'%s' %s", ct_test_body_name(push),
                     ct_response_message(push));
        break;
    }
}

static void on_closed(ct_client_t *c, int err, const char *why, void *arg)
{
    peer_t *p = arg;
    if (!p->closing && p->first_error[0] == '\0')
        snprintf(p->first_error, sizeof p->first_error, "the server closed connection %d: %s %s",
                 p->conn, ct_errname(err), why);
    if (!p->closing)
        p->errors++;
    ct_client_close(c); /* frees it once this callback returns */
    p->c = NULL;
    p->ready = false;
    p->closed = true;
    if (p->closing && p->conn <= p->n_close)
        peer_connect(p); /* the next connection of the plan */
}

static void on_connect(ct_client_t *c, int status, const char *why, void *arg)
{
    peer_t *p = arg;
    if (status != 0) {
        p->connect_err = status;
        snprintf(p->why, sizeof p->why, "%s", why);
        ct_client_close(c);
        p->c = NULL;
        p->closed = true;
        return;
    }
    p->ready = true;
    maybe_cycle(p); /* a plan of 0 Delivers closes inside the replay */
}

/* Starts a new connection for p (returns at once; run_until waits). */
static void peer_connect(peer_t *p)
{
    ct_test_creds_t creds;
    ct_client_opts_t opts;
    ct_test_daemon_opts(&g_d, p->who, &creds, &opts);
    char err[512] = "";
    int rc = ct_client_new(&g_loop, &opts, &p->c, err, sizeof err);
    cr_assert_eq(rc, 0, "%s: %s (%s)", p->who, ct_errname(rc), err);
    ct_client_on_push(p->c, on_push, p);
    ct_client_on_closed(p->c, on_closed, p);
    p->conn++;
    p->ready = p->replay_done = p->closed = p->closing = false;
    p->delivers = 0;
    p->last_id[0] = '\0';
    rc = ct_client_connect(p->c, on_connect, p);
    cr_assert_eq(rc, 0, "%s: connect: %s", p->who, ct_errname(rc));
}

static bool is_settled(void *arg)
{
    const peer_t *p = arg;
    return p->replay_done || p->closed;
}

/* Connects p and waits for its ReplayComplete. */
static void peer_start(peer_t *p)
{
    peer_connect(p);
    run_until(is_settled, p, WAIT_MS);
    cr_assert(p->ready && p->replay_done, "%s: not welcomed and replayed within %d ms: %s %s",
              p->who, WAIT_MS, ct_errname(p->connect_err), p->why);
}

static bool is_closed(void *arg)
{
    const peer_t *p = arg;
    return p->c == NULL;
}

/* Closes p's connection (if open) and waits until it is freed. */
static void peer_stop(peer_t *p)
{
    p->n_close = 0; /* no reconnect */
    peer_close(p);
    cr_assert(run_until(is_closed, p, WAIT_MS), "%s: the connection did not close", p->who);
}

/* ---- requests on the loop -------------------------------------------------------------------- */

typedef struct answer {
    bool done;
    int status;
    Careteam__V1__Envelope__BodyCase body;
    char message[256];
    char id[64]; /* the referral or consent id of the answer */
} answer_t;

static void on_answer(ct_client_t *c, int status, const Careteam__V1__Envelope *resp, void *arg)
{
    (void)c;
    answer_t *a = arg;
    a->done = true;
    a->status = status;
    if (resp == NULL)
        return;
    a->body = resp->body_case;
    snprintf(a->message, sizeof a->message, "%s", ct_response_message(resp));
    if (resp->body_case == CARETEAM__V1__ENVELOPE__BODY_REFERRAL && resp->referral != NULL)
        snprintf(a->id, sizeof a->id, "%s", resp->referral->referral_id);
    else if (resp->body_case == CARETEAM__V1__ENVELOPE__BODY_CONSENT && resp->consent != NULL)
        snprintf(a->id, sizeof a->id, "%s", resp->consent->consent_id);
}

static bool is_answered(void *arg)
{
    return ((const answer_t *)arg)->done;
}

/* Sends env on p and runs the loop (other members' pushes included) until it is answered with
 * body `want`; copies the answer's id into id_out when not NULL. */
static void call(peer_t *p, Careteam__V1__Envelope *env, Careteam__V1__Envelope__BodyCase want,
                 const char *what, char *id_out, size_t id_len)
{
    answer_t a = {0};
    int rc = ct_client_request(p->c, env, on_answer, &a);
    cr_assert_eq(rc, 0, "%s: %s", what, ct_errname(rc));
    cr_assert(run_until(is_answered, &a, WAIT_MS), "%s: no answer within %d ms", what, WAIT_MS);
    cr_assert_eq(a.status, 0, "%s: %s", what, ct_errname(a.status));
    cr_assert_eq(a.body, want, "%s answered body %d: %s", what, (int)a.body, a.message);
    if (id_out != NULL)
        snprintf(id_out, id_len, "%s", a.id);
}

/* ---- a sender on the loop -------------------------------------------------------------------- */

/* Sends `total` messages to `to`, at most `window` unanswered at a time, until stop_at. */
typedef struct sender {
    peer_t *peer;
    const char *to;
    const char *tag; /* client_msg_id prefix */
    int total, window;
    int64_t stop_at; /* no new message after this (monotonic ms) */
    int sent, answered, acked, failed;
    char first_failure[256];
    char (*ids)[40]; /* acked message ids, in the order the Acks arrived; total entries; owned */
} sender_t;

static void send_more(sender_t *s);

static void on_send_answer(ct_client_t *c, int status, const Careteam__V1__Envelope *resp,
                           void *arg)
{
    (void)c;
    sender_t *s = arg;
    s->answered++;
    if (status == 0 && resp->body_case == CARETEAM__V1__ENVELOPE__BODY_ACK) {
        snprintf(s->ids[s->acked++], sizeof s->ids[0], "%s", resp->ack->message_id);
    } else {
        s->failed++;
        if (s->first_failure[0] == '\0')
            snprintf(s->first_failure, sizeof s->first_failure, "%s: '%s' %s", ct_errname(status),
                     resp != NULL ? ct_test_body_name(resp) : "-", ct_response_message(resp));
    }
    if (status == 0)
        send_more(s);
}

static void send_more(sender_t *s)
{
    while (s->sent < s->total && s->sent - s->answered < s->window &&
           ct_test_now_ms() < s->stop_at && s->peer->c != NULL && s->peer->ready) {
        char cmid[48], body[64];
        snprintf(cmid, sizeof cmid, "%s-%03d", s->tag, s->sent);
        snprintf(body, sizeof body, "%s message %03d", s->tag, s->sent);
        char *to[] = {(char *)s->to};
        Careteam__V1__SendMessage m = CARETEAM__V1__SEND_MESSAGE__INIT;
        m.client_msg_id = cmid;
        m.n_to = 1;
        m.to = to;
        m.body = body;
        Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
        env.body_case = CARETEAM__V1__ENVELOPE__BODY_SEND_MESSAGE;
        env.send_message = &m;
        int rc = ct_client_request(s->peer->c, &env, on_send_answer, s);
        cr_assert_eq(rc, 0, "%s: SendMessage %s: %s", s->peer->who, cmid, ct_errname(rc));
        s->sent++;
    }
}

static void sender_start(sender_t *s, peer_t *peer, const char *to, const char *tag, int total,
                         int window, int max_ms)
{
    memset(s, 0, sizeof *s);
    s->peer = peer;
    s->to = to;
    s->tag = tag;
    s->total = total;
    s->window = window;
    s->stop_at = ct_test_now_ms() + max_ms;
    s->ids = calloc((size_t)total, sizeof *s->ids);
    cr_assert_not_null(s->ids);
    send_more(s);
}

/* Every sent message answered (nothing more will be sent). */
static bool sender_done(const sender_t *s)
{
    return s->answered == s->sent && (s->sent == s->total || ct_test_now_ms() >= s->stop_at);
}

static void sender_free(sender_t *s)
{
    free(s->ids);
    s->ids = NULL;
}

/* ---- shared assertions ----------------------------------------------------------------------- */

/* No Deliver was shown before its row committed; says how many were late and how many never got
 * a row at all. */
static void assert_no_misses(const char *what)
{
    int misses = g_tally.live_misses + g_tally.replay_misses;
    int never = never_recorded();
    cr_log_info("%s: %d live and %d replayed Delivers; shown before their audit row committed: "
                "%d live, %d replayed; never recorded after %d ms: %d",
                what, g_tally.live, g_tally.replayed, g_tally.live_misses, g_tally.replay_misses,
                SETTLE_MS, never);
    cr_assert_eq(misses, 0,
                 "%s: %d of %d Delivers (%d of %d live, %d of %d replayed) were shown before the "
                 "message.deliver row recording them was committed (%d of them have no row even "
                 "%d ms later). First: %s",
                 what, misses, g_tally.live + g_tally.replayed, g_tally.live_misses, g_tally.live,
                 g_tally.replay_misses, g_tally.replayed, never, SETTLE_MS, g_tally.first_miss);
    cr_assert_eq(never, 0, "%s: %d deliveries never got their audit row", what, never);
}

static void assert_clean(const peer_t *p)
{
    cr_assert_eq(p->errors, 0, "%s: %d connection errors; first: %s", p->who, p->errors,
                 p->first_error);
    cr_assert_eq(p->out_of_order + p->dups, 0,
                 "%s: %d Delivers out of store order and %d repeated within one connection; "
                 "first: %s",
                 p->who, p->out_of_order, p->dups, p->first_fault);
}

/* The daemon with the demo team, the record and the loop, ready for members. */
static void start(const char *extra_conf)
{
    ct_test_daemon_launch(&g_d, extra_conf);
    record_open();
    tally_open();
    loop_open();
}

static void finish(void)
{
    loop_close();
    tally_close();
    record_close();
    ct_test_daemon_finish(&g_d);
}

/* ---- 1. live push ---------------------------------------------------------------------------- */

#define N_LIVE 200

typedef struct live_wait {
    const sender_t *s;
    const peer_t *rcpt;
    int want;
} live_wait_t;

static bool all_delivered(void *arg)
{
    const live_wait_t *w = arg;
    return sender_done(w->s) && w->rcpt->total_delivers >= w->want;
}

/* A recipient who is online sees each new message only once the record says it was delivered to
 * them: 200 messages sent one at a time, each Deliver checked as it arrives. */
Test(audit_before_delivery, online_recipient_sees_a_message_only_once_its_delivery_is_on_record)
{
    start(NULL);
    peer_t sam = {.who = "pw.sam"};
    peer_t ahmed = {.who = "dr.ahmed"};
    peer_start(&sam);
    peer_start(&ahmed);

    /* One at a time: each push stands alone, so its check is not shadowed by a neighbour's. */
    sender_t s;
    sender_start(&s, &ahmed, "pw.sam", "live", N_LIVE, 1, 30000);
    live_wait_t w = {.s = &s, .rcpt = &sam, .want = N_LIVE};
    run_until(all_delivered, &w, 30000);
    cr_assert_eq(s.failed, 0, "%d sends failed; first: %s", s.failed, s.first_failure);
    cr_assert_eq(s.acked, N_LIVE, "only %d of %d messages were acknowledged in time", s.acked,
                 N_LIVE);
    cr_assert_eq(sam.total_delivers, N_LIVE, "pw.sam received %d of %d messages",
                 sam.total_delivers, N_LIVE);
    for (int i = 0; i < N_LIVE; i++)
        cr_assert_eq(receipts(s.ids[i], "pw.sam"), 1, "message %d (%s) received %d times", i,
                     s.ids[i], receipts(s.ids[i], "pw.sam"));
    assert_clean(&sam);
    assert_clean(&ahmed);
    assert_no_misses("live push");

    sender_free(&s);
    peer_stop(&sam);
    peer_stop(&ahmed);
    finish();
}

/* ---- 2. replay ------------------------------------------------------------------------------- */

#define REPLAY_ROUNDS 10
#define PER_ROUND 10

static bool acks_answered(void *arg)
{
    const peer_t *p = arg;
    return p->acks_ok + p->acks_failed >= p->total_delivers;
}

/* A recipient who was offline sees the messages waiting for them, in the replay of their next
 * connection, each only once its replay delivery is on record (a replay=1 row). Ten rounds of
 * ten messages, each round a new connection that acknowledges what it received: the first
 * Deliver of a replay follows its connection's Welcome most closely, so every round is another
 * chance to catch a replay running ahead of its record. */
Test(audit_before_delivery, returning_recipient_sees_waiting_messages_only_once_on_record)
{
    start(NULL);
    static char got[PER_ROUND + 1][40];
    peer_t kim = {.who = "pw.kim", .ack = true, .log = got, .max_log = PER_ROUND + 1};
    /* The sender uses the blocking layer: pw.kim is offline while it runs. */
    ct_sync_t *ahmed = ct_test_connect(&g_d, "dr.ahmed");
    for (int round = 0; round < REPLAY_ROUNDS; round++) {
        char ids[PER_ROUND][40];
        for (int i = 0; i < PER_ROUND; i++) {
            char cmid[32], body[64];
            snprintf(cmid, sizeof cmid, "replay-%02d-%02d", round, i);
            snprintf(body, sizeof body, "waiting message %02d of round %02d", i, round);
            const char *to[] = {"pw.kim"};
            ct_send_args_t a = {.client_msg_id = cmid, .to = to, .n_to = 1, .body = body};
            Careteam__V1__Envelope *resp = NULL;
            int rc = ct_sync_send_message(ahmed, &a, WAIT_MS, &resp);
            cr_assert_eq(rc, 0, "SendMessage %s: %s", cmid, ct_errname(rc));
            cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ACK, "%s: '%s' %s", cmid,
                         ct_test_body_name(resp), ct_response_message(resp));
            snprintf(ids[i], sizeof ids[i], "%s", resp->ack->message_id);
            ct_envelope_free(resp);
        }
        kim.n_log = 0;
        peer_start(&kim);
        cr_assert_eq(kim.replayed, PER_ROUND, "round %d: ReplayComplete counts %llu, expected %d",
                     round, (unsigned long long)kim.replayed, PER_ROUND);
        cr_assert_eq(kim.n_log, PER_ROUND, "round %d: pw.kim received %d Delivers", round,
                     kim.n_log);
        for (int i = 0; i < PER_ROUND; i++)
            cr_assert_str_eq(got[i], ids[i], "round %d: replay #%d is not the %d-th stored", round,
                             i, i);
        /* Acknowledged before leaving, so the next replay holds only the next round. */
        cr_assert(run_until(acks_answered, &kim, WAIT_MS), "round %d: DeliveryAcks unanswered",
                  round);
        cr_assert_eq(kim.acks_failed, 0, "round %d: %d DeliveryAcks refused", round,
                     kim.acks_failed);
        peer_stop(&kim);
    }
    ct_sync_close(ahmed);
    cr_assert_eq(g_tally.live, 0, "every Deliver was expected in a replay");
    assert_clean(&kim);
    assert_no_misses("inbox replay");
    finish();
}

/* ---- 3. workflow events ---------------------------------------------------------------------- */

#define N_REFERRALS 15

typedef struct wf_wait {
    const peer_t *sam, *kim, *lee;
    int want;
} wf_wait_t;

static bool events_arrived(void *arg)
{
    const wf_wait_t *w = arg;
    return event_count(w->sam, "referral.create") >= w->want &&
           event_count(w->kim, "referral.create") >= w->want &&
           event_count(w->lee, "referral.accept") >= w->want;
}

/* Workflow notifications are disclosures too: each peer worker hears of a queue referral, and the
 * referrer of its acceptance, only once the record says so. */
Test(audit_before_delivery, workflow_notification_is_shown_only_once_on_record)
{
    ct_test_daemon_init(&g_d, NULL);
    cr_assert_eq(ct_test_careteamd(&g_d, "participant", "add", g_d.data, "--id", "p1", "--label",
                                   "T.W.", NULL),
                 0, "participant add; see %s", g_d.log);
    cr_assert_eq(ct_test_careteamd(&g_d, "team", "add", g_d.data, "--participant", "p1", "--member",
                                   "th.lee", NULL),
                 0, "team add; see %s", g_d.log);
    ct_test_daemon_start(&g_d);
    record_open();
    tally_open();
    loop_open();
    peer_t lee = {.who = "th.lee", .events = {{"referral.accept", 0}}};
    peer_t sam = {.who = "pw.sam", .events = {{"referral.create", 0}}};
    peer_t kim = {.who = "pw.kim", .events = {{"referral.create", 0}}};
    peer_start(&lee);
    peer_start(&sam);
    peer_start(&kim);

    Careteam__V1__RecordConsent consent = CARETEAM__V1__RECORD_CONSENT__INIT;
    consent.participant_id = "p1";
    consent.scope = CARETEAM__V1__CONSENT_SCOPE__CONSENT_SCOPE_PEER_SUPPORT;
    consent.method = CARETEAM__V1__CONSENT_METHOD__CONSENT_METHOD_VERBAL;
    consent.note = "discussed at intake";
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_RECORD_CONSENT;
    env.record_consent = &consent;
    call(&lee, &env, CARETEAM__V1__ENVELOPE__BODY_CONSENT, "RecordConsent", NULL, 0);

    for (int i = 0; i < N_REFERRALS; i++) {
        /* To the queue: every peer worker (pw.sam, pw.kim) hears of it live. */
        char *goals[] = {"weekly check-in"};
        Careteam__V1__CreateReferral create = CARETEAM__V1__CREATE_REFERRAL__INIT;
        create.participant_id = "p1";
        create.peer_worker_id = "";
        create.to_queue = true;
        create.reason = "isolation after discharge";
        create.n_goals = 1;
        create.goals = goals;
        create.priority = CARETEAM__V1__PRIORITY__PRIORITY_ROUTINE;
        Careteam__V1__Envelope ce = CARETEAM__V1__ENVELOPE__INIT;
        ce.body_case = CARETEAM__V1__ENVELOPE__BODY_CREATE_REFERRAL;
        ce.create_referral = &create;
        char rid[64];
        call(&lee, &ce, CARETEAM__V1__ENVELOPE__BODY_REFERRAL, "CreateReferral", rid, sizeof rid);
        /* pw.sam takes it: the referrer hears of the acceptance live. */
        Careteam__V1__UpdateReferral accept = CARETEAM__V1__UPDATE_REFERRAL__INIT;
        accept.referral_id = rid;
        accept.action = CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_ACCEPT;
        accept.reason = "";
        accept.assignee_id = "";
        Careteam__V1__Envelope ue = CARETEAM__V1__ENVELOPE__INIT;
        ue.body_case = CARETEAM__V1__ENVELOPE__BODY_UPDATE_REFERRAL;
        ue.update_referral = &accept;
        call(&sam, &ue, CARETEAM__V1__ENVELOPE__BODY_REFERRAL, "UpdateReferral accept", NULL, 0);
    }
    wf_wait_t w = {.sam = &sam, .kim = &kim, .lee = &lee, .want = N_REFERRALS};
    cr_assert(run_until(events_arrived, &w, WAIT_MS),
              "events missing: pw.sam %d and pw.kim %d referral.create, th.lee %d "
              "referral.accept, of %d each",
              event_count(&sam, "referral.create"), event_count(&kim, "referral.create"),
              event_count(&lee, "referral.accept"), N_REFERRALS);
    cr_assert_eq(g_tally.replayed, 0, "every event was expected live");
    assert_clean(&lee);
    assert_clean(&sam);
    assert_clean(&kim);
    assert_no_misses("workflow events");

    peer_stop(&lee);
    peer_stop(&sam);
    peer_stop(&kim);
    finish();
}

/* ---- 4. racing connects ---------------------------------------------------------------------- */

#define N_RACE 300
#define RACE_SEND_MS 8000 /* the sender stops starting messages after this */
#define RACE_MS 20000     /* everything acknowledged must have arrived by then */

typedef struct race_wait {
    const sender_t *s;
    const peer_t *rcpt;
} race_wait_t;

/* The sender is done and every message it got an Ack for has reached pw.sam at least once. */
static bool race_over(void *arg)
{
    const race_wait_t *w = arg;
    if (!sender_done(w->s))
        return false;
    for (int i = 0; i < w->s->acked; i++) {
        if (receipts(w->s->ids[i], w->rcpt->who) == 0)
            return false;
    }
    return true;
}

/* A recipient whose connection drops and comes back while messages keep arriving (a phone on a
 * bad network) is shown every message, only once it is on record, in store order on each
 * connection, none twice on one connection. The connections close after a planned number of
 * Delivers, some inside the replay (0: as soon as welcomed), and reconnect at once. */
Test(audit_before_delivery, reconnecting_recipient_sees_every_message_in_order_only_once_on_record)
{
    static const int close_after[] = {5, 0, 20, 1, 0, 35, 3, 50, 0, 10};
    const int n_close = (int)(sizeof close_after / sizeof close_after[0]);
    start(NULL);
    peer_t sam = {.who = "pw.sam", .ack = true, .close_after = close_after, .n_close = n_close};
    peer_t ahmed = {.who = "dr.ahmed"};
    peer_start(&ahmed);
    peer_connect(&sam); /* its plan may close it before the replay ends: do not wait for it */

    sender_t s;
    sender_start(&s, &ahmed, "pw.sam", "race", N_RACE, 4, RACE_SEND_MS);
    race_wait_t w = {.s = &s, .rcpt = &sam};
    bool over = run_until(race_over, &w, RACE_MS);
    cr_log_info("racing connects: %d connections, %d Delivers (%d live, %d replayed), %d of %d "
                "messages acked, %d delivery acks answered",
                sam.conn, sam.total_delivers, g_tally.live, g_tally.replayed, s.acked, N_RACE,
                sam.acks_ok);
    cr_assert_eq(s.failed, 0, "%d sends failed; first: %s", s.failed, s.first_failure);
    cr_assert_eq(s.acked, N_RACE, "only %d of %d messages were acknowledged within %d ms", s.acked,
                 N_RACE, RACE_SEND_MS);
    if (!over) {
        int lost = 0;
        for (int i = 0; i < s.acked; i++)
            lost += receipts(s.ids[i], "pw.sam") == 0;
        cr_assert_fail("%d of %d acknowledged messages never reached pw.sam within %d ms "
                       "(connection %d: %s %s %s)",
                       lost, s.acked, RACE_MS, sam.conn, ct_errname(sam.connect_err), sam.why,
                       sam.first_error);
    }
    cr_assert_geq(sam.conn, n_close / 2, "only %d connections: the reconnects did not race",
                  sam.conn);
    cr_assert_eq(sam.acks_failed, 0, "%d DeliveryAcks refused", sam.acks_failed);
    assert_clean(&sam);
    assert_clean(&ahmed);
    assert_no_misses("racing connects");

    sender_free(&s);
    peer_stop(&sam);
    peer_stop(&ahmed);
    finish();
}
