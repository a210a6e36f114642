/*
 * The audit export writers of the careteam CLI (client/cli/audit_formats.c) on crafted records,
 * including fields no server record can hold today (CR, LF, quotes and commas in every column),
 * and the action code table (common/audit_actions.c) against docs/compliance.md.
 *
 * The CSV checks follow RFC 4180 section 2 rule by rule: CRLF after every record (2.1, 2.2), a
 * header line with the same number of fields (2.3), fields holding CR, LF, a double quote or a
 * comma enclosed in double quotes (2.6) and an inner double quote doubled (2.7). A small parser
 * written here from the RFC reads the output back, field by field.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_actions.h"
#include "audit_formats.h"
#include "testsupport.h"

/* A record with every field set; text fields from v[] in proto order (actor_id, cert_fp,
 * peer_addr, action, object_type, object_id, participant_id, detail). */
static Careteam__V1__AuditRecord record(uint64_t seq, char **v)
{
    Careteam__V1__AuditRecord r = CARETEAM__V1__AUDIT_RECORD__INIT;
    r.seq = seq;
    r.time_ms = 1764064800123; /* 2025-11-25T10:00:00.123Z */
    r.actor_id = v[0];
    r.actor_role = CARETEAM__V1__ROLE__ROLE_THERAPIST;
    r.cert_fp = v[1];
    r.peer_addr = v[2];
    r.action = v[3];
    r.object_type = v[4];
    r.object_id = v[5];
    r.participant_id = v[6];
    r.outcome = 4;
    r.detail = v[7];
    return r;
}

/* Exports records[0..n) in format; returns the output (malloc'd). */
static char *export(ct_audit_format_t format, Careteam__V1__AuditRecord **records, size_t n,
                    size_t page)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    ct_audit_export_t x;
    ct_audit_export_begin(&x, f, format, "Care, \"North\" Team", "127.0.0.1:7443", 0);
    for (size_t i = 0; i < n; i += page)
        ct_audit_export_page(&x, records + i, n - i < page ? n - i : page);
    ct_audit_export_end(&x);
    cr_assert_eq(fclose(f), 0);
    return buf;
}

/* RFC 4180 reader: the next field at *p into out (unquoted, "" doubled undone); sets *end_of_row
 * when the field ended a record (CRLF). Returns false at the end of input. */
static bool csv_next(const char **p, char *out, size_t len, bool *end_of_row)
{
    const char *s = *p;
    if (*s == '\0')
        return false;
    size_t n = 0;
    if (*s == '"') {
        for (s++;; s++) {
            cr_assert_neq(*s, '\0', "unterminated quoted field");
            if (*s == '"' && s[1] == '"') {
                s++;
            } else if (*s == '"') {
                s++;
                break;
            }
            cr_assert_lt(n + 1, len);
            out[n++] = *s;
        }
    } else {
        for (; *s != ',' && *s != '\r' && *s != '\0'; s++) {
            cr_assert(*s != '"' && *s != '\n', "a bare quote or LF in an unquoted field: %s", *p);
            cr_assert_lt(n + 1, len);
            out[n++] = *s;
        }
    }
    out[n] = '\0';
    if (*s == ',') {
        *end_of_row = false;
        s++;
    } else {
        cr_assert(s[0] == '\r' && s[1] == '\n', "a record must end in CRLF: [%.20s]", s);
        *end_of_row = true;
        s += 2;
    }
    *p = s;
    return true;
}

Test(audit_formats, csv_quotes_what_rfc_4180_says_and_reads_back)
{
    char *hard[] = {"a,b",  "say \"hi\"", "line1\nline2", "cr\rhere", "crlf\r\nend",
                    "\"\"", ",",          "plain"};
    char *easy[] = {"dr.ahmed", "", "127.0.0.1:5", "message.send", "message", "m-1", "p1", ""};
    Careteam__V1__AuditRecord r1 = record(1, hard), r2 = record(2, easy);
    Careteam__V1__AuditRecord *recs[] = {&r1, &r2};
    char *out = export(CT_AUDIT_CSV, recs, 2, 1);

    const char *p = out;
    char field[256];
    bool eor = false;
    const char *head[] = {"seq",         "time",      "time_ms",        "actor_id",
                          "actor_role",  "cert_fp",   "peer_addr",      "action",
                          "object_type", "object_id", "participant_id", "outcome",
                          "detail"};
    for (size_t i = 0; i < 13; i++) {
        cr_assert(csv_next(&p, field, sizeof field, &eor));
        cr_assert_str_eq(field, head[i]);
        cr_assert_eq(eor, i == 12);
    }
    for (int row = 0; row < 2; row++) {
        char **v = row == 0 ? hard : easy;
        const char *want[] = {row == 0 ? "1" : "2",
                              "2025-11-25T10:00:00.123Z",
                              "1764064800123",
                              v[0],
                              "therapist",
                              v[1],
                              v[2],
                              v[3],
                              v[4],
                              v[5],
                              v[6],
                              "4",
                              v[7]};
        for (size_t i = 0; i < 13; i++) {
            cr_assert(csv_next(&p, field, sizeof field, &eor), "row %d ends early", row);
            cr_assert_str_eq(field, want[i], "row %d field %zu", row, i);
            cr_assert_eq(eor, i == 12);
        }
    }
    cr_assert_eq(*p, '\0', "trailing output: %s", p);
    /* Only the fields that need it are quoted. */
    cr_assert_not_null(strstr(out, ",dr.ahmed,therapist,,127.0.0.1:5,message.send,"));
    cr_assert_not_null(strstr(out, "\"say \"\"hi\"\"\""));
    cr_assert_not_null(strstr(out, ",\"\"\"\"\"\","), "a field of two quotes: %s", out);
    free(out);
    ct_test_leak_check();
}

Test(audit_formats, jsonl_escapes_and_keeps_one_record_per_line)
{
    char *hard[] = {"a,b", "fp", "line1\nline2", "x.y", "t", "id\"q", "p1", "tab\there\\"};
    Careteam__V1__AuditRecord r1 = record(7, hard);
    Careteam__V1__AuditRecord *recs[] = {&r1};
    char *out = export(CT_AUDIT_JSONL, recs, 1, 1);
    cr_assert_str_eq(out,
                     "{\"type\":\"audit_record\",\"seq\":7,\"time\":\"2025-11-25T10:00:00.123Z\","
                     "\"time_ms\":1764064800123,\"actor_id\":\"a,b\",\"actor_role\":"
                     "\"therapist\",\"cert_fp\":\"fp\",\"peer_addr\":\"line1\\nline2\","
                     "\"action\":\"x.y\",\"object_type\":\"t\",\"object_id\":\"id\\\"q\","
                     "\"participant_id\":\"p1\",\"outcome\":4,\"detail\":"
                     "\"tab\\there\\\\\"}\n");
    free(out);
    ct_test_leak_check();
}

Test(audit_formats, fhir_bundle_is_streamed_whole)
{
    char *v[] = {"dr.ahmed", "ab12", "[::1]:5000", "message.send", "message", "m-1", "p1", "k=v"};
    char *daemon_v[] = {"careteamd", "", "local", "daemon.start", "daemon", "d", "", ""};
    Careteam__V1__AuditRecord r1 = record(1, v), r2 = record(2, daemon_v);
    r2.actor_role = CARETEAM__V1__ROLE__ROLE_UNSPECIFIED;
    r2.outcome = 0;
    Careteam__V1__AuditRecord *recs[] = {&r1, &r2};
    char *out = export(CT_AUDIT_FHIR, recs, 2, 1);
    cr_assert(strncmp(out, "{\"resourceType\":\"Bundle\",\"type\":\"collection\",", 45) == 0, "%s",
              out);
    cr_assert_not_null(strstr(out, "\"type\":{\"system\":\"http://terminology.hl7.org/CodeSystem/"
                                   "audit-event-type\",\"code\":\"rest\""));
    cr_assert_not_null(strstr(out, "\"action\":\"C\",\"recorded\":\"2025-11-25T10:00:00.123Z\","
                                   "\"outcome\":\"4\",\"outcomeDesc\":\"k=v\""));
    cr_assert_not_null(strstr(out, "\"network\":{\"address\":\"::1\",\"type\":\"2\"}"));
    cr_assert_not_null(strstr(out, "\"network\":{\"address\":\"local\",\"type\":\"1\"}"));
    cr_assert_not_null(strstr(out, "\"altId\":\"ab12\""));
    cr_assert_not_null(strstr(out, "\"code\":\"110100\""), "daemon.start: Application Activity");
    cr_assert_not_null(strstr(out, "\"observer\":{\"identifier\":{\"value\":\"Care, \\\"North\\\" "
                                   "Team\"}"));
    size_t len = strlen(out);
    cr_assert(len > 4 && strcmp(out + len - 4, "\n]}\n") == 0, "footer: %s", out + len - 8);
    free(out);

    /* No records: still a whole Bundle. */
    out = export(CT_AUDIT_FHIR, NULL, 0, 1);
    cr_assert_not_null(strstr(out, "\"entry\":[]}\n"), "%s", out);
    free(out);
    ct_test_leak_check();
}

Test(audit_formats, table_aligns_columns_and_escapes_control_characters)
{
    char *a[] = {"dr.ahmed", "", "127.0.0.1:5", "message.send", "message", "m-1", "p1", "x\x1b]0"};
    char *b[] = {"th.lee-long-name", "", "127.0.0.1:6", "session.hello", "", "", "", ""};
    Careteam__V1__AuditRecord r1 = record(1, a), r2 = record(22, b);
    Careteam__V1__AuditRecord *recs[] = {&r1, &r2};
    char *out = export(CT_AUDIT_TABLE, recs, 2, 2);
    cr_assert(strncmp(out, "SEQ  TIME                      ACTOR             ROLE", 52) == 0, "%s",
              out);
    cr_assert_null(strchr(out, '\x1b'), "an escape character reached the terminal");
    cr_assert_not_null(strstr(out, "\\x1b]0"));
    free(out);
    out = export(CT_AUDIT_TABLE, NULL, 0, 1);
    cr_assert_str_eq(out, "No audit records match.\n");
    free(out);
    ct_test_leak_check();
}

Test(audit_formats, every_action_code_is_documented_in_compliance_md)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/docs/compliance.md", CT_TEST_SOURCE_DIR);
    char *doc = ct_test_read_file(path, NULL);
    cr_assert_not_null(doc, "cannot read %s", path);
    cr_assert_not_null(strstr(doc, ct_audit_action_markdown_head));
    char line[512];
    for (size_t i = 0; i < ct_audit_actions_count; i++) {
        const ct_audit_action_t *a = &ct_audit_actions[i];
        cr_assert_eq(ct_audit_action_find(a->code), a);
        cr_assert_eq(ct_audit_action_index(a->code), i, "%s", a->code);
        cr_assert_not_null(strchr("CRUDE", a->kind), "%s", a->code);
        ct_audit_action_markdown(a, line, sizeof line);
        cr_assert_not_null(strstr(doc, line),
                           "docs/compliance.md lacks the row of %s (`careteam audit actions` "
                           "prints the table):\n%s",
                           a->code, line);
    }
    cr_assert_null(ct_audit_action_find("no.such")->code);
    cr_assert_eq(ct_audit_action_index("no.such"), ct_audit_actions_count);
    cr_assert_eq(ct_audit_action_index(NULL), ct_audit_actions_count);
    free(doc);
    ct_test_leak_check();
}
