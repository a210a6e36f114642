/*
 * The audit export formats (see audit_formats.h). The FHIR mapping of a record:
 *
 *   AuditEvent.id            the record's seq
 *   type                     from the action code's table row (common/audit_actions.h)
 *   subtype[0]               the action code, system CT_AUDIT_SYSTEM_ACTION
 *   action                   C R U D or E, from the same row
 *   recorded                 time_ms as an instant (UTC, milliseconds)
 *   outcome, outcomeDesc     the outcome code 0/4/8/12; the detail (metadata only)
 *   agent[0]                 the actor: requestor true; who.identifier.value the actor id;
 *                            role[0].text the role; altId the certificate's SHA-256; network:
 *                            the peer's IP address (type 2) or "local" (type 1, machine name)
 *   source                   observer: the server's name; site: the address connected to;
 *                            type: 4 Application Server
 *   entity[]                 the object (what.identifier: type.text the object type, value the
 *                            id; type 2 System Object) and the participant (type 1 Person, role
 *                            1 Patient), each when set
 */
#include "audit_formats.h"

#include <string.h>

#include "audit_actions.h"
#include "names.h"
#include "output.h"

#define SOURCE_TYPE_SYSTEM "http://terminology.hl7.org/CodeSystem/security-source-type"
#define ENTITY_TYPE_SYSTEM "http://terminology.hl7.org/CodeSystem/audit-entity-type"
#define OBJECT_ROLE_SYSTEM "http://terminology.hl7.org/CodeSystem/object-role"

int ct_audit_format_parse(const char *name, ct_audit_format_t *out)
{
    static const char *const names[] = {"table", "csv", "jsonl", "fhir"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (ct_audit_format_t)i;
            return 0;
        }
    }
    return -1;
}

/* "" for a record without a role (the daemon, an unauthenticated peer), else the CLI's name. */
static const char *role_name(int role)
{
    return role == 0 ? "" : ct_cli_role_name(role);
}

static const char *str(const char *s)
{
    return s != NULL ? s : "";
}

/* ---- csv ------------------------------------------------------------------------------------- */

static const char *const CSV_HEAD[] = {
    "seq",    "time",        "time_ms",   "actor_id",       "actor_role", "cert_fp", "peer_addr",
    "action", "object_type", "object_id", "participant_id", "outcome",    "detail",
};

/* One field, RFC 4180: quoted when it holds a comma, a double quote, CR or LF. */
static void csv_field(FILE *f, const char *s, bool first)
{
    if (!first)
        putc(',', f);
    s = str(s);
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, f);
        return;
    }
    putc('"', f);
    for (; *s != '\0'; s++) {
        if (*s == '"')
            putc('"', f);
        putc(*s, f);
    }
    putc('"', f);
}

static void csv_record(FILE *f, const Careteam__V1__AuditRecord *r)
{
    char seq[24], ms[24], outcome[12], t[CT_CLI_TIME_LEN];
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)r->seq);
    snprintf(ms, sizeof ms, "%lld", (long long)r->time_ms);
    snprintf(outcome, sizeof outcome, "%u", r->outcome);
    ct_cli_format_time(r->time_ms, t);
    const char *v[] = {seq,
                       t,
                       ms,
                       r->actor_id,
                       role_name((int)r->actor_role),
                       r->cert_fp,
                       r->peer_addr,
                       r->action,
                       r->object_type,
                       r->object_id,
                       r->participant_id,
                       outcome,
                       r->detail};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        csv_field(f, v[i], i == 0);
    fputs("\r\n", f);
}

/* ---- jsonl ----------------------------------------------------------------------------------- */

static void json_kv(FILE *f, const char *key, const char *value)
{
    fprintf(f, ",\"%s\":", key);
    ct_out_json_string(f, value);
}

static void jsonl_record(FILE *f, const Careteam__V1__AuditRecord *r)
{
    char t[CT_CLI_TIME_LEN];
    ct_cli_format_time(r->time_ms, t);
    fprintf(f, "{\"type\":\"audit_record\",\"seq\":%llu", (unsigned long long)r->seq);
    json_kv(f, "time", t);
    fprintf(f, ",\"time_ms\":%lld", (long long)r->time_ms);
    json_kv(f, "actor_id", r->actor_id);
    json_kv(f, "actor_role", role_name((int)r->actor_role));
    json_kv(f, "cert_fp", r->cert_fp);
    json_kv(f, "peer_addr", r->peer_addr);
    json_kv(f, "action", r->action);
    json_kv(f, "object_type", r->object_type);
    json_kv(f, "object_id", r->object_id);
    json_kv(f, "participant_id", r->participant_id);
    fprintf(f, ",\"outcome\":%u", r->outcome);
    json_kv(f, "detail", r->detail);
    fputs("}\n", f);
}

/* ---- fhir ------------------------------------------------------------------------------------ */

/* A Coding: {"system":..,"code":..,"display":..}. */
static void fhir_coding(FILE *f, const char *system, const char *code, const char *display)
{
    fputs("{\"system\":", f);
    ct_out_json_string(f, system);
    fputs(",\"code\":", f);
    ct_out_json_string(f, code);
    if (display != NULL) {
        fputs(",\"display\":", f);
        ct_out_json_string(f, display);
    }
    putc('}', f);
}

/* An entity whose what.identifier is (type text, value). */
static void fhir_entity(FILE *f, const char *id_type, const char *id, const char *type_code,
                        const char *type_display, bool patient)
{
    fputs("{\"what\":{\"identifier\":{\"type\":{\"text\":", f);
    ct_out_json_string(f, id_type);
    fputs("},\"value\":", f);
    ct_out_json_string(f, id);
    fputs("}},\"type\":", f);
    fhir_coding(f, ENTITY_TYPE_SYSTEM, type_code, type_display);
    if (patient) {
        fputs(",\"role\":", f);
        fhir_coding(f, OBJECT_ROLE_SYSTEM, "1", "Patient");
    }
    putc('}', f);
}

/* The agent's network: the IP address of "ip:port" or "[ip6]:port" (type 2), or a name such as
 * "local" (type 1). */
static void fhir_network(FILE *f, const char *peer)
{
    char addr[128];
    const char *type = "2";
    const char *colon = strrchr(peer, ':');
    if (peer[0] == '[' && strchr(peer, ']') != NULL) {
        snprintf(addr, sizeof addr, "%.*s", (int)(strchr(peer, ']') - peer - 1), peer + 1);
    } else if (colon != NULL) {
        snprintf(addr, sizeof addr, "%.*s", (int)(colon - peer), peer);
    } else {
        snprintf(addr, sizeof addr, "%s", peer);
        type = "1";
    }
    fputs(",\"network\":{\"address\":", f);
    ct_out_json_string(f, addr);
    fprintf(f, ",\"type\":\"%s\"}", type);
}

static void fhir_record(ct_audit_export_t *x, const Careteam__V1__AuditRecord *r)
{
    FILE *f = x->f;
    const ct_audit_action_t *a = ct_audit_action_find(r->action);
    char t[CT_CLI_TIME_LEN];
    ct_cli_format_time(r->time_ms, t);
    fputs(x->n > 0 ? ",\n" : "\n", f);
    fprintf(f, "{\"resource\":{\"resourceType\":\"AuditEvent\",\"id\":\"%llu\",\"type\":",
            (unsigned long long)r->seq);
    fhir_coding(f, a->type->system, a->type->code, a->type->display);
    fputs(",\"subtype\":[", f);
    fhir_coding(f, CT_AUDIT_SYSTEM_ACTION, str(r->action), NULL);
    fprintf(f, "],\"action\":\"%c\",\"recorded\":", a->kind);
    ct_out_json_string(f, t);
    fprintf(f, ",\"outcome\":\"%u\"", r->outcome);
    if (str(r->detail)[0] != '\0')
        json_kv(f, "outcomeDesc", r->detail);

    fputs(",\"agent\":[{", f);
    bool comma = false;
    if (r->actor_role != 0) {
        fputs("\"role\":[{\"text\":", f);
        ct_out_json_string(f, role_name((int)r->actor_role));
        fputs("}]", f);
        comma = true;
    }
    if (str(r->actor_id)[0] != '\0') {
        fputs(comma ? ",\"who\":{\"identifier\":{\"value\":"
                    : "\"who\":{\"identifier\":{\"value\":",
              f);
        ct_out_json_string(f, r->actor_id);
        fputs("}}", f);
        comma = true;
    }
    if (str(r->cert_fp)[0] != '\0') {
        fputs(comma ? ",\"altId\":" : "\"altId\":", f);
        ct_out_json_string(f, r->cert_fp);
        comma = true;
    }
    fputs(comma ? ",\"requestor\":true" : "\"requestor\":true", f);
    if (str(r->peer_addr)[0] != '\0')
        fhir_network(f, r->peer_addr);
    fputs("}]", f);

    fputs(",\"source\":{", f);
    if (x->site != NULL && x->site[0] != '\0') {
        fputs("\"site\":", f);
        ct_out_json_string(f, x->site);
        putc(',', f);
    }
    fputs("\"observer\":{\"identifier\":{\"value\":", f);
    ct_out_json_string(f, str(x->observer));
    fputs("},\"display\":", f);
    ct_out_json_string(f, str(x->observer));
    fputs("},\"type\":[", f);
    fhir_coding(f, SOURCE_TYPE_SYSTEM, "4", "Application Server");
    fputs("]}", f);

    bool object = str(r->object_type)[0] != '\0' || str(r->object_id)[0] != '\0';
    bool object_is_participant = strcmp(str(r->object_type), "participant") == 0;
    bool participant = str(r->participant_id)[0] != '\0' &&
                       !(object_is_participant && strcmp(r->object_id, r->participant_id) == 0);
    if (object || participant) {
        fputs(",\"entity\":[", f);
        if (object) {
            if (object_is_participant)
                fhir_entity(f, "participant", str(r->object_id), "1", "Person", true);
            else
                fhir_entity(f, str(r->object_type), str(r->object_id), "2", "System Object", false);
        }
        if (participant) {
            if (object)
                putc(',', f);
            fhir_entity(f, "participant", r->participant_id, "1", "Person", true);
        }
        putc(']', f);
    }
    fputs("}}", f);
}

/* ---- table ----------------------------------------------------------------------------------- */

static const char *const TABLE_HEAD[CT_AUDIT_TABLE_COLS] = {
    "SEQ", "TIME", "ACTOR", "ROLE", "ACTION", "OUTCOME", "OBJECT", "PARTICIPANT", "DETAIL"};

#define CELL_LEN 320

/* The cells of one row; "-" for an empty one. The last (the detail) is not padded. */
static void table_cells(const Careteam__V1__AuditRecord *r, char cells[][CELL_LEN])
{
    char t[CT_CLI_TIME_LEN];
    ct_cli_format_time(r->time_ms, t);
    snprintf(cells[0], CELL_LEN, "%llu", (unsigned long long)r->seq);
    snprintf(cells[1], CELL_LEN, "%s", t);
    snprintf(cells[2], CELL_LEN, "%s", str(r->actor_id));
    snprintf(cells[3], CELL_LEN, "%s", role_name((int)r->actor_role));
    snprintf(cells[4], CELL_LEN, "%s", str(r->action));
    snprintf(cells[5], CELL_LEN, "%s", ct_cli_outcome_name(r->outcome));
    snprintf(cells[6], CELL_LEN, "%s%s%s", str(r->object_type),
             str(r->object_type)[0] && str(r->object_id)[0] ? " " : "", str(r->object_id));
    snprintf(cells[7], CELL_LEN, "%s", str(r->participant_id));
    snprintf(cells[8], CELL_LEN, "%s", str(r->detail));
    for (size_t c = 0; c < CT_AUDIT_TABLE_COLS; c++) {
        if (cells[c][0] == '\0')
            snprintf(cells[c], CELL_LEN, "-");
    }
}

static void table_line(ct_audit_export_t *x, const char *const *cells)
{
    for (size_t c = 0; c < CT_AUDIT_TABLE_COLS; c++) {
        ct_out_text(x->f, cells[c]);
        if (c + 1 < CT_AUDIT_TABLE_COLS)
            fprintf(x->f, "%*s", (int)(x->width[c] - strlen(cells[c]) + 2), "");
    }
    putc('\n', x->f);
}

static void table_page(ct_audit_export_t *x, Careteam__V1__AuditRecord *const *recs, size_t n)
{
    char cells[CT_AUDIT_TABLE_COLS][CELL_LEN];
    const char *view[CT_AUDIT_TABLE_COLS];
    for (size_t c = 0; c < CT_AUDIT_TABLE_COLS; c++)
        view[c] = cells[c];
    /* Widths grow to this page's widest cells, then the page is built again to print it. */
    for (size_t i = 0; i < n; i++) {
        table_cells(recs[i], cells);
        for (size_t c = 0; c < CT_AUDIT_TABLE_COLS; c++) {
            if (strlen(cells[c]) > x->width[c])
                x->width[c] = strlen(cells[c]);
        }
    }
    if (x->n == 0 && n > 0)
        table_line(x, TABLE_HEAD);
    for (size_t i = 0; i < n; i++) {
        table_cells(recs[i], cells);
        table_line(x, view);
    }
}

/* ---- the export ------------------------------------------------------------------------------ */

void ct_audit_export_begin(ct_audit_export_t *x, FILE *f, ct_audit_format_t format,
                           const char *observer, const char *site, int64_t now_ms)
{
    memset(x, 0, sizeof *x);
    x->f = f;
    x->format = format;
    x->observer = observer;
    x->site = site;
    x->now_ms = now_ms;
    for (size_t c = 0; c < CT_AUDIT_TABLE_COLS; c++)
        x->width[c] = strlen(TABLE_HEAD[c]);
}

/* The CSV header row or the Bundle up to its first entry, written with the first page (or at the
 * end), so that a query the server refuses prints nothing on stdout. */
static void start(ct_audit_export_t *x)
{
    if (x->started)
        return;
    x->started = true;
    if (x->format == CT_AUDIT_CSV) {
        for (size_t i = 0; i < sizeof CSV_HEAD / sizeof CSV_HEAD[0]; i++)
            csv_field(x->f, CSV_HEAD[i], i == 0);
        fputs("\r\n", x->f);
    } else if (x->format == CT_AUDIT_FHIR) {
        char t[CT_CLI_TIME_LEN];
        ct_cli_format_time(x->now_ms, t);
        fputs("{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"timestamp\":", x->f);
        ct_out_json_string(x->f, t);
        fputs(",\"entry\":[", x->f);
    }
}

void ct_audit_export_page(ct_audit_export_t *x, Careteam__V1__AuditRecord *const *records, size_t n)
{
    start(x);
    if (x->format == CT_AUDIT_TABLE) {
        table_page(x, records, n);
        x->n += n;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        switch (x->format) {
        case CT_AUDIT_CSV:
            csv_record(x->f, records[i]);
            break;
        case CT_AUDIT_JSONL:
            jsonl_record(x->f, records[i]);
            break;
        default:
            fhir_record(x, records[i]);
            break;
        }
        x->n++;
    }
}

void ct_audit_export_end(ct_audit_export_t *x)
{
    start(x);
    if (x->format == CT_AUDIT_FHIR)
        fputs(x->n > 0 ? "\n]}\n" : "]}\n", x->f);
    else if (x->format == CT_AUDIT_TABLE && x->n == 0)
        fputs("No audit records match.\n", x->f);
}
