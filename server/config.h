/*
 * careteamd.conf: the daemon's settings, one `key = value` per line, `#` comments.
 *
 * `careteamd init` writes every key with its default, so the file documents itself. Unknown keys,
 * malformed values and out-of-range numbers are errors that name the line. Sizes accept a K/M/G
 * suffix (powers of 1024); durations accept ms/s/m/h suffixes (default unit: the key's own unit,
 * named in the key, e.g. handshake_timeout_ms).
 *
 * There is one parser. ct_config_check reads the whole file and reports every problem (for
 * `careteamd check-config`); ct_config_load is that same pass, keeping the first error (for
 * `careteamd serve` and the admin commands).
 */
#ifndef CT_CONFIG_H
#define CT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CT_DEFAULT_PORT 7443
/* Longest crl_url; the same bound as pki.h's CT_PKI_CRL_URL_MAX (the certificate holds it). */
#define CT_CONFIG_CRL_URL_MAX 1023

typedef struct ct_config {
    char listen[128];                   /* "HOST:PORT"; default "127.0.0.1:7443" */
    char server_name[128];              /* shown to clients in Welcome; default "careteamd" */
    char log_level[16];                 /* debug|info|warn|error; default "info" */
    uint32_t max_frame;                 /* bytes; default 1 MiB */
    uint32_t max_body;                  /* bytes of a message body; default 64 KiB */
    uint32_t max_subject;               /* bytes; default 256 */
    uint32_t max_recipients;            /* per message; default 64 */
    uint64_t max_output;                /* queued output bytes per connection; default 8 MiB */
    uint32_t max_connections;           /* default 10000 */
    uint32_t rate_limit;                /* requests per connection per second; default 1000 */
    uint32_t handshake_timeout_ms;      /* TLS handshake + Hello; default 10000 */
    uint32_t idle_timeout_ms;           /* no frame received; default 300000 */
    uint32_t member_cert_days;          /* validity of certificates issued by enroll; default 365 */
    uint32_t alert_urgent_deadline_ms;  /* urgent alert unacknowledged -> escalate; 15 min */
    uint32_t alert_concern_deadline_ms; /* concern alert unacknowledged -> escalate; 24 h */
    uint32_t audit_checkpoint_rows;     /* sign a checkpoint after this many audit rows; 1000 */
    uint32_t audit_checkpoint_interval_ms; /* ... or this long, if a row was added; 60 s */
    char user[33]; /* account `serve` switches to when started as root; "" (default): none */
    /* Forwarding of audit records to a syslog collector (syslog_fwd.h). */
    char metrics_listen[128]; /* loopback "HOST:PORT" for Prometheus; "" (default): off */
    char syslog_forward[300]; /* collector "HOST:PORT"; "" (default): no forwarding */
    char syslog_ca[512];      /* CA file for the collector's certificate; relative: in DIR */
    char syslog_cert[512];    /* client certificate for mutual TLS; "" (default): none */
    char syslog_key[512];     /* its private key */
    char syslog_app_name[49]; /* RFC 5424 APP-NAME; default "careteamd" */
    char syslog_facility[16]; /* authpriv (default), auth, local0..local7 */
    /* Where DIR/crl.pem is published (ct_config_crl_url_check); enroll and renew name it in every
     * certificate they issue. `careteamd init` writes it (--crl-url, or file://DIR/crl.pem);
     * "" (the default, and data directories made before it existed): no CRL location. */
    char crl_url[CT_CONFIG_CRL_URL_MAX + 1];
} ct_config_t;

/* Fills cfg with the defaults. */
void ct_config_defaults(ct_config_t *cfg);

/*
 * Reads path over the defaults. Returns 0, CT_ENOTFOUND if the file is missing, or CT_EINVAL with
 * errbuf holding "PATH:LINE: what is wrong" for the first problem.
 */
int ct_config_load(const char *path, ct_config_t *cfg, char *errbuf, size_t errlen);

/* One problem ct_config_check found. */
typedef struct ct_config_problem {
    unsigned line;    /* the line it is on (1-based); 0 when the file could not be read at all */
    bool warning;     /* true: the file still loads (a key set twice: its last value is used) */
    const char *text; /* "PATH:LINE: what is wrong" ("PATH:LINE: warning: ..."); valid only
                         during the callback */
} ct_config_problem_t;

typedef void (*ct_config_report_fn)(const ct_config_problem_t *problem, void *arg);

/*
 * Reads path over the defaults like ct_config_load, but goes on past a problem: report (if not
 * NULL) is called for every one, in line order, then for the rules that relate two keys
 * (max_body <= max_frame - 4K, max_output >= max_frame; checked only when both keys are valid on
 * their own). Returns 0 when there were no errors (warnings allowed), CT_EINVAL when there were,
 * or CT_ENOTFOUND / CT_ESYS when the file cannot be read (reported once, with line 0, as "cannot
 * read PATH: why"). *cfg is always set: the defaults with every valid line applied (so with
 * CT_EINVAL it is not what the daemon would run with: it would not run).
 */
int ct_config_check(const char *path, ct_config_t *cfg, ct_config_report_fn report, void *arg);

/* Writes cfg as a commented careteamd.conf (mode 0644). Fails with CT_EEXISTS if path exists. */
int ct_config_write(const char *path, const ct_config_t *cfg, char *errbuf, size_t errlen);

/*
 * Checks a URL for crl_url (and `careteamd init --crl-url`): an absolute http://HOST/...,
 * https://HOST/... or file:///PATH URL (file://HOST/PATH too) of at most CT_CONFIG_CRL_URL_MAX
 * bytes, made only of the characters RFC 3986 allows (printable ASCII; no spaces or control
 * characters: percent-encode them). Returns NULL when url is acceptable, else what is expected,
 * for a message "invalid crl_url "...": expected <that>".
 */
const char *ct_config_crl_url_check(const char *url);

/* The syslog facility number of a syslog_facility name ("authpriv" -> 10), or -1. */
int ct_config_syslog_facility(const char *name);

/* Splits "HOST:PORT" or "[V6]:PORT" into host and port. Returns 0 or CT_EINVAL. */
int ct_config_split_hostport(const char *s, char *host, size_t hostlen, int *port);

#endif
