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
 *   careteam inbox --json            one record per pending message, oldest first; nothing when
 *   careteam watch --json            there are none. watch continues with each new message.
 *     {"type":"message",
 *      "message_id":STRING, "sender_id":STRING, "sender_role":ROLE,
 *      "to":[STRING,...], "participant_id":STRING, "subject":STRING, "priority":PRIORITY,
 *      "body":STRING, "stored_at":TIME, "stored_at_ms":INT}
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

/* ---- names and times ------------------------------------------------------------------------- */

static const char *const PRIORITY_NAMES[] = {
    [CARETEAM__V1__PRIORITY__PRIORITY_ROUTINE] = "routine",
    [CARETEAM__V1__PRIORITY__PRIORITY_URGENT] = "urgent",
    [CARETEAM__V1__PRIORITY__PRIORITY_ASAP] = "asap",
    [CARETEAM__V1__PRIORITY__PRIORITY_STAT] = "stat",
};
#define N_PRIORITIES (sizeof PRIORITY_NAMES / sizeof PRIORITY_NAMES[0])

const char *ct_cli_priority_name(int priority)
{
    if (priority == CARETEAM__V1__PRIORITY__PRIORITY_UNSPECIFIED)
        return "routine"; /* the protocol stores and delivers UNSPECIFIED as ROUTINE */
    if (priority < 0 || (size_t)priority >= N_PRIORITIES || PRIORITY_NAMES[priority] == NULL)
        return "unknown";
    return PRIORITY_NAMES[priority];
}

int ct_cli_priority_parse(const char *name, int *out)
{
    for (size_t i = 0; i < N_PRIORITIES; i++) {
        if (PRIORITY_NAMES[i] != NULL && strcmp(PRIORITY_NAMES[i], name) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    return -1;
}

const char *ct_cli_role_name(int role)
{
    const char *n = ct_role_name((ct_role_t)role);
    return n != NULL ? n : "unknown";
}

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

/* One JSON object being written: json_begin, fields, json_end (which ends the line). */
typedef struct json_obj {
    FILE *f;
} json_obj_t;

static json_obj_t json_begin(FILE *f, const char *type)
{
    json_obj_t j = {f};
    fputs("{\"type\":", f);
    json_string(f, type);
    return j;
}

static void json_key(json_obj_t *j, const char *key)
{
    putc(',', j->f);
    json_string(j->f, key);
    putc(':', j->f);
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
        json_end(&j);
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
