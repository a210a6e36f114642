/*
 * careteam summary post, summaries: peer support session summaries.
 *
 * A summary is posted by the peer worker assigned to the referral while it is accepted, in
 * progress or on hold, and goes to the referrer and every clinician on the care team. It is
 * never edited: a correction is a new summary that --amends the old one. A risk of concern or
 * urgent opens a safety alert (careteam alerts).
 *
 * The free text comes from --text, a file, or standard input (--file -), and is checked here
 * against the protocol's default limit of 64 KiB so that a long text is refused before anything
 * is sent, with a message that says how long it may be.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The longest summary text: the server's default max_body. A server configured higher still
 * receives at most this much from the CLI; one configured lower refuses with TOO_LARGE. */
#define SUMMARY_TEXT_MAX (64u * 1024u)

enum {
    OPT_REFERRAL = CT_CLI_OPT_COMMAND,
    OPT_DATE,
    OPT_DURATION,
    OPT_FORMAT,
    OPT_THEME,
    OPT_PROGRESS,
    OPT_NEXT_STEPS,
    OPT_REVIEWED,
    OPT_RISK,
    OPT_AMENDS,
    OPT_TEXT,
    OPT_FILE,
    OPT_PARTICIPANT,
    OPT_LIMIT,
    OPT_FULL,
};

#define SUMMARY_JSON_HELP                                                                          \
    "  {\"type\":\"summary\",\"summary_id\":..,\"referral_id\":..,\"participant_id\":..,\n"        \
    "   \"author_id\":..,\"session_date\":\"YYYY-MM-DD\",\"duration_minutes\":..,\"format\":..,\n" \
    "   \"themes\":[..],\"goals_progress\":..,\"next_steps\":..,\"participant_reviewed\":BOOL,\n"  \
    "   "                                                                                          \
    "\"risk\":..,\"text\":..,\"amends_summary_id\":..,\"created_at\":..,\"created_at_ms\":..,\n"   \
    "   \"alert_id\":..}\n"

const char ct_cli_summary_help[] =
    "usage: careteam summary post [OPTIONS]\n"
    "\n"
    "Posts a peer support session summary. `careteam summaries` lists them.\n"
    "\n"
    "example:\n"
    "  $ careteam summary post --referral 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b \\\n"
    "        --date 2026-01-31 --duration 45 --format one-to-one --file notes.txt\n"
    "\n";

static const char summary_post_help[] =
    "usage: careteam summary post --referral ID --date YYYY-MM-DD --duration MINUTES\n"
    "                             --format FORMAT (--text TEXT | --file PATH | --file -)\n"
    "                             [--theme T]... [--progress TEXT] [--next-steps TEXT]\n"
    "                             [--reviewed] [--risk RISK] [--amends SUMMARY_ID]\n"
    "                             [GLOBAL OPTIONS]\n"
    "\n"
    "Posts the summary of a peer support session on a referral assigned to you (accepted,\n"
    "in progress or on hold). It goes to the referrer and every clinician on the care team.\n"
    "A risk of concern or urgent also opens a safety alert that a clinician must acknowledge.\n"
    "\n"
    "options:\n"
    "  --referral ID        the referral (as `careteam referrals` prints it)\n"
    "  --date YYYY-MM-DD    the day of the session\n"
    "  --duration MINUTES   how long it took, 1 to 1440\n"
    "  --format FORMAT      one-to-one, group, phone, video or outreach\n"
    "  --text TEXT          the summary's text\n"
    "  --file PATH          read the text from PATH; '-' reads standard input\n"
    "                       (UTF-8, at most 64 KiB)\n"
    "  --theme T            a theme of the session; repeat for more (at most 16)\n"
    "  --progress TEXT      progress towards the referral's goals\n"
    "  --next-steps TEXT    what happens next\n"
    "  --reviewed           the participant saw and agreed to what is shared\n"
    "  --risk RISK          none (default), concern or urgent; concern and urgent open an\n"
    "                       alert\n"
    "  --amends SUMMARY_ID  this summary corrects an earlier one of the same referral\n"
    "\n"
    "examples:\n"
    "  $ careteam summary post --referral 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b \\\n"
    "        --date 2026-01-31 --duration 45 --format one-to-one --theme housing \\\n"
    "        --reviewed --text \"Met at the library; planning a visit to the housing office.\"\n"
    "  $ careteam summary post --referral 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b \\\n"
    "        --date 2026-01-31 --duration 20 --format phone --risk urgent --file - < notes.txt\n"
    "\n"
    "--json prints the summary posted, one line:\n" SUMMARY_JSON_HELP;

typedef struct post_opts {
    const char *referral, *date, *text, *file, *amends;
    unsigned duration;
    int format, risk;
    char **themes; /* point into argv; the array is owned */
    size_t n_themes;
} post_opts_t;

/* Parses `summary post` options into *o. Returns 0, or nonzero when the command must return
 * cli->exit_code. */
static int parse_post(cli_t *cli, int argc, char **argv, post_opts_t *o,
                      Careteam__V1__PostSummary *req)
{
    static const struct option opts[] = {
        {"referral", required_argument, NULL, OPT_REFERRAL},
        {"date", required_argument, NULL, OPT_DATE},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"theme", required_argument, NULL, OPT_THEME},
        {"progress", required_argument, NULL, OPT_PROGRESS},
        {"next-steps", required_argument, NULL, OPT_NEXT_STEPS},
        {"reviewed", no_argument, NULL, OPT_REVIEWED},
        {"risk", required_argument, NULL, OPT_RISK},
        {"amends", required_argument, NULL, OPT_AMENDS},
        {"text", required_argument, NULL, OPT_TEXT},
        {"file", required_argument, NULL, OPT_FILE},
        CT_CLI_GLOBAL_OPTIONS,
        {0},
    };
    int c = 0, rc = 0;
    while (rc == 0 && (c = ct_cli_next_option(cli, argc, argv, opts)) > 0) {
        switch (c) {
        case OPT_REFERRAL:
            rc = ct_cli_check_uuid(cli, "--referral", optarg, "referral id", "careteam referrals");
            o->referral = optarg;
            break;
        case OPT_DATE:
            rc = ct_cli_check_date(cli, "--date", optarg);
            o->date = optarg;
            break;
        case OPT_DURATION:
            rc = ct_cli_check_number(cli, "--duration", optarg, 1, 1440, &o->duration);
            break;
        case OPT_FORMAT:
            rc = ct_cli_check_name(cli, "--format", optarg, &ct_cli_format_names, &o->format);
            break;
        case OPT_THEME:
            rc = ct_cli_check_text(cli, "--theme", optarg);
            o->themes[o->n_themes++] = optarg;
            break;
        case OPT_PROGRESS:
            rc = ct_cli_check_text(cli, "--progress", optarg);
            req->goals_progress = optarg;
            break;
        case OPT_NEXT_STEPS:
            rc = ct_cli_check_text(cli, "--next-steps", optarg);
            req->next_steps = optarg;
            break;
        case OPT_REVIEWED:
            req->participant_reviewed = true;
            break;
        case OPT_RISK:
            rc = ct_cli_check_name(cli, "--risk", optarg, &ct_cli_risk_names, &o->risk);
            break;
        case OPT_AMENDS:
            rc = ct_cli_check_uuid(cli, "--amends", optarg, "summary id", "careteam summaries");
            o->amends = optarg;
            break;
        case OPT_TEXT:
            rc = ct_cli_check_text(cli, "--text", optarg);
            o->text = optarg;
            break;
        case OPT_FILE:
            o->file = optarg;
            break;
        default:
            rc = ct_cli_usage_error(cli, "unhandled option");
        }
    }
    if (rc != 0 || ct_cli_no_operands(cli, c, argc, argv) != 0)
        return -1;
    if (o->text != NULL && o->file != NULL)
        return ct_cli_usage_error(cli, "give the summary's text with --text or --file, not both");
    if (o->referral == NULL)
        return ct_cli_missing(cli, "--referral", "ID");
    if (o->date == NULL)
        return ct_cli_missing(cli, "--date", "YYYY-MM-DD (the day of the session)");
    if (o->duration == 0)
        return ct_cli_missing(cli, "--duration", "MINUTES (1 to 1440)");
    if (o->format == 0)
        return ct_cli_missing(cli, "--format", "one-to-one|group|phone|video|outreach");
    if (o->text == NULL && o->file == NULL)
        return ct_cli_missing(cli, "--text TEXT or --file", "PATH (- for standard input)");
    if (o->text != NULL && strlen(o->text) > SUMMARY_TEXT_MAX)
        return ct_cli_usage_error(cli,
                                  "--text is %zu bytes; a summary's text may be at most 64 KiB "
                                  "(%u bytes)",
                                  strlen(o->text), SUMMARY_TEXT_MAX);
    return 0;
}

static int summary_post(cli_t *cli, int argc, char **argv)
{
    Careteam__V1__PostSummary req = CARETEAM__V1__POST_SUMMARY__INIT;
    post_opts_t o = {.risk = CARETEAM__V1__RISK__RISK_NONE};
    char *file_text = NULL;
    int rc = 0;
    /* The themes point into argv; there cannot be more than argc of them. */
    if ((o.themes = calloc((size_t)argc, sizeof *o.themes)) == NULL)
        return ct_cli_out_of_memory(cli);
    if (parse_post(cli, argc, argv, &o, &req) != 0) {
        rc = cli->exit_code;
        goto done;
    }
    if (o.file != NULL) {
        size_t len;
        rc = ct_cli_read_text_file(o.file, "summary file", SUMMARY_TEXT_MAX, &file_text, &len);
        if (rc != 0)
            goto done;
    }
    req.referral_id = (char *)o.referral;
    req.session_date = (char *)o.date;
    req.duration_minutes = o.duration;
    req.format = o.format;
    req.themes = o.themes;
    req.n_themes = o.n_themes;
    req.risk = o.risk;
    req.text = file_text != NULL ? file_text : (char *)o.text;
    if (o.amends != NULL)
        req.amends_summary_id = (char *)o.amends;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_POST_SUMMARY;
    env.post_summary = &req;
    rc = ct_cli_request_print(cli, &env, CARETEAM__V1__ENVELOPE__BODY_SUMMARY,
                              "posting the summary");
done:
    free(file_text);
    free(o.themes);
    return rc;
}

const ct_cli_subcommand_t ct_cli_summary_subcommands[] = {
    {"post", "post a session summary on a referral assigned to you", summary_post_help,
     summary_post},
    {NULL, NULL, NULL, NULL},
};

/* ---- summaries ------------------------------------------------------------------------------- */

const char ct_cli_summaries_help[] =
    "usage: careteam summaries (--participant P | --referral ID) [--limit N] [--full]\n"
    "                          [GLOBAL OPTIONS]\n"
    "\n"
    "Lists the session summaries of a participant or of one referral, newest first.\n"
    "\n"
    "options:\n"
    "  --participant P   the summaries of participant P\n"
    "  --referral ID     the summaries of one referral\n"
    "  --limit N         at most N summaries, 1 to 1000 (default 100)\n"
    "  --full            print each summary whole, text included (default: a table)\n"
    "\n"
    "examples:\n"
    "  $ careteam summaries --participant p-1001\n"
    "  $ careteam summaries --referral 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b --full\n"
    "\n"
    "--json prints one line per summary, text included (nothing when there is "
    "none):\n" SUMMARY_JSON_HELP;

int ct_cli_cmd_summaries(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"participant", required_argument, NULL, OPT_PARTICIPANT},
        {"referral", required_argument, NULL, OPT_REFERRAL},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"full", no_argument, NULL, OPT_FULL},
        CT_CLI_GLOBAL_OPTIONS,
        {0},
    };
    Careteam__V1__ListSummaries req = CARETEAM__V1__LIST_SUMMARIES__INIT;
    const char *participant = NULL, *referral = NULL;
    int c = 0, rc = 0;
    while (rc == 0 && (c = ct_cli_next_option(cli, argc, argv, opts)) > 0) {
        switch (c) {
        case OPT_PARTICIPANT:
            rc = ct_cli_check_id(cli, "--participant", optarg, "participant id");
            participant = optarg;
            break;
        case OPT_REFERRAL:
            rc = ct_cli_check_uuid(cli, "--referral", optarg, "referral id", "careteam referrals");
            referral = optarg;
            break;
        case OPT_LIMIT:
            rc = ct_cli_check_limit(cli, optarg, &req.limit);
            break;
        case OPT_FULL:
            cli->out.full = true;
            break;
        default:
            rc = ct_cli_usage_error(cli, "unhandled option");
        }
    }
    if (rc != 0 || ct_cli_no_operands(cli, c, argc, argv) != 0)
        return cli->exit_code;
    if (participant == NULL && referral == NULL)
        return ct_cli_missing(cli, "--participant P or --referral", "ID");
    if (participant != NULL && referral != NULL)
        return ct_cli_usage_error(cli, "give --participant or --referral, not both");
    if (participant != NULL)
        req.participant_id = (char *)participant;
    if (referral != NULL)
        req.referral_id = (char *)referral;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_LIST_SUMMARIES;
    env.list_summaries = &req;
    return ct_cli_request_print(cli, &env, CARETEAM__V1__ENVELOPE__BODY_SUMMARY_LIST,
                                "listing summaries");
}
