/*
 * Safety alerts shared by the handlers that open them (PostSummary, RaiseConcern) and by the
 * deadline timer (alerts.c). Writer thread only.
 */
#ifndef CT_HANDLE_ALERT_H
#define CT_HANDLE_ALERT_H

#include "workflow.h"

/*
 * Opens an alert about a participant (a filled a: source, risk, text, summary/referral ids,
 * raised_by), sets its id, status, deadline (config by risk) and creation time, stores it and
 * sends it to the responsible clinicians (the referrers of the participant's active referrals on
 * the team, else every clinician on the team). Returns 0 or CT_E*.
 */
int ct_alert_open(ct_wf_t *w, ct_store_t *st, int64_t now_ms, ct_alert_t *a);

/* The run of an escalation pass (a system job): escalates every alert due at now_ms. */
int ct_alert_escalate_due(ct_wf_t *w, ct_store_t *st, int64_t now_ms);

#endif
