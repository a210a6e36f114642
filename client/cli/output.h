/*
 * What the careteam CLI prints: human text or JSON Lines on stdout, errors on stderr.
 *
 * The JSON schema is documented at the top of output.c; keep it in step with the code there.
 * Every printer writes one complete record (one JSON line, or one human block) so that a reader
 * of a stream (`careteam watch --json | ...`) never sees half a record after a flush.
 */
#ifndef CT_CLI_OUTPUT_H
#define CT_CLI_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "careteam.pb-c.h"
#include "names.h"

typedef enum ct_out_format {
    CT_OUT_HUMAN = 0,
    CT_OUT_JSON,
} ct_out_format_t;

typedef struct ct_out {
    FILE *f; /* stdout, or a test's stream; not owned */
    ct_out_format_t format;
    bool full;    /* human lists print each element whole, not a table (summaries --full) */
    bool color;   /* human text may use colour (ct_out_init decides; never in JSON) */
    size_t width; /* the terminal's width in columns, tables are fitted to it; 0: no limit */
} ct_out_t;

/*
 * Sets up o to print on f in format: colour only when f is a terminal, NO_COLOR is unset or
 * empty and TERM is not "dumb" (https://no-color.org); tables fitted to the terminal's width
 * only when f is a terminal. Piped output is plain text with nothing cut.
 */
void ct_out_init(ct_out_t *o, FILE *f, ct_out_format_t format);

/* Whether colour may be written on the terminal fd (the rules of ct_out_init). */
bool ct_out_color_allowed(int fd);

/* Decides once, for ct_cli_errorf, whether stderr gets colour (ct_out_color_allowed(2)). */
void ct_cli_errors_init(void);

/* whoami: who the server says we are, and where. */
void ct_out_whoami(ct_out_t *o, const Careteam__V1__Welcome *w, const char *server);

/* send: the server's Ack for a message to the n_to recipients in to. */
void ct_out_sent(ct_out_t *o, const Careteam__V1__Ack *ack, const char *const *to, size_t n_to);

/* inbox, watch: one delivered message. */
void ct_out_message(ct_out_t *o, const Careteam__V1__Message *m);

/* inbox: the closing line after n messages (human only; JSON prints nothing). */
void ct_out_inbox_end(ct_out_t *o, size_t n, bool acked);

/* ---- care-team workflow ---- */

/*
 * Prints the workflow object or list that resp, a server's answer, carries: a consent, referral,
 * summary or alert, or a list of one of these. An object is one record; a list one record per
 * element, and when it is empty one human line saying so and nothing in JSON. Human lists are
 * tables, or with o->full each element whole. Any other answer prints nothing.
 */
void ct_out_answer(ct_out_t *o, const Careteam__V1__Envelope *resp);

/* ---- profiles (careteam profile) ---- */

/* One profile as `profile list` and `profile show` print it. Strings are borrowed; "" when not
 * known. */
typedef struct ct_out_profile {
    const char *name;
    const char *path; /* the profile's file */
    bool is_default;
    const char *server, *cert, *key, *ca;
    const char *crl;         /* the revocation list; "" when the profile has none */
    const char *member_id;   /* the certificate's subject CN */
    int64_t cert_expires_ms; /* the certificate's notAfter; 0 when it could not be read */
    const char *problem;     /* why the profile cannot be used as it is; "" when it can */
} ct_out_profile_t;

/* profile show: one profile, a JSON record or a human block. */
void ct_out_profile(ct_out_t *o, const ct_out_profile_t *p);

/* profile list: profiles p[0..n), a JSON record each or a table (a line saying there are none). */
void ct_out_profiles(ct_out_t *o, const ct_out_profile_t *p, size_t n);

/* lockbox add/remove: the server's Ok for restricting member (restricted) or lifting it. */
void ct_out_lockbox(ct_out_t *o, const char *participant, const char *member, bool restricted);

/* The writers of output.c for the audit export (audit_formats.c): s as a JSON string (quoted and
 * escaped as the JSON schema above says), and s as text for a terminal (control characters
 * shown escaped, invalid UTF-8 as U+FFFD, newlines kept). */
void ct_out_json_string(FILE *f, const char *s);
void ct_out_text(FILE *f, const char *s);

/* Flushes o. Returns 0, or the errno of a failed write (then nothing may be acknowledged, since
 * the reader did not get it). */
int ct_out_flush(ct_out_t *o);

/* "careteam: " + the formatted text + newline, on stderr; control characters in the text (which
 * may come from the server) are shown escaped rather than sent to the terminal. */
void ct_cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Unix milliseconds as UTC ISO 8601 with milliseconds: "2026-01-31T09:05:00.123Z". */
#define CT_CLI_TIME_LEN 32
void ct_cli_format_time(int64_t ms, char out[CT_CLI_TIME_LEN]);

#endif
