/*
 * careteam send: sends one message to one or more members of the team.
 *
 * Before connecting, everything that can be checked locally is: recipients and ids are
 * well-formed, the body is given exactly once and is UTF-8 text (from --body, a file, or stdin).
 * Every send carries a client_msg_id (the user's, or a random "cli-..."), so that a send whose
 * answer was lost can be repeated without delivering twice; when that happens the id is printed
 * with the advice to send again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cli.h"
#include "ids.h"

/* Largest body file read; the server's own limit (max_body, default 64 KiB) is lower and gives
 * the precise message. This cap only keeps a wrong file (a disk image) out of memory. */
#define BODY_FILE_MAX (64u * 1024u * 1024u)

enum {
    OPT_TO = CT_CLI_OPT_COMMAND,
    OPT_BODY,
    OPT_BODY_FILE,
    OPT_PARTICIPANT,
    OPT_SUBJECT,
    OPT_PRIORITY,
    OPT_CLIENT_MSG_ID,
};

const char ct_cli_send_help[] =
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
    "   \"stored_at_ms\":..,\"duplicate\":false,\"withheld\":[{\"member_id\":..,\"reason\":..}]}\n"
    "  withheld lists recipients the message was not stored for (a participant's lockbox).\n";

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
            return ct_cli_usage_error(cli, "--to '%s' has an empty member id", list);
        char *id = strndup(p, n);
        if (id == NULL)
            return ct_cli_out_of_memory(cli);
        if (!ct_id_valid(id)) {
            int rc =
                ct_cli_usage_error(cli,
                                   "'%s' in --to is not a member id (1-64 characters of A-Z a-z "
                                   "0-9 . _ -)",
                                   id);
            free(id);
            return rc;
        }
        for (size_t i = 0; i < o->n_to; i++) {
            if (strcmp(o->to[i], id) == 0) {
                int rc = ct_cli_usage_error(cli, "recipient '%s' is given twice", id);
                free(id);
                return rc;
            }
        }
        if (o->n_to == o->cap_to) {
            size_t cap = o->cap_to ? o->cap_to * 2 : 8;
            char **grown = realloc(o->to, cap * sizeof *grown);
            if (grown == NULL) {
                free(id);
                return ct_cli_out_of_memory(cli);
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

/* Parses send's options into *o. Returns 0 to go on, or nonzero when ct_cli_cmd_send must return
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
        CT_CLI_GLOBAL_OPTIONS,
        {0},
    };
    int c, rc;
    while ((c = ct_cli_next_option(cli, argc, argv, opts)) > 0) {
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
            if ((rc = ct_cli_check_id(cli, "--participant", optarg, "participant id")) != 0)
                return rc;
            o->participant = optarg;
            break;
        case OPT_SUBJECT:
            if (!ct_utf8_valid(optarg, strlen(optarg)))
                return ct_cli_usage_error(cli, "--subject is not valid UTF-8");
            o->subject = optarg;
            break;
        case OPT_PRIORITY:
            if (ct_cli_priority_parse(optarg, &o->priority) != 0)
                return ct_cli_usage_error(
                    cli, "--priority '%s' is not routine, urgent, asap or stat", optarg);
            break;
        case OPT_CLIENT_MSG_ID:
            if (!ct_client_msg_id_valid(optarg))
                return ct_cli_usage_error(
                    cli,
                    "--client-msg-id '%s' is not 1-64 printable ASCII characters "
                    "without spaces",
                    optarg);
            o->client_msg_id = optarg;
            break;
        default:
            return ct_cli_usage_error(cli, "unhandled option");
        }
    }
    if (c < 0)
        return -1;
    if (optind < argc)
        return ct_cli_usage_error(cli, "unexpected argument '%s' (quote the body: --body \"...\")",
                                  argv[optind]);
    if (o->n_to == 0)
        return ct_cli_usage_error(cli, "no recipient: give --to ID[,ID...]");
    if ((o->body != NULL) == (o->body_file != NULL))
        return ct_cli_usage_error(cli, "give the message text with exactly one of --body TEXT or "
                                       "--body-file FILE (- for standard input)");
    if (o->body != NULL && !ct_utf8_valid(o->body, strlen(o->body)))
        return ct_cli_usage_error(cli, "--body is not valid UTF-8");
    return 0;
}

int ct_cli_cmd_send(cli_t *cli, int argc, char **argv)
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
        if ((rc = ct_cli_read_text_file(o.body_file, "body file", BODY_FILE_MAX, &file_body,
                                        &len)) != 0)
            goto done;
        body = file_body;
    }
    if (body[0] == '\0') {
        rc = ct_cli_usage_error(cli, "the message body is empty");
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
    if ((rc = ct_cli_connect(cli, &s)) != 0)
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
        ct_cli_report_call_failure(cli, s, r, "sending the message");
        fprintf(stderr,
                "The message may or may not have been stored. To send it exactly once, run the "
                "same command again with --client-msg-id %s\n",
                o.client_msg_id);
        rc = CT_CLI_EXIT_CONNECT;
    } else if (ct_response_status(resp) != 0) {
        rc = ct_cli_report_refusal(resp);
    } else if (resp->body_case != CARETEAM__V1__ENVELOPE__BODY_ACK || resp->ack == NULL) {
        ct_cli_errorf("the server answered SendMessage with something other than an Ack");
        rc = CT_CLI_EXIT_CONNECT;
    } else {
        ct_out_sent(&cli->out, resp->ack, (const char *const *)o.to, o.n_to);
        int e = ct_out_flush(&cli->out);
        rc = e != 0 ? ct_cli_report_output_failure(e) : CT_CLI_EXIT_OK;
    }
done:
    ct_envelope_free(resp);
    ct_sync_close(s);
    free(file_body);
    send_opts_free(&o);
    return rc;
}
