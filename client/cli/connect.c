/*
 * Connecting the careteam CLI to the server, and explaining a failed connect.
 *
 * ct_cli_connect is the only place that turns settings into a connection: it loads and checks
 * the settings (settings.c), then connects through libcareteam's blocking layer (ct_sync_*); the
 * CLI never builds frames or touches TLS itself. A failure is reported with what failed and a
 * "hint:" line saying what to check, naming where the suspect setting came from.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

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
    ct_cli_errorf("cannot connect to %s: %s", server, why[0] != '\0' ? why : ct_strerror(r));
    if (contains(why, "certificate verify failed")) {
        ct_cli_origin_describe(&cli->settings, CT_CLI_CA, where, sizeof where);
        hint("the server's certificate is not signed by your CA: check that %s (from %s) is the "
             "ca.crt of the server at %s",
             cli->settings.v[CT_CLI_CA].value, where, server);
    } else if (r == CT_EUNAUTHENTICATED && contains(why, "active member")) {
        hint("the server accepted your certificate but the member is not enrolled or was "
             "deactivated there: ask your administrator (careteamd members / activate)");
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

int ct_cli_connect(cli_t *cli, ct_sync_t **out)
{
    char err[4400];
    *out = NULL;
    int rc = ct_cli_settings_load(&cli->flags, &cli->settings, err, sizeof err);
    if (rc == 0)
        rc = ct_cli_settings_check(&cli->settings, err, sizeof err);
    if (rc != 0) {
        ct_cli_errorf("%s", err);
        return rc;
    }
    ct_client_opts_t opts = {
        .server = cli->settings.v[CT_CLI_SERVER].value,
        .cert = cli->settings.v[CT_CLI_CERT].value,
        .key = cli->settings.v[CT_CLI_KEY].value,
        .ca = cli->settings.v[CT_CLI_CA].value,
        .client_name = CT_CLI_CLIENT_NAME,
    };
    char why[1024] = "";
    int r = ct_sync_connect(&opts, cli->connect_timeout_ms, out, why, sizeof why);
    if (r != 0)
        return report_connect_failure(cli, r, why);
    return 0;
}
