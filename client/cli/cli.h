/*
 * What every part of the careteam CLI shares: its exit codes and its name in messages.
 *
 * The exit codes are part of the CLI's interface (scripts test them) and are documented in
 * `careteam --help`; a code's meaning never changes.
 */
#ifndef CT_CLI_H
#define CT_CLI_H

#define CT_CLI_PROG "careteam"

typedef enum ct_cli_exit {
    CT_CLI_EXIT_OK = 0,
    CT_CLI_EXIT_REFUSED = 1, /* the server refused the request (an Error response) */
    CT_CLI_EXIT_USAGE = 2,   /* bad command line, or a setting missing or malformed */
    CT_CLI_EXIT_CONNECT = 3, /* cannot connect, TLS or authentication failure, connection lost */
    CT_CLI_EXIT_FILE = 4,    /* a local file problem: body file, profile, credentials, output */
} ct_cli_exit_t;

#endif
