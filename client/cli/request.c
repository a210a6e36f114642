/*
 * One request and its answer, for the commands that make exactly one (the care-team workflow:
 * consent, lockbox, refer, referral, summary, concern, alert and their lists).
 *
 * The command builds the Envelope; this connects, sends it, waits, closes, and sorts the outcome
 * into the CLI's exit codes (cli.h), so that every such command reports a refusal, a lost
 * connection or a wrong answer the same way. Most then print the object or list answered, which
 * ct_cli_request_print does for them.
 */
#include "cli.h"

int ct_cli_request(cli_t *cli, Careteam__V1__Envelope *req, Careteam__V1__Envelope__BodyCase want,
                   const char *what, Careteam__V1__Envelope **resp)
{
    ct_sync_t *s;
    *resp = NULL;
    int rc = ct_cli_connect(cli, &s);
    if (rc != 0)
        return rc;
    int r = ct_sync_call(s, req, cli->request_timeout_ms, resp);
    rc = ct_cli_check_answer(cli, s, r, *resp, what);
    if (rc == 0 && (*resp)->body_case != want) {
        /* A server that speaks another version of the protocol, or a bug: not the user's doing. */
        ct_cli_errorf("the server gave an unexpected kind of answer (body %d) while %s",
                      (int)(*resp)->body_case, what);
        rc = CT_CLI_EXIT_CONNECT;
    }
    ct_sync_close(s);
    if (rc != 0) {
        ct_envelope_free(*resp);
        *resp = NULL;
    }
    return rc;
}

int ct_cli_request_print(cli_t *cli, Careteam__V1__Envelope *req,
                         Careteam__V1__Envelope__BodyCase want, const char *what)
{
    Careteam__V1__Envelope *resp;
    int rc = ct_cli_request(cli, req, want, what, &resp);
    if (rc != 0)
        return rc;
    ct_out_answer(&cli->out, resp);
    ct_envelope_free(resp);
    return ct_cli_output_done(cli);
}

int ct_cli_output_done(cli_t *cli)
{
    int e = ct_out_flush(&cli->out);
    return e != 0 ? ct_cli_report_output_failure(e) : CT_CLI_EXIT_OK;
}
