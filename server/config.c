/*
 * careteamd.conf: defaults, parser and writer (see config.h for the contract).
 *
 * Every key is described once, in the `keys` table below: its type, its allowed range, where it
 * lives in ct_config_t, and the comment ct_config_write puts above it. The parser, the range
 * checks, the error messages and the self-documenting file are all driven by that table, so a
 * new setting is one row (plus its default in ct_config_defaults).
 *
 * File syntax, line by line: blank lines and lines whose first non-blank character is '#' are
 * ignored; any other line is `key = value` with blanks around key and value trimmed. A '#' after
 * a value is part of the value (server_name may contain one), not a comment. A key given twice
 * takes its last value, so a setting can be overridden by appending a line (ct_config_check
 * reports it as a warning, since it may also be a forgotten old line).
 *
 * The parser does not stop at a problem: it reports it (ct_config_check's callback) and goes on
 * with the next line, so that `careteamd check-config` lists every problem at once.
 * ct_config_load is the same pass keeping the first error, which is the one it always returned.
 *
 * Invariants:
 *  1. ct_config_load changes *cfg only when the whole file is valid, including the checks that
 *     relate two keys (see check_cross_keys), which run after the last line. (ct_config_check
 *     leaves the lines that were valid applied over the defaults, for check-config's own checks.)
 *  2. Every problem's text starts with "PATH:LINE: " and names the key and what it accepts;
 *     only a file that cannot be read at all is reported without a line.
 */
#include "config.h"

#include "addr.h"

#include "err.h"
#include "file.h"
#include "ids.h"
#include "log.h"
#include "text.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define KIB ((uint64_t)1024)
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)

/*
 * Room that an Envelope needs around a message body (ids, subject, recipients, framing). The
 * smallest max_frame is 8K, not less, so that max_body >= 1 byte stays possible.
 */
#define ENVELOPE_OVERHEAD (4 * KIB)
/* Longest line accepted; anything longer is surely not a careteamd.conf. */
#define LINE_MAX_LEN 4096

enum key_type {
    KEY_STRING,   /* copied verbatim; `check` validates it */
    KEY_SIZE,     /* bytes; K/M/G suffixes (powers of 1024) */
    KEY_DURATION, /* milliseconds; ms/s/m/h suffixes */
    KEY_COUNT,    /* a plain non-negative integer */
};

struct key {
    const char *name;
    enum key_type type;
    size_t offset; /* of the field in ct_config_t */
    size_t size;   /* of the field: the buffer size for strings, 4 or 8 for numbers */
    uint64_t min, max;
    /* For KEY_STRING: returns NULL if value is acceptable, or what is allowed. */
    const char *(*check)(const char *value);
    const char *help; /* written above the key by ct_config_write: one line, no final period */
};

static const char *check_listen(const char *value);
static const char *check_server_name(const char *value);
static const char *check_log_level(const char *value);
static const char *check_user(const char *value);
static const char *check_syslog_forward(const char *value);
static const char *check_metrics_listen(const char *value);
static const char *check_syslog_path(const char *value);
static const char *check_syslog_app_name(const char *value);
static const char *check_syslog_facility(const char *value);
static const char *check_crl_url(const char *value);

#define FIELD(f) offsetof(ct_config_t, f), sizeof(((ct_config_t *)0)->f)

static const struct key keys[] = {
    {"listen", KEY_STRING, FIELD(listen), 0, 0, check_listen,
     "Address for TLS clients, HOST:PORT or [IPv6]:PORT; port 0 picks any free port"},
    {"server_name", KEY_STRING, FIELD(server_name), 0, 0, check_server_name,
     "Name shown to clients in Welcome"},
    {"log_level", KEY_STRING, FIELD(log_level), 0, 0, check_log_level,
     "Lowest level logged to stderr: debug, info, warn or error"},
    {"max_frame", KEY_SIZE, FIELD(max_frame), 8 * KIB, 64 * MIB, NULL,
     "Largest frame in bytes; a bigger one closes the connection"},
    {"max_body", KEY_SIZE, FIELD(max_body), 1, 64 * MIB - ENVELOPE_OVERHEAD, NULL,
     "Largest message or summary body in bytes, at most max_frame - 4K"},
    {"max_subject", KEY_SIZE, FIELD(max_subject), 1, 4 * KIB, NULL,
     "Largest message subject in bytes"},
    {"max_recipients", KEY_COUNT, FIELD(max_recipients), 1, 10000, NULL,
     "Most recipients of one message"},
    {"max_output", KEY_SIZE, FIELD(max_output), 64 * KIB, 4 * GIB, NULL,
     "Bytes queued to one slow client before it is dropped, at least max_frame"},
    {"max_connections", KEY_COUNT, FIELD(max_connections), 1, 1000000, NULL,
     "Most simultaneous connections; more are refused UNAVAILABLE"},
    {"rate_limit", KEY_COUNT, FIELD(rate_limit), 1, 1000000, NULL,
     "Most requests per connection per second; more get RATE_LIMITED"},
    {"handshake_timeout_ms", KEY_DURATION, FIELD(handshake_timeout_ms), 10, 10 * 60 * 1000, NULL,
     "Deadline for the TLS handshake and Hello"},
    {"idle_timeout_ms", KEY_DURATION, FIELD(idle_timeout_ms), 10, 24 * 60 * 60 * 1000, NULL,
     "A connection that sends no frame for this long is closed"},
    {"member_cert_days", KEY_COUNT, FIELD(member_cert_days), 1, 3650, NULL,
     "Validity in days of member certificates issued by careteamd enroll"},
    {"alert_urgent_deadline_ms", KEY_DURATION, FIELD(alert_urgent_deadline_ms), 1000,
     7 * 24 * 60 * 60 * 1000u, NULL,
     "An urgent safety alert not acknowledged by a clinician within this escalates"},
    {"alert_concern_deadline_ms", KEY_DURATION, FIELD(alert_concern_deadline_ms), 1000,
     30u * 24 * 60 * 60 * 1000u, NULL,
     "A concern-level safety alert not acknowledged within this escalates"},
    {"audit_checkpoint_rows", KEY_COUNT, FIELD(audit_checkpoint_rows), 1, 100000000, NULL,
     "Sign an audit checkpoint once this many audit records were added since the last one"},
    {"audit_checkpoint_interval_ms", KEY_DURATION, FIELD(audit_checkpoint_interval_ms), 100,
     24 * 60 * 60 * 1000, NULL,
     "Sign an audit checkpoint at least this often while audit records are being added"},
    {"user", KEY_STRING, FIELD(user), 0, 0, check_user,
     "Account that careteamd serve switches to when started as root (it owns the data "
     "directory)"},
    {"metrics_listen", KEY_STRING, FIELD(metrics_listen), 0, 0, check_metrics_listen,
     "Serve Prometheus metrics (GET /metrics) on this loopback HOST:PORT, e.g. "
     "127.0.0.1:9464; unset: no metrics listener"},
    {"syslog_forward", KEY_STRING, FIELD(syslog_forward), 0, 0, check_syslog_forward,
     "Forward every audit record as RFC 5424 syslog over TLS (RFC 5425) to this collector, "
     "HOST:PORT; unset: no forwarding"},
    {"syslog_ca", KEY_STRING, FIELD(syslog_ca), 0, 0, check_syslog_path,
     "CA certificate(s) that the collector's certificate must chain to (PEM; a relative path is "
     "in the data directory); required with syslog_forward"},
    {"syslog_cert", KEY_STRING, FIELD(syslog_cert), 0, 0, check_syslog_path,
     "Client certificate presented to the collector (PEM), for mutual TLS; with syslog_key"},
    {"syslog_key", KEY_STRING, FIELD(syslog_key), 0, 0, check_syslog_path,
     "Private key of syslog_cert (PEM)"},
    {"syslog_app_name", KEY_STRING, FIELD(syslog_app_name), 0, 0, check_syslog_app_name,
     "APP-NAME of the forwarded syslog messages"},
    {"syslog_facility", KEY_STRING, FIELD(syslog_facility), 0, 0, check_syslog_facility,
     "Facility of the forwarded syslog messages: authpriv, auth or local0 to local7"},
    {"crl_url", KEY_STRING, FIELD(crl_url), 0, 0, check_crl_url,
     "URL (http://, https:// or file://) where crl.pem is published; enroll and renew name it "
     "in every certificate they issue"},
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

void ct_config_defaults(ct_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1:%d", CT_DEFAULT_PORT);
    snprintf(cfg->server_name, sizeof(cfg->server_name), "careteamd");
    snprintf(cfg->log_level, sizeof(cfg->log_level), "info");
    cfg->max_frame = 1 * MIB;
    cfg->max_body = 64 * KIB;
    cfg->max_subject = 256;
    cfg->max_recipients = 64;
    cfg->max_output = 8 * MIB;
    cfg->max_connections = 10000;
    cfg->rate_limit = 1000;
    cfg->handshake_timeout_ms = 10000;
    cfg->idle_timeout_ms = 300000;
    cfg->member_cert_days = 365;
    cfg->alert_urgent_deadline_ms = 15 * 60 * 1000;
    cfg->alert_concern_deadline_ms = 24 * 60 * 60 * 1000;
    cfg->audit_checkpoint_rows = 1000;
    cfg->audit_checkpoint_interval_ms = 60 * 1000;
    snprintf(cfg->syslog_app_name, sizeof(cfg->syslog_app_name), "careteamd");
    snprintf(cfg->syslog_facility, sizeof(cfg->syslog_facility), "authpriv");
}

/* ---- host:port ------------------------------------------------------------------------------ */

/* A host name or IPv4 literal: 1..253 characters of [A-Za-z0-9.-]. */
static bool hostname_chars_ok(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-'))
            return false;
    }
    return true;
}

/*
 * The host is a name or IPv4 literal ([A-Za-z0-9.-]) or a bracketed IPv6 literal (returned without
 * its brackets); the port is required, 0-65535. host and port may be NULL to only validate. The
 * splitting is ct_addr_split's, which the client uses too; this adds what a listen address needs.
 */
int ct_config_split_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    char h[256];
    int p;
    if (s == NULL || ct_addr_split(s, h, sizeof h, &p, -1) != 0)
        return CT_EINVAL;
    if (s[0] == '[') {
        unsigned char addr[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET6, h, addr) != 1)
            return CT_EINVAL;
    } else if (!hostname_chars_ok(h, strlen(h))) {
        return CT_EINVAL;
    }
    if (host != NULL) {
        if (strlen(h) >= hostlen)
            return CT_EINVAL;
        memcpy(host, h, strlen(h) + 1);
    }
    if (port != NULL)
        *port = p;
    return 0;
}

/* ---- string checks -------------------------------------------------------------------------- */

static const char *check_listen(const char *value)
{
    if (ct_config_split_hostport(value, NULL, 0, NULL) != 0)
        return "HOST:PORT or [IPv6]:PORT with a port of 0-65535";
    return NULL;
}

/* server_name goes to clients in Welcome, a proto3 string: strict decoders refuse non-UTF-8. */
static const char *check_server_name(const char *value)
{
    if (!ct_utf8_valid(value, strlen(value)))
        return "UTF-8 text without control characters";
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f)
            return "UTF-8 text without control characters";
    return NULL;
}

static const char *check_log_level(const char *value)
{
    ct_log_level_t level;
    if (ct_log_parse_level(value, &level) != 0)
        return "one of debug, info, warn, error";
    return NULL;
}

/* A POSIX portable user name: [A-Za-z0-9._-], not starting with '-'. Whether the account exists
 * is the host's business, checked by `serve` and `check-config`, not by the parser. */
static const char *check_user(const char *value)
{
    if (value[0] == '-')
        return "a user name of A-Z a-z 0-9 . _ - not starting with '-'";
    for (const char *p = value; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            return "a user name of A-Z a-z 0-9 . _ - not starting with '-'";
    return NULL;
}

/* The syslog collector: HOST:PORT (a name, IPv4 or [IPv6]) with a port of 1-65535. */
/* Metrics say how busy the daemon is; they are for the host's own monitoring agent only. */
static const char *check_metrics_listen(const char *value)
{
    char host[256];
    int port;
    if (ct_config_split_hostport(value, host, sizeof host, &port) != 0 || port == 0 ||
        !ct_addr_is_loopback(host))
        return "a loopback HOST:PORT such as 127.0.0.1:9464 or [::1]:9464 (port 1-65535)";
    return NULL;
}

static const char *check_syslog_forward(const char *value)
{
    int port;
    if (ct_config_split_hostport(value, NULL, 0, &port) != 0 || port == 0)
        return "HOST:PORT or [IPv6]:PORT with a port of 1-65535";
    return NULL;
}

/* A file path: any bytes but control characters. */
static const char *check_syslog_path(const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f)
            return "a file path without control characters";
    return NULL;
}

/* RFC 5424 APP-NAME: 1 to 48 printable US-ASCII characters, no space. */
static const char *check_syslog_app_name(const char *value)
{
    size_t n = strlen(value);
    if (n == 0 || n > 48)
        return "1 to 48 printable ASCII characters without spaces";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)value[i] < 33 || (unsigned char)value[i] > 126)
            return "1 to 48 printable ASCII characters without spaces";
    return NULL;
}

static const char *check_syslog_facility(const char *value)
{
    if (ct_config_syslog_facility(value) < 0)
        return "authpriv, auth, or local0 to local7";
    return NULL;
}

/* The characters RFC 3986 allows in a URI (unreserved, reserved, and '%' of an escape). */
static bool uri_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("-._~:/?#[]@!$&'()*+,;=%", c) != NULL);
}

const char *ct_config_crl_url_check(const char *url)
{
    static const char expected[] =
        "an absolute http://HOST/..., https://HOST/... or file:///PATH URL of the revocation "
        "list (crl.pem), without spaces or control characters (percent-encode them), e.g. "
        "https://ca.clinic.example/careteam/crl.pem";
    size_t n = url != NULL ? strlen(url) : 0;
    if (n == 0 || n > CT_CONFIG_CRL_URL_MAX)
        return expected;
    for (size_t i = 0; i < n; i++)
        if (!uri_char(url[i]))
            return expected;
    const char *rest;
    if (strncasecmp(url, "http://", 7) == 0)
        rest = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        rest = url + 8;
    else if (strncasecmp(url, "file://", 7) == 0)
        rest = url + 7;
    else
        return expected;
    bool file = strncasecmp(url, "file:", 5) == 0;
    /* http(s): a host before the path. file: an optional host, then an absolute path naming
     * something (not just "/"). */
    const char *path = rest + strcspn(rest, "/?#");
    if (!file && path == rest)
        return expected;
    if (file && (path[0] != '/' || path[1] == '\0' || strchr(path, '?') != NULL))
        return expected;
    return NULL;
}

static const char *check_crl_url(const char *value)
{
    return ct_config_crl_url_check(value);
}

int ct_config_syslog_facility(const char *name)
{
    static const struct {
        const char *name;
        int code;
    } facilities[] = {{"auth", 4},    {"authpriv", 10}, {"local0", 16}, {"local1", 17},
                      {"local2", 18}, {"local3", 19},   {"local4", 20}, {"local5", 21},
                      {"local6", 22}, {"local7", 23}};
    for (size_t i = 0; i < sizeof facilities / sizeof facilities[0]; i++)
        if (strcmp(name, facilities[i].name) == 0)
            return facilities[i].code;
    return -1;
}

/* ---- numbers -------------------------------------------------------------------------------- */

/*
 * Parses an unsigned decimal number with an optional unit suffix into *out, scaled to the key's
 * unit. Returns NULL or a description of what is wrong.
 */
static const char *parse_number(const struct key *k, const char *v, uint64_t *out)
{
    if (!isdigit((unsigned char)v[0]))
        return "not a number";
    uint64_t n = 0;
    const char *p = v;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (n > (UINT64_MAX - d) / 10)
            return "number too large";
        n = n * 10 + d;
    }
    while (*p == ' ' || *p == '\t')
        p++;

    uint64_t mult = 1;
    if (*p == '\0') {
        mult = 1; /* a bare number is in the key's own unit */
    } else if (k->type == KEY_SIZE) {
        switch (toupper((unsigned char)*p)) {
        case 'K':
            mult = KIB;
            break;
        case 'M':
            mult = MIB;
            break;
        case 'G':
            mult = GIB;
            break;
        default:
            return "unknown size suffix (use K, M or G)";
        }
        if (p[1] != '\0')
            return "unknown size suffix (use K, M or G)";
    } else if (k->type == KEY_DURATION) {
        if (strcmp(p, "ms") == 0)
            mult = 1;
        else if (strcmp(p, "s") == 0)
            mult = 1000;
        else if (strcmp(p, "m") == 0)
            mult = 60 * 1000;
        else if (strcmp(p, "h") == 0)
            mult = 60 * 60 * 1000;
        else
            return "unknown duration suffix (use ms, s, m or h)";
    } else {
        return "not a whole number";
    }
    if (n > UINT64_MAX / mult)
        return "number too large";
    *out = n * mult;
    return NULL;
}

/* Writes n in the most readable exact form of its key's type ("1M", "10s", "256"). */
static void format_number(const struct key *k, uint64_t n, char *buf, size_t len)
{
    static const struct {
        uint64_t mult;
        const char *suffix;
    } sizes[] = {{GIB, "G"}, {MIB, "M"}, {KIB, "K"}},
      durations[] = {{3600000, "h"}, {60000, "m"}, {1000, "s"}};
    const void *table = k->type == KEY_SIZE       ? (const void *)sizes
                        : k->type == KEY_DURATION ? (const void *)durations
                                                  : NULL;
    if (table != NULL && n != 0) {
        for (size_t i = 0; i < 3; i++) {
            uint64_t m = k->type == KEY_SIZE ? sizes[i].mult : durations[i].mult;
            const char *s = k->type == KEY_SIZE ? sizes[i].suffix : durations[i].suffix;
            if (n % m == 0) {
                snprintf(buf, len, "%" PRIu64 "%s", n / m, s);
                return;
            }
        }
    }
    snprintf(buf, len, "%" PRIu64 "%s", n, k->type == KEY_DURATION ? "ms" : "");
}

/* Describes the allowed range of a numeric key, e.g. "1K to 64M". */
static void describe_range(const struct key *k, char *buf, size_t len)
{
    char lo[32], hi[32];
    format_number(k, k->min, lo, sizeof(lo));
    format_number(k, k->max, hi, sizeof(hi));
    snprintf(buf, len, "%s to %s", lo, hi);
}

static uint64_t get_number(const ct_config_t *cfg, const struct key *k)
{
    const char *f = (const char *)cfg + k->offset;
    if (k->size == sizeof(uint64_t)) {
        uint64_t v;
        memcpy(&v, f, sizeof(v));
        return v;
    }
    uint32_t v;
    memcpy(&v, f, sizeof(v));
    return v;
}

static void set_number(ct_config_t *cfg, const struct key *k, uint64_t n)
{
    char *f = (char *)cfg + k->offset;
    if (k->size == sizeof(uint64_t)) {
        memcpy(f, &n, sizeof(n));
    } else {
        uint32_t v = (uint32_t)n; /* in range: every 4-byte key's max fits */
        memcpy(f, &v, sizeof(v));
    }
}

/* ---- parser --------------------------------------------------------------------------------- */

static const struct key *find_key(const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* Edit distance between a and b (case-insensitive); names longer than 63 bytes count as far. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost =
                tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The known key nearest to an unknown name, if it is near enough to be a typo (at most 2 edits,
 * or a quarter of the key's length: "idle_timeout" for idle_timeout_ms); else NULL. */
static const char *nearest_key(const char *name)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < N_KEYS; i++) {
        size_t d = distance(name, keys[i].name);
        if (d < best_d && (d <= 2 || d * 4 <= strlen(keys[i].name))) {
            best = keys[i].name;
            best_d = d;
        }
    }
    return best;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Where the problems of one ct_config_check go, and how many errors there were. */
typedef struct reporter {
    const char *path;
    ct_config_report_fn fn; /* may be NULL */
    void *arg;
    unsigned errors;
} reporter_t;

static void report(reporter_t *r, unsigned line, bool warning, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reports one problem as "PATH:LINE: ..." (invariant 2); line 0: the text alone. */
static void report(reporter_t *r, unsigned line, bool warning, const char *fmt, ...)
{
    char text[4096 + 1024];
    int n = 0;
    if (line > 0)
        n = snprintf(text, sizeof text, "%s:%u: %s", r->path, line, warning ? "warning: " : "");
    if (n < 0 || (size_t)n >= sizeof text)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text + n, sizeof text - (size_t)n, fmt, ap);
    va_end(ap);
    if (!warning)
        r->errors++;
    if (r->fn != NULL) {
        ct_config_problem_t p = {.line = line, .warning = warning, .text = text};
        r->fn(&p, r->arg);
    }
}

/* Applies `name = value` from line `lineno` to cfg. Returns true, or false after reporting why. */
static bool apply(ct_config_t *cfg, const struct key *k, const char *value, reporter_t *r,
                  unsigned lineno)
{
    if (k->type == KEY_STRING) {
        const char *why = k->check(value);
        if (why != NULL) {
            report(r, lineno, false, "invalid %s \"%s\": expected %s", k->name, value, why);
            return false;
        }
        if (strlen(value) >= k->size) {
            report(r, lineno, false, "%s is too long: at most %zu characters", k->name,
                   k->size - 1);
            return false;
        }
        memcpy((char *)cfg + k->offset, value, strlen(value) + 1);
        return true;
    }

    char range[80];
    describe_range(k, range, sizeof(range));
    uint64_t n;
    const char *why = parse_number(k, value, &n);
    if (why != NULL) {
        const char *form = k->type == KEY_SIZE ? "bytes, optionally with K, M or G"
                           : k->type == KEY_DURATION
                               ? "milliseconds, or a number with ms, s, m or h"
                               : "a whole number";
        report(r, lineno, false, "invalid %s \"%s\": %s; expected %s, %s", k->name, value, why,
               form, range);
        return false;
    }
    if (n < k->min || n > k->max) {
        report(r, lineno, false, "%s = %s is out of range: allowed %s", k->name, value, range);
        return false;
    }
    set_number(cfg, k, n);
    return true;
}

/*
 * Checks that relate two keys, after the whole file is read (invariant 1). The error names the
 * line of whichever of the two keys the file set last (`lines` is indexed like `keys`; 0 means
 * the key kept its default). A rule is skipped when either key had an error of its own: its
 * value is then not the one the file meant, and the error already names the line.
 */
static void check_cross_keys(const ct_config_t *cfg, const unsigned *lines, const bool *bad,
                             reporter_t *r)
{
    size_t frame = (size_t)(find_key("max_frame") - keys);
    size_t body = (size_t)(find_key("max_body") - keys);
    size_t output = (size_t)(find_key("max_output") - keys);

    if (!bad[frame] && !bad[body] && (uint64_t)cfg->max_body + ENVELOPE_OVERHEAD > cfg->max_frame) {
        unsigned l = lines[body] > lines[frame] ? lines[body] : lines[frame];
        report(r, l, false,
               "max_body (%" PRIu32 ") must be at most max_frame - 4K (%" PRIu64
               "), to leave room for the rest of the message",
               cfg->max_body, (uint64_t)cfg->max_frame - ENVELOPE_OVERHEAD);
    }
    if (!bad[frame] && !bad[output] && cfg->max_output < cfg->max_frame) {
        unsigned l = lines[output] > lines[frame] ? lines[output] : lines[frame];
        report(r, l, false,
               "max_output (%" PRIu64 ") must be at least max_frame (%" PRIu32
               "), or one response could never be queued",
               cfg->max_output, cfg->max_frame);
    }
}

/*
 * Parses every line of f into cfg, reporting each problem and going on with the next line.
 * Returns 0 (cfg may hold errors: see r->errors) or CT_ESYS when reading failed.
 */
static int parse_stream(FILE *f, ct_config_t *cfg, reporter_t *r)
{
    unsigned lines[N_KEYS] = {0}; /* line that last set each key */
    unsigned first[N_KEYS] = {0}; /* line that first set it */
    bool bad[N_KEYS] = {false};   /* the key's last line was an error */
    char *line = NULL;            /* owned here; getline grows it */
    size_t cap = 0;
    unsigned lineno = 0;
    int rc = 0;
    ssize_t n;

    errno = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if ((size_t)n != strlen(line)) {
            report(r, lineno, false, "line contains a NUL byte");
            continue;
        }
        if (n > LINE_MAX_LEN) {
            report(r, lineno, false, "line is longer than %d characters", LINE_MAX_LEN);
            continue;
        }
        char *s = trim(line);
        if (s[0] == '\0' || s[0] == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            report(r, lineno, false, "expected `key = value`, found no '='");
            continue;
        }
        *eq = '\0';
        char *name = trim(s);
        char *value = trim(eq + 1);
        if (name[0] == '\0') {
            report(r, lineno, false, "missing key before '='");
            continue;
        }
        const struct key *k = find_key(name);
        if (k == NULL) {
            const char *near = nearest_key(name);
            if (near != NULL)
                report(r, lineno, false, "unknown key \"%s\"; did you mean %s?", name, near);
            else
                report(r, lineno, false,
                       "unknown key \"%s\" (careteamd init writes every known key)", name);
            continue;
        }
        size_t i = (size_t)(k - keys);
        if (first[i] != 0)
            report(r, lineno, true,
                   "%s is set again (first on line %u); the last value is the one used", k->name,
                   first[i]);
        else
            first[i] = lineno;
        lines[i] = lineno;
        if (value[0] == '\0') {
            report(r, lineno, false, "empty value for %s", k->name);
            bad[i] = true;
            continue;
        }
        bad[i] = !apply(cfg, k, value, r, lineno);
    }
    if (ferror(f)) {
        int e = errno != 0 ? errno : EIO;
        report(r, 0, false, "cannot read %s: %s", r->path, strerror(e));
        rc = CT_ESYS;
    } else {
        check_cross_keys(cfg, lines, bad, r);
    }
    free(line);
    return rc;
}

int ct_config_check(const char *path, ct_config_t *cfg, ct_config_report_fn fn, void *arg)
{
    reporter_t r = {.path = path, .fn = fn, .arg = arg};
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        int e = errno;
        report(&r, 0, false, "cannot read %s: %s", path, strerror(e));
        return e == ENOENT ? CT_ENOTFOUND : CT_ESYS;
    }
    ct_config_defaults(cfg);
    int rc = parse_stream(f, cfg, &r);
    fclose(f);
    if (rc == 0 && r.errors > 0)
        rc = CT_EINVAL;
    return rc;
}

/* ct_config_load's reporter: keeps the first error's text. */
typedef struct first_error {
    char *buf;
    size_t len;
    bool set;
} first_error_t;

static void keep_first_error(const ct_config_problem_t *p, void *arg)
{
    first_error_t *fe = arg;
    if (p->warning || fe->set)
        return;
    fe->set = true;
    if (fe->buf != NULL && fe->len > 0)
        ct_text_copy(fe->buf, fe->len, p->text);
}

int ct_config_load(const char *path, ct_config_t *cfg, char *errbuf, size_t errlen)
{
    first_error_t fe = {.buf = errbuf, .len = errlen};
    ct_config_t tmp;
    int rc = ct_config_check(path, &tmp, keep_first_error, &fe);
    if (rc == 0)
        *cfg = tmp;
    return rc;
}

/* ---- writer --------------------------------------------------------------------------------- */

/* Renders cfg as a self-documenting file into a malloc'd string (caller frees), or NULL. */
static char *render(const ct_config_t *cfg)
{
    ct_config_t def;
    ct_config_defaults(&def);
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (m == NULL)
        return NULL;
    fprintf(m, "# careteamd.conf: settings of the careteam daemon.\n"
               "# One `key = value` per line; lines starting with '#' are comments.\n"
               "# Sizes accept K, M or G (powers of 1024); durations accept ms, s, m or h, and a\n"
               "# bare number is in the unit the key names (ms for *_ms).\n"
               "# A key given twice takes its last value.\n");
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key *k = &keys[i];
        /* Large enough for the longest string key (crl_url) and any number. */
        char value[CT_CONFIG_CRL_URL_MAX + 1], dflt[CT_CONFIG_CRL_URL_MAX + 1], range[80] = "";
        if (k->type == KEY_STRING) {
            /* Bounded by the field size in case the caller left a buffer unterminated. */
            snprintf(value, sizeof(value), "%.*s", (int)k->size - 1, (const char *)cfg + k->offset);
            snprintf(dflt, sizeof(dflt), "%.*s", (int)k->size - 1, (const char *)&def + k->offset);
        } else {
            format_number(k, get_number(cfg, k), value, sizeof(value));
            format_number(k, get_number(&def, k), dflt, sizeof(dflt));
            describe_range(k, range, sizeof(range));
        }
        if (k->type == KEY_STRING && value[0] == '\0') {
            /* An empty value does not load: a key that is off by default is shown commented. */
            fprintf(m, "\n# %s (default: none).\n# %s = \n", k->help, k->name);
            continue;
        }
        if (dflt[0] == '\0') {
            fprintf(m, "\n# %s (default: none).\n%s = %s\n", k->help, k->name, value);
            continue;
        }
        fprintf(m, "\n# %s (default %s%s%s).\n%s = %s\n", k->help, dflt, range[0] ? "; " : "",
                range, k->name, value);
    }
    if (fclose(m) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* Writes the rendered settings as a new file; never replaces an existing one. */
int ct_config_write(const char *path, const ct_config_t *cfg, char *errbuf, size_t errlen)
{
    char *text = render(cfg); /* owned here */
    if (text == NULL)
        return ct_errf(errbuf, errlen, CT_ENOMEM, "cannot write config %s: out of memory", path);
    int rc = ct_file_write_new(path, "config", text, strlen(text), 0644, errbuf, errlen);
    free(text);
    return rc;
}
