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
 * cli.h, and add a row to COMMANDS. A command with subcommands (consent record, ...) gives its
 * table of them instead of a run function; main runs the one named with ct_cli_run_subcommand.
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
    const char *help;    /* the whole `careteam NAME --help` text (without its subcommands) */
    int (*run)(cli_t *cli, int argc, char **argv); /* NULL when it has subcommands */
    const ct_cli_subcommand_t *subs;               /* NULL when it has none */
} command_t;

static const command_t COMMANDS[] = {
    {"whoami", "show who the server says you are", ct_cli_whoami_help, ct_cli_cmd_whoami, NULL},
    {"send", "send a message to team members", ct_cli_send_help, ct_cli_cmd_send, NULL},
    {"inbox", "print pending messages and mark them received", ct_cli_inbox_help, ct_cli_cmd_inbox,
     NULL},
    {"watch", "print messages as they arrive, until interrupted", ct_cli_watch_help,
     ct_cli_cmd_watch, NULL},
    {"consent", "record, withdraw or list a participant's consents", ct_cli_consent_help, NULL,
     ct_cli_consent_subcommands},
    {"lockbox", "restrict a member from a participant, or lift it", ct_cli_lockbox_help, NULL,
     ct_cli_lockbox_subcommands},
    {"refer", "refer a participant to a peer worker or the queue", ct_cli_refer_help,
     ct_cli_cmd_refer, NULL},
    {"referrals", "list the referrals you may see", ct_cli_referrals_help, ct_cli_cmd_referrals,
     NULL},
    {"referral", "accept, decline, start, hold, resume, complete, cancel, reassign",
     ct_cli_referral_help, NULL, ct_cli_referral_subcommands},
    {"summary", "post a session summary (summary post)", ct_cli_summary_help, NULL,
     ct_cli_summary_subcommands},
    {"summaries", "list the session summaries of a participant or referral", ct_cli_summaries_help,
     ct_cli_cmd_summaries, NULL},
    {"concern", "raise a safety concern about a participant", ct_cli_concern_help,
     ct_cli_cmd_concern, NULL},
    {"alerts", "list safety alerts", ct_cli_alerts_help, ct_cli_cmd_alerts, NULL},
    {"alert", "acknowledge a safety alert (alert ack)", ct_cli_alert_help, NULL,
     ct_cli_alert_subcommands},
    {"audit", "query or export the audit log (compliance)", ct_cli_audit_help, NULL,
     ct_cli_audit_subcommands},
    {"profile", "add, list, show, remove profiles, and choose the default", ct_cli_profile_help,
     NULL, ct_cli_profile_subcommands},
    {"help", "show help for a command (careteam help COMMAND [SUBCOMMAND])", ct_cli_help_help,
     ct_cli_cmd_help, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* ---- help and version ----------------------------------------------------------------------- */

static const char USAGE_HEAD[] = "usage: careteam [GLOBAL OPTIONS] COMMAND [OPTIONS]\n";

static const char MAIN_HELP_TAIL[] =
    "\n"
    "settings: a flag wins over its environment variable, which wins over the profile:\n"
    "the one named by --profile or CARETEAM_PROFILE, else the default profile (set with\n"
    "`careteam profile default NAME`) for whatever flags and environment leave unset.\n"
    "A profile NAME containing '/' is a file; otherwise it is\n"
    "$XDG_CONFIG_HOME/careteam/NAME.conf (by default ~/.config/careteam/NAME.conf),\n"
    "made by `careteam profile add`. A profile holds `key = value` lines with the keys\n"
    "server, cert, key and ca, and # comments; relative paths in it are relative to the\n"
    "profile's directory. A profile, its directory or a private key that others may write\n"
    "is refused (the message says which chmod to run).\n"
    "\n"
    "output: tables and colour on a terminal (colour off with NO_COLOR=1 or TERM=dumb);\n"
    "plain text when piped; --json for scripts.\n"
    "\n"
    "exit codes:\n"
    "  0  success\n"
    "  1  the server refused the request (\"careteam: CODE: message\" on stderr)\n"
    "  2  usage error: unknown option, bad argument, or a setting missing\n"
    "  3  cannot connect: network, TLS or authentication failure, no answer in time,\n"
    "     or the connection was lost\n"
    "  4  local file problem: body file, profile, credential file, unsafe permissions,\n"
    "     or writing output\n"
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
    fputs("\nThe careteam command-line client: care-team messages, consents, referrals to peer\n"
          "support, session summaries, safety alerts and the audit log.\n\ncommands:\n",
          stdout);
    for (const command_t *c = COMMANDS; c->name != NULL; c++)
        printf("  %-9s  %s\n", c->name, c->summary);
    fputs("\n", stdout);
    fputs(ct_cli_global_help, stdout);
    fputs(MAIN_HELP_TAIL, stdout);
}

/* Prints help (a command's or a subcommand's text), then, for a command with subcommands,
 * their list, then the global options. */
static void print_command_help(const char *help, const command_t *with_subs)
{
    fputs(help, stdout);
    if (with_subs != NULL)
        ct_cli_print_subcommands(stdout, with_subs->name, with_subs->subs);
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
    /* "CMD" or "CMD SUB" (cli->command while a subcommand runs). */
    char cmd[64];
    const char *sub = strchr(name, ' ');
    snprintf(cmd, sizeof cmd, "%.*s", sub != NULL ? (int)(sub - name) : (int)strlen(name), name);
    const command_t *c = find_command(cmd);
    if (c == NULL)
        return -1;
    if (sub == NULL) {
        print_command_help(c->help, c->subs != NULL ? c : NULL);
        return 0;
    }
    for (const ct_cli_subcommand_t *s = c->subs; s != NULL && s->name != NULL; s++) {
        if (strcmp(s->name, sub + 1) == 0) {
            print_command_help(s->help, NULL);
            return 0;
        }
    }
    return -1;
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
        .connect_timeout_ms = CONNECT_TIMEOUT_MS,
        .request_timeout_ms = REQUEST_TIMEOUT_MS,
    };
    ct_out_init(&cli.out, stdout, CT_OUT_HUMAN);
    ct_cli_errors_init();
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
    int rc = cmd->subs != NULL ? ct_cli_run_subcommand(&cli, sub_argc, sub_argv, cmd->subs)
                               : cmd->run(&cli, sub_argc, sub_argv);
    ct_cli_settings_free(&cli.settings);
    if (fflush(stdout) != 0 && rc == CT_CLI_EXIT_OK)
        rc = ct_cli_report_output_failure(errno);
    return rc;
}
