/*
 * The command-line grammar every careteam command shares: the global options, their help text,
 * and the getopt_long loop that handles them wherever they appear.
 *
 * Global options are accepted before and after the command name: main parses the ones before
 * with CT_CLI_GLOBAL_OPTIONS alone, and each command's option table ends with
 * CT_CLI_GLOBAL_OPTIONS, so ct_cli_next_option handles the global ones and hands the command
 * only its own (codes from CT_CLI_OPT_COMMAND). Scanning stops at the first operand ("+" in the
 * optstring), so a command name or a body never reads as an option.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char ct_cli_global_help[] =
    "global options (accepted before or after the command):\n"
    "  --server HOST:PORT  the server (default " CT_CLI_DEFAULT_SERVER
    ")      env CARETEAM_SERVER\n"
    "  --cert FILE         your member certificate (PEM)            env CARETEAM_CERT\n"
    "  --key FILE          your private key (PEM)                   env CARETEAM_KEY\n"
    "  --ca FILE           the careteam CA certificate (PEM)        env CARETEAM_CA\n"
    "  --crl FILE          the CA's revocation list (crl.pem)       env CARETEAM_CRL\n"
    "                      optional: refuse a server whose certificate it revokes\n"
    "                      (without it, the server is not checked for revocation)\n"
    "  --profile NAME      read the settings above from a profile   env CARETEAM_PROFILE\n"
    "  --json              print JSON Lines, one object per line, for scripts\n"
    "  --timeout SECONDS   limit for connecting and for each answer\n"
    "                      (default 10 s to connect, 30 s per request)\n"
    "  -h, --help          show help\n"
    "  --version           show the version\n";

static int parse_seconds(const char *s, int *ms_out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > 86400.0)
        return -1;
    int ms = (int)(v * 1000.0);
    *ms_out = ms > 0 ? ms : 1;
    return 0;
}

/* Handles a global option. Returns 0, or -1 with cli->exit_code set (usage error, or --help /
 * --version already printed). */
static int global_option(cli_t *cli, int c, const char *arg)
{
    switch (c) {
    case CT_CLI_OPT_SERVER:
        cli->flags.v[CT_CLI_SERVER] = arg;
        return 0;
    case CT_CLI_OPT_CERT:
        cli->flags.v[CT_CLI_CERT] = arg;
        return 0;
    case CT_CLI_OPT_KEY:
        cli->flags.v[CT_CLI_KEY] = arg;
        return 0;
    case CT_CLI_OPT_CA:
        cli->flags.v[CT_CLI_CA] = arg;
        return 0;
    case CT_CLI_OPT_CRL:
        cli->flags.v[CT_CLI_CRL] = arg;
        return 0;
    case CT_CLI_OPT_PROFILE:
        cli->flags.profile = arg;
        return 0;
    case CT_CLI_OPT_JSON:
        cli->out.format = CT_OUT_JSON;
        return 0;
    case CT_CLI_OPT_TIMEOUT: {
        int ms;
        if (parse_seconds(arg, &ms) != 0) {
            ct_cli_usage_error(
                cli, "--timeout '%s' is not a number of seconds (more than 0, at most 86400)", arg);
            return -1;
        }
        cli->connect_timeout_ms = ms;
        cli->request_timeout_ms = ms;
        return 0;
    }
    case CT_CLI_OPT_VERSION:
        ct_cli_print_version();
        cli->exit_code = CT_CLI_EXIT_OK;
        return -1;
    case 'h':
        ct_cli_print_help(cli->command);
        cli->exit_code = CT_CLI_EXIT_OK;
        return -1;
    default:
        ct_cli_usage_error(cli, "unhandled option");
        return -1;
    }
}

int ct_cli_next_option(cli_t *cli, int argc, char **argv, const struct option *opts)
{
    for (;;) {
        int c = getopt_long(argc, argv, "+:h", opts, NULL);
        if (c == -1)
            return 0;
        if (c == '?') {
            if (optopt >= 256)
                ct_cli_usage_error(cli, "option '%s' takes no value", argv[optind - 1]);
            else if (optopt != 0)
                ct_cli_usage_error(cli, "unknown option '-%c'", optopt);
            else
                ct_cli_usage_error(cli, "unknown option '%s'", argv[optind - 1]);
            return -1;
        }
        if (c == ':') {
            ct_cli_usage_error(cli, "option '%s' needs a value", argv[optind - 1]);
            return -1;
        }
        if (c >= CT_CLI_OPT_COMMAND)
            return c;
        if (global_option(cli, c, optarg) != 0)
            return -1;
    }
}

int ct_cli_no_operands(cli_t *cli, int c, int argc, char **argv)
{
    if (c < 0)
        return -1;
    if (optind < argc) {
        ct_cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
        return -1;
    }
    return 0;
}

int ct_cli_plain_options(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {CT_CLI_GLOBAL_OPTIONS, {0}};
    int c = ct_cli_next_option(cli, argc, argv, opts);
    if (c > 0) {
        ct_cli_usage_error(cli, "unhandled option");
        return -1;
    }
    return ct_cli_no_operands(cli, c, argc, argv);
}

int ct_cli_next_arg(cli_t *cli, int argc, char **argv, const struct option *opts,
                    const char **operand)
{
    /* "--" is handled here, not by getopt: after it, glibc's getopt rewinds optind to the first
     * operand once it reaches the end, so an operand taken after "--" would come back. Between
     * calls getopt is always at an element boundary (optind 0 means 1, before the first call). */
    int next = optind == 0 ? 1 : optind;
    if (!cli->operands_only && next < argc && strcmp(argv[next], "--") == 0) {
        cli->operands_only = true;
        optind = next + 1;
    }
    if (!cli->operands_only) {
        int c = ct_cli_next_option(cli, argc, argv, opts);
        if (c != 0)
            return c;
    }
    if (optind >= argc)
        return 0;
    /* getopt stopped at an operand ("+": it does not permute). Taking it and moving optind past
     * it lets the next getopt_long call go on with the options after it. */
    *operand = argv[optind++];
    return CT_CLI_ARG_OPERAND;
}

int ct_cli_next_option_id(cli_t *cli, int argc, char **argv, const struct option *opts,
                          const ct_cli_id_operand_t *spec, const char **id)
{
    const char *arg;
    int c;
    while ((c = ct_cli_next_arg(cli, argc, argv, opts, &arg)) == CT_CLI_ARG_OPERAND) {
        if (*id != NULL) {
            ct_cli_usage_error(cli, "unexpected argument '%s'", arg);
            return -1;
        }
        if (ct_cli_check_uuid(cli, spec->name, arg, spec->what, spec->list) != 0)
            return -1;
        *id = arg;
    }
    if (c == 0 && *id == NULL) {
        ct_cli_usage_error(cli, "missing %s (as `%s` prints it)", spec->name, spec->list);
        return -1;
    }
    return c;
}

/* "record, withdraw, list": the names in subs. */
static const char *subcommand_names(const ct_cli_subcommand_t *subs, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (const ct_cli_subcommand_t *s = subs; s->name != NULL && used < len; s++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", s == subs ? "" : ", ", s->name);
    return buf;
}

int ct_cli_run_subcommand(cli_t *cli, int argc, char **argv, const ct_cli_subcommand_t *subs)
{
    static const struct option opts[] = {CT_CLI_GLOBAL_OPTIONS, {0}};
    char names[256];
    int c = ct_cli_next_option(cli, argc, argv, opts);
    if (c > 0)
        return ct_cli_usage_error(cli, "unhandled option");
    if (c < 0)
        return cli->exit_code;
    if (optind >= argc)
        return ct_cli_usage_error(cli, "no subcommand given (one of: %s)",
                                  subcommand_names(subs, names, sizeof names));
    const ct_cli_subcommand_t *sub = subs;
    while (sub->name != NULL && strcmp(sub->name, argv[optind]) != 0)
        sub++;
    if (sub->name == NULL)
        return ct_cli_usage_error(cli, "unknown subcommand '%s' (one of: %s)", argv[optind],
                                  subcommand_names(subs, names, sizeof names));
    snprintf(cli->command_buf, sizeof cli->command_buf, "%s %s", cli->command, sub->name);
    cli->command = cli->command_buf;
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    optind = 0; /* GNU getopt: 0 restarts the scan, at sub_argv[1] */
    return sub->run(cli, sub_argc, sub_argv);
}

void ct_cli_print_subcommands(FILE *f, const char *command, const ct_cli_subcommand_t *subs)
{
    fprintf(f, "subcommands (`careteam %s SUBCOMMAND --help` for each):\n", command);
    for (const ct_cli_subcommand_t *s = subs; s->name != NULL; s++)
        fprintf(f, "  %-10s  %s\n", s->name, s->summary);
}
