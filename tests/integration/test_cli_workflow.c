/*
 * The care-team workflow driven through the careteam CLI as clinicians, peer workers, a peer
 * supervisor and a compliance officer would use it: the built binary (CT_TEST_CARETEAM_CLI) run as
 * a subprocess against a real careteamd over TLS (tests/support/daemon.h), with its stdout,
 * stderr and exit code captured.
 *
 * Participants, care teams and supervision are set up with the admin commands (`careteamd
 * participant|team|supervisor ...`, `enroll --supervisor`); everything else goes through the CLI:
 * consent, refer, referrals, referral ACTION, summary post (--text, --file PATH, --file -),
 * summaries, concern, alerts, alert ack, lockbox, send and inbox; and the records of the commands
 * around the workflow (whoami, send, inbox, watch, audit query, profile).
 *
 * Every --json line is parsed by a small JSON parser below and checked against the schema at the
 * top of client/cli/output.c: each documented field present with its documented type (times
 * agree with their _ms twins, enums hold documented names), "every field always present" except
 * the objects an event message carries, which appear only with their kind. Refusals must exit 1
 * with "careteam: CODE: message" on stderr and nothing on stdout. Human output must mention the
 * key facts (ids, statuses).
 *
 * Each test starts its own daemon with the demo team (dr.ahmed psychiatrist, th.lee therapist,
 * pw.sam and pw.kim peer workers, co.jones compliance) and ends with ct_test_daemon_finish (daemon
 * exit status 0, then ct_test_leak_check); the suite's .fini cleans up after a failed assertion.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_run.h"
#include "daemon.h"
#include "testsupport.h"

#define URGENT_DEADLINE_MS 900000    /* alert_urgent_deadline_ms default: 15 min */
#define CONCERN_DEADLINE_MS 86400000 /* alert_concern_deadline_ms default: 24 h */

static ct_test_daemon_t g_d;
static int g_line; /* the test body line of the step being run, for failure messages */

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

TestSuite(cli_workflow, .init = ct_test_ignore_sigpipe, .fini = teardown, .timeout = 110);

/* ---- refusals ------------------------------------------------------------------------------- */

/* A refusal: exit 1, nothing on stdout, "careteam: CODE: " then a message containing msg (when
 * not NULL) on stderr. */
static void assert_refused(const ct_test_cli_t *p, const char *code, const char *msg)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "careteam: %s: ", code);
    cr_assert_eq(p->status, 1, "line %d: exit %d, expected 1 (%s)\nstdout: %s\nstderr: %s", g_line,
                 p->status, code, p->out, p->err);
    cr_assert(strncmp(p->err, prefix, strlen(prefix)) == 0,
              "line %d: stderr does not start [%s]: %s", g_line, prefix, p->err);
    if (msg != NULL)
        cr_assert_not_null(strstr(p->err, msg), "line %d: expected to find [%s] in:\n%s", g_line,
                           msg, p->err);
    cr_assert_eq(p->out[0], '\0', "a refusal printed on stdout: %s", p->out);
}

/* Runs args as id and asserts it was refused with code and msg. */
static void expect_refused_(const char *id, const char *code, const char *msg,
                            const char *const *args)
{
    ct_test_cli_t p;
    ct_test_cli_as(&p, &g_d, id, args);
    assert_refused(&p, code, msg);
    ct_test_cli_free(&p);
}

/* ---- a small JSON parser --------------------------------------------------------------------- */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype_t;

typedef struct jv {
    jtype_t t;
    bool b;
    char *s;          /* J_STR: decoded UTF-8; J_NUM: the number's text */
    struct jv **item; /* J_ARR, J_OBJ */
    char **key;       /* J_OBJ */
    size_t n;
} jv_t;

typedef struct jparser {
    const char *p, *end, *line;
} jparser_t;

#define JFAIL(jp, what)                                                                            \
    cr_assert_fail("bad JSON (%s) at offset %td of: %.*s", (what), (jp)->p - (jp)->line,           \
                   (int)((jp)->end - (jp)->line), (jp)->line)

static void jv_free(jv_t *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n; i++) {
        jv_free(v->item[i]);
        if (v->key != NULL)
            free(v->key[i]);
    }
    free(v->item);
    free(v->key);
    free(v->s);
    free(v);
}

static void put_utf8(char **buf, size_t *len, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    ct_test_append(buf, len, u, n);
}

static unsigned hex4(jparser_t *jp)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++, jp->p++) {
        char c = jp->p < jp->end ? *jp->p : '\0';
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            JFAIL(jp, "bad \\u escape");
        v = v * 16 + (unsigned)d;
    }
    return v;
}

static char *jstring(jparser_t *jp)
{
    char *s = NULL;
    size_t len = 0;
    ct_test_append(&s, &len, "", 0);
    jp->p++; /* the opening quote */
    for (;;) {
        if (jp->p >= jp->end)
            JFAIL(jp, "unterminated string");
        unsigned char c = (unsigned char)*jp->p;
        if (c == '"') {
            jp->p++;
            return s;
        }
        if (c < 0x20)
            JFAIL(jp, "raw control character in a string");
        if (c != '\\') {
            ct_test_append(&s, &len, jp->p++, 1);
            continue;
        }
        jp->p++;
        char e = jp->p < jp->end ? *jp->p++ : '\0';
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e != '\0' && simple != NULL) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            ct_test_append(&s, &len, &map[simple - "\"\\/bfnrt"], 1);
        } else if (e == 'u') {
            unsigned cp = hex4(jp);
            if (cp >= 0xd800 && cp < 0xdc00) {
                if (jp->end - jp->p < 6 || jp->p[0] != '\\' || jp->p[1] != 'u')
                    JFAIL(jp, "lone high surrogate");
                jp->p += 2;
                unsigned lo = hex4(jp);
                if (lo < 0xdc00 || lo > 0xdfff)
                    JFAIL(jp, "bad low surrogate");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp < 0xe000) {
                JFAIL(jp, "lone low surrogate");
            }
            put_utf8(&s, &len, cp);
        } else {
            JFAIL(jp, "bad escape");
        }
    }
}

static void jspace(jparser_t *jp)
{
    while (jp->p < jp->end && strchr(" \t\r\n", *jp->p) != NULL)
        jp->p++;
}

static jv_t *jvalue(jparser_t *jp);

static void jpush(jv_t *v, char *key, jv_t *item)
{
    v->item = realloc(v->item, (v->n + 1) * sizeof *v->item);
    cr_assert_not_null(v->item);
    if (v->t == J_OBJ) {
        v->key = realloc(v->key, (v->n + 1) * sizeof *v->key);
        cr_assert_not_null(v->key);
        v->key[v->n] = key;
    }
    v->item[v->n++] = item;
}

/* An object or array: '{' or '[' at jp->p. */
static void jcontainer(jparser_t *jp, jv_t *v)
{
    char close = v->t == J_OBJ ? '}' : ']';
    jp->p++;
    jspace(jp);
    if (jp->p < jp->end && *jp->p == close) {
        jp->p++;
        return;
    }
    for (;;) {
        char *key = NULL;
        if (v->t == J_OBJ) {
            jspace(jp);
            if (jp->p >= jp->end || *jp->p != '"')
                JFAIL(jp, "expected a key");
            key = jstring(jp);
            for (size_t i = 0; i < v->n; i++)
                cr_assert_str_neq(v->key[i], key, "duplicate key \"%s\" in: %.*s", key,
                                  (int)(jp->end - jp->line), jp->line);
            jspace(jp);
            if (jp->p >= jp->end || *jp->p != ':')
                JFAIL(jp, "expected ':'");
            jp->p++;
        }
        jpush(v, key, jvalue(jp));
        jspace(jp);
        if (jp->p < jp->end && *jp->p == ',') {
            jp->p++;
            continue;
        }
        if (jp->p < jp->end && *jp->p == close) {
            jp->p++;
            return;
        }
        JFAIL(jp, "expected ',' or the end of a container");
    }
}

static jv_t *jvalue(jparser_t *jp)
{
    jspace(jp);
    jv_t *v = calloc(1, sizeof *v);
    cr_assert_not_null(v);
    if (jp->p >= jp->end)
        JFAIL(jp, "expected a value");
    char c = *jp->p;
    if (c == '{' || c == '[') {
        v->t = c == '{' ? J_OBJ : J_ARR;
        jcontainer(jp, v);
    } else if (c == '"') {
        v->t = J_STR;
        v->s = jstring(jp);
    } else if (strncmp(jp->p, "true", 4) == 0 || strncmp(jp->p, "false", 5) == 0) {
        v->t = J_BOOL;
        v->b = c == 't';
        jp->p += v->b ? 4 : 5;
    } else if (strncmp(jp->p, "null", 4) == 0) {
        v->t = J_NULL;
        jp->p += 4;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        const char *start = jp->p;
        if (*jp->p == '-')
            jp->p++;
        if (jp->p >= jp->end || *jp->p < '0' || *jp->p > '9')
            JFAIL(jp, "bad number");
        if (*jp->p == '0' && jp->p + 1 < jp->end && jp->p[1] >= '0' && jp->p[1] <= '9')
            JFAIL(jp, "leading zero");
        while (jp->p < jp->end && strchr("0123456789.eE+-", *jp->p) != NULL)
            jp->p++;
        v->t = J_NUM;
        v->s = strndup(start, (size_t)(jp->p - start));
    } else {
        JFAIL(jp, "unexpected character");
    }
    return v;
}

/* Parses one line (without its newline) as a JSON object. */
static jv_t *json_parse_line(const char *line, size_t len)
{
    jparser_t jp = {line, line + len, line};
    jv_t *v = jvalue(&jp);
    jspace(&jp);
    cr_assert_eq(jp.p, jp.end, "trailing bytes after the JSON value: %.*s", (int)len, line);
    cr_assert_eq(v->t, J_OBJ, "not a JSON object: %.*s", (int)len, line);
    return v;
}

static const jv_t *jget(const jv_t *o, const char *key)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->key[i], key) == 0)
            return o->item[i];
    return NULL;
}

static const jv_t *jneed(const jv_t *o, const char *key, jtype_t t)
{
    static const char *const names[] = {"null", "bool", "number", "string", "array", "object"};
    const jv_t *v = jget(o, key);
    cr_assert_not_null(v, "line %d: field \"%s\" missing", g_line, key);
    cr_assert_eq(v->t, t, "line %d: field \"%s\" is a %s, not a %s", g_line, key, names[v->t],
                 names[t]);
    return v;
}

static const char *jstr(const jv_t *o, const char *key)
{
    return jneed(o, key, J_STR)->s;
}

static long long jint(const jv_t *o, const char *key)
{
    const jv_t *v = jneed(o, key, J_NUM);
    char *end;
    errno = 0;
    long long n = strtoll(v->s, &end, 10);
    cr_assert(errno == 0 && *end == '\0', "field \"%s\" is not an integer: %s", key, v->s);
    return n;
}

static bool jbool(const jv_t *o, const char *key)
{
    return jneed(o, key, J_BOOL)->b;
}

static const jv_t *jobj(const jv_t *o, const char *key)
{
    return jneed(o, key, J_OBJ);
}

#define assert_jstr(o, key, want)                                                                  \
    cr_assert_str_eq(jstr((o), (key)), (want), "field \"%s\" (step at line %d)", (key), g_line)

#define assert_jint(o, key, want)                                                                  \
    cr_assert_eq(jint((o), (key)), (long long)(want), "field \"%s\" (step at line %d)", (key),     \
                 g_line)

#define assert_jbool(o, key, want)                                                                 \
    cr_assert_eq(jbool((o), (key)), (want), "field \"%s\" (step at line %d)", (key), g_line)

/* Asserts that array field key holds exactly the strings want[0..n). */
static void assert_jstrs(const jv_t *o, const char *key, const char *const *want, size_t n)
{
    const jv_t *a = jneed(o, key, J_ARR);
    cr_assert_eq(a->n, n, "field \"%s\" has %zu elements, not %zu", key, a->n, n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(a->item[i]->t, J_STR, "%s[%zu] is not a string", key, i);
        cr_assert_str_eq(a->item[i]->s, want[i], "%s[%zu]", key, i);
    }
}

/* ---- the documented schema (client/cli/output.c) --------------------------------------------- */

/* Field kinds: 's' string, 'i' integer, 'b' bool, 'a' array of strings, 'e' one of the names in
 * `names` (NULL-terminated), 'T' TIME (its "<name>_ms" twin must be the same instant), 'O' TIME
 * or "" (then the twin is 0), 'D' a date YYYY-MM-DD, 'w' the withheld array of `send`: objects
 * of two strings, member_id and reason. */
typedef struct field_spec {
    const char *name;
    char kind;
    const char *const *names;
} field_spec_t;

static const char *const ROLE[] = {"psychiatrist", "therapist", "peer_worker", "peer_supervisor",
                                   "compliance",   "admin",     "unknown",     NULL};
static const char *const PRIORITY[] = {"routine", "urgent", "asap", "stat", "unknown", NULL};
static const char *const KIND[] = {"text", "referral", "summary", "alert", "unknown", NULL};
static const char *const SCOPE[] = {"peer-support", "information-sharing", "unknown", NULL};
static const char *const METHOD[] = {"verbal", "written", "unknown", NULL};
static const char *const STATUS[] = {"requested", "accepted",  "rejected", "in-progress", "on-hold",
                                     "completed", "cancelled", "unknown",  NULL};
static const char *const HELD_FROM[] = {"requested", "accepted",  "rejected",  "in-progress",
                                        "on-hold",   "completed", "cancelled", "unknown",
                                        "",          NULL};
static const char *const FORMAT[] = {"one-to-one", "group",   "phone", "video",
                                     "outreach",   "unknown", NULL};
static const char *const RISK[] = {"none", "concern", "urgent", "unknown", NULL};
static const char *const SOURCE[] = {"summary", "concern", "unknown", NULL};
static const char *const ALERT_STATUS[] = {"open", "escalated", "acknowledged", "unknown", NULL};
static const char *const ACTOR_ROLE[] = {"psychiatrist",    "therapist",  "peer_worker",
                                         "peer_supervisor", "compliance", "admin",
                                         "unknown",         "",           NULL};

static const field_spec_t CONSENT_FIELDS[] = {
    {"consent_id", 's', NULL},
    {"participant_id", 's', NULL},
    {"scope", 'e', SCOPE},
    {"method", 'e', METHOD},
    {"note", 's', NULL},
    {"recorded_by", 's', NULL},
    {"recorded_at", 'T', NULL},
    {"recorded_at_ms", 'i', NULL},
    {"active", 'b', NULL},
    {"withdrawn_by", 's', NULL},
    {"withdrawn_at", 'O', NULL},
    {"withdrawn_at_ms", 'i', NULL},
    {"withdraw_reason", 's', NULL},
    {NULL, 0, NULL},
};

static const field_spec_t LOCKBOX_FIELDS[] = {
    {"participant_id", 's', NULL},
    {"member_id", 's', NULL},
    {"restricted", 'b', NULL},
    {NULL, 0, NULL},
};

static const field_spec_t REFERRAL_FIELDS[] = {
    {"referral_id", 's', NULL},    {"participant_id", 's', NULL},
    {"referrer_id", 's', NULL},    {"addressee_id", 's', NULL},
    {"assignee_id", 's', NULL},    {"status", 'e', STATUS},
    {"reason", 's', NULL},         {"goals", 'a', NULL},
    {"priority", 'e', PRIORITY},   {"status_reason", 's', NULL},
    {"created_at", 'T', NULL},     {"created_at_ms", 'i', NULL},
    {"updated_at", 'T', NULL},     {"updated_at_ms", 'i', NULL},
    {"held_from", 'e', HELD_FROM}, {NULL, 0, NULL},
};

static const field_spec_t SUMMARY_FIELDS[] = {
    {"summary_id", 's', NULL},
    {"referral_id", 's', NULL},
    {"participant_id", 's', NULL},
    {"author_id", 's', NULL},
    {"session_date", 'D', NULL},
    {"duration_minutes", 'i', NULL},
    {"format", 'e', FORMAT},
    {"themes", 'a', NULL},
    {"goals_progress", 's', NULL},
    {"next_steps", 's', NULL},
    {"participant_reviewed", 'b', NULL},
    {"risk", 'e', RISK},
    {"text", 's', NULL},
    {"amends_summary_id", 's', NULL},
    {"created_at", 'T', NULL},
    {"created_at_ms", 'i', NULL},
    {"alert_id", 's', NULL},
    {NULL, 0, NULL},
};

static const field_spec_t ALERT_FIELDS[] = {
    {"alert_id", 's', NULL},
    {"participant_id", 's', NULL},
    {"raised_by", 's', NULL},
    {"source", 'e', SOURCE},
    {"summary_id", 's', NULL},
    {"referral_id", 's', NULL},
    {"risk", 'e', RISK},
    {"text", 's', NULL},
    {"status", 'e', ALERT_STATUS},
    {"escalations", 'i', NULL},
    {"deadline", 'O', NULL},
    {"deadline_ms", 'i', NULL},
    {"created_at", 'T', NULL},
    {"created_at_ms", 'i', NULL},
    {"acknowledged_by", 's', NULL},
    {"acknowledged_at", 'O', NULL},
    {"acknowledged_at_ms", 'i', NULL},
    {"note", 's', NULL},
    {NULL, 0, NULL},
};

static const field_spec_t MESSAGE_FIELDS[] = {
    {"message_id", 's', NULL},
    {"sender_id", 's', NULL},
    {"sender_role", 'e', ROLE},
    {"to", 'a', NULL},
    {"participant_id", 's', NULL},
    {"subject", 's', NULL},
    {"priority", 'e', PRIORITY},
    {"body", 's', NULL},
    {"stored_at", 'T', NULL},
    {"stored_at_ms", 'i', NULL},
    {"kind", 'e', KIND},
    {"event", 's', NULL},
    {NULL, 0, NULL},
};

static const field_spec_t WHOAMI_FIELDS[] = {
    {"member_id", 's', NULL}, {"display_name", 's', NULL}, {"role", 'e', ROLE},
    {"server", 's', NULL},    {"server_name", 's', NULL},  {"protocol_version", 'i', NULL},
    {NULL, 0, NULL},
};

static const field_spec_t SENT_FIELDS[] = {
    {"client_msg_id", 's', NULL},
    {"message_id", 's', NULL},
    {"to", 'a', NULL},
    {"stored_at", 'T', NULL},
    {"stored_at_ms", 'i', NULL},
    {"duplicate", 'b', NULL},
    {"withheld", 'w', NULL},
    {NULL, 0, NULL},
};

static const field_spec_t AUDIT_FIELDS[] = {
    {"seq", 'i', NULL},
    {"time", 'T', NULL},
    {"time_ms", 'i', NULL},
    {"actor_id", 's', NULL},
    {"actor_role", 'e', ACTOR_ROLE},
    {"cert_fp", 's', NULL},
    {"peer_addr", 's', NULL},
    {"action", 's', NULL},
    {"object_type", 's', NULL},
    {"object_id", 's', NULL},
    {"participant_id", 's', NULL},
    {"outcome", 'i', NULL},
    {"detail", 's', NULL},
    {NULL, 0, NULL},
};

static const field_spec_t PROFILE_FIELDS[] = {
    {"name", 's', NULL},         {"path", 's', NULL},
    {"default", 'b', NULL},      {"server", 's', NULL},
    {"cert", 's', NULL},         {"key", 's', NULL},
    {"ca", 's', NULL},           {"member_id", 's', NULL},
    {"cert_expires", 'O', NULL}, {"cert_expires_ms", 'i', NULL},
    {"problem", 's', NULL},      {NULL, 0, NULL},
};

/* ms as the CLI's TIME: "YYYY-MM-DDTHH:MM:SS.mmmZ". */
static void iso_time(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    cr_assert_not_null(gmtime_r(&t, &tm));
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* The wall clock in Unix milliseconds (ct_test_now_ms is monotonic). */
static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_date(const char *s)
{
    static const char pattern[] = "dddd-dd-dd";
    for (size_t i = 0; i < sizeof pattern; i++) {
        char c = s[i];
        if (pattern[i] == 'd' ? (c < '0' || c > '9') : c != pattern[i])
            return false;
    }
    return true;
}

/* Checks o against spec: every field present with its kind. */
static void check_fields(const jv_t *o, const field_spec_t *spec, const char *what)
{
    for (const field_spec_t *f = spec; f->name != NULL; f++) {
        const jv_t *v = jget(o, f->name);
        cr_assert_not_null(v, "%s: documented field \"%s\" is missing", what, f->name);
        switch (f->kind) {
        case 's':
            cr_assert_eq(v->t, J_STR, "%s: \"%s\" is not a string", what, f->name);
            break;
        case 'i':
            (void)jint(o, f->name);
            break;
        case 'b':
            cr_assert_eq(v->t, J_BOOL, "%s: \"%s\" is not a bool", what, f->name);
            break;
        case 'a':
            cr_assert_eq(v->t, J_ARR, "%s: \"%s\" is not an array", what, f->name);
            for (size_t i = 0; i < v->n; i++)
                cr_assert_eq(v->item[i]->t, J_STR, "%s: %s[%zu] is not a string", what, f->name, i);
            break;
        case 'e': {
            cr_assert_eq(v->t, J_STR, "%s: \"%s\" is not a string", what, f->name);
            bool known = false;
            for (size_t i = 0; f->names[i] != NULL; i++)
                known = known || strcmp(f->names[i], v->s) == 0;
            cr_assert(known, "%s: \"%s\" is \"%s\", not a documented value", what, f->name, v->s);
            break;
        }
        case 'D':
            cr_assert(v->t == J_STR && is_date(v->s), "%s: \"%s\" is not YYYY-MM-DD", what,
                      f->name);
            break;
        case 'w':
            cr_assert_eq(v->t, J_ARR, "%s: \"%s\" is not an array", what, f->name);
            for (size_t i = 0; i < v->n; i++) {
                cr_assert_eq(v->item[i]->t, J_OBJ, "%s: %s[%zu] is not an object", what, f->name,
                             i);
                (void)jstr(v->item[i], "member_id");
                (void)jstr(v->item[i], "reason");
            }
            break;
        case 'T':
        case 'O': {
            char twin[64], t[32];
            snprintf(twin, sizeof twin, "%s_ms", f->name);
            cr_assert_eq(v->t, J_STR, "%s: \"%s\" is not a string", what, f->name);
            long long ms = jint(o, twin);
            if (f->kind == 'O' && ms == 0) {
                cr_assert_str_empty(v->s, "%s: \"%s\" is \"%s\" while %s is 0", what, f->name, v->s,
                                    twin);
                break;
            }
            cr_assert_gt(ms, 1600000000000LL, "%s: %s is %lld", what, twin, ms);
            iso_time(ms, t);
            cr_assert_str_eq(v->s, t, "%s: \"%s\" does not match %s = %lld", what, f->name, twin,
                             ms);
            break;
        }
        default:
            cr_assert_fail("bad field kind %c", f->kind);
        }
    }
}

/* Checks a message record: its fields, and the object of its kind (present exactly when its kind
 * is referral, summary or alert; nested without "type"). */
static void check_message(const jv_t *m)
{
    char base[64];
    snprintf(base, sizeof base, "line %d: message", g_line);
    check_fields(m, MESSAGE_FIELDS, base);
    static const struct {
        const char *kind;
        const field_spec_t *spec;
    } objs[] = {
        {"referral", REFERRAL_FIELDS}, {"summary", SUMMARY_FIELDS}, {"alert", ALERT_FIELDS}};
    const char *kind = jstr(m, "kind"), *event = jstr(m, "event");
    if (strcmp(kind, "text") == 0)
        cr_assert_str_empty(event, "a text message has event \"%s\"", event);
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) {
        const jv_t *o = jget(m, objs[i].kind);
        if (strcmp(kind, objs[i].kind) != 0) {
            cr_assert_null(o, "a %s message carries \"%s\"", kind, objs[i].kind);
            continue;
        }
        char what[80];
        snprintf(what, sizeof what, "line %d: %s event %s", g_line, kind, event);
        cr_assert_not_null(o, "%s: no \"%s\" object", what, kind);
        cr_assert_eq(o->t, J_OBJ, "%s: \"%s\" is not an object", what, kind);
        cr_assert_null(jget(o, "type"), "%s: the nested object has \"type\"", what);
        check_fields(o, objs[i].spec, what);
        size_t klen = strlen(kind);
        cr_assert(strncmp(event, kind, klen) == 0 && event[klen] == '.',
                  "event \"%s\" does not belong to kind %s", event, kind);
    }
}

/* ---- records: the --json lines a command printed --------------------------------------------- */

typedef struct recs {
    jv_t **v;
    size_t n;
} recs_t;

/* Parses every line of out (each must end in '\n') as a record of type `type`, checked against
 * its schema. */
static recs_t parse_records(const char *out, const char *type)
{
    static const struct {
        const char *type;
        const field_spec_t *spec;
    } kinds[] = {{"consent", CONSENT_FIELDS},    {"lockbox", LOCKBOX_FIELDS},
                 {"referral", REFERRAL_FIELDS},  {"summary", SUMMARY_FIELDS},
                 {"alert", ALERT_FIELDS},        {"message", NULL},
                 {"whoami", WHOAMI_FIELDS},      {"sent", SENT_FIELDS},
                 {"audit_record", AUDIT_FIELDS}, {"profile", PROFILE_FIELDS}};
    recs_t r = {NULL, 0};
    for (const char *line = out; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        cr_assert_not_null(nl, "the last line does not end with a newline: %s", line);
        jv_t *v = json_parse_line(line, (size_t)(nl - line));
        const char *t = jstr(v, "type");
        cr_assert_str_eq(t, type, "a record of type %s, not %s: %.*s", t, type, (int)(nl - line),
                         line);
        cr_assert_eq(strncmp(line, "{\"type\":", 8), 0, "\"type\" is not first: %.*s",
                     (int)(nl - line), line);
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
            if (strcmp(kinds[i].type, type) != 0)
                continue;
            char what[64];
            snprintf(what, sizeof what, "line %d: %s", g_line, type);
            if (kinds[i].spec != NULL)
                check_fields(v, kinds[i].spec, what);
            else
                check_message(v);
        }
        r.v = realloc(r.v, (r.n + 1) * sizeof *r.v);
        cr_assert_not_null(r.v);
        r.v[r.n++] = v;
        line = nl + 1;
    }
    return r;
}

static void recs_free(recs_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        jv_free(r->v[i]);
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

/* Runs args (which include --json) as id, expects exit 0 and exactly `want` records of type. */
static recs_t json_as_(const char *id, const char *type, size_t want, const char *const *args)
{
    ct_test_cli_t p;
    ct_test_cli_as(&p, &g_d, id, args);
    cr_assert_eq(p.status, 0, "line %d: exit %d\nstdout: %s\nstderr: %s", g_line, p.status, p.out,
                 p.err);
    cr_assert_eq(p.err[0], '\0', "line %d: stderr: %s", g_line, p.err);
    recs_t r = parse_records(p.out, type);
    cr_assert_eq(r.n, want, "line %d: %zu %s records, expected %zu:\n%s", g_line, r.n, type, want,
                 p.out);
    ct_test_cli_free(&p);
    return r;
}

/* The one record of a command that answers one object: its id field copied into id_out. */
static jv_t *json_one_(const char *id, const char *type, const char *id_key, char id_out[80],
                       const char *const *args)
{
    recs_t r = json_as_(id, type, 1, args);
    jv_t *v = r.v[0];
    free(r.v);
    if (id_key != NULL) {
        snprintf(id_out, 80, "%s", jstr(v, id_key));
        cr_assert_neq(id_out[0], '\0', "empty %s", id_key);
    }
    return v;
}

/* The position of the record whose field key is value, or -1. */
static long find_rec(const recs_t *r, const char *key, const char *value)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(jstr(r->v[i], key), value) == 0)
            return (long)i;
    return -1;
}

/* Asserts that the records' field key are exactly want[0..n), in this order. */
static void assert_ids(const recs_t *r, const char *key, const char *const *want, size_t n)
{
    cr_assert_eq(r->n, n, "%zu records, expected %zu", r->n, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(jstr(r->v[i], key), want[i], "record %zu's %s", i, key);
}

/* The event message of `event` whose object (nested under kind) has id_key = id; fails if there
 * is none. */
static const jv_t *find_event_(const recs_t *inbox, const char *event, const char *id_key,
                               const char *id)
{
    for (size_t i = 0; i < inbox->n; i++) {
        const jv_t *m = inbox->v[i];
        if (strcmp(jstr(m, "event"), event) != 0)
            continue;
        const jv_t *o = jobj(m, jstr(m, "kind"));
        if (strcmp(jstr(o, id_key), id) == 0)
            return o;
    }
    cr_assert_fail("line %d: no %s event for %s %s among %zu messages", g_line, event, id_key, id,
                   inbox->n);
    return NULL;
}

static size_t count_events(const recs_t *inbox, const char *event)
{
    size_t n = 0;
    for (size_t i = 0; i < inbox->n; i++)
        n += strcmp(jstr(inbox->v[i], "event"), event) == 0;
    return n;
}

/* ---- fixtures -------------------------------------------------------------------------------- */

#define ADMIN(...)                                                                                 \
    do {                                                                                           \
        int rc_ = ct_test_careteamd(&g_d, __VA_ARGS__, NULL);                                      \
        cr_assert_eq(rc_, 0, "careteamd %s exited %d; see %s", #__VA_ARGS__, rc_, g_d.log);        \
    } while (0)

/* Records an active peer-support consent for p as clinician id (through the CLI). */
static void consent_peer_support_(const char *id, const char *p)
{
    ct_test_cli_t c;
    ct_test_cli_as(&c, &g_d, id,
                   CT_TEST_ARGS("consent", "record", "--participant", p, "--scope", "peer-support",
                                "--method", "verbal"));
    ct_test_assert_exit(&c, 0);
    ct_test_cli_free(&c);
}

/* refer --json as id; the new referral's id in id_out. Checks the fields every new referral has. */
static void refer_(const char *id, const char *p, const char *to, char id_out[80])
{
    jv_t *r = json_one_(id, "referral", "referral_id", id_out,
                        to != NULL ? CT_TEST_ARGS("refer", "--json", "--participant", p, "--to", to,
                                                  "--reason", "support")
                                   : CT_TEST_ARGS("refer", "--json", "--participant", p, "--queue",
                                                  "--reason", "support"));
    assert_jstr(r, "status", "requested");
    assert_jstr(r, "referrer_id", id);
    assert_jstr(r, "addressee_id", to != NULL ? to : "");
    assert_jstr(r, "assignee_id", "");
    jv_free(r);
}

/* referral ACTION ID [extra...] --json as id; returns the referral after the move. */
static jv_t *move_(const char *id, const char *action, const char *ref, const char *opt,
                   const char *val)
{
    char unused[80];
    jv_t *r = opt != NULL ? json_one_(id, "referral", NULL, unused,
                                      CT_TEST_ARGS("referral", action, ref, opt, val, "--json"))
                          : json_one_(id, "referral", NULL, unused,
                                      CT_TEST_ARGS("referral", action, ref, "--json"));
    assert_jstr(r, "referral_id", ref);
    return r;
}

/* The same, checking only the status after it. */
static void move_to_(const char *id, const char *action, const char *ref, const char *status)
{
    jv_t *r = move_(id, action, ref, NULL, NULL);
    assert_jstr(r, "status", status);
    jv_free(r);
}

/* The steps test bodies call: each notes its line for the helpers' failure messages. */
#define expect_refused(...) (g_line = __LINE__, expect_refused_(__VA_ARGS__))
#define json_as(...) (g_line = __LINE__, json_as_(__VA_ARGS__))
#define json_one(...) (g_line = __LINE__, json_one_(__VA_ARGS__))
#define find_event(...) (g_line = __LINE__, find_event_(__VA_ARGS__))
#define refer(...) (g_line = __LINE__, refer_(__VA_ARGS__))
#define move_to(...) (g_line = __LINE__, move_to_(__VA_ARGS__))
#define move(...) (g_line = __LINE__, move_(__VA_ARGS__))
#define consent_peer_support(...) (g_line = __LINE__, consent_peer_support_(__VA_ARGS__))

/* ---- consent --------------------------------------------------------------------------------- */

Test(cli_workflow, consent_record_list_withdraw_and_a_referral_needs_it)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_daemon_care_team(&g_d, "p1", "dr.ahmed", "th.lee", NULL);
    ct_test_daemon_care_team(&g_d, "p2", "dr.ahmed", NULL);
    ct_test_cli_t p;

    /* No consent yet: the referral is refused with the server's reason (docs/protocol.md). */
    expect_refused(
        "dr.ahmed", "FAILED_PRECONDITION",
        "participant p1 has no active peer-support consent; record one first "
        "(careteam consent record --participant p1 --scope peer-support ...)",
        CT_TEST_ARGS("refer", "--participant", "p1", "--queue", "--reason", "isolation"));

    /* Human record: the facts of the consent. */
    ct_test_cli_as(&p, &g_d, "dr.ahmed",
                   CT_TEST_ARGS("consent", "record", "--participant", "p1", "--scope",
                                "peer-support", "--method", "written", "--note",
                                "form scanned to the chart"));
    ct_test_assert_exit(&p, 0);
    cr_assert_eq(p.err[0], '\0', "stderr: %s", p.err);
    ct_test_assert_has(p.out, "p1");
    ct_test_assert_has(p.out, "peer-support");
    ct_test_assert_has(p.out, "written");
    ct_test_assert_has(p.out, "active");
    ct_test_assert_has(p.out, "dr.ahmed");
    ct_test_assert_has(p.out, "form scanned to the chart");
    char *human = strdup(p.out);
    ct_test_cli_free(&p);

    /* JSON record, by the therapist. */
    char c1[80], c2[80];
    jv_t *c = json_one("th.lee", "consent", "consent_id", c2,
                       CT_TEST_ARGS("consent", "record", "--json", "--participant", "p1", "--scope",
                                    "information-sharing", "--method", "verbal", "--note",
                                    "said \"yes\" on the phone"));
    assert_jstr(c, "participant_id", "p1");
    assert_jstr(c, "scope", "information-sharing");
    assert_jstr(c, "method", "verbal");
    assert_jstr(c, "note", "said \"yes\" on the phone");
    assert_jstr(c, "recorded_by", "th.lee");
    assert_jbool(c, "active", true);
    assert_jstr(c, "withdrawn_by", "");
    assert_jstr(c, "withdrawn_at", "");
    assert_jint(c, "withdrawn_at_ms", 0);
    assert_jstr(c, "withdraw_reason", "");
    cr_assert_lt(llabs(jint(c, "recorded_at_ms") - wall_ms()), 60000LL);
    jv_free(c);

    /* Listed newest first; the human record named the first consent's id. */
    recs_t l = json_as("dr.ahmed", "consent", 2,
                       CT_TEST_ARGS("consent", "list", "--participant", "p1", "--json"));
    assert_jstr(l.v[0], "consent_id", c2);
    snprintf(c1, sizeof c1, "%s", jstr(l.v[1], "consent_id"));
    assert_jstr(l.v[1], "scope", "peer-support");
    assert_jstr(l.v[1], "method", "written");
    assert_jstr(l.v[1], "note", "form scanned to the chart");
    assert_jstr(l.v[1], "recorded_by", "dr.ahmed");
    assert_jbool(l.v[1], "active", true);
    recs_free(&l);
    ct_test_assert_has(human, c1);
    free(human);

    /* With consent, the referral goes through. */
    char r1[80];
    refer("dr.ahmed", "p1", "pw.sam", r1);

    /* Withdrawn (JSON): inactive, with who, when and why. */
    c = json_one("th.lee", "consent", "consent_id", c1,
                 CT_TEST_ARGS("consent", "withdraw", c1, "--reason", "asked to stop", "--json"));
    assert_jbool(c, "active", false);
    assert_jstr(c, "scope", "peer-support");
    assert_jstr(c, "recorded_by", "dr.ahmed");
    assert_jstr(c, "withdrawn_by", "th.lee");
    assert_jstr(c, "withdraw_reason", "asked to stop");
    cr_assert_geq(jint(c, "withdrawn_at_ms"), jint(c, "recorded_at_ms"));
    jv_free(c);

    /* Human list: both, one active and one withdrawn. */
    ct_test_cli_as(&p, &g_d, "dr.ahmed", CT_TEST_ARGS("consent", "list", "--participant", "p1"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, c1);
    ct_test_assert_has(p.out, c2);
    ct_test_assert_has(p.out, "withdrawn");
    ct_test_assert_has(p.out, "active");
    ct_test_cli_free(&p);

    /* Human withdraw of the other one. */
    ct_test_cli_as(&p, &g_d, "dr.ahmed", CT_TEST_ARGS("consent", "withdraw", c2));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, c2);
    ct_test_assert_has(p.out, "withdrawn");
    ct_test_assert_has(p.out, "dr.ahmed");
    ct_test_cli_free(&p);

    /* Without an active peer-support consent, no new referral. */
    expect_refused(
        "dr.ahmed", "FAILED_PRECONDITION", "participant p1 has no active peer-support consent",
        CT_TEST_ARGS("refer", "--participant", "p1", "--to", "pw.kim", "--reason", "again"));

    /* Refusals: a peer worker, compliance, an unknown consent or participant. */
    expect_refused("pw.sam", "FORBIDDEN", NULL,
                   CT_TEST_ARGS("consent", "record", "--participant", "p1", "--scope",
                                "peer-support", "--method", "verbal"));
    expect_refused("co.jones", "FORBIDDEN", NULL,
                   CT_TEST_ARGS("consent", "list", "--participant", "p1"));
    expect_refused("dr.ahmed", "NOT_FOUND", NULL,
                   CT_TEST_ARGS("consent", "withdraw", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"));
    expect_refused("dr.ahmed", "NOT_FOUND", NULL,
                   CT_TEST_ARGS("consent", "list", "--participant", "p9"));

    /* An empty list in JSON prints nothing; in human text, a line saying so. */
    recs_t none = json_as("dr.ahmed", "consent", 0,
                          CT_TEST_ARGS("consent", "list", "--participant", "p2", "--json"));
    recs_free(&none);
    ct_test_cli_as(&p, &g_d, "dr.ahmed", CT_TEST_ARGS("consent", "list", "--participant", "p2"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "No consents");
    ct_test_cli_free(&p);

    /* Off the team: refused with the documented reason (docs/protocol.md). Last, so that a
     * failure here leaves the steps above checked. */
    expect_refused("th.lee", "FORBIDDEN", "you are not on participant p2's care team",
                   CT_TEST_ARGS("consent", "record", "--participant", "p2", "--scope",
                                "peer-support", "--method", "verbal"));
    ct_test_daemon_finish(&g_d);
}

/* ---- queue referral, summaries, alert, events ------------------------------------------------ */

Test(cli_workflow, queue_referral_first_accept_wins_then_summaries_alert_and_events)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_daemon_care_team(&g_d, "p1", "dr.ahmed", "th.lee", NULL);
    consent_peer_support("dr.ahmed", "p1");
    ct_test_cli_t p;

    /* Referral to the queue, JSON. */
    char r[80], s1[80], s2[80], s3[80], a[80];
    jv_t *v = json_one("dr.ahmed", "referral", "referral_id", r,
                       CT_TEST_ARGS("refer", "--participant", "p1", "--queue", "--reason",
                                    "isolation after discharge", "--goal", "weekly walk", "--goal",
                                    "reconnect with family", "--priority", "urgent", "--json"));
    assert_jstr(v, "participant_id", "p1");
    assert_jstr(v, "referrer_id", "dr.ahmed");
    assert_jstr(v, "addressee_id", "");
    assert_jstr(v, "assignee_id", "");
    assert_jstr(v, "status", "requested");
    assert_jstr(v, "reason", "isolation after discharge");
    assert_jstrs(v, "goals", (const char *const[]){"weekly walk", "reconnect with family"}, 2);
    assert_jstr(v, "priority", "urgent");
    assert_jstr(v, "status_reason", "");
    assert_jstr(v, "held_from", "");
    jv_free(v);

    /* Every peer worker sees it in the queue; human output names it. */
    recs_t l = json_as("pw.kim", "referral", 1, CT_TEST_ARGS("referrals", "--queue", "--json"));
    assert_jstr(l.v[0], "referral_id", r);
    recs_free(&l);
    ct_test_cli_as(&p, &g_d, "pw.sam", CT_TEST_ARGS("referrals", "--queue"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, r);
    ct_test_assert_has(p.out, "requested");
    ct_test_assert_has(p.out, "(queue)");
    ct_test_cli_free(&p);

    /* One peer cannot decline a queue referral; the first accept wins, the second conflicts. */
    expect_refused("pw.sam", "FAILED_PRECONDITION", NULL,
                   CT_TEST_ARGS("referral", "decline", r, "--reason", "caseload full"));
    v = move("pw.sam", "accept", r, NULL, NULL);
    assert_jstr(v, "status", "accepted");
    assert_jstr(v, "assignee_id", "pw.sam");
    assert_jstr(v, "addressee_id", "");
    cr_assert_geq(jint(v, "updated_at_ms"), jint(v, "created_at_ms"));
    jv_free(v);
    char msg[200];
    snprintf(msg, sizeof msg, "referral %s was already accepted by pw.sam", r);
    expect_refused("pw.kim", "CONFLICT", msg, CT_TEST_ARGS("referral", "accept", r));
    l = json_as("pw.kim", "referral", 0, CT_TEST_ARGS("referrals", "--queue", "--json"));
    recs_free(&l);

    /* Wrong status, wrong person. */
    snprintf(msg, sizeof msg, "referral %s is accepted; complete needs it to be in-progress", r);
    expect_refused("pw.sam", "FAILED_PRECONDITION", msg, CT_TEST_ARGS("referral", "complete", r));
    expect_refused("dr.ahmed", "FORBIDDEN", NULL, CT_TEST_ARGS("referral", "start", r));

    /* Start, human. */
    ct_test_cli_as(&p, &g_d, "pw.sam", CT_TEST_ARGS("referral", "start", r));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, r);
    ct_test_assert_has(p.out, "in-progress");
    ct_test_assert_has(p.out, "pw.sam");
    ct_test_cli_free(&p);

    /* Summary 1: --text, every optional field. */
    v = json_one("pw.sam", "summary", "summary_id", s1,
                 CT_TEST_ARGS("summary", "post", "--referral", r, "--date", "2026-01-31",
                              "--duration", "45", "--format", "one-to-one", "--theme", "housing",
                              "--theme", "family", "--progress", "walked twice", "--next-steps",
                              "visit housing", "--reviewed", "--text",
                              "Met at the library.\nGood session.", "--json"));
    assert_jstr(v, "referral_id", r);
    assert_jstr(v, "participant_id", "p1");
    assert_jstr(v, "author_id", "pw.sam");
    assert_jstr(v, "session_date", "2026-01-31");
    assert_jint(v, "duration_minutes", 45);
    assert_jstr(v, "format", "one-to-one");
    assert_jstrs(v, "themes", (const char *const[]){"housing", "family"}, 2);
    assert_jstr(v, "goals_progress", "walked twice");
    assert_jstr(v, "next_steps", "visit housing");
    assert_jbool(v, "participant_reviewed", true);
    assert_jstr(v, "risk", "none");
    assert_jstr(v, "text", "Met at the library.\nGood session.");
    assert_jstr(v, "amends_summary_id", "");
    assert_jstr(v, "alert_id", "");
    jv_free(v);

    /* Summary 2: --file PATH, risk concern: opens an alert. */
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.txt", g_d.dir);
    ct_test_write_file(path, "Spoke of feeling hopeless.\n", 0600);
    v = json_one("pw.sam", "summary", "summary_id", s2,
                 CT_TEST_ARGS("summary", "post", "--referral", r, "--date", "2026-02-01",
                              "--duration", "20", "--format", "phone", "--risk", "concern",
                              "--file", path, "--json"));
    assert_jstr(v, "text", "Spoke of feeling hopeless.\n");
    assert_jstr(v, "risk", "concern");
    assert_jstr(v, "format", "phone");
    assert_jbool(v, "participant_reviewed", false);
    assert_jstrs(v, "themes", NULL, 0);
    snprintf(a, sizeof a, "%s", jstr(v, "alert_id"));
    cr_assert_neq(a[0], '\0', "a concern summary opened no alert");
    jv_free(v);

    /* Summary 3: --file - (stdin), amending the first; human output. */
    ct_test_cli_env_t env;
    ct_test_cli_env_member(&env, &g_d, "pw.sam");
    ct_test_cli_opts_t o = {.env = &env, .stdin_data = "Corrected: met at the café.\n"};
    ct_test_cli_run_with(&p, &o,
                         CT_TEST_ARGS("summary", "post", "--referral", r, "--date", "2026-01-31",
                                      "--duration", "50", "--format", "video", "--amends", s1,
                                      "--file", "-"));
    ct_test_cli_env_free(&env);
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, s1);
    ct_test_assert_has(p.out, "Corrected: met at the café.");
    ct_test_assert_has(p.out, "video");
    ct_test_cli_free(&p);

    /* Not the assignee: refused. */
    expect_refused("pw.kim", "FORBIDDEN", NULL,
                   CT_TEST_ARGS("summary", "post", "--referral", r, "--date", "2026-01-31",
                                "--duration", "5", "--format", "group", "--text", "x"));

    /* Listed newest first, for a clinician on the team. */
    l = json_as("th.lee", "summary", 3, CT_TEST_ARGS("summaries", "--referral", r, "--json"));
    snprintf(s3, sizeof s3, "%s", jstr(l.v[0], "summary_id"));
    assert_ids(&l, "summary_id", (const char *const[]){s3, s2, s1}, 3);
    assert_jstr(l.v[0], "text", "Corrected: met at the café.\n");
    assert_jstr(l.v[0], "amends_summary_id", s1);
    assert_jint(l.v[0], "duration_minutes", 50);
    assert_jstr(l.v[1], "alert_id", a);
    recs_free(&l);
    ct_test_cli_as(&p, &g_d, "th.lee", CT_TEST_ARGS("summaries", "--participant", "p1"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, s1);
    ct_test_assert_has(p.out, s2);
    ct_test_assert_has(p.out, s3);
    ct_test_assert_has(p.out, "2026-02-01");
    ct_test_cli_free(&p);

    /* The alert the summary opened: the referrer sees it, and acknowledges it. */
    l = json_as("dr.ahmed", "alert", 1, CT_TEST_ARGS("alerts", "--json"));
    v = l.v[0];
    assert_jstr(v, "alert_id", a);
    assert_jstr(v, "participant_id", "p1");
    assert_jstr(v, "raised_by", "pw.sam");
    assert_jstr(v, "source", "summary");
    assert_jstr(v, "summary_id", s2);
    assert_jstr(v, "referral_id", r);
    assert_jstr(v, "risk", "concern");
    assert_jstr(v, "status", "open");
    assert_jint(v, "escalations", 0);
    assert_jint(v, "deadline_ms", jint(v, "created_at_ms") + CONCERN_DEADLINE_MS);
    assert_jstr(v, "acknowledged_by", "");
    assert_jstr(v, "acknowledged_at", "");
    assert_jint(v, "acknowledged_at_ms", 0);
    recs_free(&l);
    v = json_one("dr.ahmed", "alert", "alert_id", a,
                 CT_TEST_ARGS("alert", "ack", a, "--note", "called; safe plan", "--json"));
    assert_jstr(v, "status", "acknowledged");
    assert_jstr(v, "acknowledged_by", "dr.ahmed");
    assert_jstr(v, "note", "called; safe plan");
    assert_jstr(v, "deadline", "");
    assert_jint(v, "deadline_ms", 0);
    cr_assert_geq(jint(v, "acknowledged_at_ms"), jint(v, "created_at_ms"));
    jv_free(v);
    expect_refused("th.lee", "CONFLICT", NULL, CT_TEST_ARGS("alert", "ack", a));

    /* Accepting put pw.sam on the team; pw.kim, who did not accept, is not on it. */
    l = json_as("pw.sam", "alert", 1, CT_TEST_ARGS("alerts", "--participant", "p1", "--json"));
    assert_jstr(l.v[0], "status", "acknowledged");
    recs_free(&l);
    expect_refused("pw.kim", "FORBIDDEN", "p1", CT_TEST_ARGS("summaries", "--participant", "p1"));

    /* Complete. */
    move_to("pw.sam", "complete", r, "completed");

    /* Compliance sends no workflow request. */
    expect_refused("co.jones", "FORBIDDEN", NULL, CT_TEST_ARGS("referrals"));
    expect_refused("co.jones", "FORBIDDEN", NULL, CT_TEST_ARGS("summaries", "--participant", "p1"));
    expect_refused("co.jones", "FORBIDDEN", NULL, CT_TEST_ARGS("alerts"));

    /* The referrer's inbox: every move, every summary, the alert opening; for a person, one
     * headline per event (inbox --help). */
    ct_test_cli_as(&p, &g_d, "dr.ahmed", CT_TEST_ARGS("inbox", "--no-ack"));
    ct_test_assert_exit(&p, 0);
    char line[200];
    snprintf(line, sizeof line, "referral %s accepted by pw.sam", r);
    ct_test_assert_has(p.out, line);
    snprintf(line, sizeof line, "summary %s posted for p1 (risk concern) by pw.sam", s2);
    ct_test_assert_has(p.out, line);
    snprintf(line, sizeof line, "ALERT %s opened: concern about p1", a);
    ct_test_assert_has(p.out, line);
    ct_test_assert_has(p.out, "7 messages, left pending");
    ct_test_cli_free(&p);
    recs_t in = json_as("dr.ahmed", "message", 7, CT_TEST_ARGS("inbox", "--json"));
    v = (jv_t *)find_event(&in, "referral.accept", "referral_id", r);
    assert_jstr(v, "status", "accepted");
    assert_jstr(v, "assignee_id", "pw.sam");
    assert_jstr(find_event(&in, "referral.start", "referral_id", r), "status", "in-progress");
    assert_jstr(find_event(&in, "referral.complete", "referral_id", r), "status", "completed");
    assert_jstr(find_event(&in, "summary.post", "summary_id", s1), "text",
                "Met at the library.\nGood session.");
    assert_jstr(find_event(&in, "summary.post", "summary_id", s2), "alert_id", a);
    assert_jstr(find_event(&in, "summary.post", "summary_id", s3), "amends_summary_id", s1);
    v = (jv_t *)find_event(&in, "alert.open", "alert_id", a);
    assert_jstr(v, "status", "open");
    assert_jstr(v, "summary_id", s2);
    for (size_t i = 0; i < in.n; i++)
        assert_jstr(in.v[i], "participant_id", "p1");
    recs_free(&in);

    /* Another clinician on the team: the summaries, not the alert (it went to the referrer). */
    ct_test_cli_as(&p, &g_d, "th.lee", CT_TEST_ARGS("inbox", "--no-ack"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, s1);
    ct_test_assert_has(p.out, "pw.sam");
    ct_test_cli_free(&p);
    in = json_as("th.lee", "message", 3, CT_TEST_ARGS("inbox", "--json"));
    cr_assert_eq(count_events(&in, "summary.post"), 3);
    recs_free(&in);

    /* The peer worker who accepted: the queue referral, their moves, the acknowledgement. */
    in = json_as("pw.sam", "message", 5, CT_TEST_ARGS("inbox", "--json"));
    v = (jv_t *)find_event(&in, "referral.create", "referral_id", r);
    assert_jstr(v, "addressee_id", "");
    assert_jstr(v, "priority", "urgent");
    find_event(&in, "referral.accept", "referral_id", r);
    find_event(&in, "referral.start", "referral_id", r);
    find_event(&in, "referral.complete", "referral_id", r);
    v = (jv_t *)find_event(&in, "alert.acknowledge", "alert_id", a);
    assert_jstr(v, "status", "acknowledged");
    assert_jstr(v, "acknowledged_by", "dr.ahmed");
    assert_jstr(v, "note", "called; safe plan");
    recs_free(&in);

    /* The other peer worker, off the team: the queue referral only. */
    in = json_as("pw.kim", "message", 1, CT_TEST_ARGS("inbox", "--json"));
    find_event(&in, "referral.create", "referral_id", r);
    recs_free(&in);
    ct_test_daemon_finish(&g_d);
}

/* ---- direct referrals: decline, hold, resume, reassign, cancel, filters ---------------------- */

Test(cli_workflow, direct_referrals_decline_hold_resume_reassign_cancel_and_filters)
{
    ct_test_daemon_init(&g_d, NULL);
    cr_assert_eq(ct_test_daemon_enroll(&g_d, "ps.rao", "Priya Rao", "peer_supervisor"), 0);
    ADMIN("supervisor", "set", g_d.data, "--member", "pw.sam", "--supervisor", "ps.rao");
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s/pw.ann", g_d.dir);
    ADMIN("enroll", g_d.data, "--id", "pw.ann", "--name", "Ann Peer", "--role", "peer_worker",
          "--out", prefix, "--supervisor", "ps.rao");
    ct_test_daemon_start(&g_d);
    ct_test_daemon_care_team(&g_d, "p1", "dr.ahmed", NULL);
    ct_test_daemon_care_team(&g_d, "p2", "th.lee", NULL);
    consent_peer_support("dr.ahmed", "p1");
    consent_peer_support("th.lee", "p2");
    ct_test_cli_t p;
    char ra[80], rb[80], rc[80], rd[80], msg[200];

    /* Human refer --to: the facts. */
    ct_test_cli_as(&p, &g_d, "dr.ahmed",
                   CT_TEST_ARGS("refer", "--participant", "p1", "--to", "pw.sam", "--reason",
                                "low mood", "--goal", "weekly walk"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "requested");
    ct_test_assert_has(p.out, "pw.sam");
    ct_test_assert_has(p.out, "p1");
    ct_test_assert_has(p.out, "weekly walk");
    char *human = strdup(p.out);
    ct_test_cli_free(&p);
    recs_t l = json_as("dr.ahmed", "referral", 1, CT_TEST_ARGS("referrals", "--json"));
    snprintf(ra, sizeof ra, "%s", jstr(l.v[0], "referral_id"));
    assert_jstr(l.v[0], "addressee_id", "pw.sam");
    assert_jstr(l.v[0], "priority", "routine");
    recs_free(&l);
    ct_test_assert_has(human, ra);
    free(human);
    refer("dr.ahmed", "p1", "pw.kim", rb);
    refer("th.lee", "p2", "pw.sam", rc);
    refer("dr.ahmed", "p1", NULL, rd);

    /* Only the addressee accepts or declines a direct referral. */
    expect_refused("pw.kim", "FORBIDDEN", NULL, CT_TEST_ARGS("referral", "accept", ra));
    jv_t *v = move("pw.kim", "decline", rb, "--reason", "caseload full");
    assert_jstr(v, "status", "rejected");
    assert_jstr(v, "status_reason", "caseload full");
    assert_jstr(v, "assignee_id", "");
    jv_free(v);
    snprintf(msg, sizeof msg, "referral %s is rejected; accept needs it to be requested", rb);
    expect_refused("pw.kim", "FAILED_PRECONDITION", msg, CT_TEST_ARGS("referral", "accept", rb));

    /* Accept, start, hold (human), resume. */
    move_to("pw.sam", "accept", ra, "accepted");
    move_to("pw.sam", "start", ra, "in-progress");
    ct_test_cli_as(&p, &g_d, "pw.sam",
                   CT_TEST_ARGS("referral", "hold", ra, "--reason", "in hospital"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, ra);
    ct_test_assert_has(p.out, "on-hold (resumes as in-progress)");
    ct_test_assert_has(p.out, "in hospital");
    ct_test_cli_free(&p);
    l = json_as("pw.sam", "referral", 1,
                CT_TEST_ARGS("referrals", "--assigned", "--status", "on-hold", "--json"));
    assert_jstr(l.v[0], "referral_id", ra);
    assert_jstr(l.v[0], "held_from", "in-progress");
    assert_jstr(l.v[0], "status_reason", "in hospital");
    recs_free(&l);
    snprintf(msg, sizeof msg, "referral %s is on-hold; start needs it to be", ra);
    expect_refused("pw.sam", "FAILED_PRECONDITION", msg, CT_TEST_ARGS("referral", "start", ra));
    v = move("pw.sam", "resume", ra, NULL, NULL);
    assert_jstr(v, "status", "in-progress");
    assert_jstr(v, "held_from", "");
    jv_free(v);

    /* Held from accepted resumes as accepted. */
    move_to("pw.sam", "accept", rc, "accepted");
    v = move("pw.sam", "hold", rc, NULL, NULL);
    assert_jstr(v, "status", "on-hold");
    assert_jstr(v, "held_from", "accepted");
    jv_free(v);
    move_to("pw.sam", "resume", rc, "accepted");

    /* Filters. */
    l = json_as("pw.sam", "referral", 2, CT_TEST_ARGS("referrals", "--assigned", "--json"));
    cr_assert(find_rec(&l, "referral_id", ra) >= 0 && find_rec(&l, "referral_id", rc) >= 0);
    recs_free(&l);
    l = json_as("pw.sam", "referral", 1,
                CT_TEST_ARGS("referrals", "--assigned", "--participant", "p2", "--json"));
    assert_jstr(l.v[0], "referral_id", rc);
    recs_free(&l);
    l = json_as("dr.ahmed", "referral", 3, CT_TEST_ARGS("referrals", "--created", "--json"));
    assert_ids(&l, "referral_id", (const char *const[]){rd, rb, ra}, 3);
    recs_free(&l);
    l = json_as("dr.ahmed", "referral", 1,
                CT_TEST_ARGS("referrals", "--created", "--status", "rejected", "--json"));
    assert_jstr(l.v[0], "referral_id", rb);
    recs_free(&l);
    l = json_as("th.lee", "referral", 1, CT_TEST_ARGS("referrals", "--created", "--json"));
    assert_jstr(l.v[0], "referral_id", rc);
    recs_free(&l);
    l = json_as("pw.kim", "referral", 1, CT_TEST_ARGS("referrals", "--queue", "--json"));
    assert_jstr(l.v[0], "referral_id", rd);
    recs_free(&l);
    l = json_as("dr.ahmed", "referral", 1,
                CT_TEST_ARGS("referrals", "--status", "in-progress", "--json"));
    assert_jstr(l.v[0], "referral_id", ra);
    recs_free(&l);
    l = json_as("dr.ahmed", "referral", 1,
                CT_TEST_ARGS("referrals", "--participant", "p1", "--limit", "1", "--json"));
    assert_jstr(l.v[0], "referral_id", rd);
    recs_free(&l);
    l = json_as("dr.ahmed", "referral", 0,
                CT_TEST_ARGS("referrals", "--status", "completed", "--json"));
    recs_free(&l);
    ct_test_cli_as(&p, &g_d, "dr.ahmed", CT_TEST_ARGS("referrals", "--status", "completed"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "No referrals.");
    ct_test_cli_free(&p);

    /* The supervisor sees their peer worker's referrals and reassigns between their peers. */
    l = json_as("ps.rao", "referral", 2, CT_TEST_ARGS("referrals", "--json"));
    cr_assert(find_rec(&l, "referral_id", ra) >= 0 && find_rec(&l, "referral_id", rc) >= 0);
    recs_free(&l);
    char s1[80], unused[80];
    jv_t *sv = json_one("pw.sam", "summary", "summary_id", s1,
                        CT_TEST_ARGS("summary", "post", "--referral", ra, "--date", "2026-03-02",
                                     "--duration", "30", "--format", "outreach", "--text",
                                     "Home visit.", "--json"));
    jv_free(sv);
    l = json_as("ps.rao", "summary", 1, CT_TEST_ARGS("summaries", "--referral", ra, "--json"));
    assert_jstr(l.v[0], "summary_id", s1);
    assert_jstr(l.v[0], "format", "outreach");
    recs_free(&l);
    expect_refused("pw.kim", "FORBIDDEN", NULL,
                   CT_TEST_ARGS("referral", "reassign", ra, "--to", "pw.ann"));
    ct_test_cli_as(&p, &g_d, "ps.rao", CT_TEST_ARGS("referral", "reassign", rc, "--to", "pw.kim"));
    cr_assert_eq(p.status, 1, "reassign to a peer ps.rao does not supervise: exit %d\n%s%s",
                 p.status, p.out, p.err);
    ct_test_assert_has(p.err, "careteam: ");
    ct_test_cli_free(&p);
    v = json_one(
        "ps.rao", "referral", NULL, unused,
        CT_TEST_ARGS("referral", "reassign", ra, "--to", "pw.ann", "--reason", "leave", "--json"));
    assert_jstr(v, "referral_id", ra);
    assert_jstr(v, "assignee_id", "pw.ann");
    assert_jstr(v, "status", "in-progress");
    assert_jstr(v, "status_reason", "leave");
    assert_jstr(v, "referrer_id", "dr.ahmed");
    jv_free(v);
    expect_refused("pw.sam", "FORBIDDEN", NULL, CT_TEST_ARGS("referral", "hold", ra));
    l = json_as("pw.ann", "summary", 1, CT_TEST_ARGS("summaries", "--participant", "p1", "--json"));
    recs_free(&l);
    move_to("pw.ann", "complete", ra, "completed");
    l = json_as("pw.ann", "referral", 1, CT_TEST_ARGS("referrals", "--assigned", "--json"));
    assert_jstr(l.v[0], "referral_id", ra);
    recs_free(&l);

    /* Only the referrer cancels, with a reason, and not once finished. */
    expect_refused("pw.sam", "FORBIDDEN", NULL,
                   CT_TEST_ARGS("referral", "cancel", rc, "--reason", "not mine"));
    v = move("dr.ahmed", "cancel", rd, "--reason", "no longer needed");
    assert_jstr(v, "status", "cancelled");
    assert_jstr(v, "status_reason", "no longer needed");
    jv_free(v);
    ct_test_cli_as(&p, &g_d, "th.lee",
                   CT_TEST_ARGS("referral", "cancel", rc, "--reason", "moved away"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, rc);
    ct_test_assert_has(p.out, "cancelled");
    ct_test_assert_has(p.out, "moved away");
    ct_test_cli_free(&p);
    snprintf(msg, sizeof msg, "referral %s is completed; cancel needs it to be", ra);
    expect_refused("dr.ahmed", "FAILED_PRECONDITION", msg,
                   CT_TEST_ARGS("referral", "cancel", ra, "--reason", "too late"));
    expect_refused("dr.ahmed", "NOT_FOUND", NULL,
                   CT_TEST_ARGS("referral", "cancel", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
                                "--reason", "x"));

    /* The events: the new assignee hears of the reassignment (and, as a peer worker, of the queue
     * referral); the referrer of every move. */
    ct_test_cli_as(&p, &g_d, "pw.ann", CT_TEST_ARGS("inbox", "--no-ack"));
    ct_test_assert_exit(&p, 0);
    snprintf(msg, sizeof msg, "referral %s reassigned to pw.ann by ps.rao", ra);
    ct_test_assert_has(p.out, msg);
    ct_test_cli_free(&p);
    recs_t in = json_as("pw.ann", "message", 3, CT_TEST_ARGS("inbox", "--json"));
    find_event(&in, "referral.create", "referral_id", rd);
    v = (jv_t *)find_event(&in, "referral.reassign", "referral_id", ra);
    assert_jstr(v, "assignee_id", "pw.ann");
    assert_jstr(v, "status", "in-progress");
    find_event(&in, "referral.complete", "referral_id", ra);
    recs_free(&in);
    in = json_as("dr.ahmed", "message", 9, CT_TEST_ARGS("inbox", "--json"));
    assert_jstr(find_event(&in, "summary.post", "summary_id", s1), "text", "Home visit.");
    assert_jstr(find_event(&in, "referral.reject", "referral_id", rb), "status_reason",
                "caseload full");
    find_event(&in, "referral.accept", "referral_id", ra);
    find_event(&in, "referral.start", "referral_id", ra);
    assert_jstr(find_event(&in, "referral.hold", "referral_id", ra), "held_from", "in-progress");
    assert_jstr(find_event(&in, "referral.resume", "referral_id", ra), "held_from", "");
    assert_jstr(find_event(&in, "referral.reassign", "referral_id", ra), "assignee_id", "pw.ann");
    find_event(&in, "referral.complete", "referral_id", ra);
    find_event(&in, "referral.cancel", "referral_id", rd);
    recs_free(&in);
    ct_test_daemon_finish(&g_d);
}

/* ---- concerns, alerts, lockbox --------------------------------------------------------------- */

Test(cli_workflow, concern_alerts_ack_and_lockbox)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_daemon_care_team(&g_d, "p1", "dr.ahmed", "th.lee", "pw.sam", NULL);
    ct_test_cli_t p;
    char a1[80], a2[80];

    /* An urgent concern from a peer worker on the team: 15 min deadline. */
    jv_t *v = json_one("pw.sam", "alert", "alert_id", a1,
                       CT_TEST_ARGS("concern", "--participant", "p1", "--urgent", "--text",
                                    "Talked of ending it tonight.", "--json"));
    assert_jstr(v, "participant_id", "p1");
    assert_jstr(v, "raised_by", "pw.sam");
    assert_jstr(v, "source", "concern");
    assert_jstr(v, "summary_id", "");
    assert_jstr(v, "referral_id", "");
    assert_jstr(v, "risk", "urgent");
    assert_jstr(v, "text", "Talked of ending it tonight.");
    assert_jstr(v, "status", "open");
    assert_jint(v, "escalations", 0);
    assert_jint(v, "deadline_ms", jint(v, "created_at_ms") + URGENT_DEADLINE_MS);
    assert_jstr(v, "acknowledged_by", "");
    assert_jstr(v, "acknowledged_at", "");
    assert_jstr(v, "note", "");
    jv_free(v);

    /* A plain concern from a clinician, human: 24 h deadline. */
    ct_test_cli_as(&p, &g_d, "th.lee",
                   CT_TEST_ARGS("concern", "--participant", "p1", "--text", "Missed two visits."));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "p1");
    ct_test_assert_has(p.out, "concern");
    ct_test_assert_has(p.out, "open");
    ct_test_assert_has(p.out, "th.lee");
    ct_test_assert_has(p.out, "Missed two visits.");
    char *human = strdup(p.out);
    ct_test_cli_free(&p);

    recs_t l = json_as("dr.ahmed", "alert", 2, CT_TEST_ARGS("alerts", "--open", "--json"));
    snprintf(a2, sizeof a2, "%s", jstr(l.v[0], "alert_id"));
    assert_ids(&l, "alert_id", (const char *const[]){a2, a1}, 2);
    assert_jstr(l.v[0], "risk", "concern");
    assert_jstr(l.v[0], "raised_by", "th.lee");
    assert_jint(l.v[0], "deadline_ms", jint(l.v[0], "created_at_ms") + CONCERN_DEADLINE_MS);
    recs_free(&l);
    ct_test_assert_has(human, a2);
    free(human);

    /* Compliance raises and reads none; a peer worker does not acknowledge. */
    expect_refused("co.jones", "FORBIDDEN", NULL,
                   CT_TEST_ARGS("concern", "--participant", "p1", "--text", "x"));
    expect_refused("co.jones", "FORBIDDEN", NULL, CT_TEST_ARGS("alerts", "--participant", "p1"));
    expect_refused("pw.sam", "FORBIDDEN", NULL, CT_TEST_ARGS("alert", "ack", a1));
    expect_refused("dr.ahmed", "NOT_FOUND", NULL,
                   CT_TEST_ARGS("alert", "ack", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"));

    /* Acknowledged (human), once. */
    ct_test_cli_as(&p, &g_d, "th.lee",
                   CT_TEST_ARGS("alert", "ack", a1, "--note", "called; safe plan"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, a1);
    ct_test_assert_has(p.out, "acknowledged");
    ct_test_assert_has(p.out, "th.lee");
    ct_test_assert_has(p.out, "called; safe plan");
    ct_test_cli_free(&p);
    expect_refused("dr.ahmed", "CONFLICT", NULL,
                   CT_TEST_ARGS("alert", "ack", a1, "--note", "me too"));

    l = json_as("dr.ahmed", "alert", 1, CT_TEST_ARGS("alerts", "--open", "--json"));
    assert_jstr(l.v[0], "alert_id", a2);
    recs_free(&l);
    l = json_as("pw.sam", "alert", 2, CT_TEST_ARGS("alerts", "--participant", "p1", "--json"));
    v = l.v[find_rec(&l, "alert_id", a1)];
    assert_jstr(v, "status", "acknowledged");
    assert_jstr(v, "acknowledged_by", "th.lee");
    assert_jstr(v, "deadline", "");
    recs_free(&l);
    l = json_as("dr.ahmed", "alert", 1, CT_TEST_ARGS("alerts", "--limit", "1", "--json"));
    assert_jstr(l.v[0], "alert_id", a2);
    recs_free(&l);

    /* With no referral, the alerts went to every clinician on the team; the raiser hears of the
     * acknowledgement. */
    recs_t in = json_as("dr.ahmed", "message", 2, CT_TEST_ARGS("inbox", "--json"));
    assert_jstr(find_event(&in, "alert.open", "alert_id", a1), "risk", "urgent");
    find_event(&in, "alert.open", "alert_id", a2);
    recs_free(&in);
    in = json_as("pw.sam", "message", 1, CT_TEST_ARGS("inbox", "--json"));
    v = (jv_t *)find_event(&in, "alert.acknowledge", "alert_id", a1);
    assert_jstr(v, "status", "acknowledged");
    assert_jstr(v, "acknowledged_by", "th.lee");
    assert_jstr(v, "note", "called; safe plan");
    recs_free(&in);

    /* Lockbox (human add): the restricted member is refused and withheld from. */
    ct_test_cli_as(&p, &g_d, "dr.ahmed",
                   CT_TEST_ARGS("lockbox", "add", "--participant", "p1", "--member", "pw.sam",
                                "--reason", "participant's wish"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "pw.sam is now restricted from participant p1");
    ct_test_cli_free(&p);
    expect_refused("pw.sam", "FORBIDDEN", NULL, CT_TEST_ARGS("alerts", "--participant", "p1"));
    expect_refused("pw.sam", "FORBIDDEN", NULL,
                   CT_TEST_ARGS("concern", "--participant", "p1", "--text", "x"));
    ct_test_cli_as(&p, &g_d, "dr.ahmed",
                   CT_TEST_ARGS("send", "--json", "--to", "pw.sam,th.lee", "--participant", "p1",
                                "--body", "about p1"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "\"withheld\":[{\"member_id\":\"pw.sam\",\"reason\":\"");
    ct_test_cli_free(&p);
    in = json_as("pw.sam", "message", 0, CT_TEST_ARGS("inbox", "--json"));
    recs_free(&in);
    expect_refused("pw.sam", "FORBIDDEN", NULL,
                   CT_TEST_ARGS("lockbox", "add", "--participant", "p1", "--member", "th.lee"));
    expect_refused("co.jones", "FORBIDDEN", NULL,
                   CT_TEST_ARGS("lockbox", "remove", "--participant", "p1", "--member", "pw.sam"));

    /* A restricted peer worker cannot take a queue referral; once lifted, can. */
    consent_peer_support("dr.ahmed", "p1");
    char r[80], unused[80];
    refer("dr.ahmed", "p1", NULL, r);
    expect_refused("pw.sam", "FORBIDDEN", NULL, CT_TEST_ARGS("referral", "accept", r));
    v = json_one(
        "th.lee", "lockbox", NULL, unused,
        CT_TEST_ARGS("lockbox", "remove", "--participant", "p1", "--member", "pw.sam", "--json"));
    assert_jstr(v, "participant_id", "p1");
    assert_jstr(v, "member_id", "pw.sam");
    assert_jbool(v, "restricted", false);
    jv_free(v);
    move_to("pw.sam", "accept", r, "accepted");

    /* JSON add, human remove. */
    v = json_one(
        "dr.ahmed", "lockbox", NULL, unused,
        CT_TEST_ARGS("lockbox", "add", "--participant", "p1", "--member", "pw.kim", "--json"));
    assert_jstr(v, "member_id", "pw.kim");
    assert_jbool(v, "restricted", true);
    jv_free(v);
    ct_test_cli_as(&p, &g_d, "dr.ahmed",
                   CT_TEST_ARGS("lockbox", "remove", "--participant", "p1", "--member", "pw.kim"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "pw.kim is no longer restricted from participant p1");
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

/* ---- escalation ------------------------------------------------------------------------------ */

/* An urgent concern nobody acknowledges escalates at its (shortened) deadline: `alerts` shows it
 * escalated with a new deadline, the clinicians get "alert.escalate", and it can still be
 * acknowledged. */
Test(cli_workflow, unacknowledged_urgent_concern_escalates)
{
    ct_test_daemon_launch(&g_d, "alert_urgent_deadline_ms = 1000");
    ct_test_daemon_care_team(&g_d, "p1", "dr.ahmed", "th.lee", "pw.sam", NULL);
    char a[80];
    jv_t *v = json_one(
        "pw.sam", "alert", "alert_id", a,
        CT_TEST_ARGS("concern", "--participant", "p1", "--urgent", "--text", "At risk.", "--json"));
    long long created = jint(v, "created_at_ms");
    assert_jint(v, "deadline_ms", created + 1000);
    jv_free(v);

    /* Poll `alerts` until the escalation shows (bounded). */
    int64_t until = ct_test_now_ms() + 10000;
    for (;;) {
        recs_t l = json_as("th.lee", "alert", 1, CT_TEST_ARGS("alerts", "--json"));
        bool escalated = strcmp(jstr(l.v[0], "status"), "escalated") == 0;
        if (escalated) {
            cr_assert_geq(jint(l.v[0], "escalations"), 1);
            cr_assert_neq(jint(l.v[0], "deadline_ms"), 0, "no new deadline after 1 escalation");
            recs_free(&l);
            break;
        }
        assert_jstr(l.v[0], "status", "open");
        recs_free(&l);
        cr_assert_lt(ct_test_now_ms(), until, "the alert did not escalate within 10 s");
        ct_test_sleep_ms(200);
    }
    recs_t in = json_as("th.lee", "message", 2, CT_TEST_ARGS("inbox", "--json"));
    find_event(&in, "alert.open", "alert_id", a);
    v = (jv_t *)find_event(&in, "alert.escalate", "alert_id", a);
    assert_jstr(v, "status", "escalated");
    assert_jint(v, "escalations", 1);
    assert_jstr(v, "risk", "urgent");
    recs_free(&in);

    v = json_one("dr.ahmed", "alert", "alert_id", a, CT_TEST_ARGS("alert", "ack", a, "--json"));
    assert_jstr(v, "status", "acknowledged");
    assert_jstr(v, "deadline", "");
    cr_assert_geq(jint(v, "escalations"), 1);
    jv_free(v);
    ct_test_daemon_finish(&g_d);
}

/* ---- the commands around the workflow: whoami, send, inbox, watch, audit, profile ---------- */

Test(cli_workflow, json_of_whoami_send_inbox_watch_audit_and_profile)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_daemon_care_team(&g_d, "p1", "dr.ahmed", "th.lee", NULL);
    ct_test_cli_t p;

    recs_t r = json_as("dr.ahmed", "whoami", 1, CT_TEST_ARGS("whoami", "--json"));
    assert_jstr(r.v[0], "member_id", "dr.ahmed");
    assert_jstr(r.v[0], "role", "psychiatrist");
    assert_jstr(r.v[0], "server", g_d.addr);
    recs_free(&r);

    r = json_as("dr.ahmed", "sent", 1,
                CT_TEST_ARGS("send", "--json", "--to", "th.lee", "--participant", "p1", "--subject",
                             "Handover", "--priority", "urgent", "--client-msg-id", "wf-1",
                             "--body", "first"));
    assert_jstr(r.v[0], "client_msg_id", "wf-1");
    cr_assert_eq(jbool(r.v[0], "duplicate"), false);
    recs_free(&r);
    r = json_as("dr.ahmed", "sent", 1,
                CT_TEST_ARGS("send", "--json", "--to", "th.lee", "--client-msg-id", "wf-1",
                             "--participant", "p1", "--subject", "Handover", "--priority", "urgent",
                             "--body", "first"));
    cr_assert_eq(jbool(r.v[0], "duplicate"), true);
    recs_free(&r);
    ct_test_cli_as(&p, &g_d, "th.lee",
                   CT_TEST_ARGS("send", "--to", "dr.ahmed", "--body", "second"));
    ct_test_assert_exit(&p, 0);
    ct_test_cli_free(&p);

    /* inbox --no-ack leaves the message for watch, which prints it again and stops at --count. */
    r = json_as("th.lee", "message", 1, CT_TEST_ARGS("inbox", "--json", "--no-ack"));
    assert_jstr(r.v[0], "kind", "text");
    assert_jstr(r.v[0], "body", "first");
    assert_jstr(r.v[0], "priority", "urgent");
    recs_free(&r);
    r = json_as("th.lee", "message", 1, CT_TEST_ARGS("watch", "--json", "--count", "1"));
    assert_jstr(r.v[0], "subject", "Handover");
    recs_free(&r);
    r = json_as("dr.ahmed", "message", 1, CT_TEST_ARGS("inbox", "--json"));
    assert_jstr(r.v[0], "sender_id", "th.lee");
    recs_free(&r);

    /* audit query as compliance: --json and --format jsonl are the same records (--max notes
     * on stderr that it stopped). */
    const char *const *queries[] = {
        CT_TEST_ARGS("audit", "query", "--json", "--max", "3"),
        CT_TEST_ARGS("audit", "query", "--format", "jsonl", "--action", "message.", "--max", "2")};
    for (size_t i = 0; i < 2; i++) {
        g_line = __LINE__;
        ct_test_cli_as(&p, &g_d, "co.jones", queries[i]);
        ct_test_assert_exit(&p, 0);
        r = parse_records(p.out, "audit_record");
        cr_assert_eq(r.n, (size_t)(3 - i), "%zu audit records:\n%s", r.n, p.out);
        recs_free(&r);
        ct_test_cli_free(&p);
    }

    /* profile add --json, then list and show (HOME is the test's directory). */
    char crt[4096], key[4096], ca[4096];
    ct_test_daemon_cert_path(&g_d, "th.lee", crt, sizeof crt);
    ct_test_daemon_key_path(&g_d, "th.lee", key, sizeof key);
    ct_test_daemon_ca_path(&g_d, ca, sizeof ca);
    r = json_as("th.lee", "profile", 1,
                CT_TEST_ARGS("profile", "add", "lee", "--server", g_d.addr, "--cert", crt, "--key",
                             key, "--ca", ca, "--json"));
    assert_jstr(r.v[0], "name", "lee");
    assert_jstr(r.v[0], "member_id", "th.lee");
    assert_jstr(r.v[0], "problem", "");
    cr_assert_eq(jbool(r.v[0], "default"), true);
    recs_free(&r);
    r = json_as("th.lee", "profile", 1, CT_TEST_ARGS("profile", "list", "--json"));
    recs_free(&r);
    r = json_as("th.lee", "profile", 1, CT_TEST_ARGS("profile", "show", "lee", "--json"));
    recs_free(&r);
    ct_test_daemon_finish(&g_d);
}
