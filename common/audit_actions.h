/*
 * Every audit action code careteamd writes, with its mapping onto FHIR R4 AuditEvent (the
 * IHE ATNA record): the event type, the subtype (the action code itself, in careteam's code
 * system), the action kind and one line on when the code is written.
 *
 * One table (audit_actions.c) serves the CLI's FHIR export (`careteam audit query --format
 * fhir`) and docs/compliance.md, whose list of action codes is generated from it
 * (`careteam audit actions --markdown`, see docs/compliance.md section 5). A code missing here
 * still exports, as an Application Activity (ct_audit_action_find's fallback), so an older CLI
 * can export a newer server's log. A new code is also appended to the action bits of the audit
 * zones (server/audit_zones.c, ZONE_ACTIONS), so that queries for it read only the zones that
 * hold one (test_store checks that every code here has its own bit).
 */
#ifndef CT_AUDIT_ACTIONS_H
#define CT_AUDIT_ACTIONS_H

#include <stddef.h>

/* AuditEvent.type systems. */
#define CT_AUDIT_SYSTEM_DCM "http://dicom.nema.org/resources/ontology/DCM"
#define CT_AUDIT_SYSTEM_EVENT_TYPE "http://terminology.hl7.org/CodeSystem/audit-event-type"
/* AuditEvent.subtype: careteam's own code system, whose codes are the action codes. */
#define CT_AUDIT_SYSTEM_ACTION "urn:careteam:audit-action"

/* One AuditEvent.type coding. */
typedef struct ct_audit_type {
    const char *system; /* CT_AUDIT_SYSTEM_DCM or CT_AUDIT_SYSTEM_EVENT_TYPE */
    const char *code;   /* "110114", "rest" */
    const char *display;
} ct_audit_type_t;

typedef struct ct_audit_action {
    const char *code;            /* "message.send" */
    const ct_audit_type_t *type; /* AuditEvent.type */
    char kind;                   /* AuditEvent.action: 'C' 'R' 'U' 'D' 'E' */
    const char *when;            /* when it is written, one line for people */
} ct_audit_action_t;

/* The table, in the order docs/compliance.md lists it; ct_audit_actions_count entries. */
extern const ct_audit_action_t ct_audit_actions[];
extern const size_t ct_audit_actions_count;

/* The entry for code; for a code not in the table, a shared fallback entry whose code is NULL,
 * type Application Activity (DCM 110100) and kind 'E'. Never NULL. */
const ct_audit_action_t *ct_audit_action_find(const char *code);

/* code's index in ct_audit_actions; ct_audit_actions_count for NULL or a code not in the table.
 * A binary search (the daemon's writer looks up every row it appends); thread-safe. */
size_t ct_audit_action_index(const char *code);

/* Writes a's row of docs/compliance.md's table of action codes (no newline) into out:
 * "| `code` | when | type | kind |". Returns out. */
char *ct_audit_action_markdown(const ct_audit_action_t *a, char *out, size_t len);

/* The header of that table: two lines, each ending in a newline. */
extern const char ct_audit_action_markdown_head[];

#endif
