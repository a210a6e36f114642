/*
 * The careteam CLI (CT_TEST_CARETEAM_CLI) run as a child process in a controlled environment, for
 * the integration tests of the CLI: its whole environment built here (never the test's own, so a
 * developer's CARETEAM_* or ~/.config cannot leak in), its stdout and stderr captured, its exit
 * code recorded, every wait bounded.
 *
 * A run is either whole (ct_test_cli_run, ct_test_cli_run_with, ct_test_cli_as) or in steps for a
 * long-running command such as `watch`: ct_test_cli_start, then ct_test_cli_pump or
 * ct_test_cli_wait_lines while the test acts, then ct_test_cli_finish. Either way the test ends
 * with ct_test_cli_free. A sanitizer build of the CLI exits non-zero on a leak or error, which
 * fails the exit-code assertions (ct_test_assert_exit).
 */
#ifndef CT_TEST_CLI_RUN_H
#define CT_TEST_CLI_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon.h"

#define CT_TEST_CLI_MAX_ENV 32  /* variables in a ct_test_cli_env_t */
#define CT_TEST_CLI_MAX_ARGS 40 /* arguments after argv[0] */
#define CT_TEST_CLI_RUN_MS                                                                         \
    30000 /* longest a run may take unless ct_test_cli_opts_t.run_ms says                          \
           */

/* The arguments of one run, NULL-terminated, without argv[0]: CT_TEST_ARGS("whoami", "--json").
 * A compound literal: it lives as long as the enclosing block. */
#define CT_TEST_ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- the CLI's environment ------------------------------------------------------------------- */

/* The whole environment of a run: "KEY=VALUE" strings, each malloc'd and owned by the struct
 * (freed by ct_test_cli_env_free), v NULL-terminated so it can be passed to execve as it is. */
typedef struct ct_test_cli_env {
    char *v[CT_TEST_CLI_MAX_ENV + 1];
    size_t n;
} ct_test_cli_env_t;

/* Fills e with a minimal environment: PATH=/usr/bin:/bin, HOME=home, and ASAN_OPTIONS,
 * UBSAN_OPTIONS and LSAN_OPTIONS when the test process has them (so a sanitizer build of the CLI
 * reports as the test's does). e need not be initialised; the caller frees it. */
void ct_test_cli_env_init(ct_test_cli_env_t *e, const char *home);

/* ct_test_cli_env_init with HOME the daemon's directory, plus CARETEAM_SERVER, CARETEAM_CERT,
 * CARETEAM_KEY and CARETEAM_CA naming d's address and member id's credentials. */
void ct_test_cli_env_member(ct_test_cli_env_t *e, const ct_test_daemon_t *d, const char *id);

/* Sets key to a copy of value, replacing an earlier value of key. Asserts there is room. */
void ct_test_cli_env_set(ct_test_cli_env_t *e, const char *key, const char *value);

/* Removes key if set. */
void ct_test_cli_env_unset(ct_test_cli_env_t *e, const char *key);

/* Frees every string; e is then empty (and may be filled again). */
void ct_test_cli_env_free(ct_test_cli_env_t *e);

/* ---- running the CLI ------------------------------------------------------------------------- */

/* How to run it. Only env is required; the pointers are read during ct_test_cli_start only. */
typedef struct ct_test_cli_opts {
    const ct_test_cli_env_t *env; /* the child's whole environment */
    /* stdin: stdin_data written to a pipe whole before the child reads it (so it must fit the
     * pipe buffer: under 60,000 bytes; larger input goes in a file), else the file stdin_path,
     * else /dev/null. */
    const char *stdin_data;
    const char *stdin_path;
    const char *cwd; /* the working directory; NULL: "/", so only absolute paths work unless the
                      * CLI resolves relative ones itself */
    int tty_cols;    /* > 0: stdout is a pseudo-terminal this many columns wide (its "\r\n" line
                      * ends turned back into "\n" by ct_test_cli_finish); otherwise a pipe */
    int run_ms;      /* longest ct_test_cli_finish waits; 0: CT_TEST_CLI_RUN_MS */
} ct_test_cli_opts_t;

/* One run of the CLI. The test owns it: it ends it with ct_test_cli_free, which releases
 * everything, including a child not yet reaped. */
typedef struct ct_test_cli {
    pid_t pid;          /* the child; 0 once reaped by ct_test_cli_finish */
    int out_fd, err_fd; /* read ends of stdout and stderr; -1 once at end of file */
    char *out, *err;    /* what it printed so far, NUL-terminated (never NULL while running
                         * or finished); malloc'd, owned, freed by ct_test_cli_free */
    size_t out_len, err_len;
    int status;    /* exit code, or 128 + signal; valid after ct_test_cli_finish */
    bool tty;      /* stdout is a pseudo-terminal */
    int run_ms;    /* the bound of ct_test_cli_finish */
    char cmd[256]; /* the arguments joined by spaces, for failure messages */
} ct_test_cli_t;

/* Starts the CLI with args (CT_TEST_ARGS; at most CT_TEST_CLI_MAX_ARGS) as o says. The child dies
 * with the test process. Asserts on failure. */
void ct_test_cli_start(ct_test_cli_t *p, const ct_test_cli_opts_t *o, const char *const *args);

/* Reads whatever stdout and stderr have within timeout_ms (one poll); an end of file closes that
 * stream. Returns at once when both are closed. */
void ct_test_cli_pump(ct_test_cli_t *p, int timeout_ms);

/* Waits until stdout holds at least `lines` lines; fails the test after timeout_ms, or when the
 * CLI closes stdout first. */
void ct_test_cli_wait_lines(ct_test_cli_t *p, size_t lines, int timeout_ms);

/* Reads both streams to their end and reaps the child, setting p->status; kills it and fails the
 * test when that takes longer than p->run_ms. */
void ct_test_cli_finish(ct_test_cli_t *p);

/* ct_test_cli_start, then ct_test_cli_finish. */
void ct_test_cli_run_with(ct_test_cli_t *p, const ct_test_cli_opts_t *o, const char *const *args);

/* Runs to completion in env, with stdin /dev/null, in "/", stdout a pipe. */
void ct_test_cli_run(ct_test_cli_t *p, const ct_test_cli_env_t *env, const char *const *args);

/* Runs to completion as member id of d (ct_test_cli_env_member), otherwise as ct_test_cli_run. */
void ct_test_cli_as(ct_test_cli_t *p, const ct_test_daemon_t *d, const char *id,
                    const char *const *args);

/* Closes what is still open, kills and reaps a child not yet reaped, and frees the output. Safe
 * to call twice. */
void ct_test_cli_free(ct_test_cli_t *p);

/* The number of "\n" in s: the lines of a run's output. */
size_t ct_test_count_lines(const char *s);

/* ---- checking a run (Criterion assertions; the test includes criterion.h) -------------------- */

/* The run exited with code; the message shows the command and both streams. */
#define ct_test_assert_exit(p, code)                                                               \
    cr_assert_eq((p)->status, (code), "careteam %s: exit %d, expected %d\nstdout: %s\nstderr: %s", \
                 (p)->cmd, (p)->status, (code), (p)->out, (p)->err)

/* The string hay contains, or does not contain, needle. */
#define ct_test_assert_has(hay, needle)                                                            \
    cr_assert_not_null(strstr((hay), (needle)), "expected to find [%s] in:\n%s", (needle), (hay))
#define ct_test_assert_lacks(hay, needle)                                                          \
    cr_assert_null(strstr((hay), (needle)), "did not expect [%s] in:\n%s", (needle), (hay))

#endif
