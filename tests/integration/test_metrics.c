/*
 * The Prometheus metrics listener (issue 7 section 3): off unless metrics_listen names a
 * loopback address; `GET /metrics` answers the text format with connections, audit records by
 * action and outcome, acks, group-commit counters and open alerts; other paths get 404; and
 * check-config refuses a non-loopback address.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
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
