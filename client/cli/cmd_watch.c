/*
 * careteam watch: prints the pending messages, then each new one as it arrives, until stopped.
 *
 * Each delivered message is printed, flushed and then acknowledged on its own, so that stopping
 * at any moment loses nothing. The loop waits for pushes in short slices so that SIGINT/SIGTERM
 * (which only set a flag) end it promptly, and pings a quiet connection so that the server's
 * idle timeout does not close it. It ends with exit 0 on a signal or after --count messages, and
 * with exit 3 when the connection closes, saying why.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* watch waits for pushes in slices this long, so a signal (which libuv's poll retries through)
 * ends it within a slice. */
#define WATCH_SLICE_MS 200
/* watch pings an otherwise quiet connection this often, well inside the server's default idle
 * timeout of 5 minutes. */
#define WATCH_PING_MS 60000

enum {
    OPT_COUNT = CT_CLI_OPT_COMMAND,
};

const char ct_cli_watch_help[] =
    "usage: careteam watch [--count N] [GLOBAL OPTIONS]\n"
    "\n"
    "Prints the messages waiting for you, then each new one as it arrives, and marks each\n"
    "as received once printed. Runs until interrupted (Ctrl-C or SIGTERM, exit 0) or until\n"
    "the connection closes (exit 3, with the reason on stderr).\n"
    "\n"
    "options:\n"
    "  --count N   stop after N messages (exit 0)\n"
    "\n"
    "--json prints one line per message, as `careteam inbox --json` does; workflow events\n"
    "(referrals, summaries, safety alerts) included.\n";

/* Set by SIGINT/SIGTERM. Process-wide only because a signal handler can reach nothing else. */
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

/* Pings the server so that a quiet watch is not closed as idle. Returns 0 or an exit code
 * (reported). */
static int ping(cli_t *cli, ct_sync_t *s)
{
    Careteam__V1__Ping p = CARETEAM__V1__PING__INIT;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_PING;
    env.ping = &p;
    Careteam__V1__Envelope *resp = NULL;
    int r = ct_sync_call(s, &env, cli->request_timeout_ms, &resp);
    int rc = ct_cli_check_answer(cli, s, r, resp, "checking the connection (ping)");
    ct_envelope_free(resp);
    return rc;
}

/* Prints one delivered message, then acknowledges it. Returns 0 or an exit code (reported). */
static int watch_deliver(cli_t *cli, ct_sync_t *s, const Careteam__V1__Message *m)
{
    ct_out_message(&cli->out, m);
    int e = ct_out_flush(&cli->out);
    if (e != 0)
        return ct_cli_report_output_failure(e);
    const char *id = m->message_id;
    return ct_cli_ack(cli, s, &id, 1);
}

int ct_cli_cmd_watch(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"count", required_argument, NULL, OPT_COUNT},
        CT_CLI_GLOBAL_OPTIONS,
        {0},
    };
    unsigned long limit = 0;
    int c;
    while ((c = ct_cli_next_option(cli, argc, argv, opts)) > 0) {
        if (c != OPT_COUNT)
            return ct_cli_usage_error(cli, "unhandled option");
        char *end;
        errno = 0;
        limit = strtoul(optarg, &end, 10);
        if (errno != 0 || end == optarg || *end != '\0' || limit == 0 || optarg[0] == '-')
            return ct_cli_usage_error(cli, "--count '%s' is not a positive whole number", optarg);
    }
    if (ct_cli_no_operands(cli, c, argc, argv) != 0)
        return cli->exit_code;

    ct_sync_t *s;
    int rc = ct_cli_connect(cli, &s);
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
            ct_cli_report_refusal(push);
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
