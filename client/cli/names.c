/*
 * The names of the protocol's enum values on the CLI (see names.h).
 *
 * Each table is indexed by the generated protobuf-c constant, so a renumbering in the proto file
 * cannot silently pair a value with the wrong name. Value 0 (UNSPECIFIED) is never a name that
 * can be typed; where the protocol gives it a reading (priority routine, risk none, message kind
 * text) the table says so and it is printed that way.
 */
#include "names.h"

#include <stdio.h>
#include <string.h>

#include "careteam.pb-c.h"
#include "role.h"

#define NAMES(arr, unspec)                                                                         \
    {                                                                                              \
        arr, sizeof arr / sizeof arr[0], unspec                                                    \
    }

static const char *const PRIORITIES[] = {
    [CARETEAM__V1__PRIORITY__PRIORITY_ROUTINE] = "routine",
    [CARETEAM__V1__PRIORITY__PRIORITY_URGENT] = "urgent",
    [CARETEAM__V1__PRIORITY__PRIORITY_ASAP] = "asap",
    [CARETEAM__V1__PRIORITY__PRIORITY_STAT] = "stat",
};
/* The protocol stores and delivers UNSPECIFIED as ROUTINE. */
const ct_cli_names_t ct_cli_priority_names = NAMES(PRIORITIES, "routine");

static const char *const SCOPES[] = {
    [CARETEAM__V1__CONSENT_SCOPE__CONSENT_SCOPE_PEER_SUPPORT] = "peer-support",
    [CARETEAM__V1__CONSENT_SCOPE__CONSENT_SCOPE_INFORMATION_SHARING] = "information-sharing",
};
const ct_cli_names_t ct_cli_scope_names = NAMES(SCOPES, NULL);

static const char *const METHODS[] = {
    [CARETEAM__V1__CONSENT_METHOD__CONSENT_METHOD_VERBAL] = "verbal",
    [CARETEAM__V1__CONSENT_METHOD__CONSENT_METHOD_WRITTEN] = "written",
};
const ct_cli_names_t ct_cli_method_names = NAMES(METHODS, NULL);

/* FHIR Task.status codes (https://hl7.org/fhir/valueset-task-status.html). */
static const char *const REFERRAL_STATUSES[] = {
    [CARETEAM__V1__REFERRAL_STATUS__REFERRAL_STATUS_REQUESTED] = "requested",
    [CARETEAM__V1__REFERRAL_STATUS__REFERRAL_STATUS_ACCEPTED] = "accepted",
    [CARETEAM__V1__REFERRAL_STATUS__REFERRAL_STATUS_REJECTED] = "rejected",
    [CARETEAM__V1__REFERRAL_STATUS__REFERRAL_STATUS_IN_PROGRESS] = "in-progress",
    [CARETEAM__V1__REFERRAL_STATUS__REFERRAL_STATUS_ON_HOLD] = "on-hold",
    [CARETEAM__V1__REFERRAL_STATUS__REFERRAL_STATUS_COMPLETED] = "completed",
    [CARETEAM__V1__REFERRAL_STATUS__REFERRAL_STATUS_CANCELLED] = "cancelled",
};
const ct_cli_names_t ct_cli_referral_status_names = NAMES(REFERRAL_STATUSES, NULL);

static const char *const FORMATS[] = {
    [CARETEAM__V1__SESSION_FORMAT__SESSION_FORMAT_ONE_TO_ONE] = "one-to-one",
    [CARETEAM__V1__SESSION_FORMAT__SESSION_FORMAT_GROUP] = "group",
    [CARETEAM__V1__SESSION_FORMAT__SESSION_FORMAT_PHONE] = "phone",
    [CARETEAM__V1__SESSION_FORMAT__SESSION_FORMAT_VIDEO] = "video",
    [CARETEAM__V1__SESSION_FORMAT__SESSION_FORMAT_OUTREACH] = "outreach",
};
const ct_cli_names_t ct_cli_format_names = NAMES(FORMATS, NULL);

static const char *const RISKS[] = {
    [CARETEAM__V1__RISK__RISK_NONE] = "none",
    [CARETEAM__V1__RISK__RISK_CONCERN] = "concern",
    [CARETEAM__V1__RISK__RISK_URGENT] = "urgent",
};
/* A summary's UNSPECIFIED risk reads as NONE (an alert never has it). */
const ct_cli_names_t ct_cli_risk_names = NAMES(RISKS, "none");

/* careteam audit query --outcome: the AuditOutcomeFilter values, named by the outcome. */
static const char *const OUTCOMES[] = {
    [CARETEAM__V1__AUDIT_OUTCOME_FILTER__AUDIT_OUTCOME_FILTER_SUCCESS] = "success",
    [CARETEAM__V1__AUDIT_OUTCOME_FILTER__AUDIT_OUTCOME_FILTER_MINOR_FAILURE] = "minor",
    [CARETEAM__V1__AUDIT_OUTCOME_FILTER__AUDIT_OUTCOME_FILTER_SERIOUS_FAILURE] = "serious",
    [CARETEAM__V1__AUDIT_OUTCOME_FILTER__AUDIT_OUTCOME_FILTER_MAJOR_FAILURE] = "major",
};
const ct_cli_names_t ct_cli_outcome_names = NAMES(OUTCOMES, NULL);

const char *ct_cli_outcome_name(unsigned code)
{
    /* The outcome codes 0, 4, 8, 12 are filter values 1, 2, 3, 4. */
    return code % 4 == 0 && code <= 12 ? ct_cli_name(&ct_cli_outcome_names, (int)(code / 4 + 1))
                                       : "unknown";
}

static const char *const ALERT_STATUSES[] = {
    [CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_OPEN] = "open",
    [CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_ESCALATED] = "escalated",
    [CARETEAM__V1__ALERT_STATUS__ALERT_STATUS_ACKNOWLEDGED] = "acknowledged",
};
const ct_cli_names_t ct_cli_alert_status_names = NAMES(ALERT_STATUSES, NULL);

static const char *const ALERT_SOURCES[] = {
    [CARETEAM__V1__ALERT_SOURCE__ALERT_SOURCE_SUMMARY] = "summary",
    [CARETEAM__V1__ALERT_SOURCE__ALERT_SOURCE_CONCERN] = "concern",
};
const ct_cli_names_t ct_cli_alert_source_names = NAMES(ALERT_SOURCES, NULL);

static const char *const MESSAGE_KINDS[] = {
    [CARETEAM__V1__MESSAGE_KIND__MESSAGE_KIND_TEXT] = "text",
    [CARETEAM__V1__MESSAGE_KIND__MESSAGE_KIND_REFERRAL] = "referral",
    [CARETEAM__V1__MESSAGE_KIND__MESSAGE_KIND_SUMMARY] = "summary",
    [CARETEAM__V1__MESSAGE_KIND__MESSAGE_KIND_ALERT] = "alert",
};
/* Messages stored before workflow events existed have no kind: they are text. */
const ct_cli_names_t ct_cli_message_kind_names = NAMES(MESSAGE_KINDS, "text");

const char *ct_cli_name(const ct_cli_names_t *t, int v)
{
    if (v == 0 && t->unspecified != NULL)
        return t->unspecified;
    if (v <= 0 || (size_t)v >= t->n || t->names[v] == NULL)
        return "unknown";
    return t->names[v];
}

int ct_cli_name_parse(const ct_cli_names_t *t, const char *name, int *out)
{
    for (size_t i = 1; i < t->n; i++) {
        if (t->names[i] != NULL && strcmp(t->names[i], name) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    return -1;
}

const char *ct_cli_names_join(const ct_cli_names_t *t, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 1; i < t->n && used < len; i++) {
        if (t->names[i] != NULL)
            used +=
                (size_t)snprintf(buf + used, len - used, "%s%s", used > 0 ? ", " : "", t->names[i]);
    }
    return buf;
}

const char *ct_cli_priority_name(int priority)
{
    return ct_cli_name(&ct_cli_priority_names, priority);
}

int ct_cli_priority_parse(const char *name, int *out)
{
    return ct_cli_name_parse(&ct_cli_priority_names, name, out);
}

const char *ct_cli_role_name(int role)
{
    const char *n = ct_role_name((ct_role_t)role);
    return n != NULL ? n : "unknown";
}

/* The events the server sends (its audit action codes) and how a person reads them. */
static const struct {
    const char *event, *verb;
} EVENT_VERBS[] = {
    {"referral.create", "created"},
    {"referral.accept", "accepted"},
    {"referral.reject", "declined"},
    {"referral.start", "started"},
    {"referral.hold", "put on hold"},
    {"referral.resume", "resumed"},
    {"referral.complete", "completed"},
    {"referral.cancel", "cancelled"},
    {"referral.reassign", "reassigned"},
    {"summary.post", "posted"},
    {"alert.open", "opened"},
    {"alert.escalate", "escalated"},
    {"alert.acknowledge", "acknowledged"},
};

const char *ct_cli_event_verb(const char *event)
{
    for (size_t i = 0; event != NULL && i < sizeof EVENT_VERBS / sizeof EVENT_VERBS[0]; i++)
        if (strcmp(EVENT_VERBS[i].event, event) == 0)
            return EVENT_VERBS[i].verb;
    return NULL;
}
