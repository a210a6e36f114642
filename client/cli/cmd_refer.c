/*
 * careteam refer, referrals, referral ACTION: referrals to peer support (FHIR Task).
 *
 *   refer      a clinician refers a participant to a peer worker, or to the peer-worker queue
 *   referrals  lists the referrals the member may see, with filters
 *   referral   moves one referral: accept, decline, start, hold, resume, complete, cancel, or
 *              (a peer supervisor) reassign
 *
 * The CLI's action names are what people say; decline is the protocol's REJECT. Which move is
 * allowed from which status, and by whom, is the server's one transition table
 * (docs/workflow.md); the CLI only insists on the reason that decline and cancel require.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
    OPT_PARTICIPANT = CT_CLI_OPT_COMMAND,
    OPT_TO,
    OPT_QUEUE,
    OPT_REASON,
    OPT_GOAL,
    OPT_PRIORITY,
    OPT_ASSIGNED,
    OPT_CREATED,
    OPT_STATUS,
    OPT_LIMIT,
};

#define REFERRAL_JSON_HELP                                                                         \
    "  {\"type\":\"referral\",\"referral_id\":..,\"participant_id\":..,\"referrer_id\":..,\n"      \
    "   \"addressee_id\":..,\"assignee_id\":..,\"status\":..,\"reason\":..,\"goals\":[..],\n"      \
    "   \"priority\":..,\"status_reason\":..,\"created_at\":..,\"created_at_ms\":..,\n"            \
    "   \"updated_at\":..,\"updated_at_ms\":..,\"held_from\":..}\n"                                \
    "  status is a FHIR Task code: requested accepted rejected in-progress on-hold\n"              \
    "  completed cancelled; addressee_id is \"\" for the queue, held_from \"\" unless on hold.\n"

/* ---- refer ----------------------------------------------------------------------------------- */

const char ct_cli_refer_help[] =
    "usage: careteam refer --participant P (--to PEER_ID | --queue) --reason TEXT\n"
    "                      [--goal TEXT]... [--priority PRIORITY] [GLOBAL OPTIONS]\n"
    "\n"
    "Refers participant P to peer support: to one peer worker, or to the peer-worker queue\n"
    "where the first peer worker to accept it takes it. Clinicians on the participant's care\n"
    "team only; the participant needs an active peer-support consent (careteam consent\n"
    "record). The peer worker (or every peer worker, for the queue) is told at once.\n"
    "\n"
    "options:\n"
    "  --participant P      the participant (id)\n"
    "  --to PEER_ID         the peer worker to refer to\n"
    "  --queue              refer to the peer-worker queue instead\n"
    "  --reason TEXT        why peer support is sought (at most 4096 bytes)\n"
    "  --goal TEXT          a goal of the referral; repeat for more (at most 16)\n"
    "  --priority PRIORITY  routine (default), urgent, asap or stat\n"
    "\n"
    "examples:\n"
    "  $ careteam refer --participant p-1001 --to pw.sam --reason \"isolation after discharge\" "
    "\\\n"
    "        --goal \"weekly walk\" --goal \"reconnect with family\" --priority urgent\n"
    "  $ careteam refer --participant p-1002 --queue --reason \"housing support\"\n"
    "\n"
    "--json prints the referral created, one line:\n" REFERRAL_JSON_HELP;

/* Parses refer's options into *req (whose goals array, of argc entries, the caller made).
 * Returns 0, or nonzero when ct_cli_cmd_refer must return cli->exit_code (a usage error was
 * reported, or --help / --version printed). */
static int parse_refer(cli_t *cli, int argc, char **argv, Careteam__V1__CreateReferral *req)
{
    static const struct option opts[] = {
        {"participant", required_argument, NULL, OPT_PARTICIPANT},
        {"to", required_argument, NULL, OPT_TO},
        {"queue", no_argument, NULL, OPT_QUEUE},
        {"reason", required_argument, NULL, OPT_REASON},
        {"goal", required_argument, NULL, OPT_GOAL},
        {"priority", required_argument, NULL, OPT_PRIORITY},
        CT_CLI_GLOBAL_OPTIONS,
        {0},
    };
    const char *participant = NULL, *to = NULL, *reason = NULL;
    int priority = CARETEAM__V1__PRIORITY__PRIORITY_ROUTINE, c = 0, rc = 0;
    while (rc == 0 && (c = ct_cli_next_option(cli, argc, argv, opts)) > 0) {
        switch (c) {
        case OPT_PARTICIPANT:
            rc = ct_cli_check_id(cli, "--participant", optarg, "participant id");
            participant = optarg;
            break;
        case OPT_TO:
            rc = ct_cli_check_id(cli, "--to", optarg, "member id");
            to = optarg;
            break;
        case OPT_QUEUE:
            req->to_queue = true;
            break;
        case OPT_REASON:
            rc = ct_cli_check_text(cli, "--reason", optarg);
            reason = optarg;
            break;
        case OPT_GOAL:
            rc = ct_cli_check_text(cli, "--goal", optarg);
            req->goals[req->n_goals++] = optarg;
            break;
        case OPT_PRIORITY:
            rc = ct_cli_check_name(cli, "--priority", optarg, &ct_cli_priority_names, &priority);
            break;
        default:
            rc = ct_cli_usage_error(cli, "unhandled option");
        }
    }
    if (rc != 0 || ct_cli_no_operands(cli, c, argc, argv) != 0)
        return -1;
    if (participant == NULL)
        return ct_cli_missing(cli, "--participant", "P");
    if ((to != NULL) == req->to_queue)
        return ct_cli_usage_error(cli, "give exactly one of --to PEER_ID and --queue");
    if (reason == NULL || reason[0] == '\0')
        return ct_cli_missing(cli, "--reason", "TEXT (why peer support is sought)");
    req->participant_id = (char *)participant;
    if (to != NULL)
        req->peer_worker_id = (char *)to;
    req->reason = (char *)reason;
    req->priority = priority;
    return 0;
}

int ct_cli_cmd_refer(cli_t *cli, int argc, char **argv)
{
    Careteam__V1__CreateReferral req = CARETEAM__V1__CREATE_REFERRAL__INIT;
    /* The goals point into argv; there cannot be more than argc of them. */
    if ((req.goals = calloc((size_t)argc, sizeof *req.goals)) == NULL)
        return ct_cli_out_of_memory(cli);
    int rc;
    if (parse_refer(cli, argc, argv, &req) != 0) {
        rc = cli->exit_code;
    } else {
        Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
        env.body_case = CARETEAM__V1__ENVELOPE__BODY_CREATE_REFERRAL;
        env.create_referral = &req;
        rc = ct_cli_request_print(cli, &env, CARETEAM__V1__ENVELOPE__BODY_REFERRAL,
                                  "creating the referral");
    }
    free(req.goals);
    return rc;
}

/* ---- referrals ------------------------------------------------------------------------------- */

const char ct_cli_referrals_help[] =
    "usage: careteam referrals [--assigned] [--created] [--queue] [--status STATUS]\n"
    "                          [--participant P] [--limit N] [GLOBAL OPTIONS]\n"
    "\n"
    "Lists the referrals you may see, newest first, that match every filter given.\n"
    "\n"
    "options:\n"
    "  --assigned         only referrals assigned to you\n"
    "  --created          only referrals you created\n"
    "  --queue            only requested referrals waiting in the peer-worker queue\n"
    "  --status STATUS    only referrals in STATUS: requested, accepted, rejected,\n"
    "                     in-progress, on-hold, completed or cancelled\n"
    "  --participant P    only referrals of participant P\n"
    "  --limit N          at most N referrals, 1 to 1000 (default 100)\n"
    "\n"
    "examples:\n"
    "  $ careteam referrals --queue                       # waiting for a peer worker\n"
    "  $ careteam referrals --assigned --status in-progress\n"
    "\n"
    "--json prints one line per referral (nothing when there is none):\n" REFERRAL_JSON_HELP;

int ct_cli_cmd_referrals(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"assigned", no_argument, NULL, OPT_ASSIGNED},
        {"created", no_argument, NULL, OPT_CREATED},
        {"queue", no_argument, NULL, OPT_QUEUE},
        {"status", required_argument, NULL, OPT_STATUS},
        {"participant", required_argument, NULL, OPT_PARTICIPANT},
        {"limit", required_argument, NULL, OPT_LIMIT},
        CT_CLI_GLOBAL_OPTIONS,
        {0},
    };
    Careteam__V1__ListReferrals req = CARETEAM__V1__LIST_REFERRALS__INIT;
    int status = 0, c = 0, rc = 0;
    while (rc == 0 && (c = ct_cli_next_option(cli, argc, argv, opts)) > 0) {
        switch (c) {
        case OPT_ASSIGNED:
            req.assigned_to_me = true;
            break;
        case OPT_CREATED:
            req.created_by_me = true;
            break;
        case OPT_QUEUE:
            req.queue = true;
            break;
        case OPT_STATUS:
            rc = ct_cli_check_name(cli, "--status", optarg, &ct_cli_referral_status_names, &status);
            break;
        case OPT_PARTICIPANT:
            rc = ct_cli_check_id(cli, "--participant", optarg, "participant id");
            req.participant_id = optarg;
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
    req.status = status;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_LIST_REFERRALS;
    env.list_referrals = &req;
    return ct_cli_request_print(cli, &env, CARETEAM__V1__ENVELOPE__BODY_REFERRAL_LIST,
                                "listing referrals");
}

/* ---- referral ACTION ID ---------------------------------------------------------------------- */

const char ct_cli_referral_help[] =
    "usage: careteam referral ACTION REFERRAL_ID [OPTIONS]\n"
    "\n"
    "Moves a referral through its life (FHIR Task statuses):\n"
    "\n"
    "  requested --accept--> accepted --start--> in-progress --complete--> completed\n"
    "  requested --decline--> rejected           accepted|in-progress --hold--> on-hold\n"
    "  on-hold --resume--> the status it was held from\n"
    "  requested|accepted|in-progress|on-hold --cancel--> cancelled    (the referrer)\n"
    "\n"
    "The peer worker it is addressed to (any peer worker, for the queue) accepts or declines\n"
    "it; the peer worker who accepted it starts, holds, resumes and completes it; the referrer\n"
    "cancels it; the peer worker's supervisor may reassign it. The referrer and the peer\n"
    "worker are told of every move.\n"
    "\n"
    "examples:\n"
    "  $ careteam referral accept 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\n"
    "  $ careteam referral decline 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b --reason \"caseload "
    "full\"\n"
    "\n";

#define MOVE_OPTIONS_REASON(req)                                                                   \
    "options:\n"                                                                                   \
    "  --reason TEXT   " req " (at most 1024 bytes)\n"

#define MOVE_HELP(action, args, text, options, example)                                            \
    "usage: careteam referral " action " REFERRAL_ID" args " [GLOBAL OPTIONS]\n"                   \
    "\n" text "\n"                                                                                 \
    "REFERRAL_ID is as `careteam referrals` prints it.\n"                                          \
    "\n" options "\n"                                                                              \
    "example:\n"                                                                                   \
    "  $ careteam referral " action " 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b" example "\n"           \
    "\n"                                                                                           \
    "--json prints the referral after the move, one line:\n" REFERRAL_JSON_HELP

static const char accept_help[] = MOVE_HELP(
    "accept", " [--reason TEXT]",
    "Accepts a requested referral: requested -> accepted. The peer worker it is addressed to,\n"
    "or for the queue any peer worker (the first to accept takes it). Accepting puts you on\n"
    "the participant's care team.\n",
    MOVE_OPTIONS_REASON("a note for the referrer"), "");

static const char decline_help[] =
    MOVE_HELP("decline", " --reason TEXT",
              "Declines a requested referral: requested -> rejected. The peer worker it is\n"
              "addressed to; a referral in the queue cannot be declined by one peer worker.\n",
              MOVE_OPTIONS_REASON("why (required)"), " --reason \"caseload full\"");

static const char start_help[] =
    MOVE_HELP("start", " [--reason TEXT]",
              "Starts work on an accepted referral: accepted -> in-progress. Its assignee.\n",
              MOVE_OPTIONS_REASON("a note for the referrer"), "");

static const char hold_help[] = MOVE_HELP(
    "hold", " [--reason TEXT]",
    "Puts a referral on hold: accepted or in-progress -> on-hold. Its assignee.\n",
    MOVE_OPTIONS_REASON("why, for the referrer"), " --reason \"participant in hospital\"");

static const char resume_help[] =
    MOVE_HELP("resume", " [--reason TEXT]",
              "Resumes a referral on hold: on-hold -> the status it was held from. Its\n"
              "assignee.\n",
              MOVE_OPTIONS_REASON("a note for the referrer"), "");

static const char complete_help[] =
    MOVE_HELP("complete", " [--reason TEXT]",
              "Completes a referral: in-progress -> completed. Its assignee.\n",
              MOVE_OPTIONS_REASON("a closing note for the referrer"), "");

static const char cancel_help[] = MOVE_HELP(
    "cancel", " --reason TEXT",
    "Cancels a referral that is not finished: requested, accepted, in-progress or on-hold ->\n"
    "cancelled. The referrer.\n",
    MOVE_OPTIONS_REASON("why (required)"), " --reason \"participant moved away\"");

static const char reassign_help[] =
    MOVE_HELP("reassign", " --to PEER_ID [--reason TEXT]",
              "Hands a referral to another peer worker; its status does not change. The peer\n"
              "supervisor of its assignee, to another active peer worker they supervise, who\n"
              "joins the participant's care team.\n",
              "options:\n"
              "  --to PEER_ID    the peer worker to hand it to (required)\n"
              "  --reason TEXT   why (at most 1024 bytes)\n",
              " --to pw.kim --reason \"leave\"");

/* The moves, by subcommand name. */
static const struct move {
    const char *name;
    Careteam__V1__ReferralAction action;
    bool needs_reason;
    const char *doing; /* for messages */
} MOVES[] = {
    {"accept", CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_ACCEPT, false,
     "accepting the referral"},
    {"decline", CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_REJECT, true,
     "declining the referral"},
    {"start", CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_START, false, "starting the referral"},
    {"hold", CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_HOLD, false,
     "putting the referral on hold"},
    {"resume", CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_RESUME, false,
     "resuming the referral"},
    {"complete", CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_COMPLETE, false,
     "completing the referral"},
    {"cancel", CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_CANCEL, true,
     "cancelling the referral"},
    {"reassign", CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_REASSIGN, false,
     "reassigning the referral"},
};

/* Every referral subcommand: argv[0] names the move. reassign alone takes --to (required). */
static int referral_move(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, OPT_REASON},
        CT_CLI_GLOBAL_OPTIONS,
        {0},
    };
    static const struct option reassign_opts[] = {
        {"to", required_argument, NULL, OPT_TO},
        {"reason", required_argument, NULL, OPT_REASON},
        CT_CLI_GLOBAL_OPTIONS,
        {0},
    };
    static const ct_cli_id_operand_t referral_id = {"REFERRAL_ID", "referral id",
                                                    "careteam referrals"};
    const struct move *m = MOVES;
    while (strcmp(m->name, argv[0]) != 0)
        m++; /* argv[0] is a name of ct_cli_referral_subcommands, all of which are in MOVES */
    bool reassign = m->action == CARETEAM__V1__REFERRAL_ACTION__REFERRAL_ACTION_REASSIGN;
    Careteam__V1__UpdateReferral req = CARETEAM__V1__UPDATE_REFERRAL__INIT;
    const char *id = NULL, *to = NULL;
    int c = 0, rc = 0;
    while (rc == 0 && (c = ct_cli_next_option_id(cli, argc, argv, reassign ? reassign_opts : opts,
                                                 &referral_id, &id)) > 0) {
        switch (c) {
        case OPT_REASON:
            rc = ct_cli_check_text(cli, "--reason", optarg);
            req.reason = optarg;
            break;
        case OPT_TO:
            rc = ct_cli_check_id(cli, "--to", optarg, "member id");
            to = optarg;
            break;
        default:
            rc = ct_cli_usage_error(cli, "unhandled option");
        }
    }
    if (rc != 0 || c < 0)
        return cli->exit_code;
    if (reassign && to == NULL)
        return ct_cli_missing(cli, "--to", "PEER_ID (the peer worker to hand it to)");
    if (m->needs_reason && req.reason[0] == '\0')
        return ct_cli_missing(cli, "--reason", "TEXT (required to decline or cancel)");
    req.referral_id = (char *)id;
    req.action = m->action;
    if (to != NULL)
        req.assignee_id = (char *)to;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_UPDATE_REFERRAL;
    env.update_referral = &req;
    return ct_cli_request_print(cli, &env, CARETEAM__V1__ENVELOPE__BODY_REFERRAL, m->doing);
}

const ct_cli_subcommand_t ct_cli_referral_subcommands[] = {
    {"accept", "accept a requested referral (requested -> accepted)", accept_help, referral_move},
    {"decline", "decline a requested referral, with --reason (-> rejected)", decline_help,
     referral_move},
    {"start", "start work (accepted -> in-progress)", start_help, referral_move},
    {"hold", "put on hold (accepted|in-progress -> on-hold)", hold_help, referral_move},
    {"resume", "resume (on-hold -> the status it was held from)", resume_help, referral_move},
    {"complete", "complete (in-progress -> completed)", complete_help, referral_move},
    {"cancel", "cancel, with --reason (the referrer; -> cancelled)", cancel_help, referral_move},
    {"reassign", "hand to another peer worker (their supervisor)", reassign_help, referral_move},
    {NULL, NULL, NULL, NULL},
};
