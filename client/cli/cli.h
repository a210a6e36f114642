/*
 * The internal interface of the careteam CLI: what its files share.
 *
 * The CLI is split by concern:
 *   main.c         program entry, the command table, `careteam --help` and --version
 *   options.c      the global options and the option parser every command uses
 *   connect.c      connecting with the settings, and explaining a failed connect
 *   report.c       every other failure report, and the exit code each maps to
 *   ack.c          acknowledging delivered messages (inbox, watch)
 *   request.c      one request and its answer, for the commands that make one (the workflow)
 *   optvalues.c    checking option values: ids, enum names, numbers, dates, text
 *   textfile.c     reading a text file or standard input (send --body-file, summary --file)
 *   names.c        the names of the protocol's enum values on the CLI (names.h)
 *   cmd_<name>.c   one command each (or a family: cmd_refer.c has refer, referrals and
 *                  referral): help texts and run functions
 *   settings.c     where each connection setting comes from, and the profile files (settings.h)
 *   cmd_profile.c  careteam profile: add, list, show, remove, default
 *   certinfo.c     what a certificate file says (subject, validity), read locally (certinfo.h)
 *   output.c       everything printed on stdout (output.h)
 *   audit_formats.c  the audit export formats of `audit query`: table, csv, jsonl, fhir
 *
 * Conventions every command follows:
 *  - A run function returns a ct_cli_exit_t code and has printed why on stderr when it is not 0.
 *  - Nothing about a message body is ever written to stderr; bodies go only to stdout.
 *  - inbox and watch acknowledge a message only after it has been written and flushed to stdout
 *    without error, so a full disk or closed pipe leaves it pending on the server.
 *  - A command with subcommands (consent record, referral accept, ...) has a table of them
 *    (ct_cli_subcommand_t); main dispatches through ct_cli_run_subcommand, and each subcommand
 *    has its own help, shown by `careteam CMD SUB --help` and `careteam help CMD SUB`.
 *  - Values are checked before connecting where a check helps the user (an unknown --format, a
 *    malformed date or id); the server remains the authority and its refusals are shown verbatim.
 *
 * The exit codes are part of the CLI's interface (scripts test them) and are documented in
 * `careteam --help`; a code's meaning never changes.
 */
#ifndef CT_CLI_H
#define CT_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
    ct_cli_flags_t flags; /* --server, --cert, --key, --ca, --crl, --profile (borrowed) */
    ct_out_t out;
    int connect_timeout_ms;
    int request_timeout_ms;
    const char *command;  /* the command running, for messages; NULL before it is known */
    char command_buf[64]; /* "CMD SUB" while a subcommand runs (command points here) */
    bool operands_only;   /* ct_cli_next_arg has passed "--": the rest are operands */
    int exit_code;        /* set by ct_cli_next_option when it returns -1, and by usage errors */
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

/* Care-team workflow commands without subcommands. */
int ct_cli_cmd_refer(cli_t *cli, int argc, char **argv);     /* cmd_refer.c */
int ct_cli_cmd_referrals(cli_t *cli, int argc, char **argv); /* cmd_refer.c */
int ct_cli_cmd_summaries(cli_t *cli, int argc, char **argv); /* cmd_summary.c */
int ct_cli_cmd_concern(cli_t *cli, int argc, char **argv);   /* cmd_alert.c */
int ct_cli_cmd_alerts(cli_t *cli, int argc, char **argv);    /* cmd_alert.c */

extern const char ct_cli_refer_help[];
extern const char ct_cli_referrals_help[];
extern const char ct_cli_summaries_help[];
extern const char ct_cli_concern_help[];
extern const char ct_cli_alerts_help[];

/* One subcommand of a command: `careteam CMD NAME ...`. Tables end with a NULL name. */
typedef struct ct_cli_subcommand {
    const char *name;
    const char *summary;                           /* one line for the command's help */
    const char *help;                              /* the whole `careteam CMD NAME --help` text */
    int (*run)(cli_t *cli, int argc, char **argv); /* argv[0] is NAME */
} ct_cli_subcommand_t;

/* Care-team workflow commands with subcommands: the command's help (usage and examples; the
 * list of subcommands is added from the table) and the table. */
extern const char ct_cli_consent_help[]; /* cmd_consent.c: record withdraw list */
extern const ct_cli_subcommand_t ct_cli_consent_subcommands[];
extern const char ct_cli_lockbox_help[]; /* cmd_lockbox.c: add remove */
extern const ct_cli_subcommand_t ct_cli_lockbox_subcommands[];
extern const char ct_cli_referral_help[]; /* cmd_refer.c: accept decline ... reassign */
extern const ct_cli_subcommand_t ct_cli_referral_subcommands[];
extern const char ct_cli_summary_help[]; /* cmd_summary.c: post */
extern const ct_cli_subcommand_t ct_cli_summary_subcommands[];
extern const char ct_cli_alert_help[]; /* cmd_alert.c: ack */
extern const ct_cli_subcommand_t ct_cli_alert_subcommands[];
extern const char ct_cli_audit_help[]; /* cmd_audit.c: query actions */
extern const ct_cli_subcommand_t ct_cli_audit_subcommands[];
extern const char ct_cli_profile_help[]; /* cmd_profile.c: add list show remove default */
extern const ct_cli_subcommand_t ct_cli_profile_subcommands[];

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
    CT_CLI_OPT_CRL,
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
    {"crl", required_argument, NULL, CT_CLI_OPT_CRL},                                              \
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

/* What ct_cli_next_arg returns for an operand. */
#define CT_CLI_ARG_OPERAND 1

/*
 * Like ct_cli_next_option, for a command that takes operands among its options
 * (`referral cancel ID --reason TEXT`): returns CT_CLI_ARG_OPERAND with *operand set for each
 * operand in turn, and goes on with the options after it. "--" makes the next argument an
 * operand even if it starts with '-'. Returns 0 when argv is done, -1 as ct_cli_next_option.
 */
int ct_cli_next_arg(cli_t *cli, int argc, char **argv, const struct option *opts,
                    const char **operand);

/* A server-made id that a subcommand takes as its one operand (`alert ack ALERT_ID`). */
typedef struct ct_cli_id_operand {
    const char *name; /* in usage and messages: "ALERT_ID" */
    const char *what; /* what it is: "alert id" */
    const char *list; /* the command that prints such ids: "careteam alerts" */
} ct_cli_id_operand_t;

/*
 * ct_cli_next_arg for a subcommand whose one operand is the id described by spec, among its
 * options: checks the operand and keeps it in *id (NULL before the first call), and hands back
 * only the options. Returns an option code; 0 when argv is done and *id is set; or -1 when the
 * command must return cli->exit_code (as ct_cli_next_option, and for an id that is malformed,
 * missing or given twice, reported).
 */
int ct_cli_next_option_id(cli_t *cli, int argc, char **argv, const struct option *opts,
                          const ct_cli_id_operand_t *spec, const char **id);

/* Runs the subcommand named by the first operand of argv (argv[0] is the command; global
 * options may come before the subcommand's name) from subs, with cli->command "CMD SUB".
 * Returns its exit code, or CT_CLI_EXIT_USAGE (reported) for a missing or unknown name. */
int ct_cli_run_subcommand(cli_t *cli, int argc, char **argv, const ct_cli_subcommand_t *subs);

/* Writes the "subcommands" section of the help of command from its table subs on f. */
void ct_cli_print_subcommands(FILE *f, const char *command, const ct_cli_subcommand_t *subs);

/* ---- option values (optvalues.c) ---------------------------------------------------------- */

/* Each checks the value arg of option opt ("--participant"; for an operand, its name in capitals,
 * e.g. "REFERRAL_ID"). Returns 0, or CT_CLI_EXIT_USAGE with the problem reported, naming opt, the
 * bad value and what is allowed. */

/* A member or participant id: 1-64 of [A-Za-z0-9._-]. what: "participant id", "member id". */
int ct_cli_check_id(cli_t *cli, const char *opt, const char *arg, const char *what);
/* A server-made id (UUIDv7, lower case). what names it ("referral id"); list is the command
 * that prints such ids ("careteam referrals"). */
int ct_cli_check_uuid(cli_t *cli, const char *opt, const char *arg, const char *what,
                      const char *list);
/* A name of t; *out its value. */
int ct_cli_check_name(cli_t *cli, const char *opt, const char *arg, const ct_cli_names_t *t,
                      int *out);
/* A whole number in min..max; *out its value. */
int ct_cli_check_number(cli_t *cli, const char *opt, const char *arg, unsigned min, unsigned max,
                        unsigned *out);
/* The --limit N of a list command: 1 to 1000, the most the protocol allows (not giving it, 0,
 * means the server's default of 100); *out its value. */
int ct_cli_check_limit(cli_t *cli, const char *arg, uint32_t *out);
/* A calendar date YYYY-MM-DD (a real day: 2026-02-30 is refused). */
int ct_cli_check_date(cli_t *cli, const char *opt, const char *arg);
/* A time: RFC 3339 ("2026-11-25T10:00:00Z", fractions and +HH:MM offsets allowed) or a date
 * "2026-11-25", which means its first millisecond, or with end_of_day the first millisecond of
 * the next day (so that `--until DATE` includes that day); *ms is Unix milliseconds. */
int ct_cli_check_time(cli_t *cli, const char *opt, const char *arg, bool end_of_day, int64_t *ms);
/* Text: valid UTF-8. */
int ct_cli_check_text(cli_t *cli, const char *opt, const char *arg);
/* Reports that a required option is missing: "missing --participant P" plus what it is. */
int ct_cli_missing(cli_t *cli, const char *opt, const char *what);

/* ---- text files (textfile.c) -------------------------------------------------------------- */

/*
 * Reads all of path ("-": standard input, with a prompt when it is a terminal) as UTF-8 text
 * into *out, malloc'd and NUL-terminated (the caller frees it), its length in *len_out. what
 * names the file in messages ("body file", "summary file"). More than max bytes, a NUL byte or
 * invalid UTF-8 is refused. Returns 0, or CT_CLI_EXIT_FILE (reported) with *out NULL.
 */
int ct_cli_read_text_file(const char *path, const char *what, size_t max, char **out,
                          size_t *len_out);

/* ---- one request (request.c) -------------------------------------------------------------- */

/*
 * Connects, sends req and waits for its answer, then closes. Returns 0 with *resp (the caller
 * frees it with ct_envelope_free) when the answer is a response of the body case want, or an
 * exit code with *resp NULL: a refusal (the server's Error, verbatim, exit 1), a failed connect
 * or request (exit 3), or an unexpected kind of answer (exit 3). what says what was being done,
 * for messages ("recording the consent").
 */
int ct_cli_request(cli_t *cli, Careteam__V1__Envelope *req, Careteam__V1__Envelope__BodyCase want,
                   const char *what, Careteam__V1__Envelope **resp);

/* ct_cli_request, then prints the object or list answered (a body case ct_out_answer prints:
 * a consent, referral, summary or alert, or a list of them) and flushes. Returns 0 or an exit
 * code, reported. */
int ct_cli_request_print(cli_t *cli, Careteam__V1__Envelope *req,
                         Careteam__V1__Envelope__BodyCase want, const char *what);

/* Flushes what a command printed. Returns 0, or CT_CLI_EXIT_FILE (reported). */
int ct_cli_output_done(cli_t *cli);

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
