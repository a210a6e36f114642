/*
 * `careteamd serve` (see server.h).
 *
 * Threads: this file's loop thread owns sockets, TLS and connection state; the store writer
 * thread owns the read-write database handle; libuv's pool threads run reads. The loop never
 * waits on the disk.
 *
 * Shutdown (SIGTERM or SIGINT):
 *   1. stop listening and stop reading requests on every connection;
 *   2. queue the "daemon.stop" audit row behind every write already queued; when it completes,
 *      every earlier write has committed and its Ack has been queued (jobs finish in order);
 *   3. close connections gracefully (queued Acks and Delivers are written, then close_notify),
 *      aborting any still open after SHUTDOWN_GRACE_MS;
 *   4. stop the writer; the loop ends when the last handle is closed.
 */
#include "server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "alerts.h"
#include "audit.h"
#include "audit_sign.h"
#include "config.h"
#include "conn.h"
#include "datadir.h"
#include "err.h"
#include "log.h"
#include "pki.h"
#include "privdrop.h"
#include "readers.h"
#include "router.h"
#include "metrics.h"
#include "syslog_fwd.h"
#include "writer.h"

#define SHUTDOWN_GRACE_MS 3000
#define READERS 4 /* libuv's default thread pool size */

typedef struct server {
    uv_loop_t loop;
    ct_config_t cfg;
    ct_conn_env_t conns;
    uv_tcp_t listener;
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t grace;
    bool stopping;
    bool writer_stopped;
    bool failed; /* stopping because the daemon could not start properly: exit non-zero */
    const char *ready_file; /* written once the start is audited durably; NULL for none */
    const char *dir;        /* the data directory (for reloads) */
    char bound[160];        /* "HOST:PORT" actually listened on */
    ct_pki_crl_t *crl;      /* DIR/crl.pem as last read (apply_crl); NULL before there is one */
    /* Audit forwarding (syslog_forward); NULL when off. */
    ct_syslog_fwd_t *syslog;
    ct_metrics_t *metrics; /* NULL when metrics_listen is unset */
} server_t;

static void audit_daemon(server_t *srv, const char *action, ct_job_t *job)
{
    ct_audit_rec_t rec;
    ct_audit_rec_init(&rec, NULL, action);
    snprintf(rec.actor_id, sizeof rec.actor_id, "careteamd");
    snprintf(rec.peer_addr, sizeof rec.peer_addr, "local");
    ct_audit_rec_object(&rec, "daemon", srv->cfg.server_name);
    if (job != NULL) {
        job->has_audit = true;
        job->audit = rec;
        ct_writer_submit(srv->conns.handlers.writer, job);
    } else {
        (void)ct_writer_audit(srv->conns.handlers.writer, &rec);
    }
}

/* For the metrics: open client connections. */
static size_t open_connections(void *arg)
{
    const server_t *srv = arg;
    return srv->conns.n_conns;
}

static void stop_writer(server_t *srv)
{
    if (!srv->writer_stopped) {
        srv->writer_stopped = true;
        ct_writer_stop(srv->conns.handlers.writer);
    }
}

static void on_all_closed(ct_conn_env_t *env)
{
    server_t *srv = (server_t *)((char *)env - offsetof(server_t, conns));
    if (srv->stopping) {
        uv_timer_stop(&srv->grace);
        stop_writer(srv);
    }
}

static void on_grace_timeout(uv_timer_t *t)
{
    server_t *srv = t->data;
    ct_log_warn("daemon.shutdown_forced", "connections=%zu", srv->conns.n_conns);
    ct_conn_close_all(&srv->conns, true);
    stop_writer(srv);
}

/* Step 3: every write queued before the stop row is committed and answered. */
static void on_stop_committed(ct_job_t *job)
{
    server_t *srv = *(server_t **)(job + 1);
    free(job);
    ct_log_info("daemon.draining", "connections=%zu", srv->conns.n_conns);
    if (srv->conns.n_conns == 0) {
        stop_writer(srv);
        return;
    }
    ct_conn_close_all(&srv->conns, false);
    uv_timer_start(&srv->grace, on_grace_timeout, SHUTDOWN_GRACE_MS, 0);
}

static void begin_shutdown(server_t *srv, const char *signame)
{
    if (srv->stopping)
        return;
    srv->stopping = true;
    ct_log_info("daemon.stopping", "signal=%s", signame);
    uv_close((uv_handle_t *)&srv->listener, NULL);
    uv_close((uv_handle_t *)&srv->sigterm, NULL);
    uv_close((uv_handle_t *)&srv->sigint, NULL);
    uv_close((uv_handle_t *)&srv->sighup, NULL);
    ct_conn_pause_all(&srv->conns);
    ct_alerts_stop(srv->conns.handlers.alerts);
    /* Rows from here on (daemon.stop among them) are forwarded after the next start. */
    ct_syslog_fwd_stop(srv->syslog);
    ct_metrics_close(srv->metrics);
    srv->metrics = NULL;
    /* A job with room after it for the server pointer, so done can find us. */
    ct_job_t *job = calloc(1, sizeof *job + sizeof(server_t *));
    if (job == NULL) {
        ct_conn_close_all(&srv->conns, true);
        stop_writer(srv);
        return;
    }
    *(server_t **)(job + 1) = srv;
    job->done = on_stop_committed;
    audit_daemon(srv, "daemon.stop", job);
}

/*
 * Loads the TLS context from the data directory: server certificate and key, CA, and the
 * revocation list DIR/crl.pem when there is one. Returns 0 or CT_E* with errbuf set.
 */
static int load_tls(const char *dir, ct_tls_ctx_t **out, char *err, size_t errlen)
{
    char crt[4096], key[4096], ca[4096], crl[4096];
    ct_dir_path(crt, sizeof crt, dir, CT_DIR_SERVER_CRT);
    ct_dir_path(key, sizeof key, dir, CT_DIR_SERVER_KEY);
    ct_dir_path(ca, sizeof ca, dir, CT_DIR_CA_CRT);
    ct_dir_path(crl, sizeof crl, dir, CT_DIR_CRL);
    int r = ct_tls_ctx_new(true, crt, key, ca, out, err, errlen);
    if (r == 0 && access(crl, F_OK) == 0) {
        r = ct_tls_ctx_load_crl(*out, crl, err, errlen);
        if (r != 0) {
            ct_tls_ctx_free(*out);
            *out = NULL;
        }
    }
    return r;
}

static bool crl_lists(const char *serial, void *arg)
{
    const server_t *srv = arg;
    return srv->crl != NULL && ct_pki_crl_has(srv->crl, serial);
}

/*
 * Reads DIR/crl.pem (checked to be signed by DIR/ca.crt) into srv->crl, which every completing
 * handshake is checked against (conn.h, revoked), and closes the live sessions it revokes
 * (`careteamd revoke` writes the list and sends SIGHUP). Run at start and on SIGHUP, whether or
 * not the TLS reload succeeded: a session on a revoked certificate must not outlive a failed
 * reload of, say, the server key. An unreadable list keeps the previous one.
 */
static void apply_crl(server_t *srv)
{
    char crl_path[4096], ca_path[4096], err[512];
    ct_dir_path(crl_path, sizeof crl_path, srv->dir, CT_DIR_CRL);
    ct_dir_path(ca_path, sizeof ca_path, srv->dir, CT_DIR_CA_CRT);
    ct_pki_crl_t *crl = NULL;
    int r = ct_pki_crl_load(crl_path, ca_path, &crl, err, sizeof err);
    if (r == CT_ENOTFOUND)
        return;
    if (r != 0) {
        ct_log_error("daemon.crl_unreadable", "reason=\"%s\"", err);
        return;
    }
    ct_pki_crl_free(srv->crl);
    srv->crl = crl;
    srv->conns.revoked = crl_lists;
    srv->conns.revoked_arg = srv;
    size_t closed = ct_conn_close_revoked(&srv->conns);
    ct_log_info("daemon.crl_checked", "revoked=%zu sessions_closed=%zu", ct_pki_crl_count(crl),
                closed);
}

/*
 * SIGHUP, the settings: the limits that only the loop thread reads take effect at once, for live
 * connections too (a body limit on the next request, a rate limit on the next token, a timeout
 * when the timer is next started). Settings read by other threads (max_frame by the readers,
 * alert deadlines and checkpoint intervals by the writer) or bound at start (listen, user,
 * metrics, syslog) keep their values until a restart, and the log says which changed. A file that
 * does not load keeps every setting as it was.
 */
static void reload_settings(server_t *srv)
{
    char path[4096], err[512];
    ct_dir_path(path, sizeof path, srv->dir, CT_DIR_CONF);
    ct_config_t fresh;
    ct_config_defaults(&fresh);
    int r = ct_config_load(path, &fresh, err, sizeof err);
    if (r != 0 && r != CT_ENOTFOUND) {
        ct_log_error("config.reload_failed", "reason=\"%s\" kept=all", err);
        return;
    }
    ct_config_t *c = &srv->cfg;
    if (fresh.max_output < c->max_frame)
        fresh.max_output = c->max_output; /* must stay above the max_frame still in force */
    c->max_body = fresh.max_body <= c->max_frame - 4096 ? fresh.max_body : c->max_body;
    c->max_subject = fresh.max_subject;
    c->max_recipients = fresh.max_recipients;
    c->max_output = fresh.max_output;
    c->max_connections = fresh.max_connections;
    c->rate_limit = fresh.rate_limit;
    c->handshake_timeout_ms = fresh.handshake_timeout_ms;
    c->idle_timeout_ms = fresh.idle_timeout_ms;
    memcpy(c->server_name, fresh.server_name, sizeof c->server_name);
    ct_log_level_t level;
    if (ct_log_parse_level(fresh.log_level, &level) == 0) {
        memcpy(c->log_level, fresh.log_level, sizeof c->log_level);
        ct_log_set_level(level);
    }
    char later[256] = "";
    size_t used = 0;
#define LATER(cond, key)                                                                           \
    if ((cond) && used < sizeof later)                                                             \
        used += (size_t)snprintf(later + used, sizeof later - used, "%s%s", used ? "," : "", key);
    LATER(strcmp(c->listen, fresh.listen) != 0, "listen");
    LATER(c->max_frame != fresh.max_frame, "max_frame");
    LATER(c->alert_urgent_deadline_ms != fresh.alert_urgent_deadline_ms,
          "alert_urgent_deadline_ms");
    LATER(c->alert_concern_deadline_ms != fresh.alert_concern_deadline_ms,
          "alert_concern_deadline_ms");
    LATER(c->audit_checkpoint_rows != fresh.audit_checkpoint_rows, "audit_checkpoint_rows");
    LATER(c->audit_checkpoint_interval_ms != fresh.audit_checkpoint_interval_ms,
          "audit_checkpoint_interval_ms");
    LATER(strcmp(c->metrics_listen, fresh.metrics_listen) != 0, "metrics_listen");
    LATER(strcmp(c->syslog_forward, fresh.syslog_forward) != 0, "syslog_forward");
    LATER(strcmp(c->user, fresh.user) != 0, "user");
#undef LATER
    if (later[0] != '\0')
        ct_log_warn("config.restart_needed", "keys=%s", later);
    ct_log_info("config.reloaded", "max_body=%u rate_limit=%u max_connections=%u", c->max_body,
                c->rate_limit, c->max_connections);
}

/*
 * SIGHUP: new connections use freshly loaded certificates and revocation list (live ones keep
 * the context they were made with: OpenSSL counts its references), and every live session's
 * member is looked up again, so a deactivated member is disconnected. A failed reload keeps the
 * old context and says why. Sessions on a certificate that the reloaded DIR/crl.pem revokes are
 * closed (apply_crl).
 */
static void reload(server_t *srv)
{
    char err[512];
    ct_tls_ctx_t *fresh;
    ct_audit_rec_t rec;
    ct_audit_rec_init(&rec, NULL, "daemon.reload");
    snprintf(rec.actor_id, sizeof rec.actor_id, "careteamd");
    snprintf(rec.peer_addr, sizeof rec.peer_addr, "local");
    if (load_tls(srv->dir, &fresh, err, sizeof err) != 0) {
        ct_log_error("daemon.reload_failed", "reason=\"%s\"", err);
        ct_audit_rec_fail(&rec, CT_EINTERNAL, "reason=tls_material");
    } else {
        ct_tls_ctx_free(srv->conns.tls);
        srv->conns.tls = fresh;
        ct_log_info("daemon.reloaded", "tls=ok connections=%zu", srv->conns.n_conns);
    }
    reload_settings(srv);
    (void)ct_writer_audit(srv->conns.handlers.writer, &rec);
    ct_syslog_fwd_reload(srv->syslog);
    apply_crl(srv);
    ct_conn_recheck_members(&srv->conns);
}

/* Writes DIR/careteamd.pid, so that local admin commands can tell the daemon to reload. */
static void write_pid_file(server_t *srv)
{
    char path[4096];
    ct_dir_path(path, sizeof path, srv->dir, CT_DIR_PID);
    FILE *f = fopen(path, "w");
    if (f == NULL || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0)
        ct_log_warn("daemon.pid_file_failed", "path=%s reason=\"%s\"", path, strerror(errno));
}

static void remove_pid_file(server_t *srv)
{
    char path[4096];
    ct_dir_path(path, sizeof path, srv->dir, CT_DIR_PID);
    unlink(path);
}

static void on_signal(uv_signal_t *h, int signum)
{
    server_t *srv = h->data;
    if (signum == SIGHUP) {
        if (!srv->stopping)
            reload(srv);
        return;
    }
    begin_shutdown(srv, signum == SIGTERM ? "TERM" : "INT");
}

static void on_connection(uv_stream_t *listener, int status)
{
    server_t *srv = listener->data;
    if (status < 0) {
        ct_log_warn("listen.accept_failed", "reason=\"%s\"", uv_strerror(status));
        return;
    }
    int r = ct_conn_accept(&srv->conns, listener);
    if (r != 0)
        ct_log_warn("listen.accept_failed", "code=%s", ct_errname(r));
}

/* Writes "HOST:PORT\n" to path atomically (temp file + rename), for scripts and tests. */
static int write_ready_file(const char *path, const char *bound)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return CT_ESYS;
    fprintf(f, "%s\n", bound);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return CT_ESYS;
    return 0;
}

/* The "daemon.start" audit row is committed: the daemon is ready, and says so. A script or test
 * that waits for the ready file can therefore rely on the start being in the audit trail. */
static void on_start_committed(ct_job_t *job)
{
    server_t *srv = *(server_t **)(job + 1);
    int result = job->result;
    free(job);
    if (result != 0) {
        ct_log_error("daemon.start_unaudited", "code=%s", ct_errname(result));
        srv->failed = true;
        begin_shutdown(srv, "audit_failed");
        return;
    }
    if (srv->stopping)
        return;
    if (srv->ready_file != NULL && write_ready_file(srv->ready_file, srv->bound) != 0) {
        ct_log_error("daemon.ready_file_failed", "path=%s reason=\"%s\"", srv->ready_file,
                     strerror(errno));
        srv->failed = true;
        begin_shutdown(srv, "ready_file_failed");
        return;
    }
    write_pid_file(srv);
    ct_log_info("daemon.started", "addr=%s server_name=%s", srv->bound, srv->cfg.server_name);
}

static int start_listener(server_t *srv, const char *listen)
{
    char host[128];
    int port;
    uv_tcp_init(&srv->loop, &srv->listener);
    srv->listener.data = srv;
    if (ct_config_split_hostport(listen, host, sizeof host, &port) != 0) {
        fprintf(stderr, "careteamd: listen address '%s' is not HOST:PORT or [V6]:PORT\n", listen);
        return CT_EINVAL;
    }
    /* A name (e.g. "localhost") is resolved once, here, before the loop runs. */
    struct sockaddr_storage ss;
    uv_getaddrinfo_t gai;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    int gr = uv_getaddrinfo(&srv->loop, &gai, NULL, host, portstr, &hints);
    if (gr != 0 || gai.addrinfo == NULL) {
        fprintf(stderr, "careteamd: cannot resolve listen host '%s': %s\n", host, uv_strerror(gr));
        if (gr == 0)
            uv_freeaddrinfo(gai.addrinfo);
        return CT_EINVAL;
    }
    memcpy(&ss, gai.addrinfo->ai_addr, gai.addrinfo->ai_addrlen);
    uv_freeaddrinfo(gai.addrinfo);
    int r = uv_tcp_bind(&srv->listener, (struct sockaddr *)&ss, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&srv->listener, 511, on_connection);
    if (r != 0) {
        fprintf(stderr, "careteamd: cannot listen on %s: %s\n", listen, uv_strerror(r));
        return CT_ESYS;
    }
    int len = sizeof ss;
    uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &len);
    port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                         : ((struct sockaddr_in6 *)&ss)->sin6_port);
    if (strchr(host, ':') != NULL)
        snprintf(srv->bound, sizeof srv->bound, "[%s]:%d", host, port);
    else
        snprintf(srv->bound, sizeof srv->bound, "%s:%d", host, port);
    ct_log_info("daemon.listening", "addr=%s", srv->bound);
    return 0;
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void print_dir_problem(const char *text, void *arg)
{
    (void)arg;
    fprintf(stderr, "careteamd: %s\n", text);
}

/*
 * Refuses to serve from a data directory whose secrets others could read or replace (the rules
 * are datadir.c's, which `careteamd check-config` applies too). Prints what is wrong and the
 * command that fixes it. Returns 0 or CT_EINVAL.
 */
static int check_permissions(const char *dir)
{
    return ct_datadir_check(dir, CT_DATADIR_MODES, 0, NULL, print_dir_problem, NULL) == 0
               ? 0
               : CT_EINVAL;
}

/*
 * Loads the audit signing key, without which the daemon does not serve: a data directory made
 * before the key existed gets one from `careteamd audit keygen DIR`, a deliberate step after
 * which the admin copies the public key off the host (docs/compliance.md). The daemon never
 * makes the key itself, so that a deleted key is noticed rather than silently replaced.
 */
static int load_audit_signer(const char *dir, ct_audit_signer_t **out)
{
    char path[4096], err[512];
    ct_dir_path(path, sizeof path, dir, CT_DIR_AUDIT_KEY);
    int r = ct_audit_signer_load(path, out, err, sizeof err);
    if (r == CT_ENOTFOUND)
        fprintf(stderr,
                "careteamd: %s not found: this data directory has no audit signing key, which "
                "signs the audit log's checkpoints. Create one with `careteamd audit keygen "
                "%s`, then keep a copy of %s/%s off this host.\n",
                path, dir, dir, CT_DIR_AUDIT_PUB);
    else if (r != 0)
        fprintf(stderr, "careteamd: %s\n", err);
    return r;
}

int ct_server_run(const ct_serve_opts_t *opts)
{
    char path[4096], err[512];
    server_t *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return 1;
    int rc = 1;
    ct_config_defaults(&srv->cfg);
    ct_dir_path(path, sizeof path, opts->dir, CT_DIR_CONF);
    int r = ct_config_load(path, &srv->cfg, err, sizeof err);
    if (r != 0) {
        if (r == CT_ENOTFOUND)
            fprintf(stderr,
                    "careteamd: %s not found: is %s a data directory? Create one with "
                    "`careteamd init %s`\n",
                    path, opts->dir, opts->dir);
        else
            fprintf(stderr, "careteamd: %s\n", err);
        free(srv);
        return 1;
    }
    if (check_permissions(opts->dir) != 0) {
        free(srv);
        return 1;
    }
    ct_log_level_t level;
    if (ct_log_parse_level(srv->cfg.log_level, &level) == 0)
        ct_log_set_level(level);
    /* A peer that vanishes mid-write must not kill the daemon. */
    signal(SIGPIPE, SIG_IGN);

    uv_loop_init(&srv->loop);
    ct_handler_ctx_t *h = &srv->conns.handlers;
    h->loop = &srv->loop;
    h->cfg = &srv->cfg;
    srv->conns.on_last_close = on_all_closed;

    srv->dir = opts->dir;
    if (load_tls(opts->dir, &srv->conns.tls, err, sizeof err) != 0) {
        fprintf(stderr, "careteamd: %s\n", err);
        goto out_loop;
    }
    apply_crl(srv);
    ct_dir_path(path, sizeof path, opts->dir, CT_DIR_DB);
    ct_audit_signer_t *signer = NULL;
    if (load_audit_signer(opts->dir, &signer) != 0)
        goto out_tls;
    /* Who we run as (privdrop.h): the port is bound before the switch (it may be below 1024),
     * everything that writes to DIR (database, pid file) after it, so that the files belong to
     * the account that owns DIR. Up to here only reads happened. */
    ct_privdrop_t drop;
    if (ct_privdrop_plan(opts->user != NULL ? opts->user : srv->cfg.user, opts->allow_root,
                         opts->dir, &drop) != 0 ||
        start_listener(srv, opts->listen != NULL ? opts->listen : srv->cfg.listen) != 0 ||
        ct_privdrop_apply(&drop) != 0) {
        ct_audit_signer_free(signer);
        goto out_tls;
    }
    if (ct_writer_start(&srv->loop, path, &h->writer, err, sizeof err) != 0) {
        fprintf(stderr, "careteamd: %s\n", err);
        ct_audit_signer_free(signer);
        goto out_tls;
    }
    ct_writer_checkpoints(h->writer, signer, srv->cfg.audit_checkpoint_rows,
                          srv->cfg.audit_checkpoint_interval_ms);
    if (ct_readers_open(&srv->loop, path, READERS, &h->readers, err, sizeof err) != 0) {
        fprintf(stderr, "careteamd: %s\n", err);
        goto out_writer;
    }
    if (ct_router_new(&h->router) != 0)
        goto out_readers;
    if (ct_alerts_new(h, &h->alerts) != 0)
        goto out_router;
    uv_timer_init(&srv->loop, &srv->grace);
    srv->grace.data = srv;
    uv_unref((uv_handle_t *)&srv->grace); /* never keeps the loop alive by itself */
    uv_signal_init(&srv->loop, &srv->sigterm);
    uv_signal_init(&srv->loop, &srv->sigint);
    uv_signal_init(&srv->loop, &srv->sighup);
    srv->sigterm.data = srv->sigint.data = srv->sighup.data = srv;
    uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
    uv_signal_start(&srv->sigint, on_signal, SIGINT);
    uv_signal_start(&srv->sighup, on_signal, SIGHUP);
    if (ct_syslog_fwd_start(&srv->loop, &srv->cfg, opts->dir, h->writer, h->readers, &srv->syslog,
                            err, sizeof err) != 0) {
        fprintf(stderr, "careteamd: %s\n", err);
        begin_shutdown(srv, "startup_failed");
        uv_run(&srv->loop, UV_RUN_DEFAULT);
        goto out_router;
    }

    if (srv->cfg.metrics_listen[0] != '\0') {
        ct_metrics_sources_t src = {.writer = h->writer,
                                    .readers = h->readers,
                                    .connections = open_connections,
                                    .connections_arg = srv};
        if (ct_metrics_start(&srv->loop, srv->cfg.metrics_listen, &src, &srv->metrics, err,
                             sizeof err) != 0) {
            fprintf(stderr, "careteamd: %s\n", err);
            begin_shutdown(srv, "startup_failed");
            uv_run(&srv->loop, UV_RUN_DEFAULT);
            goto out_router;
        }
    }

    srv->ready_file = opts->ready_file;
    ct_job_t *start = calloc(1, sizeof *start + sizeof(server_t *));
    if (start == NULL) {
        begin_shutdown(srv, "out_of_memory");
    } else {
        *(server_t **)(start + 1) = srv;
        start->done = on_start_committed;
        audit_daemon(srv, "daemon.start", start);
        /* Escalates what fell due while the daemon was down, then arms the alert timer. */
        ct_alerts_start(h->alerts);
    }
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    rc = srv->failed ? 1 : 0;
    remove_pid_file(srv);
    ct_log_info("daemon.stopped", "status=%s", rc == 0 ? "ok" : "failed");

out_router:
    /* The loop has run dry: no read or cursor job of the forwarder is pending. */
    ct_syslog_fwd_free(srv->syslog);
    srv->syslog = NULL;
    /* The writer has run every job by now, so no escalation pass can re-arm the timer. */
    ct_alerts_close(h->alerts);
    h->alerts = NULL;
    ct_router_free(h->router);
out_readers:
    ct_readers_close(h->readers);
    h->readers = NULL;
out_writer:
    if (h->writer != NULL && !srv->writer_stopped) {
        ct_writer_stop(h->writer);
        uv_run(&srv->loop, UV_RUN_DEFAULT);
    }
    ct_writer_free(h->writer);
out_tls:
    ct_tls_ctx_free(srv->conns.tls);
    ct_pki_crl_free(srv->crl);
out_loop:
    uv_walk(&srv->loop, close_any, NULL);
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&srv->loop) != 0)
        ct_log_warn("daemon.loop_busy", "reason=\"handles left open at exit\"");
    free(srv);
    return rc;
}
