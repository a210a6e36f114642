/*
 * careteam lockbox add | remove: a participant's restriction on one member of their team.
 *
 * A restricted member receives nothing more about the participant and reads nothing about them
 * (messages to them about the participant are withheld, and `careteam send` says so) until the
 * restriction is lifted. Clinicians on the participant's team record and lift restrictions on
 * the participant's behalf; the server answers Ok.
 */
#include "cli.h"

enum {
    OPT_PARTICIPANT = CT_CLI_OPT_COMMAND,
    OPT_MEMBER,
    OPT_REASON,
};

#define LOCKBOX_JSON_HELP                                                                          \
    "--json prints one line:\n"                                                                    \
    "  {\"type\":\"lockbox\",\"participant_id\":..,\"member_id\":..,\"restricted\":BOOL}\n"

const char ct_cli_lockbox_help[] =
    "usage: careteam lockbox SUBCOMMAND [OPTIONS]\n"
    "\n"
    "Records or lifts a participant's restriction (lockbox) on a member of their care team:\n"
    "a restricted member receives and reads nothing more about the participant.\n"
    "\n"
    "examples:\n"
    "  $ careteam lockbox add --participant p-1001 --member pw.kim --reason \"participant's "
    "wish\"\n"
    "  $ careteam lockbox remove --participant p-1001 --member pw.kim\n"
    "\n";

static const char lockbox_add_help[] =
    "usage: careteam lockbox add --participant P --member M [--reason TEXT] [GLOBAL OPTIONS]\n"
    "\n"
    "Restricts member M from participant P, at the participant's request. Clinicians on the\n"
    "participant's care team only.\n"
    "\n"
    "options:\n"
    "  --participant P   the participant (id)\n"
    "  --member M        the member to restrict (id)\n"
    "  --reason TEXT     why (at most 1024 bytes)\n"
    "\n"
    "example:\n"
    "  $ careteam lockbox add --participant p-1001 --member pw.kim --reason \"participant's "
    "wish\"\n"
    "\n" LOCKBOX_JSON_HELP;

static const char lockbox_remove_help[] =
    "usage: careteam lockbox remove --participant P --member M [GLOBAL OPTIONS]\n"
    "\n"
    "Lifts the restriction of member M from participant P. Clinicians on the participant's\n"
    "care team only.\n"
    "\n"
    "options:\n"
    "  --participant P   the participant (id)\n"
    "  --member M        the restricted member (id)\n"
    "\n"
    "example:\n"
    "  $ careteam lockbox remove --participant p-1001 --member pw.kim\n"
    "\n" LOCKBOX_JSON_HELP;

/* Both subcommands: add when restrict, else remove (which takes no --reason). */
static int lockbox_run(cli_t *cli, int argc, char **argv, bool restrict_member)
{
    static const struct option add_opts[] = {
        {"participant", required_argument, NULL, OPT_PARTICIPANT},
        {"member", required_argument, NULL, OPT_MEMBER},
        {"reason", required_argument, NULL, OPT_REASON},
        CT_CLI_GLOBAL_OPTIONS,
        {0},
    };
    static const struct option remove_opts[] = {
        {"participant", required_argument, NULL, OPT_PARTICIPANT},
        {"member", required_argument, NULL, OPT_MEMBER},
        CT_CLI_GLOBAL_OPTIONS,
        {0},
    };
    const struct option *opts = restrict_member ? add_opts : remove_opts;
    const char *participant = NULL, *member = NULL, *reason = "";
    int c = 0, rc = 0;
    while (rc == 0 && (c = ct_cli_next_option(cli, argc, argv, opts)) > 0) {
        switch (c) {
        case OPT_PARTICIPANT:
            rc = ct_cli_check_id(cli, "--participant", optarg, "participant id");
            participant = optarg;
            break;
        case OPT_MEMBER:
            rc = ct_cli_check_id(cli, "--member", optarg, "member id");
            member = optarg;
            break;
        case OPT_REASON:
            rc = ct_cli_check_text(cli, "--reason", optarg);
            reason = optarg;
            break;
        default:
            rc = ct_cli_usage_error(cli, "unhandled option");
        }
    }
    if (rc != 0 || ct_cli_no_operands(cli, c, argc, argv) != 0)
        return cli->exit_code;
    if (participant == NULL)
        return ct_cli_missing(cli, "--participant", "P");
    if (member == NULL)
        return ct_cli_missing(cli, "--member", "M");

    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    Careteam__V1__RecordRestriction add = CARETEAM__V1__RECORD_RESTRICTION__INIT;
    Careteam__V1__LiftRestriction lift = CARETEAM__V1__LIFT_RESTRICTION__INIT;
    if (restrict_member) {
        add.participant_id = (char *)participant;
        add.member_id = (char *)member;
        add.reason = (char *)reason;
        env.body_case = CARETEAM__V1__ENVELOPE__BODY_RECORD_RESTRICTION;
        env.record_restriction = &add;
    } else {
        lift.participant_id = (char *)participant;
        lift.member_id = (char *)member;
        env.body_case = CARETEAM__V1__ENVELOPE__BODY_LIFT_RESTRICTION;
        env.lift_restriction = &lift;
    }
    Careteam__V1__Envelope *resp;
    rc = ct_cli_request(cli, &env, CARETEAM__V1__ENVELOPE__BODY_OK,
                        restrict_member ? "recording the restriction" : "lifting the restriction",
                        &resp);
    if (rc != 0)
        return rc;
    ct_envelope_free(resp);
    ct_out_lockbox(&cli->out, participant, member, restrict_member);
    return ct_cli_output_done(cli);
}

static int lockbox_add(cli_t *cli, int argc, char **argv)
{
    return lockbox_run(cli, argc, argv, true);
}

static int lockbox_remove(cli_t *cli, int argc, char **argv)
{
    return lockbox_run(cli, argc, argv, false);
}

const ct_cli_subcommand_t ct_cli_lockbox_subcommands[] = {
    {"add", "restrict a member from a participant", lockbox_add_help, lockbox_add},
    {"remove", "lift a member's restriction", lockbox_remove_help, lockbox_remove},
    {NULL, NULL, NULL, NULL},
};
