/*
 * Workflow requests (consent, lockbox, referrals, summaries, alerts) share one shape, so they
 * share one job: the handler checks what needs no storage on the loop thread and hands the rest
 * to a ct_wf_t, which runs a function with a store handle off the loop and then answers.
 *
 *   loop: ct_wf_new (copies the request)  ->  ct_wf_write (writer thread, inside the batch
 *         transaction with the request's audit row)  or  ct_wf_read (a read-only handle on the
 *         thread pool, audit row queued afterwards)
 *   off-loop: run(w, st, now) decides, changes the store, builds the reply with ct_wf_reply and
 *         stores workflow events with ct_wf_emit; returns 0 or CT_E* with w->why set
 *   loop: the reply (or Error) goes to the requester; after a commit, each event is pushed to
 *         the live sessions of its recipients (the stored inbox rows cover those offline)
 *
 * Workflow events are stored as inbox messages (kind REFERRAL, SUMMARY or ALERT with a snapshot
 * of the object), so they share the inbox's durability, ordering, replay and DeliveryAck.
 * ct_wf_emit applies the circle of care at write time: recipients the participant has restricted
 * are dropped, and so are members not on the care team (except for referral events).
 *
 * System jobs (alert escalation) have no session: w->session is NULL, the actor is "careteamd"
 * (as in the daemon's start and stop records) with role UNSPECIFIED, and there is no reply.
 */
#ifndef CT_WORKFLOW_H
#define CT_WORKFLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "careteam.pb-c.h"
#include "dispatch.h"

typedef struct ct_wf ct_wf_t;

/* The off-loop step. now_ms is the batch time (writes) or the read's start (reads). */
typedef int (*ct_wf_run_fn)(ct_wf_t *w, ct_store_t *st, int64_t now_ms);

/* One event stored by run, to push after commit. */
typedef struct ct_wf_event {
    int64_t seq;
    char message_id[CT_UUID_STRLEN + 1];
    char participant_id[CT_ID_MAX + 1];
    ct_buf_t frame; /* the Deliver frame */
    char (*to)[CT_ID_MAX + 1];
    size_t n_to;
} ct_wf_event_t;

struct ct_wf {
    ct_job_t job; /* first member: writer jobs cast back */
    const ct_handler_ctx_t *ctx;
    ct_session_t *session; /* referenced until done; NULL for system jobs */
    uint64_t request_id;
    char actor_id[CT_ID_MAX + 1];
    ct_role_t actor_role;
    Careteam__V1__Envelope *req; /* owned copy of the request; NULL for system jobs */
    ct_wf_run_fn run;
    ct_uuid7_gen_t *ids; /* the writer's id generator while run executes (writes only) */
    ct_buf_t reply;      /* the answer frame, built by ct_wf_reply */
    ct_wf_event_t *events;
    size_t n_events;
    bool alerts_changed;      /* run touched alerts: re-arm the deadline timer after commit */
    int64_t next_deadline_ms; /* set by run when alerts_changed */
    char why[256];            /* run's message for a refusal */
    void *arg;                /* run's own state, freed by arg_free if set */
    void (*arg_free)(void *arg);
    /* Loop thread, writes only: called after the reply and pushes, before w is freed. */
    void (*on_done)(ct_wf_t *w, int result);
};

/* A job for the request of `req` (copied: the decoded envelope is freed after dispatch), with
 * the request's audit record started, about participant_id (NULL or "" when not yet known; see
 * ct_wf_set_participant). Returns NULL when out of memory. */
ct_wf_t *ct_wf_new(ct_request_t *req, ct_wf_run_fn run, const char *participant_id);

/* The participant the request turned out to be about (from its referral, alert, ...), for the
 * audit record. */
void ct_wf_set_participant(ct_wf_t *w, const char *participant_id);

/* Loop thread: checks a request's participant_id field (a member/participant id; "" allowed only
 * when optional). Returns 0, or CT_EINVAL with req->why saying what is allowed. */
int ct_wf_check_participant_id(ct_request_t *req, const char *participant_id, bool optional);

/* A system job (no requester, no reply) auditing `action`. */
ct_wf_t *ct_wf_new_system(const ct_handler_ctx_t *ctx, const char *action, ct_wf_run_fn run);

/* Queues w on the writer (counts against the requester's in-flight window). */
void ct_wf_write(ct_wf_t *w);
/* Queues w on the readers; its audit row is queued once the read is done. Returns 0 or CT_E*
 * (w is then freed). */
int ct_wf_read(ct_wf_t *w);

/* Off-loop: sets the reply to env (request_id is filled in). Returns 0 or CT_E*. */
int ct_wf_reply(ct_wf_t *w, Careteam__V1__Envelope *env);

/* Off-loop: sets the reply to an Envelope whose body is `msg`, the message of the oneof field
 * `body` (e.g. BODY_REFERRAL and a Careteam__V1__Referral *). Returns 0 or CT_E*. */
int ct_wf_reply_body(ct_wf_t *w, Careteam__V1__Envelope__BodyCase body, const void *msg);

/*
 * Writer thread: stores a workflow event for recipients (duplicates and "" ignored; the circle of
 * care applied as the file comment says) and records it for the push. kind is a CT_MSG_* value,
 * event an audit action code, obj the snapshot (a Referral, Summary or Alert matching kind).
 * Stores nothing when no recipient is left. Returns 0 or CT_E*.
 */
int ct_wf_emit(ct_wf_t *w, ct_store_t *st, int64_t now_ms, int kind, const char *event,
               const char *participant_id, const ProtobufCMessage *obj, const char *const *to,
               size_t n_to);

/* Off-loop: the requester's relations to a participant (CT_REL_ON_TEAM, CT_REL_LOCKBOXED). */
int ct_wf_relation(ct_store_t *st, const char *participant_id, const char *member_id,
                   unsigned *rel);

/* Off-loop: a refusal with a message for the requester. Returns err. */
int ct_wf_refuse(ct_wf_t *w, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Off-loop, writer thread: one more audit row in the job's transaction (for system jobs that
 * change several objects). Returns 0 or CT_E*. */
int ct_wf_audit(ct_wf_t *w, ct_store_t *st, int64_t now_ms, const char *action,
                const char *object_type, const char *object_id, const char *participant_id,
                const char *detail);

#endif

/*
 * Off-loop: authorizes the request for participant_id: NOT_FOUND if the participant is not
 * registered, FORBIDDEN (w->why says which rule) unless the authz table allows the requester's
 * role with its relations (care team, lockbox) plus `extra` (referral relations the caller has
 * established). Sets *rel_out (may be NULL) to the relations. Returns 0 or CT_E*.
 */
int ct_wf_authorize(ct_wf_t *w, ct_store_t *st, const char *participant_id, unsigned extra,
                    unsigned *rel_out);

/* Newline-joined text (the store's form of goals and themes) as a repeated string field:
 * *v points into a copy owned by *buf; free both with free(). Returns 0 or CT_ENOMEM. */
int ct_wf_split_lines(const char *text, char **buf, char ***v, size_t *n);

/* Joins a repeated string field into out (newline-separated). Returns 0, or CT_EINVAL with
 * w->why set when an item is empty, has a line break, is over item_max bytes, when there are
 * more than n_max items, or the whole does not fit in outlen. */
int ct_wf_join_lines(char *why, size_t whylen, const char *field, char *const *v, size_t n,
                     size_t n_max, size_t item_max, char *out, size_t outlen);

/* Off-loop: the ids of the clinicians (psychiatrists, therapists) on a participant's active care
 * team, in join order. *ids is allocated (free() it, also when *n is 0). Returns 0 or CT_E*. */
int ct_wf_team_clinicians(ct_store_t *st, const char *participant_id, char (**ids)[CT_ID_MAX + 1],
                          size_t *n);
