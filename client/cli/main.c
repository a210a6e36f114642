/*
 * careteam: the command-line client of careteamd.
 *
 *   careteam [GLOBAL OPTIONS] COMMAND [OPTIONS]
 *
 * This file is the command line: global options, one table of commands (name, help, run
 * function), and each command's run function. Settings come from settings.c, everything printed
 * on stdout from output.c, and the protocol only from libcareteam's blocking layer (ct_sync_*):
 * the CLI never builds frames or touches TLS itself.
 *
 * Conventions:
 *  - A run function returns a ct_cli_exit_t code (cli.h) and has printed why on stderr when it
 *    is not 0. Exit codes are documented in USAGE below.
 *  - Nothing about a message body is ever written to stderr; bodies go only to stdout.
 *  - inbox and watch acknowledge a message only after it has been written and flushed to stdout
 *    without error, so a full disk or closed pipe leaves it pending on the server.
 *
 * To add a command: write its run function and help text, add a row to COMMANDS. Global options
 * are accepted before and after the command name (GLOBAL_OPTIONS in each option table).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "careteam.h"
#include "cli.h"
#include "ids.h"
#include "output.h"
#include "settings.h"

#define CT_CLI_VERSION "0.1.0" /* keep in step with project(VERSION) in CMakeLists.txt */
#define CT_CLI_CLIENT_NAME "careteam-cli/" CT_CLI_VERSION

#define CONNECT_TIMEOUT_MS 10000
#define REQUEST_TIMEOUT_MS 30000
/* Most message ids in one DeliveryAck, so one ack frame stays far below the 1 MiB frame limit
 * (1024 x 36-byte ids is about 40 KB). */
#define ACK_BATCH 1024
/* watch waits for pushes in slices this long, so a signal (which libuv's poll retries through)
 * ends it within a slice. */
#define WATCH_SLICE_MS 200
/* watch pings an otherwise quiet connection this often, well inside the server's default idle
 * timeout of 5 minutes. */
#define WATCH_PING_MS 60000
/* Largest body file read; the server's own limit (max_body, default 64 KiB) is lower and gives
 * the precise message. This cap only keeps a wrong file (a disk image) out of memory. */
#define BODY_FILE_MAX (64u * 1024u * 1024u)

typedef struct cli {
    ct_cli_flags_t flags; /* --server, --cert, --key, --ca, --profile (borrowed from argv) */
    ct_out_t out;
    int connect_timeout_ms;
    int request_timeout_ms;
    const char *command;        /* the command running, for messages */
    int exit_code;              /* set by next_option when it returns -1 */
    ct_cli_settings_t settings; /* loaded by connect_server; freed by main */
} cli_t;

typedef struct command {
    const char *name;
    const char *summary; /* one line for `careteam --help` */
    const char *help;    /* the whole `careteam NAME --help` text */
    int (*run)(cli_t *cli, int argc, char **argv);
} command_t;

/* ---- help texts ------------------------------------------------------------------------------ */

static const char USAGE_HEAD[] = "usage: careteam [GLOBAL OPTIONS] COMMAND [OPTIONS]\n";

static const char GLOBAL_HELP[] =
    "global options (accepted before or after the command):\n"
    "  --server HOST:PORT  the server (default " CT_CLI_DEFAULT_SERVER
    ")      env CARETEAM_SERVER\n"
    "  --cert FILE         your member certificate (PEM)            env CARETEAM_CERT\n"
    "  --key FILE          your private key (PEM)                   env CARETEAM_KEY\n"
    "  --ca FILE           the careteam CA certificate (PEM)        env CARETEAM_CA\n"
    "  --profile NAME      read the settings above from a profile   env CARETEAM_PROFILE\n"
    "  --json              print JSON Lines, one object per line, for scripts\n"
    "  --timeout SECONDS   limit for connecting and for each answer\n"
    "                      (default 10 s to connect, 30 s per request)\n"
    "  -h, --help          show help\n"
    "  --version           show the version\n";

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

static const char WHOAMI_HELP[] =
    "usage: careteam whoami [GLOBAL OPTIONS]\n"
    "\n"
    "Connects and prints who the server says you are: member id, name, role, and the\n"
    "server. A quick check that your settings and certificate work.\n"
    "\n"
    "--json prints one line:\n"
    "  {\"type\":\"whoami\",\"member_id\":..,\"display_name\":..,\"role\":..,\"server\":..,\n"
    "   \"server_name\":..,\"protocol_version\":..}\n";

static const char SEND_HELP[] =
    "usage: careteam send --to ID[,ID...] (--body TEXT | --body-file FILE) [OPTIONS]\n"
    "\n"
    "Sends a message to one or more members of your team. It is printed as sent once the\n"
    "server has stored it durably; recipients who are offline get it when they connect.\n"
    "\n"
    "options:\n"
    "  --to ID[,ID...]       recipients (member ids); may be given more than once\n"
    "  --body TEXT           the message text\n"
    "  --body-file FILE      read the message text from FILE; '-' reads standard input\n"
    "  --participant ID      the participant the message is about\n"
    "  --subject TEXT        a subject line\n"
    "  --priority P          routine (default), urgent, asap or stat\n"
    "  --client-msg-id ID    your id for this message, 1-64 printable ASCII characters\n"
    "                        without spaces (default: a random \"cli-...\"). Sending again\n"
    "                        with the same id and content returns the first result and never\n"
    "                        delivers twice: use it when a send may have failed midway.\n"
    "\n"
    "--json prints one line:\n"
    "  {\"type\":\"sent\",\"client_msg_id\":..,\"message_id\":..,\"to\":[..],\"stored_at\":..,\n"
    "   \"stored_at_ms\":..,\"duplicate\":false}\n";

static const char INBOX_HELP[] =
    "usage: careteam inbox [--no-ack] [GLOBAL OPTIONS]\n"
    "\n"
    "Prints every message waiting for you, oldest first, then tells the server you have\n"
    "received them so they are not delivered again.\n"
    "\n"
    "options:\n"
    "  --no-ack    leave the messages pending (they are shown again next time)\n"
    "\n"
    "--json prints one line per message and nothing when there is none:\n"
    "  {\"type\":\"message\",\"message_id\":..,\"sender_id\":..,\"sender_role\":..,\"to\":[..],\n"
    "   \"participant_id\":..,\"subject\":..,\"priority\":..,\"body\":..,\"stored_at\":..,\n"
    "   \"stored_at_ms\":..}\n";

static const char WATCH_HELP[] =
    "usage: careteam watch [--count N] [GLOBAL OPTIONS]\n"
    "\n"
    "Prints the messages waiting for you, then each new one as it arrives, and marks each\n"
    "as received once printed. Runs until interrupted (Ctrl-C or SIGTERM, exit 0) or until\n"
    "the connection closes (exit 3, with the reason on stderr).\n"
    "\n"
    "options:\n"
    "  --count N   stop after N messages (exit 0)\n"
    "\n"
    "--json prints one line per message, as `careteam inbox --json` does.\n";

static const char HELP_HELP[] = "usage: careteam help [COMMAND]\n"
                                "\n"
                                "Shows the help of careteam, or of COMMAND.\n";

/* ---- options --------------------------------------------------------------------------------- */

enum {
    OPT_SERVER = 256,
    OPT_CERT,
    OPT_KEY,
    OPT_CA,
    OPT_PROFILE,
    OPT_JSON,
    OPT_TIMEOUT,
    OPT_VERSION,
    /* Command options from here. */
    OPT_TO = 300,
    OPT_BODY,
    OPT_BODY_FILE,
    OPT_PARTICIPANT,
    OPT_SUBJECT,
    OPT_PRIORITY,
    OPT_CLIENT_MSG_ID,
    OPT_NO_ACK,
    OPT_COUNT,
};

/* The global options, at the end of every command's option table. */
/* clang-format off */
#define GLOBAL_OPTIONS                                                                             \
    {"server", required_argument, NULL, OPT_SERVER},                                               \
    {"cert", required_argument, NULL, OPT_CERT},                                                   \
    {"key", required_argument, NULL, OPT_KEY},                                                     \
    {"ca", required_argument, NULL, OPT_CA},                                                       \
    {"profile", required_argument, NULL, OPT_PROFILE},                                             \
    {"json", no_argument, NULL, OPT_JSON},                                                         \
    {"timeout", required_argument, NULL, OPT_TIMEOUT},                                             \
    {"version", no_argument, NULL, OPT_VERSION},                                                   \
    {"help", no_argument, NULL, 'h'}
/* clang-format on */

static const command_t *find_command(const char *name);

static int usage_error(cli_t *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(cli_t *cli, const char *fmt, ...)
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

/* Out of memory in the CLI itself: reported as a local problem (exit 4). */
static int out_of_memory(cli_t *cli)
{
    ct_cli_errorf("out of memory");
    cli->exit_code = CT_CLI_EXIT_FILE;
    return CT_CLI_EXIT_FILE;
}

static void print_main_help(FILE *f)
{
    fputs(USAGE_HEAD, f);
    fputs("\nThe careteam command-line client: send and read care-team messages.\n\ncommands:\n",
          f);
    for (const command_t *c = find_command(NULL); c->name != NULL; c++)
        fprintf(f, "  %-8s  %s\n", c->name, c->summary);
    fputs("\n", f);
    fputs(GLOBAL_HELP, f);
    fputs(MAIN_HELP_TAIL, f);
}

static void print_command_help(const command_t *c)
{
    fputs(c->help, stdout);
    fputs("\n", stdout);
    fputs(GLOBAL_HELP, stdout);
    fputs("\nExit codes: see `careteam --help`.\n", stdout);
}

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
    case OPT_SERVER:
        cli->flags.v[CT_CLI_SERVER] = arg;
        return 0;
    case OPT_CERT:
        cli->flags.v[CT_CLI_CERT] = arg;
        return 0;
    case OPT_KEY:
        cli->flags.v[CT_CLI_KEY] = arg;
        return 0;
    case OPT_CA:
        cli->flags.v[CT_CLI_CA] = arg;
        return 0;
    case OPT_PROFILE:
        cli->flags.profile = arg;
        return 0;
    case OPT_JSON:
        cli->out.format = CT_OUT_JSON;
        return 0;
    case OPT_TIMEOUT: {
        int ms;
        if (parse_seconds(arg, &ms) != 0) {
            usage_error(
                cli, "--timeout '%s' is not a number of seconds (more than 0, at most 86400)", arg);
            return -1;
        }
        cli->connect_timeout_ms = ms;
        cli->request_timeout_ms = ms;
        return 0;
    }
    case OPT_VERSION:
        printf("careteam %s (%s, protocol %d)\n", CT_CLI_VERSION, CT_CLI_CLIENT_NAME,
               CARETEAM__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT);
        cli->exit_code = CT_CLI_EXIT_OK;
        return -1;
    case 'h':
        if (cli->command != NULL)
            print_command_help(find_command(cli->command));
        else
            print_main_help(stdout);
        cli->exit_code = CT_CLI_EXIT_OK;
        return -1;
    default:
        usage_error(cli, "unhandled option");
        return -1;
    }
}

/*
 * getopt_long over argv with the options in opts (a command's own options followed by
 * GLOBAL_OPTIONS). Returns the code of a command option for the caller to handle, 0 when the
 * options are done (optind is at the first operand), or -1 when the command must return
 * cli->exit_code (an error was reported, or --help / --version printed).
 */
static int next_option(cli_t *cli, int argc, char **argv, const struct option *opts)
{
    for (;;) {
        int c = getopt_long(argc, argv, "+:h", opts, NULL);
        if (c == -1)
            return 0;
        if (c == '?') {
            if (optopt >= 256)
                usage_error(cli, "option '%s' takes no value", argv[optind - 1]);
            else if (optopt != 0)
                usage_error(cli, "unknown option '-%c'", optopt);
            else
                usage_error(cli, "unknown option '%s'", argv[optind - 1]);
            return -1;
        }
        if (c == ':') {
            usage_error(cli, "option '%s' needs a value", argv[optind - 1]);
            return -1;
        }
        if (c >= OPT_TO)
            return c;
        if (global_option(cli, c, optarg) != 0)
            return -1;
    }
}

/* Parses argv for a command that takes no options of its own and no operands. */
static int plain_options(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {GLOBAL_OPTIONS, {0}};
    int c;
    if ((c = next_option(cli, argc, argv, opts)) > 0)
        usage_error(cli, "unhandled option");
    if (c != 0)
        return -1;
    if (optind < argc) {
        usage_error(cli, "unexpected argument '%s'", argv[optind]);
        return -1;
    }
    return 0;
}

/* ---- connecting and errors ------------------------------------------------------------------- */

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

/* Loads the settings and connects. Returns 0 with *out, or an exit code (reported). */
static int connect_server(cli_t *cli, ct_sync_t **out)
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

/* Reports an Error response: "careteam: CODE: message". Returns CT_CLI_EXIT_REFUSED. */
static int report_refusal(const Careteam__V1__Envelope *resp)
{
    int code = resp->error != NULL ? (int)resp->error->code : 0;
    const char *msg = ct_response_message(resp);
    ct_cli_errorf("%s: %s", ct_wire_code_name(code), msg[0] != '\0' ? msg : "(no message)");
    return CT_CLI_EXIT_REFUSED;
}

/* Reports a failed ct_sync_call-style request (what: "sending the message"). */
static int report_call_failure(cli_t *cli, ct_sync_t *s, int r, const char *what)
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

static int report_output_failure(int err)
{
    ct_cli_errorf("cannot write to standard output: %s", strerror(err));
    return CT_CLI_EXIT_FILE;
}

/* ---- whoami ---------------------------------------------------------------------------------- */

static int run_whoami(cli_t *cli, int argc, char **argv)
{
    if (plain_options(cli, argc, argv) != 0)
        return cli->exit_code;
    ct_sync_t *s;
    int rc = connect_server(cli, &s);
    if (rc != 0)
        return rc;
    const Careteam__V1__Welcome *w = ct_sync_welcome(s);
    ct_out_whoami(&cli->out, w, cli->settings.v[CT_CLI_SERVER].value);
    ct_sync_close(s);
    int e = ct_out_flush(&cli->out);
    return e != 0 ? report_output_failure(e) : CT_CLI_EXIT_OK;
}

/* ---- send ------------------------------------------------------------------------------------ */

typedef struct send_opts {
    char **to; /* owned strings */
    size_t n_to, cap_to;
    const char *body;
    const char *body_file;
    const char *participant;
    const char *subject;
    const char *client_msg_id;
    int priority;
} send_opts_t;

static void send_opts_free(send_opts_t *o)
{
    for (size_t i = 0; i < o->n_to; i++)
        free(o->to[i]);
    free(o->to);
}

/* Adds the comma-separated ids of one --to. Returns 0 or an exit code (reported). */
static int add_recipients(cli_t *cli, send_opts_t *o, const char *list)
{
    const char *p = list;
    for (;;) {
        size_t n = strcspn(p, ",");
        if (n == 0)
            return usage_error(cli, "--to '%s' has an empty member id", list);
        char *id = strndup(p, n);
        if (id == NULL)
            return out_of_memory(cli);
        if (!ct_id_valid(id)) {
            int rc = usage_error(cli,
                                 "'%s' in --to is not a member id (1-64 characters of A-Z a-z "
                                 "0-9 . _ -)",
                                 id);
            free(id);
            return rc;
        }
        for (size_t i = 0; i < o->n_to; i++) {
            if (strcmp(o->to[i], id) == 0) {
                int rc = usage_error(cli, "recipient '%s' is given twice", id);
                free(id);
                return rc;
            }
        }
        if (o->n_to == o->cap_to) {
            size_t cap = o->cap_to ? o->cap_to * 2 : 8;
            char **grown = realloc(o->to, cap * sizeof *grown);
            if (grown == NULL) {
                free(id);
                return out_of_memory(cli);
            }
            o->to = grown;
            o->cap_to = cap;
        }
        o->to[o->n_to++] = id;
        if (p[n] == '\0')
            return 0;
        p += n + 1;
    }
}

/* Reads a whole body file ("-" is stdin) into a malloc'd NUL-terminated string. Returns 0 or an
 * exit code (reported). */
static int read_body_file(const char *path, char **out, size_t *len_out)
{
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    const char *name = is_stdin ? "standard input" : path;
    *out = NULL;
    if (f == NULL) {
        ct_cli_errorf("cannot read body file %s: %s", path, strerror(errno));
        return CT_CLI_EXIT_FILE;
    }
    if (is_stdin && isatty(STDIN_FILENO))
        fprintf(stderr, "Type the message, then Ctrl-D on a new line.\n");
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int rc = buf != NULL ? 0 : CT_CLI_EXIT_FILE;
    while (rc == 0) {
        if (cap - len < 2) {
            if (cap > BODY_FILE_MAX) {
                ct_cli_errorf("body file %s is larger than %u MiB", name, BODY_FILE_MAX >> 20);
                rc = CT_CLI_EXIT_FILE;
                break;
            }
            char *grown = realloc(buf, cap * 2);
            if (grown == NULL) {
                rc = CT_CLI_EXIT_FILE;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                ct_cli_errorf("cannot read body file %s: %s", name, strerror(errno));
                rc = CT_CLI_EXIT_FILE;
            }
            break;
        }
    }
    if (!is_stdin)
        fclose(f);
    if (rc == 0 && buf == NULL)
        rc = CT_CLI_EXIT_FILE;
    if (rc != 0) {
        if (buf == NULL)
            ct_cli_errorf("out of memory reading body file %s", name);
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    if (memchr(buf, '\0', len) != NULL) {
        ct_cli_errorf("body file %s contains a NUL byte: a message body must be UTF-8 text", name);
        free(buf);
        return CT_CLI_EXIT_FILE;
    }
    if (!ct_utf8_valid(buf, len)) {
        ct_cli_errorf("body file %s is not UTF-8 text", name);
        free(buf);
        return CT_CLI_EXIT_FILE;
    }
    *out = buf;
    *len_out = len;
    return 0;
}

/* "cli-" and 16 hex digits from the kernel's random source. Returns 0 or -1. */
static int random_client_msg_id(char out[21])
{
    unsigned char r[8];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < sizeof r) {
        FILE *f = fopen("/dev/urandom", "rb");
        got = f != NULL ? fread(r, 1, sizeof r, f) : 0;
        if (f != NULL)
            fclose(f);
        if (got < sizeof r)
            return -1;
    }
    memcpy(out, "cli-", 4);
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(out + 4 + 2 * i, 3, "%02x", r[i]);
    return 0;
}

/* Parses send's options into *o. Returns 0 to go on, or nonzero when run_send must return
 * cli->exit_code (a usage error was reported, or --help / --version printed). */
static int parse_send_options(cli_t *cli, int argc, char **argv, send_opts_t *o)
{
    static const struct option opts[] = {
        {"to", required_argument, NULL, OPT_TO},
        {"body", required_argument, NULL, OPT_BODY},
        {"body-file", required_argument, NULL, OPT_BODY_FILE},
        {"participant", required_argument, NULL, OPT_PARTICIPANT},
        {"subject", required_argument, NULL, OPT_SUBJECT},
        {"priority", required_argument, NULL, OPT_PRIORITY},
        {"client-msg-id", required_argument, NULL, OPT_CLIENT_MSG_ID},
        GLOBAL_OPTIONS,
        {0},
    };
    int c, rc;
    while ((c = next_option(cli, argc, argv, opts)) > 0) {
        switch (c) {
        case OPT_TO:
            if ((rc = add_recipients(cli, o, optarg)) != 0)
                return rc;
            break;
        case OPT_BODY:
            o->body = optarg;
            break;
        case OPT_BODY_FILE:
            o->body_file = optarg;
            break;
        case OPT_PARTICIPANT:
            if (!ct_id_valid(optarg))
                return usage_error(cli,
                                   "--participant '%s' is not a participant id (1-64 characters "
                                   "of A-Z a-z 0-9 . _ -)",
                                   optarg);
            o->participant = optarg;
            break;
        case OPT_SUBJECT:
            if (!ct_utf8_valid(optarg, strlen(optarg)))
                return usage_error(cli, "--subject is not valid UTF-8");
            o->subject = optarg;
            break;
        case OPT_PRIORITY:
            if (ct_cli_priority_parse(optarg, &o->priority) != 0)
                return usage_error(cli, "--priority '%s' is not routine, urgent, asap or stat",
                                   optarg);
            break;
        case OPT_CLIENT_MSG_ID:
            if (!ct_client_msg_id_valid(optarg))
                return usage_error(cli,
                                   "--client-msg-id '%s' is not 1-64 printable ASCII characters "
                                   "without spaces",
                                   optarg);
            o->client_msg_id = optarg;
            break;
        default:
            return usage_error(cli, "unhandled option");
        }
    }
    if (c < 0)
        return -1;
    if (optind < argc)
        return usage_error(cli, "unexpected argument '%s' (quote the body: --body \"...\")",
                           argv[optind]);
    if (o->n_to == 0)
        return usage_error(cli, "no recipient: give --to ID[,ID...]");
    if ((o->body != NULL) == (o->body_file != NULL))
        return usage_error(cli, "give the message text with exactly one of --body TEXT or "
                                "--body-file FILE (- for standard input)");
    if (o->body != NULL && !ct_utf8_valid(o->body, strlen(o->body)))
        return usage_error(cli, "--body is not valid UTF-8");
    return 0;
}

static int run_send(cli_t *cli, int argc, char **argv)
{
    send_opts_t o = {.priority = CARETEAM__V1__PRIORITY__PRIORITY_ROUTINE};
    char *file_body = NULL;
    ct_sync_t *s = NULL;
    Careteam__V1__Envelope *resp = NULL;
    char id_buf[21];

    int rc = CT_CLI_EXIT_OK;
    if (parse_send_options(cli, argc, argv, &o) != 0) {
        rc = cli->exit_code; /* a usage error, or --help / --version printed */
        goto done;
    }
    const char *body = o.body;
    if (o.body_file != NULL) {
        size_t len;
        if ((rc = read_body_file(o.body_file, &file_body, &len)) != 0)
            goto done;
        body = file_body;
    }
    if (body[0] == '\0') {
        rc = usage_error(cli, "the message body is empty");
        goto done;
    }
    if (o.client_msg_id == NULL) {
        if (random_client_msg_id(id_buf) != 0) {
            ct_cli_errorf("cannot read random bytes for a client_msg_id; give --client-msg-id");
            rc = CT_CLI_EXIT_FILE;
            goto done;
        }
        o.client_msg_id = id_buf;
    }
    if ((rc = connect_server(cli, &s)) != 0)
        goto done;
    ct_send_args_t a = {
        .client_msg_id = o.client_msg_id,
        .to = (const char *const *)o.to,
        .n_to = o.n_to,
        .participant_id = o.participant,
        .subject = o.subject,
        .body = body,
        .priority = o.priority,
    };
    int r = ct_sync_send_message(s, &a, cli->request_timeout_ms, &resp);
    if (r != 0) {
        report_call_failure(cli, s, r, "sending the message");
        fprintf(stderr,
                "The message may or may not have been stored. To send it exactly once, run the "
                "same command again with --client-msg-id %s\n",
                o.client_msg_id);
        rc = CT_CLI_EXIT_CONNECT;
    } else if (ct_response_status(resp) != 0) {
        rc = report_refusal(resp);
    } else if (resp->body_case != CARETEAM__V1__ENVELOPE__BODY_ACK || resp->ack == NULL) {
        ct_cli_errorf("the server answered SendMessage with something other than an Ack");
        rc = CT_CLI_EXIT_CONNECT;
    } else {
        ct_out_sent(&cli->out, resp->ack, (const char *const *)o.to, o.n_to);
        int e = ct_out_flush(&cli->out);
        rc = e != 0 ? report_output_failure(e) : CT_CLI_EXIT_OK;
    }
done:
    ct_envelope_free(resp);
    ct_sync_close(s);
    free(file_body);
    send_opts_free(&o);
    return rc;
}

/* ---- inbox ----------------------------------------------------------------------------------- */

/* Acknowledges ids[0..n) in batches of at most ACK_BATCH. Returns 0 or an exit code (reported). */
static int ack_all(cli_t *cli, ct_sync_t *s, char **ids, size_t n)
{
    for (size_t i = 0; i < n; i += ACK_BATCH) {
        size_t k = n - i < ACK_BATCH ? n - i : ACK_BATCH;
        Careteam__V1__Envelope *resp = NULL;
        int r = ct_sync_delivery_ack(s, (const char *const *)ids + i, k, cli->request_timeout_ms,
                                     &resp);
        int rc = 0;
        if (r != 0)
            rc = report_call_failure(cli, s, r, "marking messages as received");
        else if (ct_response_status(resp) != 0)
            rc = report_refusal(resp);
        ct_envelope_free(resp);
        if (rc != 0)
            return rc;
    }
    return 0;
}

typedef struct id_list {
    char **v;
    size_t n, cap;
} id_list_t;

static int id_list_add(id_list_t *l, const char *id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **grown = realloc(l->v, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        l->v = grown;
        l->cap = cap;
    }
    if ((l->v[l->n] = strdup(id)) == NULL)
        return -1;
    l->n++;
    return 0;
}

static void id_list_free(id_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static int run_inbox(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"no-ack", no_argument, NULL, OPT_NO_ACK},
        GLOBAL_OPTIONS,
        {0},
    };
    bool no_ack = false;
    int c;
    while ((c = next_option(cli, argc, argv, opts)) > 0) {
        if (c == OPT_NO_ACK)
            no_ack = true;
        else
            return usage_error(cli, "unhandled option");
    }
    if (c < 0)
        return cli->exit_code;
    if (optind < argc)
        return usage_error(cli, "unexpected argument '%s'", argv[optind]);

    ct_sync_t *s;
    int rc = connect_server(cli, &s);
    if (rc != 0)
        return rc;
    id_list_t ids = {0};
    bool complete = false;
    while (rc == 0 && !complete) {
        Careteam__V1__Envelope *push = NULL;
        int r = ct_sync_next_push(s, cli->request_timeout_ms, &push);
        if (r != 0) {
            rc = report_call_failure(cli, s, r, "receiving pending messages");
            break;
        }
        switch (push->body_case) {
        case CARETEAM__V1__ENVELOPE__BODY_DELIVER:
            if (push->deliver != NULL && push->deliver->message != NULL) {
                ct_out_message(&cli->out, push->deliver->message);
                if (id_list_add(&ids, push->deliver->message->message_id) != 0) {
                    ct_cli_errorf("out of memory");
                    rc = CT_CLI_EXIT_FILE;
                }
            }
            break;
        case CARETEAM__V1__ENVELOPE__BODY_REPLAY_COMPLETE:
            complete = true;
            break;
        case CARETEAM__V1__ENVELOPE__BODY_ERROR:
            rc = report_refusal(push);
            break;
        default:
            break; /* pushes this version does not know */
        }
        ct_envelope_free(push);
    }
    /* Only what reached stdout intact is acknowledged. */
    int e = ct_out_flush(&cli->out);
    if (rc == 0 && e != 0)
        rc = report_output_failure(e);
    if (rc == 0 && !no_ack)
        rc = ack_all(cli, s, ids.v, ids.n);
    if (rc == 0) {
        ct_out_inbox_end(&cli->out, ids.n, !no_ack);
        if ((e = ct_out_flush(&cli->out)) != 0)
            rc = report_output_failure(e);
    }
    ct_sync_close(s);
    id_list_free(&ids);
    return rc;
}

/* ---- watch ----------------------------------------------------------------------------------- */

static volatile sig_atomic_t watch_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    watch_stop = 1;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ping(cli_t *cli, ct_sync_t *s)
{
    Careteam__V1__Ping p = CARETEAM__V1__PING__INIT;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_PING;
    env.ping = &p;
    Careteam__V1__Envelope *resp = NULL;
    int r = ct_sync_call(s, &env, cli->request_timeout_ms, &resp);
    int rc = 0;
    if (r != 0)
        rc = report_call_failure(cli, s, r, "checking the connection (ping)");
    else if (ct_response_status(resp) != 0)
        rc = report_refusal(resp);
    ct_envelope_free(resp);
    return rc;
}

/* Prints one delivered message, then acknowledges it. Returns 0 or an exit code (reported). */
static int watch_deliver(cli_t *cli, ct_sync_t *s, const Careteam__V1__Message *m)
{
    ct_out_message(&cli->out, m);
    int e = ct_out_flush(&cli->out);
    if (e != 0)
        return report_output_failure(e);
    const char *id = m->message_id;
    return ack_all(cli, s, (char **)&id, 1);
}

static int run_watch(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"count", required_argument, NULL, OPT_COUNT},
        GLOBAL_OPTIONS,
        {0},
    };
    unsigned long limit = 0;
    int c;
    while ((c = next_option(cli, argc, argv, opts)) > 0) {
        if (c != OPT_COUNT)
            return usage_error(cli, "unhandled option");
        char *end;
        errno = 0;
        limit = strtoul(optarg, &end, 10);
        if (errno != 0 || end == optarg || *end != '\0' || limit == 0 || optarg[0] == '-')
            return usage_error(cli, "--count '%s' is not a positive whole number", optarg);
    }
    if (c < 0)
        return cli->exit_code;
    if (optind < argc)
        return usage_error(cli, "unexpected argument '%s'", argv[optind]);

    ct_sync_t *s;
    int rc = connect_server(cli, &s);
    if (rc != 0)
        return rc;
    /* From here a signal ends the loop between WATCH_SLICE_MS waits, after the message in hand
     * is acknowledged (until then, the default action: nothing to lose). SA_RESETHAND lets a
     * second Ctrl-C end a watch stuck in a slow request at once. */
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    bool tty = isatty(STDERR_FILENO) && cli->out.format == CT_OUT_HUMAN;
    if (tty)
        fprintf(stderr, "Watching for messages to %s; Ctrl-C to stop.\n",
                ct_sync_welcome(s)->member_id);
    unsigned long seen = 0;
    int64_t last_request = monotonic_ms();
    char server_error[512] = "";
    while (rc == 0 && !watch_stop && (limit == 0 || seen < limit)) {
        Careteam__V1__Envelope *push = NULL;
        int r = ct_sync_next_push(s, WATCH_SLICE_MS, &push);
        if (r == CT_ETIMEDOUT) {
            if (monotonic_ms() - last_request >= WATCH_PING_MS) {
                rc = ping(cli, s);
                last_request = monotonic_ms();
            }
            continue;
        }
        if (r != 0) {
            const char *why = ct_sync_last_error(s);
            if (why[0] == '\0' || strcmp(why, server_error) == 0)
                ct_cli_errorf("the server closed the connection after %lu message%s", seen,
                              seen == 1 ? "" : "s");
            else
                ct_cli_errorf("the server closed the connection after %lu message%s: %s", seen,
                              seen == 1 ? "" : "s", why);
            rc = CT_CLI_EXIT_CONNECT;
            break;
        }
        switch (push->body_case) {
        case CARETEAM__V1__ENVELOPE__BODY_DELIVER:
            if (push->deliver != NULL && push->deliver->message != NULL) {
                rc = watch_deliver(cli, s, push->deliver->message);
                last_request = monotonic_ms();
                seen++;
            }
            break;
        case CARETEAM__V1__ENVELOPE__BODY_REPLAY_COMPLETE:
            if (tty && push->replay_complete != NULL)
                fprintf(stderr, "%llu pending message%s shown; waiting for new ones.\n",
                        (unsigned long long)push->replay_complete->replayed,
                        push->replay_complete->replayed == 1 ? "" : "s");
            break;
        case CARETEAM__V1__ENVELOPE__BODY_ERROR:
            /* A connection-level Error: the server closes next, and says so above. */
            report_refusal(push);
            snprintf(server_error, sizeof server_error, "%s", ct_response_message(push));
            break;
        default:
            break;
        }
        ct_envelope_free(push);
    }
    ct_sync_close(s);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}

/* ---- help ------------------------------------------------------------------------------------ */

static int run_help(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {GLOBAL_OPTIONS, {0}};
    int c = next_option(cli, argc, argv, opts);
    if (c > 0)
        return usage_error(cli, "unhandled option");
    if (c < 0)
        return cli->exit_code;
    if (argc - optind > 1)
        return usage_error(cli, "unexpected argument '%s'", argv[optind + 1]);
    if (optind < argc) {
        const command_t *cmd = find_command(argv[optind]);
        if (cmd == NULL) {
            cli->command = NULL;
            return usage_error(cli, "unknown command '%s'", argv[optind]);
        }
        print_command_help(cmd);
        return CT_CLI_EXIT_OK;
    }
    print_main_help(stdout);
    return CT_CLI_EXIT_OK;
}

/* ---- the command table ----------------------------------------------------------------------- */

static const command_t COMMANDS[] = {
    {"whoami", "show who the server says you are", WHOAMI_HELP, run_whoami},
    {"send", "send a message to team members", SEND_HELP, run_send},
    {"inbox", "print pending messages and mark them received", INBOX_HELP, run_inbox},
    {"watch", "print messages as they arrive, until interrupted", WATCH_HELP, run_watch},
    {"help", "show help for a command (careteam help COMMAND)", HELP_HELP, run_help},
    {NULL, NULL, NULL, NULL},
};

/* The command called name; with name NULL, the start of the table. NULL if none. */
static const command_t *find_command(const char *name)
{
    if (name == NULL)
        return COMMANDS;
    for (const command_t *c = COMMANDS; c->name != NULL; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

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

    /* Global options before the command. */
    static const struct option opts[] = {GLOBAL_OPTIONS, {0}};
    int c;
    while ((c = next_option(&cli, argc, argv, opts)) > 0)
        ;
    if (c < 0)
        return cli.exit_code;
    if (optind >= argc) {
        ct_cli_errorf("no command given");
        fputs(USAGE_HEAD, stderr);
        fprintf(stderr, "commands: whoami, send, inbox, watch, help. Run `careteam --help`.\n");
        return CT_CLI_EXIT_USAGE;
    }
    const command_t *cmd = find_command(argv[optind]);
    if (cmd == NULL)
        return usage_error(&cli,
                           "unknown command '%s' (commands: whoami, send, inbox, watch, help)",
                           argv[optind]);
    cli.command = cmd->name;
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    optind = 0; /* GNU getopt: 0 restarts the scan, at sub_argv[1] */
    int rc = cmd->run(&cli, sub_argc, sub_argv);
    ct_cli_settings_free(&cli.settings);
    if (fflush(stdout) != 0 && rc == CT_CLI_EXIT_OK)
        rc = report_output_failure(errno);
    return rc;
}
