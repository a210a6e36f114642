/*
 * The metrics endpoint (see metrics.h).
 */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "audit_actions.h"
#include "buf.h"
#include "config.h"
#include "err.h"
#include "log.h"

#define REQUEST_MAX 4096       /* bytes of request we read before answering */
#define SCRAPE_TIMEOUT_MS 5000 /* a scrape that takes longer is closed */
#define SCRAPES_MAX 8          /* concurrent scrapes; more are closed at once */

struct ct_metrics {
    uv_tcp_t listener;
    ct_metrics_sources_t src;
    size_t scrapes;
    bool closing;
    int handles; /* open handles: the listener and the scrapes' sockets and timers */
};

typedef struct scrape {
    uv_tcp_t sock;
    uv_timer_t timer;
    ct_metrics_t *m;
    char req[REQUEST_MAX];
    size_t req_len;
    bool answered;
    bool reading_alerts; /* a read is on the pool: the scrape lives until it returns */
    int handles;
    int64_t alerts_open, alerts_escalated; /* -1: could not read */
    ct_buf_t out;
    uv_write_t wr;
} scrape_t;

static void maybe_free(ct_metrics_t *m)
{
    if (m->closing && m->handles == 0 && m->scrapes == 0)
        free(m);
}

static void on_listener_closed(uv_handle_t *h)
{
    ct_metrics_t *m = h->data;
    m->handles--;
    maybe_free(m);
}

static void on_scrape_handle_closed(uv_handle_t *h)
{
    scrape_t *s = h->data;
    if (--s->handles > 0 || s->reading_alerts)
        return;
    ct_metrics_t *m = s->m;
    ct_buf_free(&s->out);
    free(s);
    m->scrapes--;
    maybe_free(m);
}

static void scrape_close(scrape_t *s)
{
    if (!uv_is_closing((uv_handle_t *)&s->sock))
        uv_close((uv_handle_t *)&s->sock, on_scrape_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&s->timer))
        uv_close((uv_handle_t *)&s->timer, on_scrape_handle_closed);
}

static void on_written(uv_write_t *w, int status)
{
    (void)status;
    scrape_close(w->data);
}

static int appendf(ct_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int appendf(ct_buf_t *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return CT_EINTERNAL;
    return ct_buf_append(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static const char *const OUTCOMES[CT_AUDIT_OUTCOME_COLUMNS] = {"success", "minor_failure",
                                                               "serious_failure", "major_failure"};

/* The page. Names follow Prometheus conventions: *_total counters, base units (seconds). */
static int render(scrape_t *s, ct_buf_t *b)
{
    ct_metrics_t *m = s->m;
    ct_writer_stats_t ws;
    ct_writer_stats(m->src.writer, &ws);
    size_t rows = ct_audit_actions_count + 1;
    uint64_t *counts = calloc(rows * CT_AUDIT_OUTCOME_COLUMNS, sizeof *counts);
    if (counts == NULL)
        return CT_ENOMEM;
    ct_writer_audit_counts(m->src.writer, counts);
    int r = 0;
    r |= appendf(b,
                 "# HELP careteam_connections Open client connections.\n"
                 "# TYPE careteam_connections gauge\ncareteam_connections %zu\n",
                 m->src.connections(m->src.connections_arg));
    r |= appendf(b, "# HELP careteam_audit_records_total Committed audit records by action and "
                    "outcome: every request (allowed or refused), delivery and state change.\n"
                    "# TYPE careteam_audit_records_total counter\n");
    uint64_t acks = 0;
    for (size_t i = 0; i < rows; i++) {
        const char *action = i < ct_audit_actions_count ? ct_audit_actions[i].code : "other";
        for (size_t o = 0; o < CT_AUDIT_OUTCOME_COLUMNS; o++) {
            uint64_t n = counts[i * CT_AUDIT_OUTCOME_COLUMNS + o];
            if (n == 0)
                continue;
            r |= appendf(b,
                         "careteam_audit_records_total{action=\"%s\",outcome=\"%s\"} %" PRIu64 "\n",
                         action, OUTCOMES[o], n);
            if (o == 0 && strcmp(action, "message.send") == 0)
                acks = n;
        }
    }
    free(counts);
    r |= appendf(b,
                 "# HELP careteam_acks_total Messages acknowledged to their senders (stored "
                 "durably, first sends and resends).\n"
                 "# TYPE careteam_acks_total counter\ncareteam_acks_total %" PRIu64 "\n",
                 acks);
    r |= appendf(b,
                 "# HELP careteam_commit_batches_total Group commits (one transaction each).\n"
                 "# TYPE careteam_commit_batches_total counter\n"
                 "careteam_commit_batches_total %" PRIu64 "\n",
                 ws.batches);
    r |= appendf(b,
                 "# HELP careteam_commit_jobs_total Jobs written by those commits (batch size "
                 "= jobs / batches).\n# TYPE careteam_commit_jobs_total counter\n"
                 "careteam_commit_jobs_total %" PRIu64 "\n",
                 ws.jobs);
    r |= appendf(b,
                 "# HELP careteam_commit_failures_total Commits that failed (disk full, I/O "
                 "error): their jobs were refused UNAVAILABLE.\n"
                 "# TYPE careteam_commit_failures_total counter\n"
                 "careteam_commit_failures_total %" PRIu64 "\n",
                 ws.failed_commits);
    r |= appendf(b,
                 "# HELP careteam_commit_seconds_total Time spent in group commits, BEGIN to "
                 "durable COMMIT.\n# TYPE careteam_commit_seconds_total counter\n"
                 "careteam_commit_seconds_total %.6f\n",
                 (double)ws.commit_us_total / 1e6);
    r |= appendf(b,
                 "# HELP careteam_commit_seconds_max The longest group commit so far.\n"
                 "# TYPE careteam_commit_seconds_max gauge\ncareteam_commit_seconds_max %.6f\n",
                 (double)ws.commit_us_max / 1e6);
    r |= appendf(b,
                 "# HELP careteam_log_checkpoints_total Checkpoints of the database's "
                 "write-ahead log, run by the writer between commits.\n"
                 "# TYPE careteam_log_checkpoints_total counter\n"
                 "careteam_log_checkpoints_total %" PRIu64 "\n",
                 ws.log_checkpoints);
    r |= appendf(b,
                 "# HELP careteam_log_checkpoint_seconds_total Time the writer spent in those "
                 "checkpoints (no reply waits for one; jobs queue meanwhile).\n"
                 "# TYPE careteam_log_checkpoint_seconds_total counter\n"
                 "careteam_log_checkpoint_seconds_total %.6f\n",
                 (double)ws.log_checkpoint_us_total / 1e6);
    r |= appendf(b,
                 "# HELP careteam_writer_queue_depth Write jobs waiting for the next group "
                 "commit.\n# TYPE careteam_writer_queue_depth gauge\n"
                 "careteam_writer_queue_depth %" PRIu64 "\n",
                 ws.queued);
    if (s->alerts_open >= 0) {
        r |= appendf(b,
                     "# HELP careteam_alerts Safety alerts not yet acknowledged, by status.\n"
                     "# TYPE careteam_alerts gauge\n"
                     "careteam_alerts{status=\"open\"} %" PRId64 "\n"
                     "careteam_alerts{status=\"escalated\"} %" PRId64 "\n",
                     s->alerts_open, s->alerts_escalated);
    }
    return r != 0 ? CT_ENOMEM : 0;
}

static void answer(scrape_t *s, int status, const char *reason, const ct_buf_t *body)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     status, reason, body != NULL ? body->len : 0);
    ct_buf_reset(&s->out);
    if (ct_buf_append(&s->out, head, (size_t)n) != 0 ||
        (body != NULL && ct_buf_append(&s->out, body->data, body->len) != 0)) {
        scrape_close(s);
        return;
    }
    uv_buf_t buf = uv_buf_init((char *)s->out.data, (unsigned)s->out.len);
    s->wr.data = s;
    if (uv_write(&s->wr, (uv_stream_t *)&s->sock, &buf, 1, on_written) != 0)
        scrape_close(s);
}

static int count_alert(const ct_alert_t *a, void *arg)
{
    scrape_t *s = arg;
    if (a->status == 2) /* ALERT_STATUS_ESCALATED */
        s->alerts_escalated++;
    else
        s->alerts_open++;
    return 0;
}

static void read_alerts(ct_store_t *st, void *arg)
{
    scrape_t *s = arg;
    s->alerts_open = s->alerts_escalated = 0;
    if (ct_store_alert_list(st, NULL, true, 0, count_alert, s) < 0)
        s->alerts_open = s->alerts_escalated = -1;
}

static void alerts_read(void *arg)
{
    scrape_t *s = arg;
    s->reading_alerts = false;
    if (s->handles == 0) { /* closed meanwhile (timeout, or the daemon stopping) */
        s->handles = 1;    /* let the common path free it */
        on_scrape_handle_closed((uv_handle_t *)&s->sock);
        return;
    }
    ct_buf_t body = CT_BUF_INIT;
    if (render(s, &body) == 0)
        answer(s, 200, "OK", &body);
    else
        scrape_close(s);
    ct_buf_free(&body);
}

static void on_request(scrape_t *s)
{
    s->answered = true;
    uv_read_stop((uv_stream_t *)&s->sock);
    if (strncmp(s->req, "GET /metrics ", 13) != 0 && strncmp(s->req, "GET /metrics?", 13) != 0) {
        ct_buf_t body = CT_BUF_INIT;
        (void)ct_buf_append(&body, "not found; the metrics are at /metrics\n", 39);
        answer(s, 404, "Not Found", &body);
        ct_buf_free(&body);
        return;
    }
    s->reading_alerts = true;
    if (ct_readers_submit(s->m->src.readers, read_alerts, alerts_read, s) != 0) {
        s->reading_alerts = false;
        s->alerts_open = s->alerts_escalated = -1;
        alerts_read(s);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    scrape_t *s = h->data;
    buf->base = s->req + s->req_len;
    buf->len = sizeof s->req - 1 - s->req_len;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    scrape_t *s = st->data;
    if (n < 0 || s->answered) {
        if (n < 0)
            scrape_close(s);
        return;
    }
    s->req_len += (size_t)n;
    s->req[s->req_len] = '\0';
    if (strstr(s->req, "\r\n\r\n") != NULL || strstr(s->req, "\n\n") != NULL)
        on_request(s);
    else if (s->req_len == sizeof s->req - 1)
        scrape_close(s); /* a request this large is not a scrape */
}

static void on_timeout(uv_timer_t *t)
{
    scrape_close(t->data);
}

static void on_connection(uv_stream_t *server, int status)
{
    ct_metrics_t *m = server->data;
    if (status != 0 || m->closing)
        return;
    scrape_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return;
    s->m = m;
    uv_tcp_init(server->loop, &s->sock);
    uv_timer_init(server->loop, &s->timer);
    s->sock.data = s->timer.data = s;
    s->handles = 2;
    m->scrapes++;
    if (uv_accept(server, (uv_stream_t *)&s->sock) != 0 || m->scrapes > SCRAPES_MAX) {
        scrape_close(s);
        return;
    }
    uv_timer_start(&s->timer, on_timeout, SCRAPE_TIMEOUT_MS, 0);
    if (uv_read_start((uv_stream_t *)&s->sock, on_alloc, on_read) != 0)
        scrape_close(s);
}

int ct_metrics_start(uv_loop_t *loop, const char *listen, const ct_metrics_sources_t *src,
                     ct_metrics_t **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    char host[256];
    int port = 0;
    if (ct_config_split_hostport(listen, host, sizeof host, &port) != 0 ||
        !ct_addr_is_loopback(host))
        return ct_errf(errbuf, errlen, CT_EINVAL,
                       "metrics_listen '%s' must be a loopback address such as 127.0.0.1:9464",
                       listen);
    const char *ip = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    struct sockaddr_storage sa;
    if (uv_ip4_addr(ip, port, (struct sockaddr_in *)&sa) != 0 &&
        uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&sa) != 0)
        return ct_errf(errbuf, errlen, CT_EINVAL, "metrics_listen '%s' is not an address", listen);
    ct_metrics_t *m = calloc(1, sizeof *m);
    if (m == NULL)
        return CT_ENOMEM;
    m->src = *src;
    uv_tcp_init(loop, &m->listener);
    m->listener.data = m;
    m->handles = 1;
    int rc = uv_tcp_bind(&m->listener, (const struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&m->listener, 16, on_connection);
    if (rc != 0) {
        m->closing = true;
        uv_close((uv_handle_t *)&m->listener, on_listener_closed);
        return ct_errf(errbuf, errlen, CT_ESYS, "cannot listen for metrics on %s: %s", listen,
                       uv_strerror(rc));
    }
    ct_log_info("metrics.listening", "address=%s", listen);
    *out = m;
    return 0;
}

void ct_metrics_close(ct_metrics_t *m)
{
    if (m == NULL || m->closing)
        return;
    m->closing = true;
    uv_close((uv_handle_t *)&m->listener, on_listener_closed);
}
