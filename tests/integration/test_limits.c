/*
 * Limits that protect the daemon from one client: the in-flight request window (a client that
 * pipelines requests faster than the writer commits them is throttled, and every request is
 * still answered, in order), and the close deadline (a client that stops reading cannot hold a
 * closing connection open).
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "careteam.h"
#include "daemon.h"
#include "envelope.h"
#include "frame.h"
#include "rawtls.h"
#include "testsupport.h"

TestSuite(limits, .init = ct_test_ignore_sigpipe, .fini = ct_test_leak_check);

static ct_test_daemon_t g_d;

/* 5,000 pipelined requests, 78 times the in-flight window: the connection is paused and resumed
 * many times, and every request gets its answer, in order, with nothing lost or repeated. */
Test(limits, pipelined_requests_are_throttled_and_all_answered)
{
    enum { N = 5000 };
    /* The rate limit is not under test here: lift it above the burst. */
    ct_test_daemon_launch(&g_d, "rate_limit = 1000000\n");
    ct_test_raw_t r;
    cr_assert(ct_test_raw_connect(&r, &g_d, "pw.sam", TLS1_3_VERSION, TLS1_3_VERSION), "%s", r.why);
    cr_assert(ct_test_raw_send_hello(&r), "%s", r.why);
    Careteam__V1__Envelope *w = ct_test_raw_read_response(&r);
    cr_assert_eq(w->body_case, CARETEAM__V1__ENVELOPE__BODY_WELCOME);
    careteam__v1__envelope__free_unpacked(w, NULL);

    ct_buf_t burst = CT_BUF_INIT;
    for (uint64_t id = 2; id < 2 + N; id++)
        ct_test_append_ping(&burst, id);
    cr_assert(ct_test_raw_write(&r, burst.data, burst.len), "%s", r.why);
    ct_buf_free(&burst);
    for (uint64_t id = 2; id < 2 + N; id++) {
        Careteam__V1__Envelope *e = ct_test_raw_read_response(&r);
        cr_assert_eq(e->body_case, CARETEAM__V1__ENVELOPE__BODY_PONG, "answer to %llu",
                     (unsigned long long)id);
        cr_assert_eq(e->request_id, id, "answers come in request order");
        careteam__v1__envelope__free_unpacked(e, NULL);
    }
    ct_test_raw_close(&r);
    cr_assert_eq(ct_test_daemon_stop(&g_d), 0, "clean exit");
    cr_assert_eq(ct_test_audit_count(&g_d, "session.ping"), N, "every ping is audited once");
    ct_test_daemon_finish(&g_d);
}

/* Whether the daemon's log has a line containing needle. */
static bool log_has(const char *needle)
{
    char *log = ct_test_read_file(g_d.log, NULL);
    bool found = log != NULL && strstr(log, needle) != NULL;
    free(log);
    return found;
}

/*
 * A client makes the daemon queue several MiB for it (more than the kernel's socket buffers
 * hold), then sends a bad frame and stops reading. The daemon refuses the frame and closes
 * gracefully; since the client never reads, the close must be forced after the grace period.
 */
Test(limits, a_close_is_forced_when_the_peer_stops_reading)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_raw_t r;
    cr_assert(ct_test_raw_connect(&r, &g_d, "pw.sam", TLS1_3_VERSION, TLS1_3_VERSION), "%s", r.why);
    cr_assert(ct_test_raw_send_hello(&r), "%s", r.why);
    Careteam__V1__Envelope *w = ct_test_raw_read_response(&r);
    careteam__v1__envelope__free_unpacked(w, NULL);

    /* 120 messages of 60 KB to itself: each comes back as a Deliver, about 7 MiB in all (under
     * the 8 MiB max_output, so this is not the slow-consumer cut-off). */
    static char body[60 * 1024 + 1];
    memset(body, 'x', sizeof body - 1);
    ct_buf_t burst = CT_BUF_INIT;
    for (int i = 0; i < 120; i++) {
        char cmid[32];
        snprintf(cmid, sizeof cmid, "fill-%03d", i);
        char *to[] = {"pw.sam"};
        Careteam__V1__SendMessage m = CARETEAM__V1__SEND_MESSAGE__INIT;
        m.client_msg_id = cmid;
        m.n_to = 1;
        m.to = to;
        m.body = body;
        Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
        env.request_id = 100 + (uint64_t)i;
        env.body_case = CARETEAM__V1__ENVELOPE__BODY_SEND_MESSAGE;
        env.send_message = &m;
        cr_assert_eq(ct_frame_append_envelope(&burst, &env, CT_FRAME_DEFAULT_MAX), 0);
    }
    cr_assert(ct_test_raw_write(&r, burst.data, burst.len), "%s", r.why);
    ct_buf_free(&burst);
    /* Wait until all are stored (their Delivers are queued right after), so that the backlog is
     * there when the close begins. */
    for (int i = 0; i < 200 && ct_test_audit_count(&g_d, "message.send") < 120; i++)
        ct_test_sleep_ms(50);
    cr_assert_eq(ct_test_audit_count(&g_d, "message.send"), 120);
    ct_test_sleep_ms(200);
    const uint8_t zero_length[4] = {0, 0, 0, 0};
    cr_assert(ct_test_raw_write(&r, zero_length, sizeof zero_length), "%s", r.why);

    /* Not reading now. The daemon refuses the zero-length frame and starts a graceful close. */
    ct_test_await_audit_failures(&g_d, "protocol.bad_frame", 1);
    bool forced = false;
    for (int i = 0; i < 100 && !forced; i++) {
        ct_test_sleep_ms(100);
        forced = log_has("event=session.close_forced");
    }
    cr_assert(forced, "the daemon forced the close of a connection that stopped reading");
    ct_test_raw_close(&r);
    ct_test_daemon_finish(&g_d);
}

/* Over rate_limit requests per second, a connection's extra requests are answered RATE_LIMITED
 * (and audited); the connection stays open, and after a second it is served again. */
Test(limits, requests_over_the_rate_limit_are_refused_then_served_again)
{
    enum { N = 60, RATE = 20 };
    ct_test_daemon_launch(&g_d, "rate_limit = 20\n");
    ct_test_raw_t r;
    cr_assert(ct_test_raw_connect(&r, &g_d, "pw.sam", TLS1_3_VERSION, TLS1_3_VERSION), "%s", r.why);
    cr_assert(ct_test_raw_send_hello(&r), "%s", r.why);
    Careteam__V1__Envelope *w = ct_test_raw_read_response(&r);
    careteam__v1__envelope__free_unpacked(w, NULL);

    ct_buf_t burst = CT_BUF_INIT;
    for (uint64_t id = 2; id < 2 + N; id++)
        ct_test_append_ping(&burst, id);
    cr_assert(ct_test_raw_write(&r, burst.data, burst.len), "%s", r.why);
    ct_buf_free(&burst);
    int pongs = 0, limited = 0;
    for (uint64_t id = 2; id < 2 + N; id++) {
        Careteam__V1__Envelope *e = ct_test_raw_read_response(&r);
        cr_assert_eq(e->request_id, id, "every request is answered, in order");
        if (e->body_case == CARETEAM__V1__ENVELOPE__BODY_PONG) {
            pongs++;
        } else {
            cr_assert_eq(e->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR);
            cr_assert_eq(e->error->code, CARETEAM__V1__ERROR_CODE__ERROR_CODE_RATE_LIMITED);
            limited++;
        }
        careteam__v1__envelope__free_unpacked(e, NULL);
    }
    /* A burst of up to RATE passes (plus what refilled while the burst was read). */
    cr_assert_geq(pongs, RATE);
    cr_assert_lt(pongs, N, "a burst three times the rate cannot all pass");
    cr_assert_eq(pongs + limited, N);
    /* Recorded once per second per connection, with a count, not once per refusal. */
    ct_test_await_audit_failures(&g_d, "session.ping", 1);
    cr_assert_leq(ct_test_audit_failures(&g_d, "session.ping"), 2,
                  "a burst of refusals is summarised, not audited one by one");

    ct_test_sleep_ms(1100); /* the bucket refills */
    ct_buf_t one = CT_BUF_INIT;
    ct_test_append_ping(&one, 1000);
    cr_assert(ct_test_raw_write(&r, one.data, one.len), "%s", r.why);
    ct_buf_free(&one);
    Careteam__V1__Envelope *e = ct_test_raw_read_response(&r);
    cr_assert_eq(e->body_case, CARETEAM__V1__ENVELOPE__BODY_PONG, "served again after a second");
    careteam__v1__envelope__free_unpacked(e, NULL);
    ct_test_raw_close(&r);
    ct_test_daemon_finish(&g_d);
}

/* A send of a `len`-byte body on s; returns the response (the caller frees it). */
static Careteam__V1__Envelope *send_body(ct_sync_t *s, const char *id, size_t len)
{
    char *body = malloc(len + 1);
    cr_assert_not_null(body);
    memset(body, 'x', len);
    body[len] = '\0';
    const char *to[] = {"pw.sam"};
    ct_send_args_t a = {.client_msg_id = id, .to = to, .n_to = 1, .body = body};
    Careteam__V1__Envelope *resp = NULL;
    cr_assert_eq(ct_sync_send_message(s, &a, 5000, &resp), 0);
    free(body);
    return resp;
}

/* SIGHUP applies the new limits of careteamd.conf to live connections, without dropping them. */
Test(limits, sighup_applies_new_limits_to_live_connections)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_sync_t *s = ct_test_connect(&g_d, "dr.ahmed");
    Careteam__V1__Envelope *r = send_body(s, "before", 2000);
    cr_assert_eq(r->body_case, CARETEAM__V1__ENVELOPE__BODY_ACK, "%s", ct_response_message(r));
    ct_envelope_free(r);

    char conf[4200];
    snprintf(conf, sizeof conf, "%s/careteamd.conf", g_d.data);
    FILE *f = fopen(conf, "a");
    cr_assert_not_null(f);
    fputs("max_body = 1000\n", f);
    fclose(f);
    long reloads = ct_test_audit_count(&g_d, "daemon.reload");
    cr_assert_eq(kill(g_d.pid, SIGHUP), 0);
    for (int i = 0; i < 500 && ct_test_audit_count(&g_d, "daemon.reload") == reloads; i++)
        usleep(10 * 1000);
    cr_assert_gt(ct_test_audit_count(&g_d, "daemon.reload"), reloads, "no reload recorded");

    /* The same connection, still open, now has the new limit. */
    r = send_body(s, "after-big", 2000);
    cr_assert_eq(ct_response_status(r), CT_ETOOBIG, "%s", ct_response_message(r));
    cr_assert(strstr(ct_response_message(r), "1000") != NULL, "%s", ct_response_message(r));
    ct_envelope_free(r);
    r = send_body(s, "after-small", 500);
    cr_assert_eq(r->body_case, CARETEAM__V1__ENVELOPE__BODY_ACK, "%s", ct_response_message(r));
    ct_envelope_free(r);
    ct_sync_close(s);
    ct_test_daemon_finish(&g_d);
}

/* ---- SIGTERM under load ---------------------------------------------------------------------- */

/* The sender stops after this many messages, or when the daemon goes. */
#define TERM_LOAD_MAX 2000

typedef struct term_load {
    ct_sync_t *s;
    int acked; /* messages m-0 .. m-(acked-1) were acknowledged */
} term_load_t;

static void *term_sender(void *arg)
{
    term_load_t *l = arg;
    for (int i = 0; i < TERM_LOAD_MAX; i++) {
        char id[32];
        snprintf(id, sizeof id, "m-%d", i);
        const char *to[] = {"pw.sam"};
        ct_send_args_t a = {.client_msg_id = id, .to = to, .n_to = 1, .body = "under load"};
        Careteam__V1__Envelope *r = NULL;
        if (ct_sync_send_message(l->s, &a, 5000, &r) != 0)
            break;
        bool ack = r->body_case == CARETEAM__V1__ENVELOPE__BODY_ACK;
        ct_envelope_free(r);
        if (!ack)
            break;
        l->acked = i + 1;
    }
    return NULL;
}

/* SIGTERM while a client sends: the daemon exits 0 within 5 s, and every message it
 * acknowledged is stored (the drain finishes in-flight commits and sends their acks). */
Test(limits, sigterm_under_load_exits_cleanly_and_keeps_every_ack)
{
    ct_test_daemon_launch(&g_d, NULL);
    term_load_t l = {.s = ct_test_connect(&g_d, "dr.ahmed")};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, term_sender, &l), 0);
    usleep(300 * 1000); /* some sends in flight */
    int64_t t0 = ct_test_now_ms();
    int status = ct_test_daemon_stop(&g_d);
    int64_t took = ct_test_now_ms() - t0;
    pthread_join(t, NULL);
    ct_sync_close(l.s);
    cr_assert_eq(status, 0, "careteamd exited %d on SIGTERM", status);
    cr_assert_leq(took, 5000, "the drain took %lld ms", (long long)took);
    cr_assert_gt(l.acked, 0, "nothing was acknowledged before the stop");
    /* Every acknowledged message is in the database. */
    char db[4200];
    snprintf(db, sizeof db, "%s/careteam.db", g_d.data);
    sqlite3 *h = NULL;
    cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    for (int i = 0; i < l.acked; i++) {
        char sql[160];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM messages WHERE sender_id = 'dr.ahmed' AND "
                 "client_msg_id = 'm-%d'",
                 i);
        sqlite3_stmt *st = NULL;
        cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
        cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
        int n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        cr_assert_eq(n, 1, "acknowledged message m-%d is stored %d times", i, n);
    }
    sqlite3_close(h);
    ct_test_daemon_finish(&g_d);
}
