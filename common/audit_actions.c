/*
 * The audit action codes and their AuditEvent mapping (see audit_actions.h).
 *
 * How the type is chosen: a client's request is a "rest" operation (the FHIR audit-event-type
 * code for an operation a client asked for); connection set-up and authentication are DICOM
 * 110114 User Authentication; the daemon's own life and background work are 110100 Application
 * Activity; frames that break the protocol are 110113 Security Alert, as are changes to who a
 * member is or may do (enrolment, activation, supervision: DICOM's "user security attributes
 * changed"); participants and their care teams, done by the local administrator, are 110110
 * Patient Record; reading the audit log is 110112 Query (a search) and checking it 110101 Audit
 * Log Used. The kind follows FHIR's AuditEventAction: C create, R read, U update, D delete, E
 * execute, which FHIR also uses for searches, so every list request is E.
 */
#include "audit_actions.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ct_audit_type_t REST = {CT_AUDIT_SYSTEM_EVENT_TYPE, "rest", "RESTful Operation"};
static const ct_audit_type_t APP = {CT_AUDIT_SYSTEM_DCM, "110100", "Application Activity"};
static const ct_audit_type_t LOG_USED = {CT_AUDIT_SYSTEM_DCM, "110101", "Audit Log Used"};
static const ct_audit_type_t PATIENT = {CT_AUDIT_SYSTEM_DCM, "110110", "Patient Record"};
static const ct_audit_type_t QUERY = {CT_AUDIT_SYSTEM_DCM, "110112", "Query"};
static const ct_audit_type_t SECURITY = {CT_AUDIT_SYSTEM_DCM, "110113", "Security Alert"};
static const ct_audit_type_t AUTHN = {CT_AUDIT_SYSTEM_DCM, "110114", "User Authentication"};

const ct_audit_action_t ct_audit_actions[] = {
    /* connections */
    {"tls.handshake", &AUTHN, 'E', "a TLS handshake failed (bad, missing or expired certificate)"},
    {"session.authenticate", &AUTHN, 'E',
     "the certificate's CN is not an active member, or the registry could not be read"},
    {"session.deadline", &AUTHN, 'E', "no Welcome before the handshake deadline"},
    {"session.hello", &AUTHN, 'E', "Hello answered (the member logged in), or refused"},
    {"session.idle", &APP, 'E', "a welcomed connection sent nothing for idle_timeout_ms: closed"},
    {"session.ping", &REST, 'E', "a Ping, answered or refused"},
    {"session.refused", &APP, 'E', "a connection over max_connections was turned away"},
    {"session.slow_consumer", &APP, 'E', "a connection was dropped at max_output"},
    {"session.revoked", &AUTHN, 'E',
     "a live session's member was deactivated, or its certificate revoked (on SIGHUP)"},
    {"protocol.violation", &SECURITY, 'E',
     "an envelope without a request, or a server-only message from a client"},
    {"protocol.bad_frame", &SECURITY, 'E', "a frame of length 0, or one that is not an Envelope"},
    {"protocol.frame_too_large", &SECURITY, 'E', "a frame over the size limit"},
    /* messages */
    {"message.send", &REST, 'C', "SendMessage stored, resent (duplicate=1) or refused"},
    {"message.deliver", &REST, 'R',
     "a stored message or workflow event was handed to a recipient (live push or replay)"},
    {"message.delivery_ack", &REST, 'U', "DeliveryAck recorded or refused"},
    /* consent and lockbox */
    {"consent.record", &REST, 'C', "RecordConsent"},
    {"consent.withdraw", &REST, 'U', "WithdrawConsent"},
    {"consent.list", &REST, 'E', "ListConsents"},
    {"restriction.record", &REST, 'C',
     "RecordRestriction, or `careteamd lockbox add` (actor local:<account>)"},
    {"restriction.lift", &REST, 'D',
     "LiftRestriction, or `careteamd lockbox remove` (actor local:<account>)"},
    /* referrals */
    {"referral.create", &REST, 'C', "CreateReferral"},
    {"referral.update", &REST, 'U', "UpdateReferral refused before its move was known"},
    {"referral.accept", &REST, 'U', "UpdateReferral ACCEPT"},
    {"referral.reject", &REST, 'U', "UpdateReferral REJECT (careteam referral decline)"},
    {"referral.start", &REST, 'U', "UpdateReferral START"},
    {"referral.hold", &REST, 'U', "UpdateReferral HOLD"},
    {"referral.resume", &REST, 'U', "UpdateReferral RESUME"},
    {"referral.complete", &REST, 'U', "UpdateReferral COMPLETE"},
    {"referral.cancel", &REST, 'U', "UpdateReferral CANCEL"},
    {"referral.reassign", &REST, 'U', "UpdateReferral REASSIGN"},
    {"referral.list", &REST, 'E', "ListReferrals"},
    /* summaries and alerts */
    {"summary.post", &REST, 'C', "PostSummary"},
    {"summary.list", &REST, 'E', "ListSummaries"},
    {"concern.raise", &REST, 'C', "RaiseConcern (it opens an alert)"},
    {"alert.open", &REST, 'C',
     "an alert opened by a summary with risk concern/urgent or by RaiseConcern"},
    {"alert.escalate", &APP, 'U', "an alert's deadline passed unacknowledged (actor careteamd)"},
    {"alert.acknowledge", &REST, 'U', "AcknowledgeAlert"},
    {"alert.list", &REST, 'E', "ListAlerts"},
    /* the audit log */
    {"audit.query", &QUERY, 'E', "AuditQuery: one page of an audit query or export (compliance)"},
    {"audit.keygen", &SECURITY, 'C', "`careteamd audit keygen` made the checkpoint signing key"},
    {"audit.checkpoint", &APP, 'C', "`careteamd audit checkpoint` signed a checkpoint of the log"},
    {"audit.verify", &LOG_USED, 'E', "`careteamd audit verify` checked the audit log"},
    /* the daemon and local administration (actor local:<account>, peer local) */
    {"daemon.start", &APP, 'E', "the daemon is listening (actor careteamd)"},
    {"daemon.stop", &APP, 'E', "the daemon began its shutdown (actor careteamd)"},
    {"daemon.reload", &APP, 'E', "SIGHUP: TLS material reloaded, or the reload failed"},
    {"admin.init", &APP, 'C', "`careteamd init` made the data directory and its keys"},
    {"admin.read", &APP, 'R',
     "a `careteamd` command that only reads ran (listings, check-config, audit checkpoints, "
     "purge --dry-run); detail names it"},
    {"admin.backup", &APP, 'R',
     "`careteamd backup` copied the database (detail: the seq and chain head the copy ends with)"},
    {"admin.restore", &APP, 'U',
     "`careteamd restore` put a verified backup in place (the record is in the restored log)"},
    {"admin.refused", &APP, 'E',
     "a `careteamd` command was refused or failed (bad arguments, unknown ids, ...); detail "
     "names it and its exit status"},
    {"member.enroll", &SECURITY, 'C', "`careteamd enroll` made a member and its certificate"},
    {"member.activate", &SECURITY, 'U', "`careteamd activate`"},
    {"member.deactivate", &SECURITY, 'U', "`careteamd deactivate`"},
    {"member.renew", &SECURITY, 'C',
     "`careteamd renew`: a new certificate issued to an existing member (detail: its serial)"},
    {"member.revoke", &SECURITY, 'U', "`careteamd revoke`: a member's certificate revoked (CRL)"},
    {"server.revoke", &SECURITY, 'U',
     "`careteamd revoke --server`: the daemon's own certificate revoked (CRL)"},
    {"server.renew", &SECURITY, 'C',
     "`careteamd renew --server`: a new certificate for the daemon (detail: its serial and the "
     "previous one)"},
    {"member.supervisor", &SECURITY, 'U', "`careteamd supervisor set`, or `enroll --supervisor`"},
    {"participant.add", &PATIENT, 'C', "`careteamd participant add`"},
    {"team.add", &PATIENT, 'U', "`careteamd team add`: a member joins a care team"},
    {"team.remove", &PATIENT, 'U', "`careteamd team remove`: a member leaves a care team"},
    {"retention.purge", &APP, 'D',
     "`careteamd purge` removed message bodies and summary text older than a date"},
};

const size_t ct_audit_actions_count = sizeof ct_audit_actions / sizeof ct_audit_actions[0];

static const ct_audit_action_t UNKNOWN = {NULL, &APP, 'E', "an action this version does not know"};

#define N_ACTIONS (sizeof ct_audit_actions / sizeof ct_audit_actions[0])

/* The table's indexes in code order, for the binary search; built once by whichever thread asks
 * first (the table is in the order compliance.md lists it, not sorted). */
static unsigned char by_code[N_ACTIONS];
static pthread_once_t by_code_once = PTHREAD_ONCE_INIT;
_Static_assert(N_ACTIONS <= 255, "by_code holds indexes as bytes");

static int cmp_index(const void *a, const void *b)
{
    return strcmp(ct_audit_actions[*(const unsigned char *)a].code,
                  ct_audit_actions[*(const unsigned char *)b].code);
}

static void by_code_build(void)
{
    for (size_t i = 0; i < N_ACTIONS; i++)
        by_code[i] = (unsigned char)i;
    qsort(by_code, N_ACTIONS, sizeof by_code[0], cmp_index);
}

size_t ct_audit_action_index(const char *code)
{
    if (code == NULL)
        return N_ACTIONS;
    pthread_once(&by_code_once, by_code_build);
    size_t lo = 0, hi = N_ACTIONS;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(code, ct_audit_actions[by_code[mid]].code);
        if (c == 0)
            return by_code[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return N_ACTIONS;
}

const ct_audit_action_t *ct_audit_action_find(const char *code)
{
    size_t i = ct_audit_action_index(code);
    return i < N_ACTIONS ? &ct_audit_actions[i] : &UNKNOWN;
}

const char ct_audit_action_markdown_head[] =
    "| action | written when | AuditEvent.type | action |\n"
    "|---|---|---|---|\n";

char *ct_audit_action_markdown(const ct_audit_action_t *a, char *out, size_t len)
{
    const char *system =
        strcmp(a->type->system, CT_AUDIT_SYSTEM_DCM) == 0 ? "DCM" : "audit-event-type";
    snprintf(out, len, "| `%s` | %s | %s `%s` %s | `%c` |", a->code != NULL ? a->code : "", a->when,
             system, a->type->code, a->type->display, a->kind);
    return out;
}
