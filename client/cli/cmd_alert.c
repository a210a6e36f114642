/*
 * careteam concern, alerts, alert ack: safety alerts.
 *
 * An alert opens when a member raises a concern (concern) or posts a summary with a risk of
 * concern or urgent. It goes to the referrers of the participant's active referrals (or every
 * clinician on the team) and must be acknowledged by a clinician on the team before its
 * deadline, or it escalates to every clinician on the team. Deadlines and escalation are the
 * server's; the CLI lists alerts and acknowledges them.
 */
#include <stdbool.h>

#include "cli.h"

enum {
    OPT_PARTICIPANT = CT_CLI_OPT_COMMAND,
    OPT_URGENT,
    OPT_TEXT,
    OPT_OPEN,
    OPT_LIMIT,
    OPT_NOTE,
};

#define ALERT_JSON_HELP                                                                            \
    "  "                                                                                           \
    "{\"type\":\"alert\",\"alert_id\":..,\"participant_id\":..,\"raised_by\":..,\"source\":..,\n"  \
    "   \"summary_id\":..,\"referral_id\":..,\"risk\":..,\"text\":..,\"status\":..,\n"             \
    "   \"escalations\":..,\"deadline\":..,\"deadline_ms\":..,\"created_at\":..,\n"                \
    "   \"created_at_ms\":..,\"acknowledged_by\":..,\"acknowledged_at\":..,\n"                     \
    "   \"acknowledged_at_ms\":..,\"note\":..}\n"                                                  \
    "  status is open, escalated or acknowledged; source summary or concern; risk concern\n"       \
    "  or urgent; deadline and acknowledged_at are \"\" when not set.\n"

/* ---- concern --------------------------------------------------------------------------------- */

const char ct_cli_concern_help[] =
    "usage: careteam concern --participant P [--urgent] --text TEXT [GLOBAL OPTIONS]\n"
    "\n"
    "Raises a safety concern about participant P: opens an alert that a clinician on the care\n"
    "team must acknowledge before its deadline (by default 24 hours, or 15 minutes with\n"
    "--urgent), or it escalates to every clinician on the team. Any member of the care team.\n"
    "\n"
    "options:\n"
    "  --participant P   the participant (id)\n"
    "  --urgent          the risk is urgent (default: concern)\n"
    "  --text TEXT       what you saw or heard (at most 4096 bytes)\n"
    "\n"
    "example:\n"
    "  $ careteam concern --participant p-1001 --urgent --text \"Talked of ending it tonight.\"\n"
    "\n"
    "--json prints the alert opened, one line:\n" ALERT_JSON_HELP;

int ct_cli_cmd_concern(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"participant", required_argument, NULL, OPT_PARTICIPANT},
        {"urgent", no_argument, NULL, OPT_URGENT},
        {"text", required_argument, NULL, OPT_TEXT},
        CT_CLI_GLOBAL_OPTIONS,
        {0},
    };
    Careteam__V1__RaiseConcern req = CARETEAM__V1__RAISE_CONCERN__INIT;
    const char *participant = NULL, *text = NULL;
    bool urgent = false;
    int c = 0, rc = 0;
    while (rc == 0 && (c = ct_cli_next_option(cli, argc, argv, opts)) > 0) {
        switch (c) {
        case OPT_PARTICIPANT:
            rc = ct_cli_check_id(cli, "--participant", optarg, "participant id");
            participant = optarg;
            break;
        case OPT_URGENT:
            urgent = true;
            break;
        case OPT_TEXT:
            rc = ct_cli_check_text(cli, "--text", optarg);
            text = optarg;
            break;
        default:
            rc = ct_cli_usage_error(cli, "unhandled option");
        }
    }
    if (rc != 0 || ct_cli_no_operands(cli, c, argc, argv) != 0)
        return cli->exit_code;
    if (participant == NULL)
        return ct_cli_missing(cli, "--participant", "P");
    if (text == NULL || text[0] == '\0')
        return ct_cli_missing(cli, "--text", "TEXT (what you saw or heard)");
    req.participant_id = (char *)participant;
    req.risk = urgent ? CARETEAM__V1__RISK__RISK_URGENT : CARETEAM__V1__RISK__RISK_CONCERN;
    req.text = (char *)text;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_RAISE_CONCERN;
    env.raise_concern = &req;
    return ct_cli_request_print(cli, &env, CARETEAM__V1__ENVELOPE__BODY_ALERT,
                                "raising the concern");
}

/* ---- alerts ---------------------------------------------------------------------------------- */

const char ct_cli_alerts_help[] =
    "usage: careteam alerts [--participant P] [--open] [--limit N] [GLOBAL OPTIONS]\n"
    "\n"
    "Lists safety alerts, newest first: of every participant whose team you are on, or of one.\n"
    "\n"
    "options:\n"
    "  --participant P   only alerts about participant P\n"
    "  --open            only alerts not yet acknowledged (open or escalated)\n"
    "  --limit N         at most N alerts, 1 to 1000 (default 100)\n"
    "\n"
    "example:\n"
    "  $ careteam alerts --open\n"
    "\n"
    "--json prints one line per alert (nothing when there is none):\n" ALERT_JSON_HELP;

int ct_cli_cmd_alerts(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"participant", required_argument, NULL, OPT_PARTICIPANT},
        {"open", no_argument, NULL, OPT_OPEN},
        {"limit", required_argument, NULL, OPT_LIMIT},
        CT_CLI_GLOBAL_OPTIONS,
        {0},
    };
    Careteam__V1__ListAlerts req = CARETEAM__V1__LIST_ALERTS__INIT;
    int c = 0, rc = 0;
    while (rc == 0 && (c = ct_cli_next_option(cli, argc, argv, opts)) > 0) {
        switch (c) {
        case OPT_PARTICIPANT:
            rc = ct_cli_check_id(cli, "--participant", optarg, "participant id");
            req.participant_id = optarg;
            break;
        case OPT_OPEN:
            req.open_only = true;
            break;
        case OPT_LIMIT:
            rc = ct_cli_check_limit(cli, optarg, &req.limit);
            break;
        default:
            rc = ct_cli_usage_error(cli, "unhandled option");
        }
    }
    if (rc != 0 || ct_cli_no_operands(cli, c, argc, argv) != 0)
        return cli->exit_code;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_LIST_ALERTS;
    env.list_alerts = &req;
    return ct_cli_request_print(cli, &env, CARETEAM__V1__ENVELOPE__BODY_ALERT_LIST,
                                "listing alerts");
}

/* ---- alert ack ------------------------------------------------------------------------------- */

const char ct_cli_alert_help[] =
    "usage: careteam alert ack ALERT_ID [--note TEXT]\n"
    "\n"
    "Acknowledges a safety alert. `careteam alerts --open` lists the ones waiting.\n"
    "\n"
    "example:\n"
    "  $ careteam alert ack 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b --note \"called; safe plan\"\n"
    "\n";

static const char alert_ack_help[] =
    "usage: careteam alert ack ALERT_ID [--note TEXT] [GLOBAL OPTIONS]\n"
    "\n"
    "Acknowledges a safety alert: it stops escalating, and whoever raised it is told.\n"
    "Clinicians on the participant's care team only. ALERT_ID is as `careteam alerts` prints\n"
    "it.\n"
    "\n"
    "options:\n"
    "  --note TEXT   what was done (at most 1024 bytes)\n"
    "\n"
    "example:\n"
    "  $ careteam alert ack 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b --note \"called; safe plan\"\n"
    "\n"
    "--json prints the alert, now acknowledged, one line:\n" ALERT_JSON_HELP;

static int alert_ack(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"note", required_argument, NULL, OPT_NOTE},
        CT_CLI_GLOBAL_OPTIONS,
        {0},
    };
    static const ct_cli_id_operand_t alert_id = {"ALERT_ID", "alert id", "careteam alerts"};
    Careteam__V1__AcknowledgeAlert req = CARETEAM__V1__ACKNOWLEDGE_ALERT__INIT;
    const char *id = NULL;
    int c = 0, rc = 0;
    while (rc == 0 && (c = ct_cli_next_option_id(cli, argc, argv, opts, &alert_id, &id)) > 0) {
        if (c == OPT_NOTE) {
            rc = ct_cli_check_text(cli, "--note", optarg);
            req.note = optarg;
        } else {
            rc = ct_cli_usage_error(cli, "unhandled option");
        }
    }
    if (rc != 0 || c < 0)
        return cli->exit_code;
    req.alert_id = (char *)id;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_ACKNOWLEDGE_ALERT;
    env.acknowledge_alert = &req;
    return ct_cli_request_print(cli, &env, CARETEAM__V1__ENVELOPE__BODY_ALERT,
                                "acknowledging the alert");
}

const ct_cli_subcommand_t ct_cli_alert_subcommands[] = {
    {"ack", "acknowledge a safety alert", alert_ack_help, alert_ack},
    {NULL, NULL, NULL, NULL},
};
