/*
 * careteam inbox: prints every message waiting for the member, then acknowledges them.
 *
 * On connecting, the server replays the pending messages and then sends ReplayComplete; inbox
 * prints each as it comes, keeps its id, and after ReplayComplete acknowledges them all (unless
 * --no-ack), but only once everything printed has reached stdout intact.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
    OPT_NO_ACK = CT_CLI_OPT_COMMAND,
};

const char ct_cli_inbox_help[] =
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
    "   \"stored_at_ms\":..,\"kind\":..,\"event\":..}\n"
    "  kind is \"text\" for a member's message. Workflow events (kind \"referral\", \"summary\"\n"
    "  or \"alert\"; event e.g. \"referral.accept\", \"alert.escalate\") also carry the object\n"
    "  after the change as \"referral\", \"summary\" or \"alert\", with the fields that\n"
    "  `careteam referrals --json`, `summaries --json` and `alerts --json` print. A person sees\n"
    "  them as one line, e.g. \"referral 0190... accepted by pw.sam\", then the object.\n";

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

int ct_cli_cmd_inbox(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"no-ack", no_argument, NULL, OPT_NO_ACK},
        CT_CLI_GLOBAL_OPTIONS,
        {0},
    };
    bool no_ack = false;
    int c;
    while ((c = ct_cli_next_option(cli, argc, argv, opts)) > 0) {
        if (c == OPT_NO_ACK)
            no_ack = true;
        else
            return ct_cli_usage_error(cli, "unhandled option");
    }
    if (ct_cli_no_operands(cli, c, argc, argv) != 0)
        return cli->exit_code;

    ct_sync_t *s;
    int rc = ct_cli_connect(cli, &s);
    if (rc != 0)
        return rc;
    id_list_t ids = {0};
    bool complete = false;
    while (rc == 0 && !complete) {
        Careteam__V1__Envelope *push = NULL;
        int r = ct_sync_next_push(s, cli->request_timeout_ms, &push);
        if (r != 0) {
            rc = ct_cli_report_call_failure(cli, s, r, "receiving pending messages");
            break;
        }
        switch (push->body_case) {
        case CARETEAM__V1__ENVELOPE__BODY_DELIVER:
            if (push->deliver != NULL && push->deliver->message != NULL) {
                ct_out_message(&cli->out, push->deliver->message);
                if (id_list_add(&ids, push->deliver->message->message_id) != 0)
                    rc = ct_cli_out_of_memory(cli);
            }
            break;
        case CARETEAM__V1__ENVELOPE__BODY_REPLAY_COMPLETE:
            complete = true;
            break;
        case CARETEAM__V1__ENVELOPE__BODY_ERROR:
            rc = ct_cli_report_refusal(push);
            break;
        default:
            break; /* pushes this version does not know */
        }
        ct_envelope_free(push);
    }
    /* Only what reached stdout intact is acknowledged. */
    int e = ct_out_flush(&cli->out);
    if (rc == 0 && e != 0)
        rc = ct_cli_report_output_failure(e);
    if (rc == 0 && !no_ack)
        rc = ct_cli_ack(cli, s, (const char *const *)ids.v, ids.n);
    if (rc == 0) {
        ct_out_inbox_end(&cli->out, ids.n, !no_ack);
        if ((e = ct_out_flush(&cli->out)) != 0)
            rc = ct_cli_report_output_failure(e);
    }
    ct_sync_close(s);
    id_list_free(&ids);
    return rc;
}
