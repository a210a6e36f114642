/*
 * careteam help [COMMAND]: the help of careteam, or of one command, as a command of its own.
 *
 * The texts themselves live beside what they describe (main.c, options.c, each cmd_<name>.c);
 * this only picks which one to print.
 */
#include <stdio.h>

#include "cli.h"

const char ct_cli_help_help[] = "usage: careteam help [COMMAND [SUBCOMMAND]]\n"
                                "\n"
                                "Shows the help of careteam, of COMMAND, or of one of its\n"
                                "subcommands (careteam help referral accept).\n";

int ct_cli_cmd_help(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {CT_CLI_GLOBAL_OPTIONS, {0}};
    int c = ct_cli_next_option(cli, argc, argv, opts);
    if (c > 0)
        return ct_cli_usage_error(cli, "unhandled option");
    if (c < 0)
        return cli->exit_code;
    if (argc - optind > 2)
        return ct_cli_usage_error(cli, "unexpected argument '%s'", argv[optind + 2]);
    char name[128];
    if (argc - optind == 2)
        snprintf(name, sizeof name, "%s %s", argv[optind], argv[optind + 1]);
    else if (optind < argc)
        snprintf(name, sizeof name, "%s", argv[optind]);
    if (ct_cli_print_help(optind < argc ? name : NULL) != 0) {
        /* Not a usage error of `help` itself: the message points at the list of commands. */
        cli->command = NULL;
        return ct_cli_usage_error(cli, "unknown command '%s'", optind < argc ? name : "");
    }
    return CT_CLI_EXIT_OK;
}
