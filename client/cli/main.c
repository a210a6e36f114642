/*
 * careteam: the command-line client of careteamd.
 *
 *   careteam [GLOBAL OPTIONS] COMMAND [OPTIONS]
 *
 * This file is the program entry: it parses the global options before the command, finds the
 * command in one table (name, summary, help, run function) and runs it with the rest of argv.
 * It also prints `careteam --help`, each command's help frame and --version. The other files are
 * listed in cli.h; settings come from settings.c, everything printed on stdout from output.c, and
 * the protocol only from libcareteam's blocking layer (ct_sync_*).
 *
 * Exit codes are those of cli.h, documented in MAIN_HELP_TAIL below.
 *
 * To add a command: write cmd_<name>.c with its run function and help text, declare both in
 * cli.h, and add a row to COMMANDS.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define CONNECT_TIMEOUT_MS 10000
#define REQUEST_TIMEOUT_MS 30000

typedef struct command {
    const char *name;
    const char *summary; /* one line for `careteam --help` */
    const char *help;    /* the whole `careteam NAME --help` text */
    int (*run)(cli_t *cli, int argc, char **argv);
} command_t;

static const command_t COMMANDS[] = {
    {"whoami", "show who the server says you are", ct_cli_whoami_help, ct_cli_cmd_whoami},
    {"send", "send a message to team members", ct_cli_send_help, ct_cli_cmd_send},
    {"inbox", "print pending messages and mark them received", ct_cli_inbox_help, ct_cli_cmd_inbox},
    {"watch", "print messages as they arrive, until interrupted", ct_cli_watch_help,
     ct_cli_cmd_watch},
    {"help", "show help for a command (careteam help COMMAND)", ct_cli_help_help, ct_cli_cmd_help},
    {NULL, NULL, NULL, NULL},
};

/* ---- help and version ----------------------------------------------------------------------- */

static const char USAGE_HEAD[] = "usage: careteam [GLOBAL OPTIONS] COMMAND [OPTIONS]\n";

static const char MAIN_HELP_TAIL[] =
    "\n"
    "settings: a flag wins over its environment variable, which wins over the profile.\n"
    "A profile NAME containing '/' is a file; otherwise it is\n"
    "$XDG_CONFIG_HOME/careteam/NAME.conf (by default ~/.config/careteam/NAME.conf).\n"
    "A profile holds `key = value` lines with the keys server, cert, key and ca, and\n"
    "# comments; relative paths in it are relative to the profile's directory.\n"
    "\n"
    "exit codes:\n"
    "  0  success\n"
    "  1  the server refused the request (\"careteam: CODE: message\" on stderr)\n"
    "  2  usage error: unknown option, bad argument, or a setting missing\n"
    "  3  cannot connect: network, TLS or authentication failure, no answer in time,\n"
    "     or the connection was lost\n"
    "  4  local file problem: body file, profile, credential file, or writing output\n"
    "\n"
    "Run `careteam COMMAND --help` for a command's options and its --json output.\n";

/* The command called name. NULL if none. */
static const command_t *find_command(const char *name)
{
    for (const command_t *c = COMMANDS; c->name != NULL; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

/* "whoami, send, inbox, watch, help": the command names, for messages that list them. */
static const char *command_names(char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const command_t *c = COMMANDS; c->name != NULL && used < len; c++)
        used +=
            (size_t)snprintf(buf + used, len - used, "%s%s", c == COMMANDS ? "" : ", ", c->name);
    return buf;
}

static void print_main_help(void)
{
    fputs(USAGE_HEAD, stdout);
    fputs("\nThe careteam command-line client: send and read care-team messages.\n\ncommands:\n",
          stdout);
    for (const command_t *c = COMMANDS; c->name != NULL; c++)
        printf("  %-8s  %s\n", c->name, c->summary);
    fputs("\n", stdout);
    fputs(ct_cli_global_help, stdout);
    fputs(MAIN_HELP_TAIL, stdout);
}

static void print_command_help(const command_t *c)
{
    fputs(c->help, stdout);
    fputs("\n", stdout);
    fputs(ct_cli_global_help, stdout);
    fputs("\nExit codes: see `careteam --help`.\n", stdout);
}

int ct_cli_print_help(const char *name)
{
    if (name == NULL) {
        print_main_help();
        return 0;
    }
    const command_t *c = find_command(name);
    if (c == NULL)
        return -1;
    print_command_help(c);
    return 0;
}

void ct_cli_print_version(void)
{
    printf("careteam %s (%s, protocol %d)\n", CT_VERSION, CT_CLI_CLIENT_NAME,
           CARETEAM__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT);
}

/* ---- entry ---------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    /* A closed stdout shows up as a write error (exit 4), not a silent death by SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    cli_t cli = {
        .out = {.f = stdout, .format = CT_OUT_HUMAN},
        .connect_timeout_ms = CONNECT_TIMEOUT_MS,
        .request_timeout_ms = REQUEST_TIMEOUT_MS,
    };
    opterr = 0;
    char names[256];

    /* Global options before the command. */
    static const struct option opts[] = {CT_CLI_GLOBAL_OPTIONS, {0}};
    int c;
    while ((c = ct_cli_next_option(&cli, argc, argv, opts)) > 0)
        ;
    if (c < 0)
        return cli.exit_code;
    if (optind >= argc) {
        ct_cli_errorf("no command given");
        fputs(USAGE_HEAD, stderr);
        fprintf(stderr, "commands: %s. Run `careteam --help`.\n",
                command_names(names, sizeof names));
        return CT_CLI_EXIT_USAGE;
    }
    const command_t *cmd = find_command(argv[optind]);
    if (cmd == NULL)
        return ct_cli_usage_error(&cli, "unknown command '%s' (commands: %s)", argv[optind],
                                  command_names(names, sizeof names));
    cli.command = cmd->name;
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    optind = 0; /* GNU getopt: 0 restarts the scan, at sub_argv[1] */
    int rc = cmd->run(&cli, sub_argc, sub_argv);
    ct_cli_settings_free(&cli.settings);
    if (fflush(stdout) != 0 && rc == CT_CLI_EXIT_OK)
        rc = ct_cli_report_output_failure(errno);
    return rc;
}
