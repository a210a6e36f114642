/*
 * Audit forwarding to a syslog collector (issue 4, section 5; server/syslog_fwd.h) against
 * Debian's rsyslog with its OpenSSL stream driver (packages rsyslog and rsyslog-openssl, which
 * `scripts/deps.sh --test` installs; the test installs nothing and is skipped, saying why, only
 * when rsyslogd or its ossl driver is absent).
 *
 * The collector: certificates made here with the openssl command (a CA; the collector's, for
 * IP 127.0.0.1; careteamd's client certificate), an rsyslog configuration in a temporary
 * directory (imtcp with StreamDriver ossl, mode 1 = TLS only, AuthMode x509/certvalid so the
 * client certificate is required; one ruleset writing each received message's raw text, one per
 * line, with omfile), and `rsyslogd -n -f CONF -i PIDFILE` on 127.0.0.1 at a free port. Only the
 * rsyslogd this test started is signalled, by its PID.
 *
 * What is checked:
 *  - every audit row arrives, in seq order, each a well-formed RFC 5424 message (PRI of facility
 *    authpriv and the severity of its outcome, version 1, RFC 3339 UTC time with milliseconds,
 *    APP-NAME, PROCID, MSGID = the action) whose structured data carries the row's seq, action and
 *    chain value exactly as the database holds them;
 *  - no message body reaches the collector;
 *  - the collector stopped, records made meanwhile wait in the audit table and arrive after it
 *    is started again: nothing lost. Duplicates are allowed only across that restart (a batch
 *    written shortly before the disconnect is sent again: at-least-once), so the seqs received
 *    form at most two ascending runs, the second starting no later than the first ended.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "careteam.h"
#include "daemon.h"
#include "process.h"
#include "testsupport.h"

#define RSYSLOGD "/usr/sbin/rsyslogd"
#define OSSL_DRIVER "/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so"
#define OPENSSL "/usr/bin/openssl"
#define CALL_MS 5000
#define ARRIVE_MS 40000 /* longest wait for records: covers a reconnection backoff of 16 s */
#define MARKER "BODY-5c1e-never-forwarded"
#define MAX_ROWS 1024

typedef struct collector {
    char *dir; /* temporary directory; owned */
    char conf[4096], pidfile[4096], received[4096], log[4096];
    int port;
    pid_t pid; /* 0 when not running */
} collector_t;

static ct_test_daemon_t g_d;
static collector_t g_c;

static void stop_collector(collector_t *c)
{
    if (c->pid > 0) {
        int status;
        kill(c->pid, SIGTERM);
        if (!ct_test_wait_bounded(c->pid, 10000, &status))
            ct_test_kill_and_reap(c->pid);
        c->pid = 0;
    }
}

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
    stop_collector(&g_c);
    if (g_c.dir != NULL) {
        ct_test_rmtree(g_c.dir);
        free(g_c.dir);
        g_c.dir = NULL;
    }
}

TestSuite(syslog_fwd, .init = ct_test_ignore_sigpipe, .fini = teardown, .timeout = 150);

/* ---- the collector ------------------------------------------------------------------------- */

/* Runs argv (NULL-terminated) with its output appended to log; asserts exit status 0. */
static void run(const char *log, char *const *argv)
{
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    cr_assert_geq(fd, 0, "open %s: %s", log, strerror(errno));
    int in = open("/dev/null", O_RDONLY);
    ct_test_spawn_opts_t o = {
        .path = argv[0], .argv = argv, .in_fd = in, .out_fd = fd, .err_fd = fd};
    pid_t pid = ct_test_spawn(&o);
    close(fd);
    close(in);
    cr_assert_gt(pid, 0);
    int status = 0;
    cr_assert(ct_test_wait_bounded(pid, 30000, &status), "%s did not finish", argv[0]);
    cr_assert_eq(ct_test_exit_code(status), 0, "%s %s failed; see %s", argv[0], argv[1], log);
}

static void path_in(const collector_t *c, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", c->dir, name);
}

/* An EC P-256 key and a certificate for subject CN signed by the CA in dir (or self-signed when
 * ca is false), with the extensions in ext (a file's text; may be NULL). */
static void make_cert(const collector_t *c, const char *name, const char *cn, bool ca,
                      const char *ext)
{
    char key[4096], crt[4096], csr[4096], extf[4096], cakey[4096], cacrt[4096], subj[256];
    snprintf(subj, sizeof subj, "/CN=%s", cn);
    path_in(c, "ca.key", cakey, sizeof cakey);
    path_in(c, "ca.pem", cacrt, sizeof cacrt);
    snprintf(key, sizeof key, "%s/%s.key", c->dir, name);
    snprintf(crt, sizeof crt, "%s/%s.pem", c->dir, name);
    snprintf(csr, sizeof csr, "%s/%s.csr", c->dir, name);
    snprintf(extf, sizeof extf, "%s/%s.ext", c->dir, name);
    if (ca) {
        char *argv[] = {
            OPENSSL,  "req",     "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", key,     "-out",    crt,  "-days",    "2",
            "-subj",  subj,      NULL};
        run(c->log, argv);
        return;
    }
    FILE *f = fopen(extf, "w");
    cr_assert_not_null(f);
    fputs(ext, f);
    fclose(f);
    char *req[] = {OPENSSL,  "req",     "-newkey", "ec",   "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-nodes", "-keyout", key,       "-out", csr,        "-subj",
                   subj,     NULL};
    run(c->log, req);
    char *sign[] = {
        OPENSSL,           "x509", "-req", "-in",   csr, "-CA",      cacrt, "-CAkey", cakey,
        "-CAcreateserial", "-out", crt,    "-days", "2", "-extfile", extf,  NULL};
    run(c->log, sign);
}

/* A port on 127.0.0.1 that nothing listens on now (the kernel's choice). */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

static bool port_open(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

/* Makes the certificates and the rsyslog configuration. */
static void collector_init(collector_t *c)
{
    memset(c, 0, sizeof *c);
    c->dir = ct_test_tmpdir("rsyslog");
    path_in(c, "rsyslog.conf", c->conf, sizeof c->conf);
    path_in(c, "rsyslog.pid", c->pidfile, sizeof c->pidfile);
    path_in(c, "received.log", c->received, sizeof c->received);
    path_in(c, "collector.log", c->log, sizeof c->log);
    make_cert(c, "ca", "careteam test syslog CA", true, NULL);
    make_cert(c, "collector", "127.0.0.1", false,
              "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    make_cert(c, "client", "careteamd", false, "extendedKeyUsage=clientAuth\n");
    c->port = free_port();
    FILE *f = fopen(c->conf, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "global(workDirectory=\"%s\"\n"
            "       DefaultNetstreamDriverCAFile=\"%s/ca.pem\"\n"
            "       DefaultNetstreamDriverCertFile=\"%s/collector.pem\"\n"
            "       DefaultNetstreamDriverKeyFile=\"%s/collector.key\")\n"
            "module(load=\"imtcp\" StreamDriver.Name=\"ossl\" StreamDriver.Mode=\"1\"\n"
            "       StreamDriver.AuthMode=\"x509/certvalid\")\n"
            "template(name=\"raw\" type=\"string\" string=\"%%rawmsg%%\\n\")\n"
            "ruleset(name=\"careteam\") {\n"
            "  action(type=\"omfile\" file=\"%s\" template=\"raw\")\n"
            "}\n"
            "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\" ruleset=\"careteam\")\n",
            c->dir, c->dir, c->dir, c->dir, c->received, c->port);
    cr_assert_eq(fclose(f), 0);
}

/* Starts rsyslogd in the foreground and waits until it accepts connections. */
static void collector_start(collector_t *c)
{
    int fd = open(c->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    int in = open("/dev/null", O_RDONLY);
    char *argv[] = {RSYSLOGD, "-n", "-f", c->conf, "-i", c->pidfile, NULL};
    ct_test_spawn_opts_t o = {
        .path = RSYSLOGD, .argv = argv, .in_fd = in, .out_fd = fd, .err_fd = fd};
    c->pid = ct_test_spawn(&o);
    close(fd);
    close(in);
    cr_assert_gt(c->pid, 0);
    int64_t deadline = ct_test_now_ms() + 10000;
    while (!port_open(c->port)) {
        int status;
        if (ct_test_wait_bounded(c->pid, 0, &status)) {
            c->pid = 0;
            cr_assert_fail("rsyslogd exited (%d); see %s", ct_test_exit_code(status), c->log);
        }
        cr_assert_lt(ct_test_now_ms(), deadline, "rsyslogd does not listen; see %s", c->log);
        ct_test_sleep_ms(50);
    }
}

/* ---- what arrived, and what the database holds --------------------------------------------- */

typedef struct row {
    long long seq;
    char action[64];
    char chain[65];
    int outcome;
} row_t;

/* The audit rows of the daemon's database, in seq order. Returns how many. */
static int db_rows(row_t *rows, int max)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/careteam.db", g_d.data);
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *s = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db,
                                    "SELECT seq, action, hex(chain), outcome FROM audit"
                                    " ORDER BY seq",
                                    -1, &s, NULL),
                 SQLITE_OK);
    int n = 0;
    while (sqlite3_step(s) == SQLITE_ROW && n < max) {
        rows[n].seq = sqlite3_column_int64(s, 0);
        snprintf(rows[n].action, sizeof rows[n].action, "%s", sqlite3_column_text(s, 1));
        snprintf(rows[n].chain, sizeof rows[n].chain, "%s", sqlite3_column_text(s, 2));
        for (char *p = rows[n].chain; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
        rows[n].outcome = sqlite3_column_int(s, 3);
        n++;
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

/* The value of SD-PARAM name in line (escapes undone), or false if absent. */
static bool param(const char *line, const char *name, char *out, size_t len)
{
    char key[64];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *p = strstr(line, key);
    if (p == NULL)
        return false;
    p += strlen(key);
    size_t n = 0;
    for (; *p != '\0' && *p != '"'; p++) {
        if (*p == '\\' && p[1] != '\0')
            p++;
        if (n + 1 < len)
            out[n++] = *p;
    }
    out[n] = '\0';
    return *p == '"';
}

/*
 * Checks one received line as RFC 5424 against the database rows, and returns its seq. Header:
 * "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [careteam@32473 ...]".
 */
static long long check_line(const char *line, const row_t *rows, int n_rows)
{
    int pri = -1, consumed = 0;
    cr_assert_eq(sscanf(line, "<%d>1 %n", &pri, &consumed), 1, "not RFC 5424: %s", line);
    cr_assert_gt(consumed, 0, "no version 1: %s", line);
    cr_assert_eq(pri / 8, 10, "facility is not authpriv: %s", line);
    char ts[64], host[256], app[64], procid[32], msgid[64];
    cr_assert_eq(sscanf(line + consumed, "%63s %255s %63s %31s %63s", ts, host, app, procid, msgid),
                 5, "header fields: %s", line);
    int y, mo, d, h, mi, s, ms;
    char z = 0;
    cr_assert_eq(strlen(ts), 24, "timestamp %s", ts);
    cr_assert_eq(sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &s, &ms, &z), 8,
                 "timestamp %s", ts);
    cr_assert_eq(z, 'Z', "timestamp %s is not UTC", ts);
    cr_assert_str_eq(app, "careteamd");
    cr_assert_gt(atol(procid), 0, "PROCID %s", procid);
    cr_assert_not_null(strstr(line, "[careteam@32473 seq=\""), "no structured data: %s", line);
    char seqs[32], action[64], chain[80], outcome[16], v[256];
    cr_assert(param(line, "seq", seqs, sizeof seqs));
    cr_assert(param(line, "action", action, sizeof action));
    cr_assert(param(line, "chain", chain, sizeof chain));
    cr_assert(param(line, "outcome", outcome, sizeof outcome));
    static const char *const others[] = {"actor",       "role",      "cert_fp",    "peer",
                                         "object_type", "object_id", "participant"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        cr_assert(param(line, others[i], v, sizeof v), "no %s: %s", others[i], line);
    long long seq = atoll(seqs);
    cr_assert(seq >= 1 && seq <= n_rows, "seq %lld not in the database (%d rows)", seq, n_rows);
    const row_t *r = &rows[seq - 1];
    cr_assert_eq(r->seq, seq);
    cr_assert_str_eq(action, r->action, "seq %lld", seq);
    cr_assert_str_eq(msgid, r->action, "MSGID of seq %lld", seq);
    cr_assert_str_eq(chain, r->chain, "chain of seq %lld", seq);
    cr_assert_eq(atoi(outcome), r->outcome);
    int sev = r->outcome == 0 ? 6 : r->outcome == 4 ? 4 : r->outcome == 8 ? 3 : 2;
    cr_assert_eq(pri % 8, sev, "severity of seq %lld (outcome %d)", seq, r->outcome);
    return seq;
}

/* Checks each line of text (the received file, read before the rows, so that every seq in it
 * is among them) and puts their seqs in order into seqs. Frees text. Returns how many lines. */
static int received(char *text, long long *seqs, int max, const row_t *rows, int n_rows)
{
    if (text == NULL)
        return 0;
    cr_assert_null(strstr(text, MARKER), "a message body reached the collector");
    int n = 0;
    for (char *line = strtok(text, "\n"); line != NULL && n < max; line = strtok(NULL, "\n"))
        seqs[n++] = check_line(line, rows, n_rows);
    free(text);
    return n;
}

/* Whether every seq 1..last is among seqs. */
static bool covers(const long long *seqs, int n, long long last)
{
    for (long long want = 1; want <= last; want++) {
        bool found = false;
        for (int i = 0; i < n && !found; i++)
            found = seqs[i] == want;
        if (!found)
            return false;
    }
    return true;
}

/* Waits until every audit row now in the database has arrived; returns the number of rows
 * and fills seqs/n_seqs with what arrived. */
static int await_all(long long *seqs, int *n_seqs, row_t *rows)
{
    int64_t deadline = ct_test_now_ms() + ARRIVE_MS;
    for (;;) {
        char *text = ct_test_read_file(g_c.received, NULL);
        int n_rows = db_rows(rows, MAX_ROWS);
        *n_seqs = received(text, seqs, 4 * MAX_ROWS, rows, n_rows);
        if (n_rows > 0 && covers(seqs, *n_seqs, n_rows))
            return n_rows;
        cr_assert_lt(ct_test_now_ms(), deadline,
                     "%d of %d audit rows arrived at the collector; see %s and %s", *n_seqs, n_rows,
                     g_d.log, g_c.log);
        ct_test_sleep_ms(100);
    }
}

/* Audit records of real traffic: a TLS session, Hello, a message and its Ack. */
static void traffic(const char *cmid)
{
    ct_sync_t *s = ct_test_connect(&g_d, "dr.ahmed");
    const char *to[] = {"th.lee"};
    ct_send_args_t a = {.client_msg_id = cmid, .to = to, .n_to = 1, .body = MARKER};
    Careteam__V1__Envelope *resp = NULL;
    cr_assert_eq(ct_sync_send_message(s, &a, CALL_MS, &resp), 0, "%s", ct_sync_last_error(s));
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ACK);
    careteam__v1__envelope__free_unpacked(resp, NULL);
    ct_sync_close(s);
}

static bool collector_available(void)
{
    return access(RSYSLOGD, X_OK) == 0 && access(OSSL_DRIVER, R_OK) == 0 &&
           access(OPENSSL, X_OK) == 0;
}

Test(syslog_fwd, every_record_arrives_in_order_and_survives_a_collector_restart)
{
    if (!collector_available()) {
        cr_skip_test("rsyslogd with its OpenSSL driver (" OSSL_DRIVER ") or openssl is not "
                     "installed; `scripts/deps.sh --test` installs rsyslog and rsyslog-openssl");
    }
    static row_t rows[MAX_ROWS];
    static long long seqs[4 * MAX_ROWS];
    int n_seqs = 0;

    collector_init(&g_c);
    collector_start(&g_c);
    char conf[16384];
    snprintf(conf, sizeof conf,
             "syslog_forward = 127.0.0.1:%d\nsyslog_ca = %s/ca.pem\nsyslog_cert = %s/client.pem\n"
             "syslog_key = %s/client.key",
             g_c.port, g_c.dir, g_c.dir, g_c.dir);
    ct_test_daemon_init(&g_d, conf);
    ct_test_daemon_start(&g_d);

    /* Phase 1: the collector is up. One connection, so no duplicate and no gap: 1, 2, 3, ... */
    traffic("syslog-1");
    int n_rows = await_all(seqs, &n_seqs, rows);
    cr_assert_eq(n_seqs, n_rows, "%d lines for %d rows: duplicates without a restart", n_seqs,
                 n_rows);
    for (int i = 0; i < n_seqs; i++)
        cr_assert_eq(seqs[i], i + 1, "line %d carries seq %lld", i + 1, seqs[i]);
    int before = n_rows;

    /* Phase 2: the collector is down while records are made; they wait in the audit table. */
    stop_collector(&g_c);
    traffic("syslog-2");
    traffic("syslog-3");
    ct_test_sleep_ms(500);
    collector_start(&g_c);
    n_rows = await_all(seqs, &n_seqs, rows);
    cr_assert_gt(n_rows, before, "no records were made while the collector was down");

    /* At most one rewind (the restart), and never a gap: every step is +1 or back. */
    int rewinds = 0;
    for (int i = 1; i < n_seqs; i++) {
        if (seqs[i] == seqs[i - 1] + 1)
            continue;
        cr_assert_leq(seqs[i], seqs[i - 1], "gap after seq %lld: %lld", seqs[i - 1], seqs[i]);
        cr_assert_geq(i, before, "a duplicate before the collector restarted (line %d)", i + 1);
        rewinds++;
    }
    cr_assert_leq(rewinds, 1, "%d rewinds for one restart", rewinds);
    cr_assert_eq(seqs[n_seqs - 1], n_rows, "the last line is not the newest row");

    stop_collector(&g_c);
    ct_test_rmtree(g_c.dir);
    free(g_c.dir);
    g_c.dir = NULL;
    ct_test_daemon_finish(&g_d);
}
