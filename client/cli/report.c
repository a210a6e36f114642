/*
 * How the careteam CLI reports a failure on stderr, and the exit code each kind maps to.
 *
 * Every failure other than a failed connect (connect.c) is reported here, so that one kind of
 * failure always reads the same and always exits with the same code (cli.h):
 *   bad command line              -> CT_CLI_EXIT_USAGE    (plus where to find the usage)
 *   Error response from server    -> CT_CLI_EXIT_REFUSED  ("careteam: CODE: message")
 *   request timed out or lost     -> CT_CLI_EXIT_CONNECT
 *   stdout cannot be written      -> CT_CLI_EXIT_FILE
 *   out of memory                 -> CT_CLI_EXIT_FILE
 * Messages go through ct_cli_errorf (output.c), which escapes control characters that may come
 * from the server.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int ct_cli_usage_error(cli_t *cli, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cli->command != NULL) {
        ct_cli_errorf("%s: %s", cli->command, msg);
        fprintf(stderr, "Run `careteam %s --help` for usage.\n", cli->command);
    } else {
        ct_cli_errorf("%s", msg);
        fprintf(stderr, "Run `careteam --help` for usage.\n");
    }
    cli->exit_code = CT_CLI_EXIT_USAGE;
    return CT_CLI_EXIT_USAGE;
}

int ct_cli_out_of_memory(cli_t *cli)
{
    ct_cli_errorf("out of memory");
    cli->exit_code = CT_CLI_EXIT_FILE;
    return CT_CLI_EXIT_FILE;
}

int ct_cli_report_refusal(const Careteam__V1__Envelope *resp)
{
    int code = resp->error != NULL ? (int)resp->error->code : 0;
    const char *msg = ct_response_message(resp);
    ct_cli_errorf("%s: %s", ct_wire_code_name(code), msg[0] != '\0' ? msg : "(no message)");
    return CT_CLI_EXIT_REFUSED;
}

int ct_cli_report_call_failure(cli_t *cli, ct_sync_t *s, int r, const char *what)
{
    if (r == CT_ETIMEDOUT)
        ct_cli_errorf("no answer from the server within %.3g s while %s",
                      cli->request_timeout_ms / 1000.0, what);
    else if (r == CT_ECLOSED)
        ct_cli_errorf("the connection closed while %s: %s", what,
                      ct_sync_last_error(s)[0] != '\0' ? ct_sync_last_error(s) : "no reason given");
    else
        ct_cli_errorf("failed while %s: %s", what, ct_strerror(r));
    return CT_CLI_EXIT_CONNECT;
}

int ct_cli_check_answer(cli_t *cli, ct_sync_t *s, int r, const Careteam__V1__Envelope *resp,
                        const char *what)
{
    if (r != 0)
        return ct_cli_report_call_failure(cli, s, r, what);
    if (ct_response_status(resp) != 0)
        return ct_cli_report_refusal(resp);
    return 0;
}

int ct_cli_report_output_failure(int err)
{
    ct_cli_errorf("cannot write to standard output: %s", strerror(err));
    return CT_CLI_EXIT_FILE;
}
