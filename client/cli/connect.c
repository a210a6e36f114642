/*
 * Connecting the careteam CLI to the server, and explaining a failed connect.
 *
 * ct_cli_connect is the only place that turns settings into a connection: it loads and checks
 * the settings (settings.c), then connects through libcareteam's blocking layer (ct_sync_*); the
 * CLI never builds frames or touches TLS itself. A failure is reported with what failed and a
 * "hint:" line saying what to check, naming where the suspect setting came from.
 *
 * Before connecting, the member and CA certificates' dates are read locally (certinfo.c): an
 * expired certificate would otherwise end in a bare TLS alert from the server, while the CLI can
 * say when it expired and how to get a new one. A certificate that expires within
 * CERT_WARN_DAYS draws a warning. A revocation list (--crl) is checked to be one and nothing
 * else, since the TLS layer would trust a certificate found in it.
 *
 * With --crl, a server whose certificate the list revokes fails the handshake ("certificate
 * revoked"); that is reported as what it is, a server not to be trusted, never as a wrong CA.
 * Without --crl the server's certificate is not checked for revocation at all.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "certinfo.h"
#include "cli.h"

#define CERT_WARN_DAYS 14
#define DAY_MS 86400000LL

static bool contains(const char *s, const char *needle)
{
    return s != NULL && strstr(s, needle) != NULL;
}

/* "hint: ..." on stderr, after an error line. */
static void hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void hint(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("hint: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n", stderr);
    va_end(ap);
}

/*
 * Explains a failed ct_sync_connect: what failed, and what to check. libcareteam reports the
 * stage only in its text, so the hint is chosen from that text; any text it does not recognise
 * gets the general hint.
 */
static int report_connect_failure(cli_t *cli, int r, const char *why)
{
    char where[4200];
    const char *server = cli->settings.v[CT_CLI_SERVER].value;
    if (r == CT_ETLS && contains(why, "revocation list")) {
        ct_cli_origin_describe(&cli->settings, CT_CLI_CRL, where, sizeof where);
        ct_cli_errorf("cannot use the revocation list (from %s): %s", where, why);
        hint("--crl is the CA's crl.pem (PEM), as your careteam administrator publishes it");
        return CT_CLI_EXIT_FILE;
    }
    if (r == CT_ETLS) {
        /* Only loading the local files (ct_client_new) fails with CT_ETLS before connecting. */
        ct_cli_errorf("cannot use your credentials: %s", why);
        hint("--cert and --key are the PREFIX.crt and PREFIX.key written by `careteamd enroll`, "
             "and --ca is the server's ca.crt (all PEM)");
        return CT_CLI_EXIT_FILE;
    }
    if (r == CT_EINVAL) {
        ct_cli_errorf("%s", why);
        return CT_CLI_EXIT_USAGE;
    }
    ct_cli_origin_describe(&cli->settings, CT_CLI_SERVER, where, sizeof where);
    if (r == CT_ETIMEDOUT) {
        ct_cli_errorf("cannot connect to %s: no answer within %.3g s", server,
                      cli->connect_timeout_ms / 1000.0);
        hint("check the server address (from %s) and that careteamd is running and reachable "
             "there",
             where);
        return CT_CLI_EXIT_CONNECT;
    }
    if (contains(why, "cannot connect") || contains(why, "cannot resolve")) {
        ct_cli_errorf("%s", why); /* it names the address already */
        hint("check the server address (from %s) and that careteamd is running there", where);
        return CT_CLI_EXIT_CONNECT;
    }
    const char *crl = cli->settings.v[CT_CLI_CRL].value;
    if (crl != NULL && contains(why, "certificate revoked")) {
        ct_cli_origin_describe(&cli->settings, CT_CLI_CRL, where, sizeof where);
        ct_cli_errorf("cannot connect to %s: the server's certificate is revoked by %s (from %s); "
                      "no request was sent",
                      server, crl, where);
        hint("its CA withdrew the certificate the server at %s presents (its key may be in other "
             "hands): do not get around this by removing the revocation list; ask your careteam "
             "administrator for the daemon's new certificate or, if the CA was replaced, the new "
             "ca.crt and crl.pem",
             server);
        return CT_CLI_EXIT_CONNECT;
    }
    ct_cli_errorf("cannot connect to %s: %s", server, why[0] != '\0' ? why : ct_strerror(r));
    if (crl != NULL && contains(why, "CRL")) {
        /* "unable to get certificate CRL", "CRL has expired", "CRL signature failure", ... */
        ct_cli_origin_describe(&cli->settings, CT_CLI_CRL, where, sizeof where);
        hint("the revocation list %s (from %s) cannot vouch for the server's certificate: it must "
             "be the current crl.pem of the server's own CA; ask your careteam administrator "
             "where it is published (crl_url)",
             crl, where);
    } else if (contains(why, "certificate verify failed")) {
        ct_cli_origin_describe(&cli->settings, CT_CLI_CA, where, sizeof where);
        hint("the server's certificate is not signed by your CA: check that %s (from %s) is the "
             "ca.crt of the server at %s",
             cli->settings.v[CT_CLI_CA].value, where, server);
    } else if (r == CT_EUNAUTHENTICATED && contains(why, "active member")) {
        hint("the server accepted your certificate but the member is not enrolled or was "
             "deactivated there: ask your administrator (careteamd members / activate)");
    } else if (contains(why, "expired")) {
        hint("a certificate has expired: if it is the server's, tell your careteam administrator; "
             "if it is yours (%s), ask them to re-enroll you",
             cli->settings.v[CT_CLI_CERT].value);
    } else if (r == CT_EUNAUTHENTICATED || contains(why, "alert")) {
        hint("the server refused your certificate: check that --ca matches the server, that "
             "--cert and --key were issued by this server's CA (careteamd enroll), and that the "
             "member is enrolled and active");
    } else {
        hint("check the server address (from %s), that --ca matches the server, and that the "
             "member is enrolled and active",
             where);
    }
    return CT_CLI_EXIT_CONNECT;
}

/* The name of the profile the settings came from, for a command to repeat ("NAME"), into out. */
static const char *profile_name(const cli_t *cli, char *out, size_t len)
{
    const char *path = cli->settings.profile;
    if (path == NULL)
        return "NAME";
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".conf") == 0)
        n -= 5;
    snprintf(out, len, "%.*s", (int)n, base);
    return out;
}

/*
 * Checks the validity dates of the certificate of setting k (the member's or the CA's) against
 * the clock. Returns 0 (also when the file cannot be read as a certificate: the TLS layer then
 * reports it), or CT_CLI_EXIT_CONNECT with the problem and what to do reported.
 */
static int check_cert_dates(cli_t *cli, ct_cli_key_t k)
{
    const char *path = cli->settings.v[k].value;
    ct_cli_cert_info_t info;
    char e[512], t[CT_CLI_TIME_LEN], where[4200], name[128];
    if (ct_cli_cert_read(path, &info, e, sizeof e) != 0)
        return 0;
    int64_t now = (int64_t)time(NULL) * 1000;
    ct_cli_origin_describe(&cli->settings, k, where, sizeof where);
    bool mine = k == CT_CLI_CERT;
    const char *what = mine ? "your certificate" : "the careteam CA certificate";
    if (now >= info.not_after_ms) {
        ct_cli_format_time(info.not_after_ms, t);
        long long days = (now - info.not_after_ms) / DAY_MS;
        ct_cli_errorf("%s %s (from %s%s%s) expired on %s (%lld day%s ago); the server refuses it",
                      what, path, where, mine && info.subject_cn[0] != '\0' ? ", member " : "",
                      mine ? info.subject_cn : "", t, days, days == 1 ? "" : "s");
        if (mine)
            hint("ask your careteam administrator to re-enroll you (a new certificate and key "
                 "for member %s: `careteamd renew DIR --id %s --out PREFIX` on the server), "
                 "then use them: "
                 "careteam profile add %s --server %s --cert NEW.crt --key NEW.key --ca %s%s%s "
                 "--force",
                 info.subject_cn[0] != '\0' ? info.subject_cn : "ID",
                 info.subject_cn[0] != '\0' ? info.subject_cn : "ID",
                 profile_name(cli, name, sizeof name), cli->settings.v[CT_CLI_SERVER].value,
                 cli->settings.v[CT_CLI_CA].value,
                 cli->settings.v[CT_CLI_CRL].value != NULL ? " --crl " : "",
                 cli->settings.v[CT_CLI_CRL].value != NULL ? cli->settings.v[CT_CLI_CRL].value
                                                           : "");
        else
            hint("ask your careteam administrator for the server's current ca.crt");
        return CT_CLI_EXIT_CONNECT;
    }
    if (now < info.not_before_ms) {
        ct_cli_format_time(info.not_before_ms, t);
        ct_cli_errorf("%s %s (from %s) is not valid until %s", what, path, where, t);
        hint("check this computer's date and time (`date -u`); the certificate is new or the "
             "clock is wrong");
        return CT_CLI_EXIT_CONNECT;
    }
    if (info.not_after_ms - now < CERT_WARN_DAYS * DAY_MS) {
        ct_cli_format_time(info.not_after_ms, t);
        ct_cli_errorf("warning: %s %s expires on %s: ask your careteam administrator %s before "
                      "then",
                      what, path, t, mine ? "to re-enroll you" : "for the new ca.crt");
    }
    return 0;
}

/*
 * Checks the revocation list, when one is set, to be a revocation list and nothing else
 * (certinfo.h says why). Returns 0 (also when none is set), or CT_CLI_EXIT_FILE with the problem
 * reported.
 */
static int check_crl(cli_t *cli)
{
    const char *path = cli->settings.v[CT_CLI_CRL].value;
    if (path == NULL)
        return 0;
    ct_cli_crl_info_t info;
    char e[4400], where[4200];
    if (ct_cli_crl_read(path, &info, e, sizeof e) == 0)
        return 0;
    ct_cli_origin_describe(&cli->settings, CT_CLI_CRL, where, sizeof where);
    ct_cli_errorf("cannot use the revocation list (from %s): %s", where, e);
    hint("--crl is the CA's crl.pem (PEM), as your careteam administrator publishes it");
    return CT_CLI_EXIT_FILE;
}

int ct_cli_connect(cli_t *cli, ct_sync_t **out)
{
    char err[4400], warn[4400];
    *out = NULL;
    int rc = ct_cli_settings_load(&cli->flags, &cli->settings, err, sizeof err);
    if (rc == 0)
        rc = ct_cli_settings_check(&cli->settings, err, sizeof err, warn, sizeof warn);
    if (rc != 0) {
        ct_cli_errorf("%s", err);
        return rc;
    }
    if (warn[0] != '\0')
        ct_cli_errorf("warning: %s", warn);
    rc = check_cert_dates(cli, CT_CLI_CERT);
    if (rc == 0)
        rc = check_cert_dates(cli, CT_CLI_CA);
    if (rc == 0)
        rc = check_crl(cli);
    if (rc != 0)
        return rc;
    ct_client_opts_t opts = {
        .server = cli->settings.v[CT_CLI_SERVER].value,
        .cert = cli->settings.v[CT_CLI_CERT].value,
        .key = cli->settings.v[CT_CLI_KEY].value,
        .ca = cli->settings.v[CT_CLI_CA].value,
        .crl = cli->settings.v[CT_CLI_CRL].value,
        .client_name = CT_CLI_CLIENT_NAME,
    };
    char why[1024] = "";
    int r = ct_sync_connect(&opts, cli->connect_timeout_ms, out, why, sizeof why);
    if (r != 0)
        return report_connect_failure(cli, r, why);
    return 0;
}
