/*
 * The names the careteam CLI gives the protocol's enum values, on the command line and in its
 * output (human and --json alike), in one place (names.c).
 *
 * A name is lower case and stable: scripts read them in --json output and pass them back as
 * option values. Referral statuses are the FHIR Task.status codes ("in-progress", "on-hold"),
 * priorities the FHIR request priorities; the other names follow the same style ("one-to-one",
 * "peer-support").
 */
#ifndef CT_CLI_NAMES_H
#define CT_CLI_NAMES_H

#include <stddef.h>

/* The names of one enum, indexed by wire value. */
typedef struct ct_cli_names {
    const char *const *names; /* names[v] is the name of value v; NULL where v has none */
    size_t n;                 /* entries in names */
    const char *unspecified;  /* what value 0 reads as (e.g. "routine"), or NULL: "unknown" */
} ct_cli_names_t;

extern const ct_cli_names_t ct_cli_priority_names;        /* routine urgent asap stat */
extern const ct_cli_names_t ct_cli_scope_names;           /* peer-support information-sharing */
extern const ct_cli_names_t ct_cli_method_names;          /* verbal written */
extern const ct_cli_names_t ct_cli_referral_status_names; /* requested ... cancelled (FHIR) */
extern const ct_cli_names_t ct_cli_format_names;          /* one-to-one group phone video ... */
extern const ct_cli_names_t ct_cli_risk_names;            /* none concern urgent */
extern const ct_cli_names_t ct_cli_alert_status_names;    /* open escalated acknowledged */
extern const ct_cli_names_t ct_cli_alert_source_names;    /* summary concern */
extern const ct_cli_names_t ct_cli_message_kind_names;    /* text referral summary alert */
extern const ct_cli_names_t ct_cli_outcome_names;         /* success minor serious major */

/* The name of an audit outcome code (0 success, 4 minor, 8 serious, 12 major); "unknown" for
 * any other value. */
const char *ct_cli_outcome_name(unsigned code);

/* The name of value v in t: t->unspecified for 0 when set, "unknown" for a value without one
 * (a newer server may send values this version does not know). Never NULL. */
const char *ct_cli_name(const ct_cli_names_t *t, int v);

/* Parses a name of t (value 0 has none to parse). Returns 0 with *out, or -1. */
int ct_cli_name_parse(const ct_cli_names_t *t, const char *name, int *out);

/* Writes "a, b, c" (every name of t, in value order) into buf. Returns buf. */
const char *ct_cli_names_join(const ct_cli_names_t *t, char *buf, size_t len);

/* "routine", "urgent", "asap", "stat" (UNSPECIFIED is "routine"; unknown values "unknown"). */
const char *ct_cli_priority_name(int priority);

/* Parses a name above into a Careteam__V1__Priority value. Returns 0 or -1. */
int ct_cli_priority_parse(const char *name, int *out);

/* "unknown" for a role without a name, else ct_role_name. */
const char *ct_cli_role_name(int role);

/* The past-tense verb of a workflow event ("referral.accept" -> "accepted", "alert.open" ->
 * "opened"), for human output. NULL for an event this version does not know. */
const char *ct_cli_event_verb(const char *event);

#endif
