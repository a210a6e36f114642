/*
 * The internal interface of the careteam CLI: what its files share.
 *
 * The CLI is split by concern:
 *   main.c         program entry, the command table, `careteam --help` and --version
 *   options.c      the global options and the option parser every command uses
 *   connect.c      connecting with the settings, and explaining a failed connect
 *   report.c       every other failure report, and the exit code each maps to
 *   ack.c          acknowledging delivered messages (inbox, watch)
 *   cmd_<name>.c   one command each: its help text and its run function
 *   settings.c     where each connection setting comes from (settings.h)
 *   output.c       everything printed on stdout (output.h)
 *
 * Conventions every command follows:
 *  - A run function returns a ct_cli_exit_t code and has printed why on stderr when it is not 0.
 *  - Nothing about a message body is ever written to stderr; bodies go only to stdout.
 *  - inbox and watch acknowledge a message only after it has been written and flushed to stdout
 *    without error, so a full disk or closed pipe leaves it pending on the server.
 *
 * The exit codes are part of the CLI's interface (scripts test them) and are documented in
 * `careteam --help`; a code's meaning never changes.
 */
#ifndef CT_CLI_H
#define CT_CLI_H

#include <getopt.h>
#include <stddef.h>

#include "careteam.h"
#include "output.h"
#include "settings.h"

#define CT_CLI_PROG "careteam"

/* The project version, from project(VERSION) in CMakeLists.txt. */
#ifndef CT_VERSION
#error "CT_VERSION must be defined by the build (target_compile_definitions in CMakeLists.txt)"
#endif
/* How the CLI names itself to the server in Hello. */
#define CT_CLI_CLIENT_NAME "careteam-cli/" CT_VERSION

typedef enum ct_cli_exit {
    CT_CLI_EXIT_OK = 0,
    CT_CLI_EXIT_REFUSED = 1, /* the server refused the request (an Error response) */
    CT_CLI_EXIT_USAGE = 2,   /* bad command line, or a setting missing or malformed */
    CT_CLI_EXIT_CONNECT = 3, /* cannot connect, TLS or authentication failure, connection lost */
    CT_CLI_EXIT_FILE = 4,    /* a local file problem: body file, profile, credentials, output */
} ct_cli_exit_t;

/* The state of one run of the CLI, created by main and passed to the command. */
typedef struct cli {
    ct_cli_flags_t flags; /* --server, --cert, --key, --ca, --profile (borrowed from argv) */
    ct_out_t out;
    int connect_timeout_ms;
    int request_timeout_ms;
    const char *command; /* the command running, for messages; NULL before it is known */
    int exit_code;       /* set by ct_cli_next_option when it returns -1, and by usage errors */
    ct_cli_settings_t settings; /* loaded by ct_cli_connect; freed by main */
} cli_t;

/* ---- commands (cmd_<name>.c) -------------------------------------------------------------- */

/* Each runs one command on argv (argv[0] is the command's name, getopt restarted by main) and
 * returns a ct_cli_exit_t code. Each has its `careteam NAME --help` text beside it. */
int ct_cli_cmd_whoami(cli_t *cli, int argc, char **argv);
int ct_cli_cmd_send(cli_t *cli, int argc, char **argv);
int ct_cli_cmd_inbox(cli_t *cli, int argc, char **argv);
int ct_cli_cmd_watch(cli_t *cli, int argc, char **argv);
int ct_cli_cmd_help(cli_t *cli, int argc, char **argv);

extern const char ct_cli_whoami_help[];
extern const char ct_cli_send_help[];
extern const char ct_cli_inbox_help[];
extern const char ct_cli_watch_help[];
extern const char ct_cli_help_help[];

/* ---- help and version (main.c) ------------------------------------------------------------ */

/* Prints on stdout the help of the command called name, or careteam's own help when name is
 * NULL. Returns 0, or -1 without printing anything when no command has that name. */
int ct_cli_print_help(const char *name);

/* Prints the --version line on stdout. */
void ct_cli_print_version(void);

/* ---- options (options.c) ------------------------------------------------------------------ */

/* The option codes getopt_long returns. A command numbers its own options from
 * CT_CLI_OPT_COMMAND; ct_cli_next_option hands those back and handles the global ones. */
enum {
    CT_CLI_OPT_SERVER = 256,
    CT_CLI_OPT_CERT,
    CT_CLI_OPT_KEY,
    CT_CLI_OPT_CA,
    CT_CLI_OPT_PROFILE,
    CT_CLI_OPT_JSON,
    CT_CLI_OPT_TIMEOUT,
    CT_CLI_OPT_VERSION,
    CT_CLI_OPT_COMMAND = 300,
};

/* The global options, at the end of every command's option table (and alone in main's). */
/* clang-format off */
#define CT_CLI_GLOBAL_OPTIONS                                                                      \
    {"server", required_argument, NULL, CT_CLI_OPT_SERVER},                                        \
    {"cert", required_argument, NULL, CT_CLI_OPT_CERT},                                            \
    {"key", required_argument, NULL, CT_CLI_OPT_KEY},                                              \
    {"ca", required_argument, NULL, CT_CLI_OPT_CA},                                                \
    {"profile", required_argument, NULL, CT_CLI_OPT_PROFILE},                                      \
    {"json", no_argument, NULL, CT_CLI_OPT_JSON},                                                  \
    {"timeout", required_argument, NULL, CT_CLI_OPT_TIMEOUT},                                      \
    {"version", no_argument, NULL, CT_CLI_OPT_VERSION},                                            \
    {"help", no_argument, NULL, 'h'}
/* clang-format on */

/* The help text of the options in CT_CLI_GLOBAL_OPTIONS, shown in every help. */
extern const char ct_cli_global_help[];

/*
 * getopt_long over argv with the options in opts (a command's own options followed by
 * CT_CLI_GLOBAL_OPTIONS). Returns the code of a command option for the caller to handle, 0 when
 * the options are done (optind is at the first operand), or -1 when the command must return
 * cli->exit_code (an error was reported, or --help / --version printed).
 */
int ct_cli_next_option(cli_t *cli, int argc, char **argv, const struct option *opts);

/* Ends the option loop of a command that takes no operands: c is what ct_cli_next_option last
 * returned (0 or -1). Returns 0, or -1 when the command must return cli->exit_code (the loop
 * stopped on an error, --help or --version, or an operand follows; that is reported). */
int ct_cli_no_operands(cli_t *cli, int c, int argc, char **argv);

/* Parses argv for a command that takes no options of its own and no operands. Returns 0, or -1
 * when the command must return cli->exit_code. */
int ct_cli_plain_options(cli_t *cli, int argc, char **argv);

/* ---- connecting (connect.c) --------------------------------------------------------------- */

/* Loads the settings into cli->settings and connects. Returns 0 with *out (the caller closes it
 * with ct_sync_close), or an exit code with *out NULL (reported, with a hint where one helps). */
int ct_cli_connect(cli_t *cli, ct_sync_t **out);

/* ---- failure reports (report.c) ----------------------------------------------------------- */

/* Reports a bad command line: "careteam: [COMMAND: ]message" and where to find the usage. Sets
 * cli->exit_code and returns CT_CLI_EXIT_USAGE. */
int ct_cli_usage_error(cli_t *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Out of memory in the CLI itself: reported as a local problem. Sets cli->exit_code and returns
 * CT_CLI_EXIT_FILE. */
int ct_cli_out_of_memory(cli_t *cli);

/* Reports an Error response: "careteam: CODE: message". Returns CT_CLI_EXIT_REFUSED. */
int ct_cli_report_refusal(const Careteam__V1__Envelope *resp);

/* Reports a failed ct_sync_* request r (what: "sending the message"). Returns
 * CT_CLI_EXIT_CONNECT. */
int ct_cli_report_call_failure(cli_t *cli, ct_sync_t *s, int r, const char *what);

/* Checks the outcome of a request that only needs an OK answer: r and resp as a ct_sync_* call
 * left them. Returns 0, or an exit code (reported). resp stays the caller's to free. */
int ct_cli_check_answer(cli_t *cli, ct_sync_t *s, int r, const Careteam__V1__Envelope *resp,
                        const char *what);

/* Reports a failed write of stdout (err an errno). Returns CT_CLI_EXIT_FILE. */
int ct_cli_report_output_failure(int err);

/* ---- acknowledging (ack.c) ---------------------------------------------------------------- */

/* Tells the server that the messages ids[0..n) were received, in as many DeliveryAcks as needed.
 * Returns 0 or an exit code (reported). */
int ct_cli_ack(cli_t *cli, ct_sync_t *s, const char *const *ids, size_t n);

#endif
