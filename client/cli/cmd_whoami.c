/*
 * careteam whoami: connects and prints who the server says you are.
 *
 * The quickest check that the settings and the certificate work: it needs nothing but the
 * Welcome the server sends on connecting.
 */
#include "cli.h"

const char ct_cli_whoami_help[] =
    "usage: careteam whoami [GLOBAL OPTIONS]\n"
    "\n"
    "Connects and prints who the server says you are: member id, name, role, and the\n"
    "server. A quick check that your settings and certificate work.\n"
    "\n"
    "--json prints one line:\n"
    "  {\"type\":\"whoami\",\"member_id\":..,\"display_name\":..,\"role\":..,\"server\":..,\n"
    "   \"server_name\":..,\"protocol_version\":..}\n";

int ct_cli_cmd_whoami(cli_t *cli, int argc, char **argv)
{
    if (ct_cli_plain_options(cli, argc, argv) != 0)
        return cli->exit_code;
    ct_sync_t *s;
    int rc = ct_cli_connect(cli, &s);
    if (rc != 0)
        return rc;
    const Careteam__V1__Welcome *w = ct_sync_welcome(s);
    ct_out_whoami(&cli->out, w, cli->settings.v[CT_CLI_SERVER].value);
    ct_sync_close(s);
    int e = ct_out_flush(&cli->out);
    return e != 0 ? ct_cli_report_output_failure(e) : CT_CLI_EXIT_OK;
}
