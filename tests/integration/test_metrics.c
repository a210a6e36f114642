/*
 * The Prometheus metrics listener (issue 7 section 3): off unless metrics_listen names a
 * loopback address; `GET /metrics` answers the text format with connections, audit records by
 * action and outcome, acks, group-commit counters and open alerts; other paths get 404; and
 * check-config refuses a non-loopback address. The audit record counts are exactly the rows the
 * daemon committed, by action and outcome, whichever part of it wrote them.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "careteam.h"
#include "daemon.h"
#include "envelope.h"
#include "testsupport.h"

#define CALL_MS 5000

static ct_test_daemon_t g_d;

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

TestSuite(metrics, .init = ct_test_ignore_sigpipe, .fini = teardown, .timeout = 60);

/* A loopback port that was free a moment ago. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* One HTTP request; returns the whole response (the caller frees it). */
static char *http_get(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "metrics listener not there");
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    cr_assert_not_null(out);
    for (ssize_t r; (r = read(fd, out + len, cap - 1 - len)) > 0;)
        len += (size_t)r;
    out[len] = '\0';
    close(fd);
    return out;
}

/* The value of the sample `name` (with labels, exactly as printed), or -1 if absent. */
static double sample(const char *page, const char *name)
{
    char needle[256];
    snprintf(needle, sizeof needle, "\n%s ", name);
    const char *p = strstr(page, needle);
    return p != NULL ? strtod(p + strlen(needle), NULL) : -1;
}

Test(metrics, scrape_reports_connections_audit_commits_and_alerts)
{
    int port = free_port();
    char conf[128];
    snprintf(conf, sizeof conf, "metrics_listen = 127.0.0.1:%d", port);
    ct_test_daemon_launch(&g_d, conf);
    ct_sync_t *s = ct_test_connect(&g_d, "dr.ahmed");
    const char *to[] = {"pw.sam"};
    ct_send_args_t a = {.client_msg_id = "m-1", .to = to, .n_to = 1, .body = "hello"};
    Careteam__V1__Envelope *ack = NULL;
    cr_assert_eq(ct_sync_send_message(s, &a, CALL_MS, &ack), 0);
    cr_assert_eq(ack->body_case, CARETEAM__V1__ENVELOPE__BODY_ACK);
    ct_envelope_free(ack);
    /* Deliveries count too: m-1 by the replay, m-2 live (its row commits with the message). */
    ct_sync_t *sam = ct_test_connect(&g_d, "pw.sam");
    Careteam__V1__Envelope *push = NULL;
    cr_assert_eq(ct_sync_next_push(sam, CALL_MS, &push), 0);
    cr_assert_eq(push->body_case, CARETEAM__V1__ENVELOPE__BODY_DELIVER);
    ct_envelope_free(push);
    a.client_msg_id = "m-2";
    cr_assert_eq(ct_sync_send_message(s, &a, CALL_MS, &ack), 0);
    ct_envelope_free(ack);
    for (int i = 0; i < 2; i++) { /* ReplayComplete, then m-2's Deliver */
        cr_assert_eq(ct_sync_next_push(sam, CALL_MS, &push), 0);
        ct_envelope_free(push);
    }
    ct_test_ping(s, "dr.ahmed"); /* the records are committed before the Ping's answer */

    char *page = http_get(port, "/metrics");
    cr_assert(strncmp(page, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", page);
    cr_assert(strstr(page, "Content-Type: text/plain; version=0.0.4") != NULL);
    cr_expect_eq(sample(page, "careteam_connections"), 2, "%s", page);
    cr_expect_eq(sample(page, "careteam_acks_total"), 2, "%s", page);
    cr_expect_eq(sample(page, "careteam_audit_records_total{action=\"message.send\","
                              "outcome=\"success\"}"),
                 2, "%s", page);
    cr_expect_eq(sample(page, "careteam_audit_records_total{action=\"message.deliver\","
                              "outcome=\"success\"}"),
                 2, "%s", page);
    cr_expect_geq(sample(page, "careteam_commit_batches_total"), 2, "%s", page);
    cr_expect_geq(sample(page, "careteam_commit_jobs_total"),
                  sample(page, "careteam_commit_batches_total"));
    /* A few commits do not fill the log: reported, and zero. */
    cr_expect_eq(sample(page, "careteam_log_checkpoints_total"), 0, "%s", page);
    cr_expect_geq(sample(page, "careteam_log_checkpoint_seconds_total"), 0, "%s", page);
    cr_expect_eq(sample(page, "careteam_alerts{status=\"open\"}"), 0, "%s", page);
    cr_expect(strstr(page, "# TYPE careteam_audit_records_total counter") != NULL);
    /* No identities, ever: the page says how busy, not who. */
    cr_expect(strstr(page, "dr.ahmed") == NULL && strstr(page, "pw.sam") == NULL, "%s", page);
    free(page);

    char *other = http_get(port, "/");
    cr_expect(strncmp(other, "HTTP/1.1 404 ", 13) == 0, "%s", other);
    free(other);
    ct_sync_close(sam);
    ct_sync_close(s);
    ct_test_daemon_finish(&g_d);
    ct_test_leak_check();
}

static const char *const OUTCOME_LABELS[] = {"success", "minor_failure", "serious_failure",
                                             "major_failure"};

/* Asserts that the page's careteam_audit_records_total samples are exactly the audit rows after
 * seq `after` in the database, by action and outcome: every group of rows has its sample with
 * their number, and the samples add up to the rows (so none counts rows that are not there).
 * Returns how many groups there were. */
static int expect_counts_match_log(const char *page, long after)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/careteam.db", g_d.data);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT action, outcome, count(*) FROM audit WHERE seq > ?"
                                    " GROUP BY action, outcome",
                                    -1, &q, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_bind_int64(q, 1, after);
    int groups = 0;
    double rows = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *action = (const char *)sqlite3_column_text(q, 0);
        int outcome = sqlite3_column_int(q, 1);
        cr_assert(outcome % 4 == 0 && outcome >= 0 && outcome <= 12, "outcome %d", outcome);
        char name[160];
        snprintf(name, sizeof name, "careteam_audit_records_total{action=\"%s\",outcome=\"%s\"}",
                 action, OUTCOME_LABELS[outcome / 4]);
        cr_expect_eq(sample(page, name), sqlite3_column_int64(q, 2), "%s: %lld rows in the log\n%s",
                     name, (long long)sqlite3_column_int64(q, 2), page);
        rows += (double)sqlite3_column_int64(q, 2);
        groups++;
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    double total = 0;
    const char *key = "\ncareteam_audit_records_total{";
    for (const char *p = strstr(page, key); p != NULL; p = strstr(p + 1, key))
        total += strtod(strchr(p, '}') + 1, NULL);
    cr_expect_eq(total, rows, "the samples add up to %.0f, the log has %.0f rows", total, rows);
    return groups;
}

/* The newest audit seq in the database (the rows the admin commands wrote before the daemon). */
static long newest_seq(void)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/careteam.db", g_d.data);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT coalesce(max(seq), 0) FROM audit", -1, &q, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    long seq = (long)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return seq;
}

/* Workflow state changes (a concern's alert.open), the alert's deliveries, refusals and the
 * connections' own rows are all counted, each once: the counts are the log's. */
Test(metrics, audit_counts_are_the_committed_rows)
{
    int port = free_port();
    char conf[128];
    snprintf(conf, sizeof conf, "metrics_listen = 127.0.0.1:%d", port);
    ct_test_daemon_init(&g_d, conf);
    ct_test_daemon_care_team(&g_d, "p1", "dr.ahmed", "pw.sam", NULL);
    long before = newest_seq();
    ct_test_daemon_start(&g_d);
    ct_sync_t *dr = ct_test_connect(&g_d, "dr.ahmed");
    ct_sync_t *sam = ct_test_connect(&g_d, "pw.sam");
    Careteam__V1__Envelope *resp = NULL;
    for (int i = 0; i < 2; i++) { /* each inbox is empty: its ReplayComplete */
        cr_assert_eq(ct_sync_next_push(i == 0 ? dr : sam, CALL_MS, &resp), 0);
        ct_envelope_free(resp);
    }

    /* A concern: the request's row, the alert.open it causes, the alert's delivery. */
    Careteam__V1__RaiseConcern rc = CARETEAM__V1__RAISE_CONCERN__INIT;
    rc.participant_id = "p1";
    rc.risk = CARETEAM__V1__RISK__RISK_CONCERN;
    rc.text = "missed two sessions";
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_RAISE_CONCERN;
    env.raise_concern = &rc;
    cr_assert_eq(ct_sync_call(sam, &env, CALL_MS, &resp), 0, "%s", ct_sync_last_error(sam));
    cr_assert_neq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR, "%s",
                  ct_response_message(resp));
    ct_envelope_free(resp);
    /* A message about p1, delivered live; and one refused (no such recipient). */
    const char *to[] = {"pw.sam"};
    ct_send_args_t a = {
        .client_msg_id = "m-1", .to = to, .n_to = 1, .body = "hello", .participant_id = "p1"};
    cr_assert_eq(ct_sync_send_message(dr, &a, CALL_MS, &resp), 0);
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ACK, "%s",
                 ct_response_message(resp));
    ct_envelope_free(resp);
    const char *nobody[] = {"no.such.member"};
    ct_send_args_t bad = {.client_msg_id = "m-2", .to = nobody, .n_to = 1, .body = "hello"};
    cr_assert_eq(ct_sync_send_message(dr, &bad, CALL_MS, &resp), 0);
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR);
    ct_envelope_free(resp);
    /* The alert reached dr.ahmed and the message pw.sam. Every row above was committed before
     * the answer or push it goes with (no Ping here: its row is written after its Pong). */
    cr_assert_eq(ct_sync_next_push(dr, CALL_MS, &resp), 0);
    cr_assert_neq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR);
    ct_envelope_free(resp);
    cr_assert_eq(ct_sync_next_push(sam, CALL_MS, &resp), 0);
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_DELIVER, "%s",
                 ct_test_body_name(resp));
    ct_envelope_free(resp);

    char *page = http_get(port, "/metrics");
    cr_expect_eq(sample(page, "careteam_audit_records_total{action=\"alert.open\","
                              "outcome=\"success\"}"),
                 1, "%s", page);
    cr_expect_geq(expect_counts_match_log(page, before), 6, "too few kinds of rows to mean much");
    free(page);
    ct_sync_close(sam);
    ct_sync_close(dr);
    ct_test_daemon_finish(&g_d);
    ct_test_leak_check();
}

Test(metrics, only_loopback_addresses_are_accepted)
{
    ct_test_daemon_init(&g_d, NULL);
    char conf[4200];
    snprintf(conf, sizeof conf, "%s/careteamd.conf", g_d.data);
    FILE *f = fopen(conf, "a");
    cr_assert_not_null(f);
    fputs("metrics_listen = 0.0.0.0:9464\n", f);
    fclose(f);
    int st = ct_test_careteamd(&g_d, "check-config", g_d.data, NULL);
    cr_expect_eq(st, 1, "check-config accepted a metrics listener on every interface");
    ct_test_daemon_cleanup(&g_d);
    ct_test_leak_check();
}
