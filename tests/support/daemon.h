/*
 * A real careteamd for integration tests: a temporary data directory made with `careteamd init`,
 * members enrolled with `careteamd enroll`, and `careteamd serve` on 127.0.0.1 with a port the
 * kernel picks (read back from --ready-file). Only processes started here are signalled, by PID.
 *
 * The demo team enrolled by ct_test_daemon_init (ids are the keys to the certificates):
 *   dr.ahmed    psychiatrist      th.lee     therapist
 *   pw.sam      peer_worker       pw.kim     peer_worker
 *   co.jones    compliance
 */
#ifndef CT_TEST_DAEMON_H
#define CT_TEST_DAEMON_H

#include <stdbool.h>
#include <sys/types.h>

#include "careteam.h"

typedef struct ct_test_daemon {
    char *dir;       /* the temporary root; data directory is dir/data; owned */
    char data[4096]; /* the data directory */
    char addr[128];  /* "127.0.0.1:PORT" once started */
    char log[4096];  /* the daemon's stderr, appended across restarts */
    pid_t pid;       /* 0 when not running */
    /* Extra environment of `careteamd serve` only (not the admin commands), "NAME=VALUE" strings
     * that replace or add to the test's own, NULL-terminated; e.g. an LD_PRELOAD fault injector
     * (fault_preload.c). Set it after ct_test_daemon_init, before ct_test_daemon_start; the
     * strings must outlive the daemon. */
    const char *serve_env[8];
} ct_test_daemon_t;

/* Makes the data directory and enrolls the demo team. Extra config lines (e.g.
 * "idle_timeout_ms = 500") are appended to careteamd.conf when not NULL. Asserts on failure. */
void ct_test_daemon_init(ct_test_daemon_t *d, const char *extra_conf);

/* Enrolls one more member (certificate at ct_test_daemon_cert_path). Returns the exit status of
 * `careteamd enroll`. */
int ct_test_daemon_enroll(ct_test_daemon_t *d, const char *id, const char *name, const char *role);

/* Runs `careteamd ARGS...` (NULL-terminated) to completion; returns its exit status. */
int ct_test_careteamd(ct_test_daemon_t *d, const char *arg, ...);

/* Registers participant (label "T.P.") and puts each member (NULL-terminated list) on its care
 * team with the admin commands; works while the daemon serves. Asserts on failure. */
void ct_test_daemon_care_team(ct_test_daemon_t *d, const char *participant, const char *member,
                              ...);

/* Starts `careteamd serve` and waits until it listens (asserts within 10 s). */
void ct_test_daemon_start(ct_test_daemon_t *d);

/* ct_test_daemon_init, then ct_test_daemon_start: a serving daemon with the demo team. */
void ct_test_daemon_launch(ct_test_daemon_t *d, const char *extra_conf);

/* SIGTERM, then waits (asserts within 10 s); returns the exit status (0 expected: a sanitizer
 * build exits non-zero on a leak or error, which fails the test). */
int ct_test_daemon_stop(ct_test_daemon_t *d);

/* SIGKILL and reap: a crash. */
void ct_test_daemon_kill(ct_test_daemon_t *d);

/* Stops the daemon if running and removes the directory. */
void ct_test_daemon_cleanup(ct_test_daemon_t *d);

/* Ends a test after everything it made is freed: stops the daemon asserting exit status 0 (the
 * sanitizer report, if any, is in its log), removes its directory, and runs ct_test_leak_check.
 * Call it as the last statement of a test body, where a failed assertion fails the test. */
void ct_test_daemon_finish(ct_test_daemon_t *d);

/* Paths of a member's credentials: "<dir>/<id>.crt" / ".key"; the CA: "<data>/ca.crt". */
void ct_test_daemon_cert_path(const ct_test_daemon_t *d, const char *id, char *out, size_t len);
void ct_test_daemon_key_path(const ct_test_daemon_t *d, const char *id, char *out, size_t len);
void ct_test_daemon_ca_path(const ct_test_daemon_t *d, char *out, size_t len);

/* Makes the directory dir (0700; asserts it did not exist) and copies member id's credentials
 * into it as a member keeps them: ID.crt (0644), ID.key (0600) and ca.crt (0644). */
void ct_test_daemon_copy_creds(const ct_test_daemon_t *d, const char *id, const char *dir);

/* Fills opts for member id (strings point into bufs, which must outlive opts). */
typedef struct ct_test_creds {
    char cert[4096], key[4096], ca[4096];
} ct_test_creds_t;
void ct_test_daemon_opts(const ct_test_daemon_t *d, const char *id, ct_test_creds_t *bufs,
                         ct_client_opts_t *opts);

/* Connects as member id (asserts success within 5 s). */
ct_sync_t *ct_test_connect(const ct_test_daemon_t *d, const char *id);

/* Counts audit rows with this action in the daemon's database (read-only, via the sqlite3
 * library), for asserting that refusals are audited. */
long ct_test_audit_count(const ct_test_daemon_t *d, const char *action);

/* Counts the audit rows with this action whose outcome is a failure (a refusal). */
long ct_test_audit_failures(const ct_test_daemon_t *d, const char *action);

/* Waits until at least `want` failed audit rows of action are committed (the daemon's writer
 * thread commits them asynchronously); fails the test after 5 s. */
void ct_test_await_audit_failures(const ct_test_daemon_t *d, const char *action, long want);

#endif
