/*
 * The syslog forwarder (see syslog_fwd.h for the contract and the delivery guarantee).
 *
 * Two things move here, each with one state field: the connection to the collector (`conn`) and
 * the pipeline of batches over it (`stage`). The one timer's meaning follows from them.
 *
 *   connection:
 *
 *     DOWN --connect()--> RESOLVING --address--> CONNECTING --tcp up, TLS start--> HANDSHAKE
 *      ^                      |                      |                                 |
 *      |  timer (backoff)     | no address           | refused, deadline               | TLS ok
 *      |                      v                      v                                 v
 *      +------------------- (backoff) <------ CLOSING (wait on_close) <--- any error -- UP
 *
 *   | conn       | timer means                      | left by                                |
 *   |------------|----------------------------------|----------------------------------------|
 *   | DOWN       | backoff before the next attempt  | on_timer -> connect (or reload)        |
 *   | RESOLVING  | -                                | on_resolved                            |
 *   | CONNECTING | connect + handshake deadline     | on_connected, on_timer                 |
 *   | HANDSHAKE  | connect + handshake deadline     | on_handshake, on_timer, on_tls_close   |
 *   | UP         | (see the pipeline)               | on_tls_close                           |
 *   | CLOSING    | -                                | on_tls_close -> DOWN with backoff      |
 *
 *   pipeline (only while UP; a stage in flight when the connection drops finishes and stops):
 *
 *     IDLE --start_read--> READING --rows--> SENDING --written (on_drain)--> COMMITTING
 *       ^                    | none                                              |
 *       +--------------------+------------------ cursor job done ---------------+
 *
 *   While UP the timer is the idle poll in IDLE and the write deadline in SENDING.
 *
 * Invariants:
 *  1. At most one batch exists (`batch`, or the one a read or the cursor job holds), so memory
 *     is bounded by CT_SYSLOG_BATCH rows whatever the collector does.
 *  2. `cursor` (where the next read starts) only moves forward while a connection lasts; it moves
 *     back only in lost_connection, to resend a batch the collector may not have read. The stored
 *     cursor only moves forward (ct_store_forward_cursor_set).
 *  3. A read or cursor job that completes for an older connection (`gen` differs) or after stop
 *     changes nothing but `stage`.
 *  4. Nothing of an audit record reaches the log: connection events only.
 */
#include "syslog_fwd.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "err.h"
#include "ids.h"
#include "log.h"
#include "role.h"
#include "tls.h"
#include "text.h"

typedef enum conn_state {
    CONN_DOWN = 0,
    CONN_RESOLVING,
    CONN_CONNECTING,
    CONN_HANDSHAKE,
    CONN_UP,
    CONN_CLOSING,
} conn_state_t;

typedef enum stage {
    STAGE_IDLE = 0,
    STAGE_LOADING, /* reading the stored cursor at start (before any connection is used) */
    STAGE_READING,
    STAGE_SENDING,
    STAGE_COMMITTING,
} stage_t;

/* One batch: what a pool thread read and formatted. Owned by the read request, then by `batch`
 * while its bytes are written; freed when they are (or when it is dropped). */
typedef struct batch {
    ct_syslog_fwd_t *fwd;
    bool load_cursor;  /* read the stored cursor (into last_seq) instead of rows */
    uint64_t gen;      /* the connection it was read for */
    int64_t after_seq; /* read rows with seq > after_seq */
    int64_t first_seq, last_seq;
    int n;
    int err;
    ct_buf_t out; /* the framed messages */
} batch_t;

/* The cursor job: advances the stored cursor to seq on the writer thread. */
typedef struct cursor_job {
    ct_job_t job; /* first: the writer frees nothing of ours, done does */
    ct_syslog_fwd_t *fwd;
    int64_t seq;
} cursor_job_t;

struct ct_syslog_fwd {
    uv_loop_t *loop;
    ct_writer_t *writer;   /* borrowed */
    ct_readers_t *readers; /* borrowed */
    ct_tls_ctx_t *tls_ctx; /* owned; replaced on reload */
    char host[256];
    char port[8];
    char addr[300];                       /* "HOST:PORT", for logs */
    char ca[4096], cert[4096], key[4096]; /* resolved paths, for reloads */
    ct_syslog_fmt_t fmt;                  /* read by pool threads; never changed after start */

    conn_state_t conn;
    stage_t stage;
    bool pending;             /* rows may have been added since the current read began */
    bool stopping;            /* ct_syslog_fwd_stop was called */
    uint64_t gen;             /* bumped when a connection ends */
    int64_t cursor;           /* the next read is of rows after this seq */
    int64_t stored;           /* the newest cursor value the store has confirmed */
    int64_t last_first_seq;   /* first seq of the batch written last */
    uint64_t last_written_ms; /* when it was written (uv_now); 0: none on this connection */
    uint32_t backoff_ms;
    bool tls_open;  /* tls is initialised and its on_close has not run yet */
    bool wrote_any; /* a batch was written on this connection (then backoff restarts) */
    bool was_up;    /* this connection completed its handshake (for the log when it ends) */
    char why[160];  /* why the connection ended, for the log */

    batch_t *batch; /* the batch being written (SENDING), else NULL */
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    uv_connect_t connect_req;
    ct_tls_t tls;
};

static void connect_now(ct_syslog_fwd_t *f);
static void start_read(ct_syslog_fwd_t *f);

/* ---- formatting (pool thread) ------------------------------------------------------------- */

/* Appends a printf result to b. Returns 0 or CT_ENOMEM. */
static int buf_printf(ct_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int buf_printf(ct_buf_t *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return CT_EINTERNAL; /* every caller's text is short */
    return ct_buf_append(b, tmp, (size_t)n);
}

/* RFC 5424 severity of an audit outcome (ct_audit_outcome_t). */
static int severity_of(int64_t outcome)
{
    switch (outcome) {
    case CT_AUDIT_SUCCESS:
        return 6; /* informational */
    case CT_AUDIT_MINOR_FAILURE:
        return 4; /* warning */
    case CT_AUDIT_SERIOUS_FAILURE:
        return 3; /* error */
    case CT_AUDIT_MAJOR_FAILURE:
        return 2; /* critical */
    default:
        return 3;
    }
}

/* Appends t as a header field: printable US-ASCII (33..126) only, at most max bytes; anything
 * else becomes '_'; empty becomes the NILVALUE "-". */
static int put_header_field(ct_buf_t *b, ct_audit_text_t t, size_t max)
{
    if (t.len == 0)
        return ct_buf_append(b, "-", 1);
    size_t n = t.len < max ? t.len : max;
    int r = ct_buf_reserve(b, n);
    for (size_t i = 0; r == 0 && i < n; i++) {
        unsigned char c = (unsigned char)t.ptr[i];
        b->data[b->len++] = c >= 33 && c <= 126 ? c : '_';
    }
    return r;
}

/*
 * Appends t as an SD-PARAM value (RFC 5424 6.3.3): '"', '\' and ']' are escaped with '\'. The
 * value must be UTF-8: text that is not has each byte above 0x7f replaced by '?'.
 */
static int put_param_value(ct_buf_t *b, ct_audit_text_t t)
{
    bool utf8 = ct_utf8_valid(t.ptr != NULL ? t.ptr : "", t.len);
    int r = ct_buf_reserve(b, 2 * t.len);
    for (size_t i = 0; r == 0 && i < t.len; i++) {
        unsigned char c = (unsigned char)t.ptr[i];
        if (c == '"' || c == '\\' || c == ']')
            b->data[b->len++] = '\\';
        b->data[b->len++] = !utf8 && c > 0x7f ? '?' : c;
    }
    return r;
}

static int put_param(ct_buf_t *b, const char *name, ct_audit_text_t value)
{
    int r = buf_printf(b, " %s=\"", name);
    if (r == 0)
        r = put_param_value(b, value);
    if (r == 0)
        r = ct_buf_append(b, "\"", 1);
    return r;
}

/* Appends the RFC 3339 UTC time of ms with milliseconds ("2024-05-01T12:00:00.123Z"). */
static int put_timestamp(ct_buf_t *b, int64_t ms)
{
    struct tm tm;
    time_t t = (time_t)(ms / 1000);
    if (ms < 0 || gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999)
        return ct_buf_append(b, "-", 1);
    return buf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* Appends MSG: the detail, with a BOM when it is UTF-8 beyond ASCII (RFC 5424 6.4); bytes of
 * text that is not UTF-8 become '?'. */
static int put_msg(ct_buf_t *b, ct_audit_text_t t)
{
    bool ascii = true;
    for (size_t i = 0; i < t.len; i++)
        ascii = ascii && (unsigned char)t.ptr[i] <= 0x7f;
    bool utf8 = ascii || ct_utf8_valid(t.ptr, t.len);
    int r = ct_buf_append(b, " ", 1);
    if (r == 0 && !ascii && utf8)
        r = ct_buf_append(b, "\xEF\xBB\xBF", 3);
    if (r == 0)
        r = ct_buf_reserve(b, t.len);
    for (size_t i = 0; r == 0 && i < t.len; i++) {
        unsigned char c = (unsigned char)t.ptr[i];
        b->data[b->len++] = !utf8 && c > 0x7f ? '?' : c;
    }
    return r;
}

/* Appends the RFC 5424 message of row (without framing) to m. */
static int format_message(const ct_syslog_fmt_t *f, const ct_audit_stored_t *s, ct_buf_t *m)
{
    const ct_audit_row_t *row = &s->row;
    char hex[2 * CT_AUDIT_HASH_LEN + 1] = "";
    if (s->chain != NULL && s->chain_len == CT_AUDIT_HASH_LEN)
        ct_audit_chain_hex(s->chain, hex);
    char seq[24], outcome[24];
    snprintf(seq, sizeof seq, "%lld", (long long)row->seq);
    snprintf(outcome, sizeof outcome, "%lld", (long long)row->outcome);

    int r = buf_printf(m, "<%d>1 ", f->facility * 8 + severity_of(row->outcome));
    if (r == 0)
        r = put_timestamp(m, row->time_ms);
    if (r == 0)
        r = buf_printf(m, " %s %s %s ", f->hostname, f->app_name, f->procid);
    if (r == 0)
        r = put_header_field(m, row->action, 32); /* MSGID */
    if (r == 0)
        r = ct_buf_append(m, " [careteam@32473", 16);
    if (r == 0)
        r = put_param(m, "seq", ct_audit_text(seq));
    if (r == 0)
        r = put_param(m, "action", row->action);
    if (r == 0)
        r = put_param(m, "actor", row->actor_id);
    if (r == 0)
        r = put_param(m, "role", ct_audit_text(ct_role_name((ct_role_t)row->actor_role)));
    if (r == 0)
        r = put_param(m, "cert_fp", row->cert_fp);
    if (r == 0)
        r = put_param(m, "peer", row->peer_addr);
    if (r == 0)
        r = put_param(m, "object_type", row->object_type);
    if (r == 0)
        r = put_param(m, "object_id", row->object_id);
    if (r == 0)
        r = put_param(m, "participant", row->participant_id);
    if (r == 0)
        r = put_param(m, "outcome", ct_audit_text(outcome));
    if (r == 0)
        r = put_param(m, "chain", ct_audit_text(hex));
    if (r == 0)
        r = ct_buf_append(m, "]", 1);
    if (r == 0 && row->detail.len > 0)
        r = put_msg(m, row->detail);
    return r;
}

int ct_syslog_format(const ct_syslog_fmt_t *f, const ct_audit_stored_t *row, ct_buf_t *out)
{
    ct_buf_t m = {0};
    int r = format_message(f, row, &m);
    if (r == 0)
        r = buf_printf(out, "%zu ", m.len);
    if (r == 0)
        r = ct_buf_append(out, m.data, m.len);
    ct_buf_free(&m);
    return r;
}

/* ---- reading a batch (pool thread, then loop) --------------------------------------------- */

static int add_row(const ct_audit_stored_t *row, void *arg)
{
    batch_t *b = arg;
    int r = ct_syslog_format(&b->fwd->fmt, row, &b->out);
    if (r != 0)
        return r;
    if (b->n == 0)
        b->first_seq = row->row.seq;
    b->last_seq = row->row.seq;
    b->n++;
    return 0;
}

/* Pool thread: the stored cursor (at start), or the next rows after after_seq. */
static void read_work(ct_store_t *st, void *arg)
{
    batch_t *b = arg;
    if (b->load_cursor)
        b->err = ct_store_forward_cursor_get(st, CT_SYSLOG_CURSOR, &b->last_seq);
    else
        b->err = ct_store_audit_after(st, b->after_seq, CT_SYSLOG_BATCH, add_row, b);
}

static void batch_free(batch_t *b)
{
    if (b != NULL) {
        ct_buf_free(&b->out);
        free(b);
    }
}

static void arm_timer(ct_syslog_fwd_t *f, uint64_t ms, uv_timer_cb cb)
{
    if (!f->stopping)
        uv_timer_start(&f->timer, cb, ms, 0);
}

static void on_poll(uv_timer_t *t)
{
    ct_syslog_fwd_t *f = t->data;
    f->pending = true;
    start_read(f);
}

static void on_write_deadline(uv_timer_t *t)
{
    ct_syslog_fwd_t *f = t->data;
    if (f->conn == CONN_UP && f->stage == STAGE_SENDING) {
        snprintf(f->why, sizeof f->why, "collector not reading (write took over %d ms)",
                 CT_SYSLOG_WRITE_TIMEOUT_MS);
        f->conn = CONN_CLOSING;
        ct_tls_close(&f->tls, false);
    }
}

/* Loop thread: the read finished. Writes the batch if the connection it was read for is up. */
static void read_done(void *arg)
{
    batch_t *b = arg;
    ct_syslog_fwd_t *f = b->fwd;
    if (b->load_cursor) {
        f->stage = STAGE_IDLE;
        if (b->err != 0)
            ct_log_warn("syslog.cursor_unreadable", "code=%s resume_after=0", ct_errname(b->err));
        else
            f->cursor = f->stored = b->last_seq;
        batch_free(b);
        if (!f->stopping)
            connect_now(f);
        return;
    }
    f->stage = STAGE_IDLE;
    if (f->stopping || b->gen != f->gen || f->conn != CONN_UP) {
        batch_free(b); /* invariant 3: read again on the next connection */
        return;
    }
    if (b->err != 0) {
        ct_log_warn("syslog.read_failed", "code=%s retry_ms=%d", ct_errname(b->err),
                    CT_SYSLOG_POLL_MS);
        batch_free(b);
        arm_timer(f, CT_SYSLOG_POLL_MS, on_poll);
        return;
    }
    if (b->n == 0) {
        batch_free(b);
        if (f->pending)
            start_read(f);
        else
            arm_timer(f, CT_SYSLOG_POLL_MS, on_poll);
        return;
    }
    int r = ct_tls_write(&f->tls, b->out.data, b->out.len);
    ct_buf_free(&b->out); /* the ciphertext is queued: the plaintext is not needed again */
    if (r != 0) {
        /* The connection is failing; on_tls_close follows and the batch is read again later. */
        batch_free(b);
        return;
    }
    if (b->n == CT_SYSLOG_BATCH)
        f->pending = true; /* a full batch: there may be more */
    f->batch = b;
    f->stage = STAGE_SENDING;
    arm_timer(f, CT_SYSLOG_WRITE_TIMEOUT_MS, on_write_deadline);
}

/* Reads the next batch if the connection is up and nothing is in flight. */
static void start_read(ct_syslog_fwd_t *f)
{
    if (f->stopping || f->conn != CONN_UP || f->stage != STAGE_IDLE)
        return;
    uv_timer_stop(&f->timer);
    batch_t *b = calloc(1, sizeof *b);
    if (b == NULL) {
        arm_timer(f, CT_SYSLOG_POLL_MS, on_poll);
        return;
    }
    b->fwd = f;
    b->gen = f->gen;
    b->after_seq = f->cursor;
    f->pending = false;
    f->stage = STAGE_READING;
    if (ct_readers_submit(f->readers, read_work, read_done, b) != 0) {
        f->stage = STAGE_IDLE;
        batch_free(b);
        arm_timer(f, CT_SYSLOG_POLL_MS, on_poll);
    }
}

/* The writer's hook: rows were committed. Cheap: note it, and read if idle. */
static void on_audit_committed(void *arg)
{
    ct_syslog_fwd_t *f = arg;
    f->pending = true;
    start_read(f);
}

/* ---- the cursor job (writer thread, then loop) -------------------------------------------- */

static int cursor_apply(ct_job_t *job, ct_store_t *st, const ct_writer_env_t *env)
{
    cursor_job_t *c = (cursor_job_t *)job;
    return ct_store_forward_cursor_set(st, CT_SYSLOG_CURSOR, c->seq, env->now_ms);
}

static void cursor_done(ct_job_t *job)
{
    cursor_job_t *c = (cursor_job_t *)job;
    ct_syslog_fwd_t *f = c->fwd;
    if (job->result == 0) {
        if (c->seq > f->stored)
            f->stored = c->seq;
    } else {
        /* The next batch's job stores a later value; until then a restart resends this one. */
        ct_log_warn("syslog.cursor_not_stored", "code=%s", ct_errname(job->result));
    }
    free(c);
    if (f->stage == STAGE_COMMITTING)
        f->stage = STAGE_IDLE;
    if (f->pending)
        start_read(f);
    else
        arm_timer(f, CT_SYSLOG_POLL_MS, on_poll);
}

/* ---- the connection (loop) ---------------------------------------------------------------- */

static void on_tls_handshake(ct_tls_t *t)
{
    ct_syslog_fwd_t *f = (ct_syslog_fwd_t *)((char *)t - offsetof(ct_syslog_fwd_t, tls));
    uv_timer_stop(&f->timer);
    f->conn = CONN_UP;
    f->was_up = true;
    f->wrote_any = false;
    f->last_written_ms = 0;
    ct_log_info("syslog.connected", "collector=%s resume_after=%lld", f->addr,
                (long long)f->cursor);
    f->pending = true;
    start_read(f);
}

/* The collector sends nothing in RFC 5425; whatever comes is ignored. */
static void on_tls_read(ct_tls_t *t, const uint8_t *data, size_t len)
{
    (void)t;
    (void)data;
    (void)len;
}

/* Everything queued reached the socket: the batch is written, so the cursor may move. */
static void on_tls_drain(ct_tls_t *t)
{
    ct_syslog_fwd_t *f = (ct_syslog_fwd_t *)((char *)t - offsetof(ct_syslog_fwd_t, tls));
    if (f->stage != STAGE_SENDING || f->batch == NULL)
        return;
    batch_t *b = f->batch;
    f->batch = NULL;
    uv_timer_stop(&f->timer);
    f->cursor = b->last_seq;
    f->last_first_seq = b->first_seq;
    f->last_written_ms = uv_now(f->loop);
    if (!f->wrote_any) {
        f->wrote_any = true;
        f->backoff_ms = CT_SYSLOG_BACKOFF_MIN_MS; /* the collector takes our records */
    }
    batch_free(b);
    cursor_job_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        f->stage = STAGE_IDLE; /* the next batch's job stores the cursor */
        arm_timer(f, CT_SYSLOG_POLL_MS, on_poll);
        return;
    }
    c->fwd = f;
    c->seq = f->cursor;
    c->job.apply = cursor_apply;
    c->job.done = cursor_done;
    f->stage = STAGE_COMMITTING;
    ct_writer_submit(f->writer, &c->job);
}

static void on_tls_error(ct_tls_t *t, int err, const char *why)
{
    ct_syslog_fwd_t *f = (ct_syslog_fwd_t *)((char *)t - offsetof(ct_syslog_fwd_t, tls));
    snprintf(f->why, sizeof f->why, "%s (%s)", why, ct_errname(err));
}

static void on_backoff(uv_timer_t *t)
{
    connect_now(t->data);
}

/* The connection is gone, or an attempt failed before it had a socket: drops what was being
 * written, maybe rewinds to resend the last batch, and retries after the backoff. */
static void connection_ended(ct_syslog_fwd_t *f)
{
    bool was_up = f->was_up;
    f->was_up = false;
    f->tls_open = false;
    f->gen++;
    uv_timer_stop(&f->timer);
    if (f->batch != NULL) {
        batch_free(f->batch); /* not fully written: read again from the cursor */
        f->batch = NULL;
        f->stage = STAGE_IDLE;
    }
    if (f->last_written_ms != 0 &&
        uv_now(f->loop) - f->last_written_ms < CT_SYSLOG_RESEND_WINDOW_MS &&
        f->last_first_seq - 1 < f->cursor) {
        f->cursor = f->last_first_seq - 1; /* invariant 2: the collector may not have read it */
    }
    f->last_written_ms = 0;
    f->conn = CONN_DOWN;
    if (f->stopping) {
        ct_log_info("syslog.disconnected", "collector=%s reason=stopping", f->addr);
        return;
    }
    if (f->why[0] == '\0')
        snprintf(f->why, sizeof f->why, "connection closed");
    ct_log_warn(was_up ? "syslog.disconnected" : "syslog.connect_failed",
                "collector=%s reason=\"%s\" retry_ms=%u", f->addr, f->why, f->backoff_ms);
    f->why[0] = '\0';
    arm_timer(f, f->backoff_ms, on_backoff);
    f->backoff_ms = f->backoff_ms >= CT_SYSLOG_BACKOFF_MAX_MS / 2 ? CT_SYSLOG_BACKOFF_MAX_MS
                                                                  : f->backoff_ms * 2;
}

/* The socket is closed: the last callback of this connection. */
static void on_tls_close(ct_tls_t *t)
{
    connection_ended((ct_syslog_fwd_t *)((char *)t - offsetof(ct_syslog_fwd_t, tls)));
}

static const ct_tls_callbacks_t tls_callbacks = {
    .on_handshake = on_tls_handshake,
    .on_read = on_tls_read,
    .on_drain = on_tls_drain,
    .on_error = on_tls_error,
    .on_close = on_tls_close,
};

static void on_connect_deadline(uv_timer_t *t)
{
    ct_syslog_fwd_t *f = t->data;
    if (f->conn == CONN_CONNECTING || f->conn == CONN_HANDSHAKE) {
        snprintf(f->why, sizeof f->why, "no TLS session within %d ms",
                 CT_SYSLOG_CONNECT_TIMEOUT_MS);
        f->conn = CONN_CLOSING;
        ct_tls_close(&f->tls, false);
    }
}

static void on_connected(uv_connect_t *req, int status)
{
    ct_syslog_fwd_t *f = req->data;
    if (status == UV_ECANCELED || f->conn != CONN_CONNECTING)
        return; /* closed meanwhile (stop, deadline): on_tls_close does the rest */
    int r = status;
    if (r == 0) {
        f->conn = CONN_HANDSHAKE;
        r = ct_tls_start(&f->tls);
        if (r != 0)
            snprintf(f->why, sizeof f->why, "cannot start TLS (%s)", ct_errname(r));
    } else {
        snprintf(f->why, sizeof f->why, "connect: %s", uv_strerror(status));
    }
    if (r != 0) {
        f->conn = CONN_CLOSING;
        ct_tls_close(&f->tls, false);
    }
}

/* Starts TCP and TLS towards the resolved address. */
static void open_tls(ct_syslog_fwd_t *f, const struct sockaddr *sa)
{
    int r = ct_tls_init(&f->tls, f->loop, f->tls_ctx, false, &tls_callbacks);
    if (r != 0) {
        snprintf(f->why, sizeof f->why, "cannot set up TLS (%s)", ct_errname(r));
        connection_ended(f); /* nothing was opened */
        return;
    }
    f->tls_open = true;
    f->tls.tcp.data = f;
    f->connect_req.data = f;
    f->conn = CONN_CONNECTING;
    arm_timer(f, CT_SYSLOG_CONNECT_TIMEOUT_MS, on_connect_deadline);
    r = ct_tls_set_hostname(&f->tls, f->host);
    if (r == 0)
        r = uv_tcp_connect(&f->connect_req, &f->tls.tcp, sa, on_connected);
    if (r != 0) {
        snprintf(f->why, sizeof f->why, "connect: %s",
                 r == CT_EINVAL ? "bad collector name" : uv_strerror(r));
        f->conn = CONN_CLOSING;
        ct_tls_close(&f->tls, false);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    ct_syslog_fwd_t *f = req->data;
    if (f->stopping) {
        f->conn = CONN_DOWN;
        uv_freeaddrinfo(res);
        return;
    }
    if (status != 0 || res == NULL) {
        snprintf(f->why, sizeof f->why, "cannot resolve %s: %s", f->host,
                 status != 0 ? uv_strerror(status) : "no address");
        uv_freeaddrinfo(res);
        connection_ended(f); /* no socket yet */
        return;
    }
    struct sockaddr_storage ss;
    memcpy(&ss, res->ai_addr, res->ai_addrlen);
    uv_freeaddrinfo(res);
    open_tls(f, (struct sockaddr *)&ss);
}

/* DOWN -> RESOLVING: resolves the collector's name each time, so a changed address is used. */
static void connect_now(ct_syslog_fwd_t *f)
{
    if (f->stopping || f->conn != CONN_DOWN || f->stage == STAGE_LOADING)
        return;
    uv_timer_stop(&f->timer);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    f->gai.data = f;
    f->conn = CONN_RESOLVING;
    int r = uv_getaddrinfo(f->loop, &f->gai, on_resolved, f->host, f->port, &hints);
    if (r != 0) {
        snprintf(f->why, sizeof f->why, "cannot resolve %s: %s", f->host, uv_strerror(r));
        connection_ended(f);
    }
}

/* ---- start, reload, stop ------------------------------------------------------------------ */

/* A setting's file: absolute as given, otherwise inside the data directory. */
static int resolve_path(char *out, size_t len, const char *dir, const char *path)
{
    if (path[0] == '/') {
        int n = snprintf(out, len, "%s", path);
        return n < 0 || (size_t)n >= len ? CT_EINVAL : 0;
    }
    return ct_dir_path(out, len, dir, path);
}

static int load_tls(ct_syslog_fwd_t *f, ct_tls_ctx_t **out, char *err, size_t errlen)
{
    return ct_tls_ctx_new_collector(f->cert[0] != '\0' ? f->cert : NULL, f->key, f->ca, out, err,
                                    errlen);
}

/* The host's name as an RFC 5424 HOSTNAME (printable US-ASCII), or "-". */
static void host_name(char *out, size_t len)
{
    char h[256] = "";
    if (gethostname(h, sizeof h - 1) != 0 || h[0] == '\0') {
        snprintf(out, len, "-");
        return;
    }
    ct_buf_t b = {0};
    if (put_header_field(&b, ct_audit_text(h), 255) == 0)
        snprintf(out, len, "%.*s", (int)b.len, (const char *)b.data);
    else
        snprintf(out, len, "-");
    ct_buf_free(&b);
}

int ct_syslog_fwd_start(uv_loop_t *loop, const ct_config_t *cfg, const char *dir,
                        ct_writer_t *writer, ct_readers_t *readers, ct_syslog_fwd_t **out,
                        char *errbuf, size_t errlen)
{
    *out = NULL;
    if (cfg->syslog_forward[0] == '\0')
        return 0;
    if (cfg->syslog_ca[0] == '\0')
        return ct_errf(errbuf, errlen, CT_EINVAL,
                       "syslog_forward is set but syslog_ca is not: the collector's certificate "
                       "must be verified against a CA file");
    if ((cfg->syslog_cert[0] == '\0') != (cfg->syslog_key[0] == '\0'))
        return ct_errf(errbuf, errlen, CT_EINVAL,
                       "syslog_cert and syslog_key go together: set both for mutual TLS, or "
                       "neither");
    int facility = ct_config_syslog_facility(cfg->syslog_facility);
    if (facility < 0)
        return ct_errf(errbuf, errlen, CT_EINVAL, "unknown syslog_facility \"%s\"",
                       cfg->syslog_facility);
    ct_syslog_fwd_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        return ct_errf(errbuf, errlen, CT_ENOMEM, "out of memory");
    int port = 0;
    if (ct_config_split_hostport(cfg->syslog_forward, f->host, sizeof f->host, &port) != 0 ||
        resolve_path(f->ca, sizeof f->ca, dir, cfg->syslog_ca) != 0 ||
        (cfg->syslog_cert[0] != '\0' &&
         (resolve_path(f->cert, sizeof f->cert, dir, cfg->syslog_cert) != 0 ||
          resolve_path(f->key, sizeof f->key, dir, cfg->syslog_key) != 0))) {
        free(f);
        return ct_errf(errbuf, errlen, CT_EINVAL, "syslog_forward: bad address or path");
    }
    snprintf(f->port, sizeof f->port, "%d", port);
    ct_text_copy(f->addr, sizeof f->addr, cfg->syslog_forward);
    char err[512];
    int r = load_tls(f, &f->tls_ctx, err, sizeof err);
    if (r != 0) {
        free(f);
        return ct_errf(errbuf, errlen, r, "syslog_forward: %s", err);
    }
    f->fmt.facility = facility;
    host_name(f->fmt.hostname, sizeof f->fmt.hostname);
    ct_text_copy(f->fmt.app_name, sizeof f->fmt.app_name, cfg->syslog_app_name);
    snprintf(f->fmt.procid, sizeof f->fmt.procid, "%ld", (long)getpid());
    f->loop = loop;
    f->writer = writer;
    f->readers = readers;
    f->backoff_ms = CT_SYSLOG_BACKOFF_MIN_MS;
    /* First the stored cursor, off the loop; read_done (after this returns) then connects. */
    batch_t *b = calloc(1, sizeof *b);
    if (b != NULL) {
        b->fwd = f;
        b->load_cursor = true;
        if (ct_readers_submit(readers, read_work, read_done, b) != 0) {
            batch_free(b);
            b = NULL;
        }
    }
    if (b == NULL) {
        ct_tls_ctx_free(f->tls_ctx);
        free(f);
        return ct_errf(errbuf, errlen, CT_ENOMEM, "syslog_forward: cannot start");
    }
    f->stage = STAGE_LOADING;
    uv_timer_init(loop, &f->timer);
    f->timer.data = f;
    ct_writer_on_audit(writer, on_audit_committed, f);
    ct_log_info("syslog.forwarding", "collector=%s mutual_tls=%s", f->addr,
                f->cert[0] != '\0' ? "yes" : "no");
    *out = f;
    return 0;
}

void ct_syslog_fwd_reload(ct_syslog_fwd_t *f)
{
    if (f == NULL || f->stopping)
        return;
    char err[512];
    ct_tls_ctx_t *fresh = NULL;
    if (load_tls(f, &fresh, err, sizeof err) != 0) {
        ct_log_error("syslog.reload_failed", "reason=\"%s\"", err);
    } else {
        /* A live connection keeps the SSL made from the old context (reference-counted). */
        ct_tls_ctx_free(f->tls_ctx);
        f->tls_ctx = fresh;
        ct_log_info("syslog.reloaded", "collector=%s", f->addr);
    }
    if (f->conn == CONN_DOWN) {
        f->backoff_ms = CT_SYSLOG_BACKOFF_MIN_MS;
        connect_now(f);
    }
}

void ct_syslog_fwd_stop(ct_syslog_fwd_t *f)
{
    if (f == NULL || f->stopping)
        return;
    f->stopping = true;
    ct_writer_on_audit(f->writer, NULL, NULL);
    uv_timer_stop(&f->timer);
    uv_close((uv_handle_t *)&f->timer, NULL);
    if (f->tls_open && f->conn != CONN_CLOSING) {
        /* With a batch half written, close at once: it is sent again next start. */
        bool graceful = f->conn == CONN_UP && f->stage != STAGE_SENDING;
        f->conn = CONN_CLOSING;
        ct_tls_close(&f->tls, graceful);
    }
    ct_log_info("syslog.stopping", "collector=%s forwarded_through=%lld", f->addr,
                (long long)f->stored);
}

void ct_syslog_fwd_free(ct_syslog_fwd_t *f)
{
    if (f == NULL)
        return;
    batch_free(f->batch);
    ct_tls_ctx_free(f->tls_ctx);
    free(f);
}
