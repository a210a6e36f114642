/*
 * What the careteam CLI prints (see output.h).
 *
 * JSON output (--json) -------------------------------------------------------------------------
 *
 * JSON Lines: every record is one JSON object on one line, written whole and flushed. Objects
 * are UTF-8; strings escape '"', '\\', every control character (U+0000-U+001F, U+007F) and
 * U+2028/U+2029, and pass any other valid UTF-8 through unchanged; an invalid byte (never sent by
 * a conforming server) becomes U+FFFD. Errors are never JSON: they go to stderr as text, and the
 * exit code says what kind they are.
 *
 * Schema version 1. Stability promise: a field's name, type and meaning never change and no
 * field is removed; new fields and new "type" values may be added, so consumers must ignore
 * fields and records they do not know. Every field listed is always present: a string the
 * sender left out is "" (never null). Field names are the snake_case names of the protocol.
 *
 *   common types
 *     TIME      string, UTC ISO 8601 with milliseconds: "2026-01-31T09:05:00.123Z"
 *     ROLE      "psychiatrist" | "therapist" | "peer_worker" | "peer_supervisor" |
 *               "compliance" | "admin" | "unknown"
 *     PRIORITY  "routine" | "urgent" | "asap" | "stat" | "unknown"  (FHIR request priority)
 *     KIND      "text" | "referral" | "summary" | "alert" | "unknown"
 *     SCOPE     "peer-support" | "information-sharing" | "unknown"
 *     METHOD    "verbal" | "written" | "unknown"
 *     STATUS    "requested" | "accepted" | "rejected" | "in-progress" | "on-hold" |
 *               "completed" | "cancelled" | "unknown"  (FHIR Task.status)
 *     FORMAT    "one-to-one" | "group" | "phone" | "video" | "outreach" | "unknown"
 *     RISK      "none" | "concern" | "urgent" | "unknown"
 *   Enum names are those of the command line (names.c); "unknown" is a value this version of
 *   the CLI has no name for (sent by a newer server).
 *
 *   careteam whoami --json           one record
 *     {"type":"whoami",
 *      "member_id":STRING, "display_name":STRING, "role":ROLE,
 *      "server":STRING          the address connected to, "HOST:PORT"
 *      "server_name":STRING     the name the server gives itself
 *      "protocol_version":INT}
 *
 *   careteam send --json             one record, once the message is stored durably
 *     {"type":"sent",
 *      "client_msg_id":STRING, "message_id":STRING (UUIDv7),
 *      "to":[STRING,...]        the recipients as requested
 *      "stored_at":TIME, "stored_at_ms":INT (Unix milliseconds),
 *      "duplicate":BOOL}        true: this client_msg_id was sent before, and this is the
 *                               earlier message (nothing new was stored)
 *
 *     "withheld":[{"member_id":STRING, "reason":STRING},...]
 *                               recipients the message was not stored for (a participant's
 *                               lockbox), and why; [] when none
 *
 *   careteam inbox --json            one record per pending message, oldest first; nothing when
 *   careteam watch --json            there are none. watch continues with each new message.
 *     {"type":"message",
 *      "message_id":STRING, "sender_id":STRING, "sender_role":ROLE,
 *      "to":[STRING,...], "participant_id":STRING, "subject":STRING, "priority":PRIORITY,
 *      "body":STRING, "stored_at":TIME, "stored_at_ms":INT,
 *      "kind":KIND,             "text" for a member's message; a workflow event otherwise
 *      "event":STRING,          for an event, what happened: "referral.create",
 *                               "referral.accept" (.reject .start .hold .resume .complete
 *                               .cancel .reassign), "summary.post", "alert.open",
 *                               "alert.escalate", "alert.acknowledge"; "" for text
 *      "referral":REFERRAL      only when kind is "referral": the referral after the change
 *      "summary":SUMMARY        only when kind is "summary": the summary posted
 *      "alert":ALERT}           only when kind is "alert": the alert after the change
 *     (These three are the one exception to "always present": each appears only with its kind.)
 *
 *   Care-team workflow. A command that answers one object prints one record; a list prints one
 *   record per element, newest first, and nothing when it is empty. The objects nested in
 *   event messages above have the same fields, without "type".
 *
 *   careteam consent record|withdraw --json, careteam consent list --json
 *     CONSENT = {"type":"consent",
 *      "consent_id":STRING, "participant_id":STRING, "scope":SCOPE, "method":METHOD,
 *      "note":STRING, "recorded_by":STRING, "recorded_at":TIME, "recorded_at_ms":INT,
 *      "active":BOOL,           false once withdrawn
 *      "withdrawn_by":STRING, "withdrawn_at":TIME or "", "withdrawn_at_ms":INT (0 while active),
 *      "withdraw_reason":STRING}
 *
 *   careteam lockbox add|remove --json
 *     {"type":"lockbox", "participant_id":STRING, "member_id":STRING,
 *      "restricted":BOOL}       true after add, false after remove
 *
 *   careteam refer --json, careteam referral ACTION --json, careteam referrals --json
 *     REFERRAL = {"type":"referral",
 *      "referral_id":STRING, "participant_id":STRING, "referrer_id":STRING,
 *      "addressee_id":STRING    the peer worker it was sent to; "" for the peer-worker queue
 *      "assignee_id":STRING     the peer worker who accepted it; "" before
 *      "status":STATUS, "reason":STRING, "goals":[STRING,...], "priority":PRIORITY,
 *      "status_reason":STRING   why it was rejected, cancelled, held or reassigned
 *      "created_at":TIME, "created_at_ms":INT, "updated_at":TIME, "updated_at_ms":INT,
 *      "held_from":STATUS or "" while on-hold, the status resume returns to; "" otherwise
 *
 *   careteam summary post --json, careteam summaries --json
 *     SUMMARY = {"type":"summary",
 *      "summary_id":STRING, "referral_id":STRING, "participant_id":STRING,
 *      "author_id":STRING, "session_date":STRING (YYYY-MM-DD), "duration_minutes":INT,
 *      "format":FORMAT, "themes":[STRING,...], "goals_progress":STRING, "next_steps":STRING,
 *      "participant_reviewed":BOOL, "risk":RISK, "text":STRING,
 *      "amends_summary_id":STRING  the summary this one corrects, or ""
 *      "created_at":TIME, "created_at_ms":INT,
 *      "alert_id":STRING}       the alert this summary opened, or ""
 *
 *   careteam concern --json, careteam alert ack --json, careteam alerts --json
 *     ALERT = {"type":"alert",
 *      "alert_id":STRING, "participant_id":STRING, "raised_by":STRING,
 *      "source":"summary" | "concern" | "unknown",
 *      "summary_id":STRING, "referral_id":STRING   source "summary": the summary and its
 *                                                 referral; "" otherwise
 *      "risk":RISK, "text":STRING, "status":"open" | "escalated" | "acknowledged" | "unknown",
 *      "escalations":INT,
 *      "deadline":TIME or "", "deadline_ms":INT     when it escalates next; "" and 0 once
 *                                                 acknowledged or fully escalated
 *      "created_at":TIME, "created_at_ms":INT,
 *      "acknowledged_by":STRING, "acknowledged_at":TIME or "", "acknowledged_at_ms":INT,
 *      "note":STRING}           the acknowledgement's note
 *
 *   careteam audit query --format jsonl (or --json), one record per audit record, oldest first
 *   (written by audit_formats.c; the other formats are described there)
 *     {"type":"audit_record",
 *      "seq":INT, "time":TIME, "time_ms":INT,
 *      "actor_id":STRING        a member id, "careteamd", "local:ACCOUNT", or "" (unauthenticated)
 *      "actor_role":ROLE or ""  "" for the daemon and unauthenticated peers
 *      "cert_fp":STRING, "peer_addr":STRING, "action":STRING, "object_type":STRING,
 *      "object_id":STRING, "participant_id":STRING,
 *      "outcome":INT            0 success, 4 minor, 8 serious, 12 major failure
 *      "detail":STRING}
 *
 * Human output is for people and may change between versions; scripts use --json.
 */
#include "output.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ids.h"
#include "role.h"

/* Width of the labels in human blocks ("participant  "). */
#define LABEL_WIDTH 13

/* ---- times ------------------------------------------------------------------------- */

void ct_cli_format_time(int64_t ms, char out[CT_CLI_TIME_LEN])
{
    /* Floor division, so times before 1970 still get a millisecond part in 0..999. */
    int64_t secs = ms / 1000, milli = ms % 1000;
    if (milli < 0) {
        milli += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(out, CT_CLI_TIME_LEN, "@%lld", (long long)ms);
        return;
    }
    snprintf(out, CT_CLI_TIME_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)milli);
}

/* ---- UTF-8 walking --------------------------------------------------------------------------- */

/* The length of the well-formed UTF-8 sequence at s[0..avail), or 0 if the byte there does not
 * start one (the strict rules of ct_utf8_valid: no overlongs, surrogates or values past
 * U+10FFFF). */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    size_t n = c < 0x80             ? 1
               : (c & 0xe0) == 0xc0 ? 2
               : (c & 0xf0) == 0xe0 ? 3
               : (c & 0xf8) == 0xf0 ? 4
                                    : 0;
    if (n == 0 || n > avail)
        return 0;
    return ct_utf8_valid((const char *)s, n) ? n : 0;
}

/* True for the C1 controls U+0080-U+009F (UTF-8 C2 80 - C2 9F), which some terminals obey. */
static bool is_c1(const unsigned char *s, size_t n)
{
    return n == 2 && s[0] == 0xc2 && s[1] <= 0x9f;
}

/* True for U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR (E2 80 A8/A9). */
static bool is_line_sep(const unsigned char *s, size_t n)
{
    return n == 3 && s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9);
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static void json_string(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)(str != NULL ? str : "");
    size_t len = strlen((const char *)s);
    putc('"', f);
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        size_t n = utf8_seq_len(s + i, len - i);
        if (n == 0) {
            fputs("\\ufffd", f);
            i++;
            continue;
        }
        if (n > 1) {
            if (is_line_sep(s + i, n))
                fprintf(f, "\\u%04x", s[i + 2] == 0xa8 ? 0x2028u : 0x2029u);
            else
                fwrite(s + i, 1, n, f);
            i += n;
            continue;
        }
        switch (c) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\b':
            fputs("\\b", f);
            break;
        case '\f':
            fputs("\\f", f);
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\u%04x", c);
            else
                putc((int)c, f);
        }
        i++;
    }
    putc('"', f);
}

/* One JSON object being written: json_begin, fields, json_end (which ends the line); or an
 * object nested in it: json_open, fields, json_close. */
typedef struct json_obj {
    FILE *f;
    bool empty; /* no field written yet: the next one needs no comma */
} json_obj_t;

static json_obj_t json_begin(FILE *f, const char *type)
{
    json_obj_t j = {f, false};
    fputs("{\"type\":", f);
    json_string(f, type);
    return j;
}

static void json_key(json_obj_t *j, const char *key)
{
    if (!j->empty)
        putc(',', j->f);
    j->empty = false;
    json_string(j->f, key);
    putc(':', j->f);
}

/* Starts the object value of key in j; its fields go to the returned object. */
static json_obj_t json_open(json_obj_t *j, const char *key)
{
    json_key(j, key);
    putc('{', j->f);
    return (json_obj_t){j->f, true};
}

static void json_close(json_obj_t *j)
{
    putc('}', j->f);
}

static void json_str(json_obj_t *j, const char *key, const char *value)
{
    json_key(j, key);
    json_string(j->f, value);
}

static void json_int(json_obj_t *j, const char *key, int64_t value)
{
    json_key(j, key);
    fprintf(j->f, "%lld", (long long)value);
}

static void json_bool(json_obj_t *j, const char *key, bool value)
{
    json_key(j, key);
    fputs(value ? "true" : "false", j->f);
}

static void json_str_array(json_obj_t *j, const char *key, const char *const *v, size_t n)
{
    json_key(j, key);
    putc('[', j->f);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            putc(',', j->f);
        json_string(j->f, v[i]);
    }
    putc(']', j->f);
}

static void json_time(json_obj_t *j, const char *key, int64_t ms)
{
    char t[CT_CLI_TIME_LEN];
    ct_cli_format_time(ms, t);
    json_str(j, key, t);
}

static void json_end(json_obj_t *j)
{
    fputs("}\n", j->f);
}

/* "<base>":TIME and "<base>_ms":INT. With optional, a time of 0 (not set) is "" (its _ms 0). */
static void json_times(json_obj_t *j, const char *base, int64_t ms, bool optional)
{
    char key[64];
    if (optional && ms == 0)
        json_str(j, base, "");
    else
        json_time(j, base, ms);
    snprintf(key, sizeof key, "%s_ms", base);
    json_int(j, key, ms);
}

/* ---- human text ------------------------------------------------------------------------------ */

/*
 * Writes text for a terminal: valid UTF-8 passes, tabs pass, each newline but a last one is
 * followed by indent (a last one is dropped),
 * and control characters (C0, DEL, C1) are shown as \xNN so that a message cannot drive the
 * reader's terminal (escape sequences can retitle windows, hide text or fake output). Invalid
 * bytes become U+FFFD.
 */
static void put_text(FILE *f, const char *str, const char *indent)
{
    const unsigned char *s = (const unsigned char *)(str != NULL ? str : "");
    size_t len = strlen((const char *)s);
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq_len(s + i, len - i);
        if (n == 0) {
            fputs("\xef\xbf\xbd", f);
            i++;
        } else if (is_c1(s + i, n)) {
            fprintf(f, "\\u%04x", (unsigned)s[i + 1]); /* C2 xx is U+00xx */
            i += n;
        } else if (n > 1) {
            fwrite(s + i, 1, n, f);
            i += n;
        } else if (s[i] == '\n') {
            /* A trailing newline is dropped: every caller ends the line itself. */
            if (i + 1 < len) {
                putc('\n', f);
                if (indent != NULL)
                    fputs(indent, f);
            }
            i++;
        } else if (s[i] == '\t' || (s[i] >= 0x20 && s[i] != 0x7f)) {
            putc(s[i], f);
            i++;
        } else {
            fprintf(f, "\\x%02x", s[i]);
            i++;
        }
    }
}

void ct_out_json_string(FILE *f, const char *s)
{
    json_string(f, s);
}

void ct_out_text(FILE *f, const char *s)
{
    put_text(f, s, NULL);
}

static void label(FILE *f, const char *name)
{
    fprintf(f, "%-*s", LABEL_WIDTH, name);
}

/* A one-line field: "label        value", with "-" for an empty value. */
static void field(FILE *f, const char *name, const char *value)
{
    label(f, name);
    put_text(f, value != NULL && value[0] != '\0' ? value : "-", NULL);
    putc('\n', f);
}

static void list(FILE *f, const char *const *v, size_t n, const char *sep)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            fputs(sep, f);
        put_text(f, v[i], NULL);
    }
}

/* A field whose value may span lines: the lines after the first are indented under the value. */
static void field_text(FILE *f, const char *name, const char *value)
{
    static const char indent[LABEL_WIDTH + 1] = "             ";
    label(f, name);
    put_text(f, value != NULL && value[0] != '\0' ? value : "-", indent);
    putc('\n', f);
}

/* A field holding a time; "-" for 0 (not set). */
static void field_time(FILE *f, const char *name, int64_t ms)
{
    char t[CT_CLI_TIME_LEN];
    if (ms == 0) {
        field(f, name, "-");
        return;
    }
    ct_cli_format_time(ms, t);
    field(f, name, t);
}

/* "2026-01-31 09:05Z": a time to the minute, for table cells; "-" for 0. */
static void short_time(int64_t ms, char out[CT_CLI_TIME_LEN])
{
    if (ms == 0) {
        snprintf(out, CT_CLI_TIME_LEN, "-");
        return;
    }
    char t[CT_CLI_TIME_LEN];
    ct_cli_format_time(ms, t);
    if (t[0] == '@') { /* out of gmtime's range: as it is */
        snprintf(out, CT_CLI_TIME_LEN, "%s", t);
        return;
    }
    snprintf(out, CT_CLI_TIME_LEN, "%.10s %.5sZ", t, t + 11);
}

/* ---- tables ---------------------------------------------------------------------------------- */

#define TABLE_MAX_COLS 9
#define TABLE_CELL_LEN 96 /* ids are at most 64 bytes; longer cells are cut */

typedef char table_row_t[TABLE_MAX_COLS][TABLE_CELL_LEN];

/* Fills the cells of one row from item (an element of a list response). */
typedef void (*table_row_fn)(const void *item, table_row_t cells);

/*
 * Prints items[0..n) as aligned columns under the headings head[0..ncols): each column as wide
 * as its widest cell, two spaces between columns, no padding after the last. Rows are built
 * twice (once to measure) rather than stored, so a long list needs no memory.
 */
static void table(FILE *f, const char *const *head, size_t ncols, const void *const *items,
                  size_t n, table_row_fn row)
{
    size_t width[TABLE_MAX_COLS];
    table_row_t cells;
    for (size_t c = 0; c < ncols; c++)
        width[c] = strlen(head[c]);
    for (size_t i = 0; i < n; i++) {
        row(items[i], cells);
        for (size_t c = 0; c < ncols; c++)
            if (strlen(cells[c]) > width[c])
                width[c] = strlen(cells[c]);
    }
    for (size_t i = 0; i <= n; i++) {
        if (i > 0)
            row(items[i - 1], cells);
        for (size_t c = 0; c < ncols; c++) {
            const char *cell = i == 0 ? head[c] : cells[c];
            put_text(f, cell, NULL);
            if (c + 1 < ncols)
                fprintf(f, "%*s", (int)(width[c] - strlen(cell) + 2), "");
        }
        putc('\n', f);
    }
}

/* Copies s into a cell ("-" when empty). */
static void cell(char out[TABLE_CELL_LEN], const char *s)
{
    snprintf(out, TABLE_CELL_LEN, "%s", s != NULL && s[0] != '\0' ? s : "-");
}

/* ---- workflow objects: their fields, shared by their own records and by event messages ------ */

static void json_consent_fields(json_obj_t *j, const void *obj)
{
    const Careteam__V1__Consent *c = obj;
    json_str(j, "consent_id", c->consent_id);
    json_str(j, "participant_id", c->participant_id);
    json_str(j, "scope", ct_cli_name(&ct_cli_scope_names, c->scope));
    json_str(j, "method", ct_cli_name(&ct_cli_method_names, c->method));
    json_str(j, "note", c->note);
    json_str(j, "recorded_by", c->recorded_by);
    json_times(j, "recorded_at", c->recorded_at_ms, false);
    json_bool(j, "active", c->active);
    json_str(j, "withdrawn_by", c->withdrawn_by);
    json_times(j, "withdrawn_at", c->withdrawn_at_ms, true);
    json_str(j, "withdraw_reason", c->withdraw_reason);
}

static void consent_block(FILE *f, const void *obj)
{
    const Careteam__V1__Consent *c = obj;
    char t[CT_CLI_TIME_LEN];
    field(f, "consent", c->consent_id);
    field(f, "participant", c->participant_id);
    field(f, "scope", ct_cli_name(&ct_cli_scope_names, c->scope));
    field(f, "method", ct_cli_name(&ct_cli_method_names, c->method));
    label(f, "recorded");
    ct_cli_format_time(c->recorded_at_ms, t);
    fprintf(f, "%s by ", t);
    put_text(f, c->recorded_by, NULL);
    putc('\n', f);
    if (c->active) {
        field(f, "status", "active");
    } else {
        label(f, "status");
        ct_cli_format_time(c->withdrawn_at_ms, t);
        fprintf(f, "withdrawn %s by ", t);
        put_text(f, c->withdrawn_by, NULL);
        putc('\n', f);
        if (c->withdraw_reason != NULL && c->withdraw_reason[0] != '\0')
            field_text(f, "reason", c->withdraw_reason);
    }
    if (c->note != NULL && c->note[0] != '\0')
        field_text(f, "note", c->note);
}

static void consent_row(const void *item, table_row_t cells)
{
    const Careteam__V1__Consent *c = item;
    cell(cells[0], c->consent_id);
    cell(cells[1], c->participant_id);
    cell(cells[2], ct_cli_name(&ct_cli_scope_names, c->scope));
    cell(cells[3], ct_cli_name(&ct_cli_method_names, c->method));
    cell(cells[4], c->active ? "active" : "withdrawn");
    cell(cells[5], c->recorded_by);
    short_time(c->recorded_at_ms, cells[6]);
}

static void json_referral_fields(json_obj_t *j, const void *obj)
{
    const Careteam__V1__Referral *r = obj;
    json_str(j, "referral_id", r->referral_id);
    json_str(j, "participant_id", r->participant_id);
    json_str(j, "referrer_id", r->referrer_id);
    json_str(j, "addressee_id", r->addressee_id);
    json_str(j, "assignee_id", r->assignee_id);
    json_str(j, "status", ct_cli_name(&ct_cli_referral_status_names, r->status));
    json_str(j, "reason", r->reason);
    json_str_array(j, "goals", (const char *const *)r->goals, r->n_goals);
    json_str(j, "priority", ct_cli_priority_name(r->priority));
    json_str(j, "status_reason", r->status_reason);
    json_times(j, "created_at", r->created_at_ms, false);
    json_times(j, "updated_at", r->updated_at_ms, false);
    json_str(j, "held_from",
             r->held_from != 0 ? ct_cli_name(&ct_cli_referral_status_names, r->held_from) : "");
}

/* Who a referral is with: the assignee once accepted, else the addressee or the queue. */
static const char *referral_with(const Careteam__V1__Referral *r)
{
    if (r->assignee_id != NULL && r->assignee_id[0] != '\0')
        return r->assignee_id;
    if (r->addressee_id != NULL && r->addressee_id[0] != '\0')
        return r->addressee_id;
    return "(queue)";
}

static void referral_block(FILE *f, const void *obj)
{
    const Careteam__V1__Referral *r = obj;
    field(f, "referral", r->referral_id);
    field(f, "participant", r->participant_id);
    label(f, "status");
    fputs(ct_cli_name(&ct_cli_referral_status_names, r->status), f);
    if (r->status == CARETEAM__V1__REFERRAL_STATUS__REFERRAL_STATUS_ON_HOLD && r->held_from != 0)
        fprintf(f, " (resumes as %s)", ct_cli_name(&ct_cli_referral_status_names, r->held_from));
    putc('\n', f);
    field(f, "priority", ct_cli_priority_name(r->priority));
    field(f, "referrer", r->referrer_id);
    field(f, "to",
          r->addressee_id != NULL && r->addressee_id[0] != '\0' ? r->addressee_id
                                                                : "the peer-worker queue");
    field(f, "assignee", r->assignee_id);
    field_text(f, "reason", r->reason);
    for (size_t i = 0; i < r->n_goals; i++)
        field_text(f, i == 0 ? "goals" : "", r->goals[i]);
    if (r->status_reason != NULL && r->status_reason[0] != '\0')
        field_text(f, "status note", r->status_reason);
    field_time(f, "created", r->created_at_ms);
    field_time(f, "updated", r->updated_at_ms);
}

static void referral_row(const void *item, table_row_t cells)
{
    const Careteam__V1__Referral *r = item;
    cell(cells[0], r->referral_id);
    cell(cells[1], r->participant_id);
    cell(cells[2], ct_cli_name(&ct_cli_referral_status_names, r->status));
    cell(cells[3], ct_cli_priority_name(r->priority));
    cell(cells[4], r->referrer_id);
    cell(cells[5], referral_with(r));
    short_time(r->updated_at_ms, cells[6]);
}

static void json_summary_fields(json_obj_t *j, const void *obj)
{
    const Careteam__V1__Summary *s = obj;
    json_str(j, "summary_id", s->summary_id);
    json_str(j, "referral_id", s->referral_id);
    json_str(j, "participant_id", s->participant_id);
    json_str(j, "author_id", s->author_id);
    json_str(j, "session_date", s->session_date);
    json_int(j, "duration_minutes", s->duration_minutes);
    json_str(j, "format", ct_cli_name(&ct_cli_format_names, s->format));
    json_str_array(j, "themes", (const char *const *)s->themes, s->n_themes);
    json_str(j, "goals_progress", s->goals_progress);
    json_str(j, "next_steps", s->next_steps);
    json_bool(j, "participant_reviewed", s->participant_reviewed);
    json_str(j, "risk", ct_cli_name(&ct_cli_risk_names, s->risk));
    json_str(j, "text", s->text);
    json_str(j, "amends_summary_id", s->amends_summary_id);
    json_times(j, "created_at", s->created_at_ms, false);
    json_str(j, "alert_id", s->alert_id);
}

static void summary_block(FILE *f, const void *obj)
{
    const Careteam__V1__Summary *s = obj;
    field(f, "summary", s->summary_id);
    field(f, "participant", s->participant_id);
    field(f, "referral", s->referral_id);
    field(f, "author", s->author_id);
    label(f, "session");
    put_text(f, s->session_date, NULL);
    fprintf(f, ", %u min, %s\n", (unsigned)s->duration_minutes,
            ct_cli_name(&ct_cli_format_names, s->format));
    label(f, "risk");
    fputs(ct_cli_name(&ct_cli_risk_names, s->risk), f);
    if (s->alert_id != NULL && s->alert_id[0] != '\0') {
        fputs(" (opened alert ", f);
        put_text(f, s->alert_id, NULL);
        putc(')', f);
    }
    putc('\n', f);
    field(f, "reviewed", s->participant_reviewed ? "yes, by the participant" : "no");
    if (s->n_themes > 0) {
        label(f, "themes");
        list(f, (const char *const *)s->themes, s->n_themes, ", ");
        putc('\n', f);
    }
    if (s->amends_summary_id != NULL && s->amends_summary_id[0] != '\0')
        field(f, "amends", s->amends_summary_id);
    if (s->goals_progress != NULL && s->goals_progress[0] != '\0')
        field_text(f, "progress", s->goals_progress);
    if (s->next_steps != NULL && s->next_steps[0] != '\0')
        field_text(f, "next steps", s->next_steps);
    field_time(f, "posted", s->created_at_ms);
    if (s->text != NULL && s->text[0] != '\0') {
        fputs("\n    ", f);
        put_text(f, s->text, "    ");
        putc('\n', f);
    }
}

static void summary_row(const void *item, table_row_t cells)
{
    const Careteam__V1__Summary *s = item;
    cell(cells[0], s->summary_id);
    cell(cells[1], s->participant_id);
    cell(cells[2], s->session_date);
    snprintf(cells[3], TABLE_CELL_LEN, "%u", (unsigned)s->duration_minutes);
    cell(cells[4], ct_cli_name(&ct_cli_format_names, s->format));
    cell(cells[5], ct_cli_name(&ct_cli_risk_names, s->risk));
    cell(cells[6], s->author_id);
    short_time(s->created_at_ms, cells[7]);
}

static void json_alert_fields(json_obj_t *j, const void *obj)
{
    const Careteam__V1__Alert *a = obj;
    json_str(j, "alert_id", a->alert_id);
    json_str(j, "participant_id", a->participant_id);
    json_str(j, "raised_by", a->raised_by);
    json_str(j, "source", ct_cli_name(&ct_cli_alert_source_names, a->source));
    json_str(j, "summary_id", a->summary_id);
    json_str(j, "referral_id", a->referral_id);
    json_str(j, "risk", ct_cli_name(&ct_cli_risk_names, a->risk));
    json_str(j, "text", a->text);
    json_str(j, "status", ct_cli_name(&ct_cli_alert_status_names, a->status));
    json_int(j, "escalations", a->escalations);
    json_times(j, "deadline", a->deadline_ms, true);
    json_times(j, "created_at", a->created_at_ms, false);
    json_str(j, "acknowledged_by", a->acknowledged_by);
    json_times(j, "acknowledged_at", a->acknowledged_at_ms, true);
    json_str(j, "note", a->note);
}

/* "urgent concern" or "concern": what an alert reports, for human text. */
static const char *alert_what(const Careteam__V1__Alert *a)
{
    return a->risk == CARETEAM__V1__RISK__RISK_URGENT ? "urgent concern" : "concern";
}

static void alert_block(FILE *f, const void *obj)
{
    const Careteam__V1__Alert *a = obj;
    char t[CT_CLI_TIME_LEN];
    field(f, "alert", a->alert_id);
    field(f, "participant", a->participant_id);
    field(f, "risk", ct_cli_name(&ct_cli_risk_names, a->risk));
    label(f, "status");
    fputs(ct_cli_name(&ct_cli_alert_status_names, a->status), f);
    if (a->status == CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_ACKNOWLEDGED) {
        ct_cli_format_time(a->acknowledged_at_ms, t);
        fprintf(f, " %s by ", t);
        put_text(f, a->acknowledged_by, NULL);
    } else if (a->escalations > 0) {
        fprintf(f, " (escalated %u time%s)", (unsigned)a->escalations,
                a->escalations == 1 ? "" : "s");
    }
    putc('\n', f);
    if (a->status != CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_ACKNOWLEDGED)
        field_time(f, "deadline", a->deadline_ms);
    label(f, "raised");
    ct_cli_format_time(a->created_at_ms, t);
    fprintf(f, "%s by ", t);
    put_text(f, a->raised_by[0] != '\0' ? a->raised_by : "-", NULL);
    putc('\n', f);
    if (a->source == CARETEAM__V1__ALERT_SOURCE__ALERT_SOURCE_SUMMARY) {
        label(f, "source");
        fputs("summary ", f);
        put_text(f, a->summary_id, NULL);
        if (a->referral_id != NULL && a->referral_id[0] != '\0') {
            fputs(" (referral ", f);
            put_text(f, a->referral_id, NULL);
            putc(')', f);
        }
        putc('\n', f);
    } else {
        field(f, "source", ct_cli_name(&ct_cli_alert_source_names, a->source));
    }
    if (a->text != NULL && a->text[0] != '\0')
        field_text(f, "text", a->text);
    if (a->note != NULL && a->note[0] != '\0')
        field_text(f, "note", a->note);
}

static void alert_row(const void *item, table_row_t cells)
{
    const Careteam__V1__Alert *a = item;
    cell(cells[0], a->alert_id);
    cell(cells[1], a->participant_id);
    cell(cells[2], ct_cli_name(&ct_cli_risk_names, a->risk));
    cell(cells[3], ct_cli_name(&ct_cli_alert_status_names, a->status));
    snprintf(cells[4], TABLE_CELL_LEN, "%u", (unsigned)a->escalations);
    cell(cells[5], a->raised_by);
    short_time(a->created_at_ms, cells[6]);
    if (a->status == CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_ACKNOWLEDGED)
        cell(cells[7], a->acknowledged_by);
    else
        short_time(a->deadline_ms, cells[7]);
}

/* ---- workflow events: the headlines of messages of kind REFERRAL, SUMMARY, ALERT ------------- */

static bool is_event(const Careteam__V1__Message *m, const char *event)
{
    return m->event != NULL && strcmp(m->event, event) == 0;
}

/* " by ID", when id is not empty (events the server makes itself have no sender). */
static void by(FILE *f, const char *id)
{
    if (id != NULL && id[0] != '\0') {
        fputs(" by ", f);
        put_text(f, id, NULL);
    }
}

/* "referral R accepted by pw.sam": the headline of a referral event. */
static void referral_headline(FILE *f, const Careteam__V1__Message *m, const char *verb)
{
    const Careteam__V1__Referral *r = m->referral;
    fputs("referral ", f);
    put_text(f, r->referral_id, NULL);
    putc(' ', f);
    put_text(f, verb, NULL);
    if (is_event(m, "referral.create")) {
        fputs(" for ", f);
        put_text(f, r->participant_id, NULL);
        fprintf(f, " (priority %s)", ct_cli_priority_name(r->priority));
        if (r->addressee_id == NULL || r->addressee_id[0] == '\0')
            fputs(" in the peer-worker queue", f);
    } else if (is_event(m, "referral.reassign")) {
        fputs(" to ", f);
        put_text(f, r->assignee_id, NULL);
    }
    by(f, m->sender_id);
}

/* "summary S posted for p-1001 (risk urgent) by pw.sam". */
static void summary_headline(FILE *f, const Careteam__V1__Message *m, const char *verb)
{
    const Careteam__V1__Summary *s = m->summary;
    fputs("summary ", f);
    put_text(f, s->summary_id, NULL);
    putc(' ', f);
    put_text(f, verb, NULL);
    fputs(" for ", f);
    put_text(f, s->participant_id, NULL);
    fprintf(f, " (risk %s)", ct_cli_name(&ct_cli_risk_names, s->risk));
    by(f, s->author_id);
}

/* "ALERT A escalated: urgent concern about p-1001", or for an acknowledgement
 * "alert A acknowledged by dr.ahmed: concern about p-1001". Capitals while it needs action. */
static void alert_headline(FILE *f, const Careteam__V1__Message *m, const char *verb)
{
    const Careteam__V1__Alert *a = m->alert;
    bool acked = a->status == CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_ACKNOWLEDGED;
    fputs(acked ? "alert " : "ALERT ", f);
    put_text(f, a->alert_id, NULL);
    putc(' ', f);
    put_text(f, verb, NULL);
    if (acked)
        by(f, a->acknowledged_by);
    fprintf(f, ": %s about ", alert_what(a));
    put_text(f, a->participant_id, NULL);
}

/* ---- workflow objects: how each kind prints, alone, in a list, in an event ------------------- */

/* How one kind of workflow object is printed: as its own record (a JSON line or a human block),
 * as a row of a table, and, for the kinds an event message carries, in that message. Each
 * function takes the kind's protobuf struct (Careteam__V1__Consent for CONSENT, ...). */
typedef struct object_kind {
    const char *type; /* the JSON record's "type", and the key of the object in an event */
    void (*json_fields)(json_obj_t *j, const void *obj);
    void (*block)(FILE *f, const void *obj);
    const char *none;        /* the human line for an empty list */
    const char *const *head; /* the table's headings, ncols of them */
    size_t ncols;
    table_row_fn row;
    /* The first line of an event message about the object; NULL for a kind no event carries. */
    void (*headline)(FILE *f, const Careteam__V1__Message *m, const char *verb);
} object_kind_t;

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const CONSENT_HEAD[] = {"CONSENT", "PARTICIPANT", "SCOPE",   "METHOD",
                                           "STATUS",  "RECORDED BY", "RECORDED"};
static const char *const REFERRAL_HEAD[] = {"REFERRAL", "PARTICIPANT", "STATUS", "PRIORITY",
                                            "REFERRER", "WITH",        "UPDATED"};
static const char *const SUMMARY_HEAD[] = {"SUMMARY", "PARTICIPANT", "DATE",   "MIN",
                                           "FORMAT",  "RISK",        "AUTHOR", "POSTED"};
static const char *const ALERT_HEAD[] = {"ALERT", "PARTICIPANT", "RISK",   "STATUS",
                                         "ESC",   "RAISED BY",   "RAISED", "DEADLINE/ACK BY"};

static const object_kind_t CONSENT = {
    .type = "consent",
    .json_fields = json_consent_fields,
    .block = consent_block,
    .none = "No consents recorded.",
    .head = CONSENT_HEAD,
    .ncols = COUNT(CONSENT_HEAD),
    .row = consent_row,
};
static const object_kind_t REFERRAL = {
    .type = "referral",
    .json_fields = json_referral_fields,
    .block = referral_block,
    .none = "No referrals.",
    .head = REFERRAL_HEAD,
    .ncols = COUNT(REFERRAL_HEAD),
    .row = referral_row,
    .headline = referral_headline,
};
static const object_kind_t SUMMARY = {
    .type = "summary",
    .json_fields = json_summary_fields,
    .block = summary_block,
    .none = "No summaries.",
    .head = SUMMARY_HEAD,
    .ncols = COUNT(SUMMARY_HEAD),
    .row = summary_row,
    .headline = summary_headline,
};
static const object_kind_t ALERT = {
    .type = "alert",
    .json_fields = json_alert_fields,
    .block = alert_block,
    .none = "No alerts.",
    .head = ALERT_HEAD,
    .ncols = COUNT(ALERT_HEAD),
    .row = alert_row,
    .headline = alert_headline,
};

/* The object an event message carries, with its kind in *k; NULL for a text message, and for
 * an event whose object the server did not send. */
static const void *message_object(const Careteam__V1__Message *m, const object_kind_t **k)
{
    switch (m->kind) {
    case CARETEAM__V1__MESSAGE_KIND__MESSAGE_KIND_REFERRAL:
        *k = &REFERRAL;
        return m->referral;
    case CARETEAM__V1__MESSAGE_KIND__MESSAGE_KIND_SUMMARY:
        *k = &SUMMARY;
        return m->summary;
    case CARETEAM__V1__MESSAGE_KIND__MESSAGE_KIND_ALERT:
        *k = &ALERT;
        return m->alert;
    default:
        *k = NULL;
        return NULL;
    }
}

/* Writes the object an event message carries as "referral", "summary" or "alert": only the one
 * of the message's kind, and only when the server sent it. */
static void json_message_object(json_obj_t *j, const Careteam__V1__Message *m)
{
    const object_kind_t *k;
    const void *obj = message_object(m, &k);
    if (obj == NULL)
        return;
    json_obj_t sub = json_open(j, k->type);
    k->json_fields(&sub, obj);
    json_close(&sub);
}

/* A workflow event in human form: a headline saying what happened, when, then the object. An
 * event without its object (not sent by a conforming server) shows the event name and body. */
static void event_message(FILE *f, const Careteam__V1__Message *m)
{
    const char *verb = ct_cli_event_verb(m->event);
    if (verb == NULL)
        verb = m->event != NULL && m->event[0] != '\0' ? m->event : "changed";
    const object_kind_t *k;
    const void *obj = message_object(m, &k);
    if (obj != NULL) {
        k->headline(f, m, verb);
    } else {
        fprintf(f, "%s event ", ct_cli_name(&ct_cli_message_kind_names, m->kind));
        put_text(f, m->event, NULL);
        by(f, m->sender_id);
    }
    putc('\n', f);
    field_time(f, "time", m->stored_at_ms);
    if (obj != NULL) {
        k->block(f, obj);
    } else if (m->body != NULL && m->body[0] != '\0') {
        fputs("\n    ", f);
        put_text(f, m->body, "    ");
        putc('\n', f);
    }
    putc('\n', f);
}

/* One object as its own record. */
static void object(ct_out_t *o, const object_kind_t *k, const void *obj)
{
    if (o->format == CT_OUT_JSON) {
        json_obj_t j = json_begin(o->f, k->type);
        k->json_fields(&j, obj);
        json_end(&j);
        return;
    }
    k->block(o->f, obj);
}

/* A list, items[0..n): in JSON one record per item and nothing when there is none; in human
 * text a line saying there is none, a table, or with o->full each item whole, a blank line
 * between two. */
static void objects(ct_out_t *o, const object_kind_t *k, const void *const *items, size_t n)
{
    if (o->format == CT_OUT_JSON) {
        for (size_t i = 0; i < n; i++)
            object(o, k, items[i]);
        return;
    }
    if (n == 0) {
        fprintf(o->f, "%s\n", k->none);
        return;
    }
    if (!o->full) {
        table(o->f, k->head, k->ncols, items, n, k->row);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            putc('\n', o->f);
        k->block(o->f, items[i]);
    }
}

/* ---- records --------------------------------------------------------------------------------- */

void ct_out_whoami(ct_out_t *o, const Careteam__V1__Welcome *w, const char *server)
{
    if (o->format == CT_OUT_JSON) {
        json_obj_t j = json_begin(o->f, "whoami");
        json_str(&j, "member_id", w->member_id);
        json_str(&j, "display_name", w->display_name);
        json_str(&j, "role", ct_cli_role_name(w->role));
        json_str(&j, "server", server);
        json_str(&j, "server_name", w->server_name);
        json_int(&j, "protocol_version", w->protocol_version);
        json_end(&j);
        return;
    }
    field(o->f, "member", w->member_id);
    field(o->f, "name", w->display_name);
    field(o->f, "role", ct_cli_role_name(w->role));
    label(o->f, "server");
    put_text(o->f, server, NULL);
    if (w->server_name != NULL && w->server_name[0] != '\0') {
        fputs(" (", o->f);
        put_text(o->f, w->server_name, NULL);
        putc(')', o->f);
    }
    putc('\n', o->f);
}

void ct_out_sent(ct_out_t *o, const Careteam__V1__Ack *ack, const char *const *to, size_t n_to)
{
    char t[CT_CLI_TIME_LEN];
    ct_cli_format_time(ack->stored_at_ms, t);
    if (o->format == CT_OUT_JSON) {
        json_obj_t j = json_begin(o->f, "sent");
        json_str(&j, "client_msg_id", ack->client_msg_id);
        json_str(&j, "message_id", ack->message_id);
        json_str_array(&j, "to", to, n_to);
        json_str(&j, "stored_at", t);
        json_int(&j, "stored_at_ms", ack->stored_at_ms);
        json_bool(&j, "duplicate", ack->duplicate);
        json_key(&j, "withheld");
        putc('[', o->f);
        for (size_t i = 0; i < ack->n_withheld; i++) {
            if (i > 0)
                putc(',', o->f);
            json_obj_t w = {o->f, true};
            putc('{', o->f);
            json_str(&w, "member_id", ack->withheld[i]->member_id);
            json_str(&w, "reason", ack->withheld[i]->reason);
            json_close(&w);
        }
        putc(']', o->f);
        json_end(&j);
        return;
    }
    fputs("sent ", o->f);
    put_text(o->f, ack->message_id, NULL);
    fputs(" to ", o->f);
    list(o->f, to, n_to, ",");
    fprintf(o->f, " (stored %s)", t);
    if (ack->duplicate)
        fputs(" (already sent earlier: same client_msg_id)", o->f);
    putc('\n', o->f);
    for (size_t i = 0; i < ack->n_withheld; i++) {
        fputs("not sent to ", o->f);
        put_text(o->f, ack->withheld[i]->member_id, NULL);
        fputs(": ", o->f);
        put_text(o->f, ack->withheld[i]->reason, NULL);
        putc('\n', o->f);
    }
}

void ct_out_message(ct_out_t *o, const Careteam__V1__Message *m)
{
    if (o->format == CT_OUT_JSON) {
        json_obj_t j = json_begin(o->f, "message");
        json_str(&j, "message_id", m->message_id);
        json_str(&j, "sender_id", m->sender_id);
        json_str(&j, "sender_role", ct_cli_role_name(m->sender_role));
        json_str_array(&j, "to", (const char *const *)m->to, m->n_to);
        json_str(&j, "participant_id", m->participant_id);
        json_str(&j, "subject", m->subject);
        json_str(&j, "priority", ct_cli_priority_name(m->priority));
        json_str(&j, "body", m->body);
        json_time(&j, "stored_at", m->stored_at_ms);
        json_int(&j, "stored_at_ms", m->stored_at_ms);
        json_str(&j, "kind", ct_cli_name(&ct_cli_message_kind_names, m->kind));
        json_str(&j, "event", m->event);
        json_message_object(&j, m);
        json_end(&j);
        return;
    }
    if (m->kind != CARETEAM__V1__MESSAGE_KIND__MESSAGE_KIND_UNSPECIFIED &&
        m->kind != CARETEAM__V1__MESSAGE_KIND__MESSAGE_KIND_TEXT) {
        event_message(o->f, m);
        return;
    }
    char t[CT_CLI_TIME_LEN];
    ct_cli_format_time(m->stored_at_ms, t);
    FILE *f = o->f;
    field(f, "message", m->message_id);
    field(f, "time", t);
    label(f, "from");
    put_text(f, m->sender_id, NULL);
    fprintf(f, " (%s)\n", ct_cli_role_name(m->sender_role));
    label(f, "to");
    list(f, (const char *const *)m->to, m->n_to, ", ");
    putc('\n', f);
    field(f, "priority", ct_cli_priority_name(m->priority));
    field(f, "participant", m->participant_id);
    field(f, "subject", m->subject);
    fputs("\n    ", f);
    put_text(f, m->body, "    ");
    fputs("\n\n", f);
}

void ct_out_lockbox(ct_out_t *o, const char *participant, const char *member, bool restricted)
{
    if (o->format == CT_OUT_JSON) {
        json_obj_t j = json_begin(o->f, "lockbox");
        json_str(&j, "participant_id", participant);
        json_str(&j, "member_id", member);
        json_bool(&j, "restricted", restricted);
        json_end(&j);
        return;
    }
    put_text(o->f, member, NULL);
    fputs(restricted ? " is now restricted from participant "
                     : " is no longer restricted from "
                       "participant ",
          o->f);
    put_text(o->f, participant, NULL);
    fputs(restricted ? " (lockbox): they receive and read nothing more about them.\n"
                     : " (lockbox lifted).\n",
          o->f);
}

void ct_out_answer(ct_out_t *o, const Careteam__V1__Envelope *resp)
{
    switch (resp->body_case) {
    case CARETEAM__V1__ENVELOPE__BODY_CONSENT:
        object(o, &CONSENT, resp->consent);
        break;
    case CARETEAM__V1__ENVELOPE__BODY_CONSENT_LIST:
        objects(o, &CONSENT, (const void *const *)resp->consent_list->consents,
                resp->consent_list->n_consents);
        break;
    case CARETEAM__V1__ENVELOPE__BODY_REFERRAL:
        object(o, &REFERRAL, resp->referral);
        break;
    case CARETEAM__V1__ENVELOPE__BODY_REFERRAL_LIST:
        objects(o, &REFERRAL, (const void *const *)resp->referral_list->referrals,
                resp->referral_list->n_referrals);
        break;
    case CARETEAM__V1__ENVELOPE__BODY_SUMMARY:
        object(o, &SUMMARY, resp->summary);
        break;
    case CARETEAM__V1__ENVELOPE__BODY_SUMMARY_LIST:
        objects(o, &SUMMARY, (const void *const *)resp->summary_list->summaries,
                resp->summary_list->n_summaries);
        break;
    case CARETEAM__V1__ENVELOPE__BODY_ALERT:
        object(o, &ALERT, resp->alert);
        break;
    case CARETEAM__V1__ENVELOPE__BODY_ALERT_LIST:
        objects(o, &ALERT, (const void *const *)resp->alert_list->alerts,
                resp->alert_list->n_alerts);
        break;
    default:
        break;
    }
}

void ct_out_inbox_end(ct_out_t *o, size_t n, bool acked)
{
    if (o->format == CT_OUT_JSON)
        return;
    if (n == 0)
        fputs("No pending messages.\n", o->f);
    else
        fprintf(o->f, "%zu message%s%s\n", n, n == 1 ? "" : "s",
                acked ? ", marked as received."
                      : ", left pending (--no-ack): they will be delivered again.");
}

int ct_out_flush(ct_out_t *o)
{
    errno = 0;
    if (fflush(o->f) != 0 || ferror(o->f))
        return errno != 0 ? errno : EIO;
    return 0;
}

void ct_cli_errorf(const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fputs(CT_CLI_PROG ": ", stderr);
    put_text(stderr, buf, "  ");
    putc('\n', stderr);
}
