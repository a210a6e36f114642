/*
 * careteam consent record | withdraw | list: a participant's consents.
 *
 * A referral to peer support needs an active peer-support consent, so `consent record` is
 * usually the first step of the workflow. Only a clinician on the participant's team may record
 * or withdraw one (the server decides); any member on the team may list them.
 */
#include "cli.h"

enum {
    OPT_PARTICIPANT = CT_CLI_OPT_COMMAND,
    OPT_SCOPE,
    OPT_METHOD,
    OPT_NOTE,
    OPT_REASON,
};

#define CONSENT_JSON_HELP                                                                          \
    "  "                                                                                           \
    "{\"type\":\"consent\",\"consent_id\":..,\"participant_id\":..,\"scope\":..,\"method\":..,\n"  \
    "   "                                                                                          \
    "\"note\":..,\"recorded_by\":..,\"recorded_at\":..,\"recorded_at_ms\":..,\"active\":BOOL,\n"   \
    "   \"withdrawn_by\":..,\"withdrawn_at\":..,\"withdrawn_at_ms\":..,\"withdraw_reason\":..}\n"

const char ct_cli_consent_help[] =
    "usage: careteam consent SUBCOMMAND [OPTIONS]\n"
    "\n"
    "Records, withdraws and lists a participant's consents. A referral to peer support\n"
    "needs an active peer-support consent.\n"
    "\n"
    "examples:\n"
    "  $ careteam consent record --participant p-1001 --scope peer-support --method verbal\n"
    "  $ careteam consent list --participant p-1001\n"
    "  $ careteam consent withdraw 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b --reason \"asked to "
    "stop\"\n"
    "\n";

static const char consent_record_help[] =
    "usage: careteam consent record --participant P --scope SCOPE --method METHOD\n"
    "                               [--note TEXT] [GLOBAL OPTIONS]\n"
    "\n"
    "Records that participant P gave consent. Clinicians on the participant's care team only.\n"
    "\n"
    "options:\n"
    "  --participant P   the participant (id)\n"
    "  --scope SCOPE     peer-support (being referred to peer workers) or\n"
    "                    information-sharing (sharing information within the care team)\n"
    "  --method METHOD   verbal or written\n"
    "  --note TEXT       a note, e.g. where the written form is kept (at most 1024 bytes)\n"
    "\n"
    "example:\n"
    "  $ careteam consent record --participant p-1001 --scope peer-support --method written \\\n"
    "        --note \"form scanned to the chart\"\n"
    "\n"
    "--json prints the consent recorded, one line:\n" CONSENT_JSON_HELP;

static const char consent_withdraw_help[] =
    "usage: careteam consent withdraw CONSENT_ID [--reason TEXT] [GLOBAL OPTIONS]\n"
    "\n"
    "Marks a consent as withdrawn (it is kept, with who withdrew it and when). Clinicians on\n"
    "the participant's care team only. CONSENT_ID is as `careteam consent list` prints it.\n"
    "\n"
    "options:\n"
    "  --reason TEXT   why it was withdrawn (at most 1024 bytes)\n"
    "\n"
    "example:\n"
    "  $ careteam consent withdraw 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b --reason \"asked to "
    "stop\"\n"
    "\n"
    "--json prints the consent, now inactive, one line:\n" CONSENT_JSON_HELP;

static const char consent_list_help[] =
    "usage: careteam consent list --participant P [GLOBAL OPTIONS]\n"
    "\n"
    "Lists the consents of participant P, newest first, withdrawn ones included.\n"
    "\n"
    "options:\n"
    "  --participant P   the participant (id)\n"
    "\n"
    "example:\n"
    "  $ careteam consent list --participant p-1001\n"
    "\n"
    "--json prints one line per consent (nothing when there is none):\n" CONSENT_JSON_HELP;

static int consent_record(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"participant", required_argument, NULL, OPT_PARTICIPANT},
        {"scope", required_argument, NULL, OPT_SCOPE},
        {"method", required_argument, NULL, OPT_METHOD},
        {"note", required_argument, NULL, OPT_NOTE},
        CT_CLI_GLOBAL_OPTIONS,
        {0},
    };
    Careteam__V1__RecordConsent req = CARETEAM__V1__RECORD_CONSENT__INIT;
    const char *participant = NULL;
    int scope = 0, method = 0, c = 0, rc = 0;
    while (rc == 0 && (c = ct_cli_next_option(cli, argc, argv, opts)) > 0) {
        switch (c) {
        case OPT_PARTICIPANT:
            rc = ct_cli_check_id(cli, "--participant", optarg, "participant id");
            participant = optarg;
            break;
        case OPT_SCOPE:
            rc = ct_cli_check_name(cli, "--scope", optarg, &ct_cli_scope_names, &scope);
            break;
        case OPT_METHOD:
            rc = ct_cli_check_name(cli, "--method", optarg, &ct_cli_method_names, &method);
            break;
        case OPT_NOTE:
            rc = ct_cli_check_text(cli, "--note", optarg);
            req.note = optarg;
            break;
        default:
            rc = ct_cli_usage_error(cli, "unhandled option");
        }
    }
    if (rc != 0 || ct_cli_no_operands(cli, c, argc, argv) != 0)
        return cli->exit_code;
    if (participant == NULL)
        return ct_cli_missing(cli, "--participant", "P");
    if (scope == 0)
        return ct_cli_missing(cli, "--scope", "peer-support|information-sharing");
    if (method == 0)
        return ct_cli_missing(cli, "--method", "verbal|written");
    req.participant_id = (char *)participant;
    req.scope = scope;
    req.method = method;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_RECORD_CONSENT;
    env.record_consent = &req;
    return ct_cli_request_print(cli, &env, CARETEAM__V1__ENVELOPE__BODY_CONSENT,
                                "recording the consent");
}

static int consent_withdraw(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, OPT_REASON},
        CT_CLI_GLOBAL_OPTIONS,
        {0},
    };
    static const ct_cli_id_operand_t consent_id = {"CONSENT_ID", "consent id",
                                                   "careteam consent list"};
    Careteam__V1__WithdrawConsent req = CARETEAM__V1__WITHDRAW_CONSENT__INIT;
    const char *id = NULL;
    int c = 0, rc = 0;
    while (rc == 0 && (c = ct_cli_next_option_id(cli, argc, argv, opts, &consent_id, &id)) > 0) {
        if (c == OPT_REASON) {
            rc = ct_cli_check_text(cli, "--reason", optarg);
            req.reason = optarg;
        } else {
            rc = ct_cli_usage_error(cli, "unhandled option");
        }
    }
    if (rc != 0 || c < 0)
        return cli->exit_code;
    req.consent_id = (char *)id;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_WITHDRAW_CONSENT;
    env.withdraw_consent = &req;
    return ct_cli_request_print(cli, &env, CARETEAM__V1__ENVELOPE__BODY_CONSENT,
                                "withdrawing the consent");
}

static int consent_list(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"participant", required_argument, NULL, OPT_PARTICIPANT},
        CT_CLI_GLOBAL_OPTIONS,
        {0},
    };
    Careteam__V1__ListConsents req = CARETEAM__V1__LIST_CONSENTS__INIT;
    const char *participant = NULL;
    int c = 0, rc = 0;
    while (rc == 0 && (c = ct_cli_next_option(cli, argc, argv, opts)) > 0) {
        if (c == OPT_PARTICIPANT) {
            rc = ct_cli_check_id(cli, "--participant", optarg, "participant id");
            participant = optarg;
        } else {
            rc = ct_cli_usage_error(cli, "unhandled option");
        }
    }
    if (rc != 0 || ct_cli_no_operands(cli, c, argc, argv) != 0)
        return cli->exit_code;
    if (participant == NULL)
        return ct_cli_missing(cli, "--participant", "P");
    req.participant_id = (char *)participant;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_LIST_CONSENTS;
    env.list_consents = &req;
    return ct_cli_request_print(cli, &env, CARETEAM__V1__ENVELOPE__BODY_CONSENT_LIST,
                                "listing consents");
}

const ct_cli_subcommand_t ct_cli_consent_subcommands[] = {
    {"record", "record a participant's consent", consent_record_help, consent_record},
    {"withdraw", "withdraw a consent", consent_withdraw_help, consent_withdraw},
    {"list", "list a participant's consents", consent_list_help, consent_list},
    {NULL, NULL, NULL, NULL},
};
