/*
 * careteam audit query, careteam audit actions: the audit log, for compliance staff.
 *
 * query pages through the server's AuditQuery with its cursor on one connection, writing each
 * page as it arrives (audit_formats.h), so that an export of the whole log never sits in memory.
 * The server refuses every role but compliance (FORBIDDEN, exit 1), and audits each page it
 * answers as "audit.query". actions prints the table of action codes and their FHIR AuditEvent
 * mapping (common/audit_actions.h) as docs/compliance.md holds it; it needs no server.
 */
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "audit_actions.h"
#include "audit_formats.h"
#include "cli.h"

enum {
    OPT_SINCE = CT_CLI_OPT_COMMAND,
    OPT_UNTIL,
    OPT_ACTOR,
    OPT_PARTICIPANT,
    OPT_ACTION,
    OPT_OUTCOME,
    OPT_OBJECT_TYPE,
    OPT_OBJECT_ID,
    OPT_LIMIT,
    OPT_MAX,
    OPT_FORMAT,
};

const char ct_cli_audit_help[] =
    "usage: careteam audit query [FILTERS] [--format table|csv|jsonl|fhir]\n"
    "       careteam audit actions\n"
    "\n"
    "The audit log, for compliance staff: every request (allowed or refused), delivery, state\n"
    "change, failed handshake and administrative command, as metadata (never a message body or\n"
    "summary text).\n"
    "\n"
    "example:\n"
    "  $ careteam audit query --participant p-1001 --since 2026-11-01 --format csv > p-1001.csv\n"
    "\n";

/* ---- query ----------------------------------------------------------------------------------- */

static const char audit_query_help[] =
    "usage: careteam audit query [--since TIME] [--until TIME] [--actor ID]\n"
    "                            [--participant ID] [--action CODE|PREFIX.]\n"
    "                            [--outcome success|minor|serious|major]\n"
    "                            [--object-type TYPE] [--object-id ID] [--limit N] [--max N]\n"
    "                            [--format table|csv|jsonl|fhir] [GLOBAL OPTIONS]\n"
    "\n"
    "Prints the audit records that match every filter given, oldest first, fetching them from\n"
    "the server page by page and printing each page as it arrives. Compliance members only;\n"
    "the query is itself audited (action audit.query).\n"
    "\n"
    "filters:\n"
    "  --since TIME        records at or after TIME: RFC 3339 UTC (2026-11-25T10:00:00Z) or a\n"
    "                      date (2026-11-25, from its first moment)\n"
    "  --until TIME        records before TIME; a date includes that whole day\n"
    "  --actor ID          records of this actor: a member id, careteamd (the daemon), or\n"
    "                      local:ACCOUNT (an administrator on the server host)\n"
    "  --participant ID    records about this participant\n"
    "  --action CODE       this action code (message.send), or every code that starts with a\n"
    "                      prefix ending in '.' (referral.); `careteam audit actions` lists them\n"
    "  --outcome NAME      success, minor (a refusal), serious (a server fault) or major\n"
    "  --object-type TYPE  records about objects of this type (message, referral, member, ...)\n"
    "  --object-id ID      records about this object\n"
    "\n"
    "options:\n"
    "  --limit N           records per page, 1 to 1000 (default 500)\n"
    "  --max N             stop after N records\n"
    "  --format FORMAT     table (aligned columns, the default), csv (RFC 4180: a header row,\n"
    "                      CRLF line ends), jsonl (one JSON object per line; also --json), or\n"
    "                      fhir (a FHIR R4 Bundle of type collection holding one AuditEvent per\n"
    "                      record; the mapping is in docs/compliance.md)\n"
    "\n"
    "examples:\n"
    "  $ careteam audit query --since 2026-11-25 --outcome minor\n"
    "  $ careteam audit query --actor pw.sam --action referral. --format jsonl\n"
    "  $ careteam audit query --participant p-1001 --format fhir > p-1001-audit.json\n"
    "\n"
    "csv columns and jsonl fields (jsonl adds \"type\":\"audit_record\"):\n"
    "  seq, time (UTC ISO 8601), time_ms, actor_id, actor_role (\"\" for none), cert_fp,\n"
    "  peer_addr, action, object_type, object_id, participant_id, outcome (0 success, 4 minor,\n"
    "  8 serious, 12 major failure), detail\n";

typedef struct query_opts {
    Careteam__V1__AuditQuery q;
    unsigned page; /* 0: the server's default */
    unsigned max;  /* 0: no limit */
    ct_audit_format_t format;
    bool format_set;
} query_opts_t;

static int query_option(cli_t *cli, int c, query_opts_t *o)
{
    int v = 0;
    int rc = 0;
    switch (c) {
    case OPT_SINCE:
        return ct_cli_check_time(cli, "--since", optarg, false, &o->q.since_ms);
    case OPT_UNTIL:
        return ct_cli_check_time(cli, "--until", optarg, true, &o->q.until_ms);
    case OPT_ACTOR:
        o->q.actor_id = optarg;
        return optarg[0] != '\0' ? 0 : ct_cli_usage_error(cli, "--actor needs an id");
    case OPT_PARTICIPANT:
        o->q.participant_id = optarg;
        return ct_cli_check_id(cli, "--participant", optarg, "participant id");
    case OPT_ACTION:
        o->q.action = optarg;
        return optarg[0] != '\0' ? 0 : ct_cli_usage_error(cli, "--action needs an action code");
    case OPT_OUTCOME:
        rc = ct_cli_check_name(cli, "--outcome", optarg, &ct_cli_outcome_names, &v);
        o->q.outcome = (Careteam__V1__AuditOutcomeFilter)v;
        return rc;
    case OPT_OBJECT_TYPE:
        o->q.object_type = optarg;
        return optarg[0] != '\0' ? 0 : ct_cli_usage_error(cli, "--object-type needs a type");
    case OPT_OBJECT_ID:
        o->q.object_id = optarg;
        return ct_cli_check_text(cli, "--object-id", optarg);
    case OPT_LIMIT:
        return ct_cli_check_number(cli, "--limit", optarg, 1, 1000, &o->page);
    case OPT_MAX:
        return ct_cli_check_number(cli, "--max", optarg, 1, 4000000000u, &o->max);
    case OPT_FORMAT:
        o->format_set = true;
        if (ct_audit_format_parse(optarg, &o->format) == 0)
            return 0;
        return ct_cli_usage_error(cli, "--format '%s' is not one of: table, csv, jsonl, fhir",
                                  optarg);
    default:
        return ct_cli_usage_error(cli, "unhandled option");
    }
}

/* Asks for pages until the server says there are no more or --max is reached, exporting each.
 * Returns 0 or an exit code (reported). */
static int query_pages(cli_t *cli, ct_sync_t *s, query_opts_t *o, ct_audit_export_t *x)
{
    uint64_t cursor = 0;
    size_t printed = 0;
    for (;;) {
        o->q.after_seq = cursor;
        o->q.limit = o->page;
        if (o->max > 0) {
            size_t left = o->max - printed;
            unsigned page = o->page != 0 ? o->page : 500;
            o->q.limit = left < page ? (uint32_t)left : page;
        }
        Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
        env.body_case = CARETEAM__V1__ENVELOPE__BODY_AUDIT_QUERY;
        env.audit_query = &o->q;
        Careteam__V1__Envelope *resp = NULL;
        int r = ct_sync_call(s, &env, cli->request_timeout_ms, &resp);
        int rc = ct_cli_check_answer(cli, s, r, resp, "querying the audit log");
        if (rc == 0 && resp->body_case != CARETEAM__V1__ENVELOPE__BODY_AUDIT_PAGE) {
            ct_cli_errorf("the server gave an unexpected kind of answer (body %d) while querying "
                          "the audit log",
                          (int)resp->body_case);
            rc = CT_CLI_EXIT_CONNECT;
        }
        if (rc != 0) {
            ct_envelope_free(resp);
            return rc;
        }
        const Careteam__V1__AuditPage *pg = resp->audit_page;
        ct_audit_export_page(x, pg->records, pg->n_records);
        printed += pg->n_records;
        bool more = pg->more;
        /* A page that moves the cursor nowhere would be asked for again forever. */
        bool stuck = more && pg->next_cursor <= cursor;
        cursor = pg->next_cursor;
        ct_envelope_free(resp);
        int e = ct_out_flush(&cli->out);
        if (e != 0)
            return ct_cli_report_output_failure(e);
        if (stuck) {
            ct_cli_errorf("the server's audit page did not advance its cursor (at seq %llu)",
                          (unsigned long long)cursor);
            return CT_CLI_EXIT_CONNECT;
        }
        if (!more)
            return 0;
        if (o->max > 0 && printed >= o->max) {
            ct_cli_errorf("stopped after %zu records (--max); more records match after seq %llu",
                          printed, (unsigned long long)cursor);
            return 0;
        }
    }
}

static int audit_query(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, OPT_SINCE},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"actor", required_argument, NULL, OPT_ACTOR},
        {"participant", required_argument, NULL, OPT_PARTICIPANT},
        {"action", required_argument, NULL, OPT_ACTION},
        {"outcome", required_argument, NULL, OPT_OUTCOME},
        {"object-type", required_argument, NULL, OPT_OBJECT_TYPE},
        {"object-id", required_argument, NULL, OPT_OBJECT_ID},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"max", required_argument, NULL, OPT_MAX},
        {"format", required_argument, NULL, OPT_FORMAT},
        CT_CLI_GLOBAL_OPTIONS,
        {0},
    };
    query_opts_t o = {.q = CARETEAM__V1__AUDIT_QUERY__INIT};
    int c = 0, rc = 0;
    while (rc == 0 && (c = ct_cli_next_option(cli, argc, argv, opts)) > 0)
        rc = query_option(cli, c, &o);
    if (rc != 0 || ct_cli_no_operands(cli, c, argc, argv) != 0)
        return cli->exit_code;
    if (o.q.until_ms != 0 && o.q.since_ms >= o.q.until_ms)
        return ct_cli_usage_error(cli, "--since must be before --until");
    if (!o.format_set && cli->out.format == CT_OUT_JSON)
        o.format = CT_AUDIT_JSONL;

    ct_sync_t *s;
    rc = ct_cli_connect(cli, &s);
    if (rc != 0)
        return rc;
    const Careteam__V1__Welcome *w = ct_sync_welcome(s);
    ct_audit_export_t x;
    ct_audit_export_begin(&x, cli->out.f, o.format, w->server_name,
                          cli->settings.v[CT_CLI_SERVER].value, (int64_t)time(NULL) * 1000);
    rc = query_pages(cli, s, &o, &x);
    ct_sync_close(s);
    /* An export cut short keeps no footer: a partial FHIR Bundle must not parse as whole. */
    if (rc == 0)
        ct_audit_export_end(&x);
    int e = ct_out_flush(&cli->out);
    if (rc == 0 && e != 0)
        rc = ct_cli_report_output_failure(e);
    return rc;
}

/* ---- actions --------------------------------------------------------------------------------- */

static const char audit_actions_help[] =
    "usage: careteam audit actions [GLOBAL OPTIONS]\n"
    "\n"
    "Prints every audit action code this version knows, when the server writes it, and its\n"
    "FHIR AuditEvent type and action (C create, R read, U update, D delete, E execute), as\n"
    "the Markdown table of docs/compliance.md. Each record's AuditEvent.subtype is its action\n"
    "code in the code system " CT_AUDIT_SYSTEM_ACTION ". Needs no server.\n";

static int audit_actions(cli_t *cli, int argc, char **argv)
{
    if (ct_cli_plain_options(cli, argc, argv) != 0)
        return cli->exit_code;
    char line[512];
    fputs(ct_audit_action_markdown_head, cli->out.f);
    for (size_t i = 0; i < ct_audit_actions_count; i++)
        fprintf(cli->out.f, "%s\n",
                ct_audit_action_markdown(&ct_audit_actions[i], line, sizeof line));
    return ct_cli_output_done(cli);
}

const ct_cli_subcommand_t ct_cli_audit_subcommands[] = {
    {"query", "query or export the audit log (compliance)", audit_query_help, audit_query},
    {"actions", "list the audit action codes and their FHIR mapping", audit_actions_help,
     audit_actions},
    {NULL, NULL, NULL, NULL},
};
