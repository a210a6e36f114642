/*
 * Workflow objects between their stored form (store.h) and their wire form (careteam.proto).
 * The wire structs point into the stored ones, which must outlive them; repeated text fields
 * (goals, themes) are split into a scratch that the caller frees with ct_pb_scratch_free.
 */
#ifndef CT_WORKFLOW_PB_H
#define CT_WORKFLOW_PB_H

#include "careteam.pb-c.h"
#include "store.h"

typedef struct ct_pb_scratch {
    char *buf;
    char **v;
} ct_pb_scratch_t;

void ct_pb_scratch_free(ct_pb_scratch_t *sc);

void ct_pb_consent(const ct_consent_t *c, Careteam__V1__Consent *out);
int ct_pb_referral(const ct_referral_t *r, Careteam__V1__Referral *out, ct_pb_scratch_t *sc);
int ct_pb_summary(const ct_summary_t *s, Careteam__V1__Summary *out, ct_pb_scratch_t *sc);
void ct_pb_alert(const ct_alert_t *a, Careteam__V1__Alert *out);

/* FHIR status code of a referral status ("in-progress"), for messages and audit details. */
const char *ct_referral_status_name(int status);

#endif
