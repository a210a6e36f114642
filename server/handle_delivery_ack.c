/*
 * DeliveryAck -> Ok: the member received these messages; stop delivering them. All or nothing:
 * if any id is not a message addressed to this member, nothing is marked and the answer is
 * NOT_FOUND naming it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "dispatch.h"
#include "err.h"
#include "text.h"

/* Most ids in one DeliveryAck: a client acknowledges in batches no larger than a replay page. */
#define DELIVERY_ACK_MAX 1024

typedef struct ack_job {
    ct_job_t job; /* first member */
    ct_session_t *session;
    uint64_t request_id;
    size_t n;
    char (*ids)[CT_UUID_STRLEN + 1];
    size_t newly_acked;
    char why[160];
} ack_job_t;

static void ack_job_free(ack_job_t *j)
{
    free(j->ids);
    free(j);
}

static int apply_ack(ct_job_t *job, ct_store_t *st, const ct_writer_env_t *env)
{
    ack_job_t *j = (ack_job_t *)job;
    for (size_t i = 0; i < j->n; i++) {
        int r = ct_store_delivery_ack(st, j->session->member_id, j->ids[i], env->now_ms);
        if (r == CT_ENOTFOUND) {
            snprintf(j->why, sizeof j->why, "message %s is not addressed to you", j->ids[i]);
            ct_audit_rec_object(&job->audit, "message", j->ids[i]);
            ct_audit_rec_fail(&job->audit, r, NULL);
            return r;
        }
        if (r < 0)
            return r;
        if (r == 0)
            j->newly_acked++;
    }
    snprintf(job->audit.detail, sizeof job->audit.detail, "messages=%zu newly_delivered=%zu", j->n,
             j->newly_acked);
    if (j->n == 1)
        ct_audit_rec_object(&job->audit, "message", j->ids[0]);
    return 0;
}

static void done_ack(ct_job_t *job)
{
    ack_job_t *j = (ack_job_t *)job;
    if (job->result != 0) {
        ct_session_send_error(j->session, j->request_id, job->result, j->why[0] ? j->why : NULL);
    } else {
        Careteam__V1__Ok ok = CARETEAM__V1__OK__INIT;
        Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
        env.request_id = j->request_id;
        env.body_case = CARETEAM__V1__ENVELOPE__BODY_OK;
        env.ok = &ok;
        ct_session_send_envelope(j->session, &env);
    }
    j->session->ops->request_end(j->session);
    ack_job_free(j);
}

int ct_handle_delivery_ack(ct_request_t *req)
{
    const Careteam__V1__DeliveryAck *a = req->env->delivery_ack;
    if (a->n_message_ids == 0 || a->n_message_ids > DELIVERY_ACK_MAX) {
        snprintf(req->why, sizeof req->why, "message_ids must list 1 to %d ids", DELIVERY_ACK_MAX);
        return CT_EINVAL;
    }
    for (size_t i = 0; i < a->n_message_ids; i++) {
        if (!ct_uuid_valid(a->message_ids[i])) {
            snprintf(req->why, sizeof req->why, "message_ids[%zu] is not a message id", i);
            return CT_EINVAL;
        }
    }
    ack_job_t *j = calloc(1, sizeof *j);
    if (j == NULL)
        return CT_ENOMEM;
    j->ids = calloc(a->n_message_ids, sizeof *j->ids);
    if (j->ids == NULL) {
        free(j);
        return CT_ENOMEM;
    }
    j->n = a->n_message_ids;
    for (size_t i = 0; i < j->n; i++)
        ct_text_copy(j->ids[i], sizeof j->ids[i], a->message_ids[i]);
    j->session = req->session;
    j->request_id = req->request_id;
    j->job.apply = apply_ack;
    j->job.done = done_ack;
    j->job.has_audit = true;
    ct_audit_rec_init(&j->job.audit, req->session, req->action);
    req->session->ops->request_begin(req->session);
    ct_writer_submit(req->ctx->writer, &j->job);
    return 0;
}
