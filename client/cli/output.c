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
 *   careteam profile list --json, careteam profile show NAME --json   (no server needed)
 *     one record per profile, by name; list prints nothing when there is none
 *     {"type":"profile",
 *      "name":STRING, "path":STRING   the profile's file
 *      "default":BOOL                 the profile used when none is named
 *      "server":STRING, "cert":STRING, "key":STRING, "ca":STRING   as stored ("" if missing)
 *      "crl":STRING                   the revocation list as stored; "" when there is none
 *      "member_id":STRING             the certificate's subject (CN); "" if it cannot be read
 *      "cert_expires":TIME or "", "cert_expires_ms":INT   the certificate's notAfter; "" and 0
 *                                     when it cannot be read
 *      "problem":STRING}              why the profile cannot be used as it is (unreadable,
 *                                     unsafe permissions, a credential missing, an expired
 *                                     certificate); "" when it can
 *
 * Human output is for people and may change between versions; scripts use --json. On a
 * terminal it is coloured (statuses, risk, priority; unless NO_COLOR is set or TERM is dumb) and
 * tables are fitted to the terminal's width; piped, it is plain text with nothing cut.
 */
#include "output.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

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

/* ---- colour ---------------------------------------------------------------------------------- */

/* SGR sequences. Colour is only ever written when o->color is set (ct_out_init: stdout is a
 * terminal, NO_COLOR is unset and TERM is not "dumb"), so piped output stays plain text. */
#define SGR_RESET "\033[0m"
#define SGR_BOLD "\033[1m"
#define SGR_DIM "\033[2m"
#define SGR_RED "\033[1;31m"
#define SGR_GREEN "\033[32m"
#define SGR_YELLOW "\033[33m"
#define SGR_BLUE "\033[34m"
#define SGR_MAGENTA "\033[35m"
#define SGR_CYAN "\033[36m"

/* The colour of a word the CLI prints for a status, risk or priority, or NULL for none. The words
 * of the different enums never disagree ("urgent" is red as a risk and as a priority). */
static const char *word_style(const char *word)
{
    static const struct {
        const char *word, *sgr;
    } styles[] = {
        /* risk and priority */
        {"urgent", SGR_RED},
        {"stat", SGR_RED},
        {"asap", SGR_RED},
        {"concern", SGR_YELLOW},
        /* alert status */
        {"open", SGR_RED},
        {"escalated", SGR_RED},
        {"acknowledged", SGR_GREEN},
        /* referral status (FHIR Task.status) */
        {"requested", SGR_YELLOW},
        {"accepted", SGR_CYAN},
        {"in-progress", SGR_BLUE},
        {"on-hold", SGR_MAGENTA},
        {"completed", SGR_GREEN},
        {"rejected", SGR_DIM},
        {"cancelled", SGR_DIM},
        /* consent status */
        {"active", SGR_GREEN},
        {"withdrawn", SGR_DIM},
        /* profile status */
        {"ok", SGR_GREEN},
        {"expired", SGR_RED},
        {"error", SGR_RED},
    };
    for (size_t i = 0; i < sizeof styles / sizeof styles[0]; i++)
        if (strcmp(styles[i].word, word) == 0)
            return styles[i].sgr;
    return NULL;
}

/* Writes text as put_text does, in sgr when o may colour and sgr is not NULL. */
static void styled(const ct_out_t *o, const char *sgr, const char *text)
{
    bool on = o->color && sgr != NULL;
    if (on)
        fputs(sgr, o->f);
    put_text(o->f, text, NULL);
    if (on)
        fputs(SGR_RESET, o->f);
}

/* A status-like word (word_style), coloured when o may colour. */
static void word(const ct_out_t *o, const char *w)
{
    styled(o, word_style(w), w);
}

/* ---- tables ---------------------------------------------------------------------------------- */

#define TABLE_MAX_COLS 9
#define TABLE_CELL_LEN 96 /* ids are at most 64 bytes; longer cells are cut */

typedef char table_row_t[TABLE_MAX_COLS][TABLE_CELL_LEN];

/* Fills the cells of one row from item (an element of a list response). */
typedef void (*table_row_fn)(const void *item, table_row_t cells);

/* A column of a table. min: the narrowest a cell may be cut to when the table is wider than the
 * terminal, 0 for a column that is never cut (server-made ids, which people copy, times, and
 * words from a fixed set). colored: its cells are status-like words (word_style). */
typedef struct table_col {
    const char *head;
    unsigned min;
    bool colored;
} table_col_t;

/* The number of characters (code points) of s: its width on a terminal for the text tables hold
 * (ids, names, words; no wide or combining characters are expected). */
static size_t text_width(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* Writes cell cut to width characters: its first width-1 and "…" when it is longer. */
static void put_cell(const ct_out_t *o, const table_col_t *col, const char *cell, size_t width)
{
    char cut[TABLE_CELL_LEN + 4];
    if (text_width(cell) > width && width > 0) {
        size_t chars = 0, i = 0;
        for (; cell[i] != '\0'; i++) {
            if (((unsigned char)cell[i] & 0xc0) != 0x80 && chars++ == width - 1)
                break;
        }
        snprintf(cut, sizeof cut, "%.*s\xe2\x80\xa6", (int)i, cell);
        cell = cut;
    }
    styled(o, col->colored ? word_style(cell) : NULL, cell);
}

/*
 * Prints items[0..n) as aligned columns under the headings of cols[0..ncols): each column as
 * wide as its widest cell, two spaces between columns, no padding after the last. On a terminal
 * (o->width > 0) a table wider than the terminal has its cuttable columns narrowed, widest
 * first, down to their minimum, long cells ending in "…"; a table that still does not fit wraps.
 * Rows are built twice (once to measure) rather than stored, so a long list needs no memory.
 */
static void table(const ct_out_t *o, const table_col_t *cols, size_t ncols,
                  const void *const *items, size_t n, table_row_fn row)
{
    FILE *f = o->f;
    size_t width[TABLE_MAX_COLS];
    table_row_t cells;
    for (size_t c = 0; c < ncols; c++)
        width[c] = text_width(cols[c].head);
    for (size_t i = 0; i < n; i++) {
        row(items[i], cells);
        for (size_t c = 0; c < ncols; c++)
            if (text_width(cells[c]) > width[c])
                width[c] = text_width(cells[c]);
    }
    size_t total = 2 * (ncols - 1);
    for (size_t c = 0; c < ncols; c++)
        total += width[c];
    while (o->width > 0 && total > o->width) {
        size_t widest = ncols, slack = 0;
        for (size_t c = 0; c < ncols; c++) {
            size_t floor =
                cols[c].min > text_width(cols[c].head) ? cols[c].min : text_width(cols[c].head);
            if (cols[c].min > 0 && width[c] > floor && width[c] - floor > slack) {
                widest = c;
                slack = width[c] - floor;
            }
        }
        if (widest == ncols)
            break; /* nothing left to cut: the terminal wraps the lines */
        size_t cut = total - o->width < slack ? total - o->width : slack;
        width[widest] -= cut;
        total -= cut;
    }
    for (size_t i = 0; i <= n; i++) {
        if (i > 0)
            row(items[i - 1], cells);
        for (size_t c = 0; c < ncols; c++) {
            const char *cell = i == 0 ? cols[c].head : cells[c];
            size_t w = text_width(cell) < width[c] ? text_width(cell) : width[c];
            if (i == 0)
                styled(o, SGR_BOLD, cell);
            else
                put_cell(o, &cols[c], cell, width[c]);
            if (c + 1 < ncols)
                fprintf(f, "%*s", (int)(width[c] - w + 2), "");
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

static void consent_block(const ct_out_t *o, const void *obj)
{
    FILE *f = o->f;
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
    label(f, "status");
    word(o, c->active ? "active" : "withdrawn");
    if (c->active) {
        putc('\n', f);
    } else {
        ct_cli_format_time(c->withdrawn_at_ms, t);
        fprintf(f, " %s by ", t);
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

static void referral_block(const ct_out_t *o, const void *obj)
{
    FILE *f = o->f;
    const Careteam__V1__Referral *r = obj;
    field(f, "referral", r->referral_id);
    field(f, "participant", r->participant_id);
    label(f, "status");
    word(o, ct_cli_name(&ct_cli_referral_status_names, r->status));
    if (r->status == CARETEAM__V1__REFERRAL_STATUS__REFERRAL_STATUS_ON_HOLD && r->held_from != 0)
        fprintf(f, " (resumes as %s)", ct_cli_name(&ct_cli_referral_status_names, r->held_from));
    putc('\n', f);
    label(f, "priority");
    word(o, ct_cli_priority_name(r->priority));
    putc('\n', f);
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

static void summary_block(const ct_out_t *o, const void *obj)
{
    FILE *f = o->f;
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
    word(o, ct_cli_name(&ct_cli_risk_names, s->risk));
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

static void alert_block(const ct_out_t *o, const void *obj)
{
    FILE *f = o->f;
    const Careteam__V1__Alert *a = obj;
    char t[CT_CLI_TIME_LEN];
    field(f, "alert", a->alert_id);
    field(f, "participant", a->participant_id);
    label(f, "risk");
    word(o, ct_cli_name(&ct_cli_risk_names, a->risk));
    putc('\n', f);
    label(f, "status");
    word(o, ct_cli_name(&ct_cli_alert_status_names, a->status));
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
static void referral_headline(const ct_out_t *o, const Careteam__V1__Message *m, const char *verb)
{
    FILE *f = o->f;
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
static void summary_headline(const ct_out_t *o, const Careteam__V1__Message *m, const char *verb)
{
    FILE *f = o->f;
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
static void alert_headline(const ct_out_t *o, const Careteam__V1__Message *m, const char *verb)
{
    FILE *f = o->f;
    const Careteam__V1__Alert *a = m->alert;
    bool acked = a->status == CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_ACKNOWLEDGED;
    styled(o, acked ? NULL : SGR_RED, acked ? "alert" : "ALERT");
    putc(' ', f);
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
    void (*block)(const ct_out_t *o, const void *obj);
    const char *none;        /* the human line for an empty list */
    const table_col_t *cols; /* the table's columns, ncols of them */
    size_t ncols;
    table_row_fn row;
    /* The first line of an event message about the object; NULL for a kind no event carries. */
    void (*headline)(const ct_out_t *o, const Careteam__V1__Message *m, const char *verb);
} object_kind_t;

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Member and participant ids (up to 64 characters) may be cut to ID_MIN on a narrow terminal. */
#define ID_MIN 10

static const table_col_t CONSENT_COLS[] = {{"CONSENT", 0, false}, {"PARTICIPANT", ID_MIN, false},
                                           {"SCOPE", 0, false},   {"METHOD", 0, false},
                                           {"STATUS", 0, true},   {"RECORDED BY", ID_MIN, false},
                                           {"RECORDED", 0, false}};
static const table_col_t REFERRAL_COLS[] = {
    {"REFERRAL", 0, false}, {"PARTICIPANT", ID_MIN, false}, {"STATUS", 0, true},
    {"PRIORITY", 0, true},  {"REFERRER", ID_MIN, false},    {"WITH", ID_MIN, false},
    {"UPDATED", 0, false}};
static const table_col_t SUMMARY_COLS[] = {
    {"SUMMARY", 0, false},     {"PARTICIPANT", ID_MIN, false},
    {"DATE", 0, false},        {"MIN", 0, false},
    {"FORMAT", 0, false},      {"RISK", 0, true},
    {"AUTHOR", ID_MIN, false}, {"POSTED", 0, false}};
static const table_col_t ALERT_COLS[] = {{"ALERT", 0, false},  {"PARTICIPANT", ID_MIN, false},
                                         {"RISK", 0, true},    {"STATUS", 0, true},
                                         {"ESC", 0, false},    {"RAISED BY", ID_MIN, false},
                                         {"RAISED", 0, false}, {"DEADLINE/ACK BY", ID_MIN, false}};

static const object_kind_t CONSENT = {
    .type = "consent",
    .json_fields = json_consent_fields,
    .block = consent_block,
    .none = "No consents recorded.",
    .cols = CONSENT_COLS,
    .ncols = COUNT(CONSENT_COLS),
    .row = consent_row,
};
static const object_kind_t REFERRAL = {
    .type = "referral",
    .json_fields = json_referral_fields,
    .block = referral_block,
    .none = "No referrals.",
    .cols = REFERRAL_COLS,
    .ncols = COUNT(REFERRAL_COLS),
    .row = referral_row,
    .headline = referral_headline,
};
static const object_kind_t SUMMARY = {
    .type = "summary",
    .json_fields = json_summary_fields,
    .block = summary_block,
    .none = "No summaries.",
    .cols = SUMMARY_COLS,
    .ncols = COUNT(SUMMARY_COLS),
    .row = summary_row,
    .headline = summary_headline,
};
static const object_kind_t ALERT = {
    .type = "alert",
    .json_fields = json_alert_fields,
    .block = alert_block,
    .none = "No alerts.",
    .cols = ALERT_COLS,
    .ncols = COUNT(ALERT_COLS),
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
static void event_message(const ct_out_t *o, const Careteam__V1__Message *m)
{
    FILE *f = o->f;
    const char *verb = ct_cli_event_verb(m->event);
    if (verb == NULL)
        verb = m->event != NULL && m->event[0] != '\0' ? m->event : "changed";
    const object_kind_t *k;
    const void *obj = message_object(m, &k);
    if (obj != NULL) {
        k->headline(o, m, verb);
    } else {
        fprintf(f, "%s event ", ct_cli_name(&ct_cli_message_kind_names, m->kind));
        put_text(f, m->event, NULL);
        by(f, m->sender_id);
    }
    putc('\n', f);
    field_time(f, "time", m->stored_at_ms);
    if (obj != NULL) {
        k->block(o, obj);
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
    k->block(o, obj);
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
        table(o, k->cols, k->ncols, items, n, k->row);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            putc('\n', o->f);
        k->block(o, items[i]);
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
        event_message(o, m);
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

/* ---- profiles -------------------------------------------------------------------------------- */

static void json_profile(ct_out_t *o, const ct_out_profile_t *p)
{
    json_obj_t j = json_begin(o->f, "profile");
    json_str(&j, "name", p->name);
    json_str(&j, "path", p->path);
    json_bool(&j, "default", p->is_default);
    json_str(&j, "server", p->server);
    json_str(&j, "cert", p->cert);
    json_str(&j, "key", p->key);
    json_str(&j, "ca", p->ca);
    json_str(&j, "crl", p->crl != NULL ? p->crl : "");
    json_str(&j, "member_id", p->member_id);
    json_times(&j, "cert_expires", p->cert_expires_ms, true);
    json_str(&j, "problem", p->problem);
    json_end(&j);
}

/* "ok", "expired" or "error": a profile's state in one word, for the table. */
static const char *profile_state(const ct_out_profile_t *p)
{
    if (p->problem == NULL || p->problem[0] == '\0')
        return "ok";
    return strstr(p->problem, "expired") != NULL ? "expired" : "error";
}

void ct_out_profile(ct_out_t *o, const ct_out_profile_t *p)
{
    if (o->format == CT_OUT_JSON) {
        json_profile(o, p);
        return;
    }
    FILE *f = o->f;
    label(f, "profile");
    put_text(f, p->name, NULL);
    fputs(p->is_default ? " (the default)\n" : "\n", f);
    field(f, "file", p->path);
    field(f, "server", p->server);
    field(f, "member", p->member_id);
    field(f, "cert", p->cert);
    if (p->cert_expires_ms != 0) {
        char t[CT_CLI_TIME_LEN];
        ct_cli_format_time(p->cert_expires_ms, t);
        label(f, "expires");
        styled(o, strstr(p->problem, "expired") != NULL ? SGR_RED : NULL, t);
        putc('\n', f);
    }
    field(f, "key", p->key);
    field(f, "ca", p->ca);
    field(f, "crl",
          p->crl != NULL && p->crl[0] != '\0'
              ? p->crl
              : "none (the server's certificate is not checked for revocation)");
    label(f, "status");
    word(o, profile_state(p));
    if (p->problem[0] != '\0') {
        fputs(": ", f);
        put_text(f, p->problem, "             ");
    }
    putc('\n', f);
}

static void profile_row(const void *item, table_row_t cells)
{
    const ct_out_profile_t *p = item;
    cell(cells[0], p->name);
    cell(cells[1], p->is_default ? "*" : "");
    cell(cells[2], p->server);
    cell(cells[3], p->member_id);
    short_time(p->cert_expires_ms, cells[4]);
    cell(cells[5], profile_state(p));
}

static const table_col_t PROFILE_COLS[] = {{"NAME", ID_MIN, false},    {"DEFAULT", 0, false},
                                           {"SERVER", 16, false},      {"MEMBER", ID_MIN, false},
                                           {"CERT EXPIRES", 0, false}, {"STATUS", 0, true}};

void ct_out_profiles(ct_out_t *o, const ct_out_profile_t *p, size_t n)
{
    if (o->format == CT_OUT_JSON) {
        for (size_t i = 0; i < n; i++)
            json_profile(o, &p[i]);
        return;
    }
    if (n == 0) {
        fputs("No profiles. Add one with `careteam profile add NAME --server HOST:PORT --cert "
              "FILE --key FILE --ca FILE`.\n",
              o->f);
        return;
    }
    const void **items = calloc(n, sizeof *items);
    if (items == NULL) { /* each whole instead: no memory needed */
        for (size_t i = 0; i < n; i++)
            ct_out_profile(o, &p[i]);
        return;
    }
    for (size_t i = 0; i < n; i++)
        items[i] = &p[i];
    table(o, PROFILE_COLS, COUNT(PROFILE_COLS), (const void *const *)items, n, profile_row);
    free(items);
    /* What is wrong with each unusable profile, in full: a table cell would cut it. */
    for (size_t i = 0; i < n; i++) {
        if (p[i].problem[0] == '\0')
            continue;
        putc('\n', o->f);
        put_text(o->f, p[i].name, NULL);
        fputs(": ", o->f);
        put_text(o->f, p[i].problem, "  ");
        putc('\n', o->f);
    }
}

/* ---- set-up and flushing ----------------------------------------------------------------------
 */

bool ct_out_color_allowed(int fd)
{
    const char *no_color = getenv("NO_COLOR");
    const char *term = getenv("TERM");
    if (no_color != NULL && no_color[0] != '\0')
        return false;
    if (term == NULL || term[0] == '\0' || strcmp(term, "dumb") == 0)
        return false;
    return isatty(fd) == 1;
}

void ct_out_init(ct_out_t *o, FILE *f, ct_out_format_t format)
{
    memset(o, 0, sizeof *o);
    o->f = f;
    o->format = format;
    int fd = fileno(f);
    if (fd < 0 || isatty(fd) != 1)
        return;
    o->color = ct_out_color_allowed(fd);
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        o->width = ws.ws_col;
    } else {
        const char *cols = getenv("COLUMNS");
        long c = cols != NULL ? strtol(cols, NULL, 10) : 0;
        o->width = c > 0 && c < 10000 ? (size_t)c : 80;
    }
}

/* Whether ct_cli_errorf colours its "careteam:" on stderr: decided once by main (stderr is
 * process-wide, so this is too). */
static bool g_stderr_color;

void ct_cli_errors_init(void)
{
    g_stderr_color = ct_out_color_allowed(STDERR_FILENO);
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
    fputs(g_stderr_color ? SGR_RED CT_CLI_PROG ":" SGR_RESET " " : CT_CLI_PROG ": ", stderr);
    put_text(stderr, buf, "  ");
    putc('\n', stderr);
}
