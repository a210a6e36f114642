/*
 * The storage interface of careteamd.
 *
 * Everything the daemon persists goes through these functions, in domain types only: no SQLite
 * type or header leaks out, so that another backend (PostgreSQL, for several daemons behind a
 * load balancer) can implement the same interface. store_sqlite.c is the only file that includes
 * sqlite3.h.
 *
 * Threads and handles. A ct_store_t is one connection and is used by one thread at a time:
 *  - the store writer thread owns the only read-write handle of a serving daemon;
 *  - read-only handles (CT_STORE_READONLY) serve queries off the event loop (WAL lets them read
 *    while the writer commits);
 *  - the admin subcommands (init, enroll, ...) open their own read-write handle.
 *
 * Durability: the database runs in WAL mode with synchronous=FULL; ct_store_commit returns only
 * after the transaction is on disk. Every write that the daemon acknowledges is made inside a
 * transaction together with its audit row.
 *
 * Errors: CT_ENOTFOUND, CT_EEXISTS / CT_ECONFLICT for constraint violations, CT_EIO when the disk
 * is full or failing (the caller refuses writes with UNAVAILABLE and stays up), CT_EBUSY-like
 * lock timeouts as CT_EUNAVAIL, anything else CT_EINTERNAL.
 */
#ifndef CT_STORE_H
#define CT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit_chain.h"
#include "ids.h"
#include "role.h"

typedef struct ct_store ct_store_t;

#define CT_NAME_MAX 128 /* display name, bytes of UTF-8 */

typedef struct ct_member {
    char id[CT_ID_MAX + 1];
    char display_name[CT_NAME_MAX + 1];
    ct_role_t role;
    bool active;
    int64_t created_at_ms;
    char supervisor_id[CT_ID_MAX + 1]; /* peer workers: their peer_supervisor, or "" */
} ct_member_t;

/* A message as stored. All strings are owned by whoever filled the struct (see each function). */
typedef struct ct_message {
    int64_t seq; /* store order; strictly increasing in commit order */
    char message_id[CT_UUID_STRLEN + 1];
    char sender_id[CT_ID_MAX + 1];
    ct_role_t sender_role;
    char client_msg_id[CT_ID_MAX + 1];
    char participant_id[CT_ID_MAX + 1]; /* "" when the message is about no participant */
    char *subject;                      /* NUL-terminated UTF-8, may be "" */
    char *body;                         /* NUL-terminated UTF-8 */
    size_t body_len;
    int priority; /* wire Priority value */
    int64_t stored_at_ms;
    char (*to)[CT_ID_MAX + 1]; /* recipients */
    size_t n_to;
    /* Workflow events (kind != CT_MSG_TEXT): the event's action code and a snapshot of the object
     * it is about, as the handler layer encoded it (protobuf bytes; opaque to the store). */
    int kind; /* ct_message_kind_t */
    char event[48];
    uint8_t *payload; /* owned like body; NULL when payload_len is 0 */
    size_t payload_len;
    /* Members addressed but withheld at send time (lockbox), newline-separated ids; "" if none.
     * Owned like body; NULL reads as "". */
    char *withheld;
} ct_message_t;

/* Message kinds, as the wire's MessageKind. */
typedef enum ct_message_kind {
    CT_MSG_TEXT = 1,
    CT_MSG_REFERRAL = 2,
    CT_MSG_SUMMARY = 3,
    CT_MSG_ALERT = 4,
} ct_message_kind_t;

/* Frees the strings and recipient array a read function allocated into m (not m itself). */
void ct_message_clear(ct_message_t *m);

/* The longest withheld list a message may carry (ct_message_t.withheld), terminator included. */
#define CT_WITHHELD_MAX 4096

/* The result of storing (or finding) a message: what the sender's Ack carries. */
typedef struct ct_message_receipt {
    int64_t seq;
    char message_id[CT_UUID_STRLEN + 1];
    int64_t stored_at_ms;
    /* The stored message's withheld list (see ct_message_t): an owned copy, NULL if none. Not
     * inline, so that a queued send job stays small (most messages withhold nobody). */
    char *withheld;
} ct_message_receipt_t;

/* Frees r's withheld list; r can be filled again. */
void ct_message_receipt_clear(ct_message_receipt_t *r);

/* Audit outcomes, as IHE ATNA / FHIR AuditEvent.outcome. */
typedef enum ct_audit_outcome {
    CT_AUDIT_SUCCESS = 0,
    CT_AUDIT_MINOR_FAILURE = 4,
    CT_AUDIT_SERIOUS_FAILURE = 8,
    CT_AUDIT_MAJOR_FAILURE = 12,
} ct_audit_outcome_t;

/* Outcomes as the columns of a tally (ct_store_audit_committed, the metrics): success, minor,
 * serious, major failure; a value outside the enum counts as a major failure. */
#define CT_AUDIT_OUTCOME_COLUMNS 4
static inline size_t ct_audit_outcome_column(ct_audit_outcome_t o)
{
    return o == CT_AUDIT_SUCCESS           ? 0
           : o == CT_AUDIT_MINOR_FAILURE   ? 1
           : o == CT_AUDIT_SERIOUS_FAILURE ? 2
                                           : 3;
}

/*
 * One audit record. Metadata only: never a message body, subject or participant label.
 * Empty strings mean "not applicable". The store assigns the sequence number.
 */
typedef struct ct_audit {
    int64_t time_ms;
    const char *actor_id;    /* member id, or "" before authentication */
    ct_role_t actor_role;    /* CT_ROLE_UNSPECIFIED when unknown */
    const char *cert_fp;     /* the actor's certificate SHA-256 (64 hex digits); NULL or "" for
                                admin commands, the daemon, and before the handshake */
    const char *peer_addr;   /* "ip:port", or "local" for admin commands */
    const char *action;      /* stable action code, e.g. "message.send", "tls.handshake" */
    const char *object_type; /* "message", "member", "connection", ... */
    const char *object_id;
    const char *participant_id;
    ct_audit_outcome_t outcome;
    const char *detail; /* short machine-readable metadata, e.g. "code=FORBIDDEN recipients=2" */
} ct_audit_t;

typedef enum ct_store_mode {
    CT_STORE_READWRITE = 0, /* creates the file and applies migrations if needed */
    CT_STORE_READONLY = 1,  /* the file must exist and be migrated */
} ct_store_mode_t;

/*
 * Opens the database at path. READWRITE creates it if missing and brings the schema to the
 * current version (numbered migrations, PRAGMA user_version). On success *out is a new handle
 * that the caller frees with ct_store_close. On failure *out is NULL and, if errbuf is not NULL,
 * it holds a message naming the file and the problem.
 */
int ct_store_open(const char *path, ct_store_mode_t mode, ct_store_t **out, char *errbuf,
                  size_t errlen);
void ct_store_close(ct_store_t *st);

/* The schema version this build writes, and the version of an open database. */
int ct_store_schema_version(void);
int ct_store_db_version(ct_store_t *st);

/*
 * Transactions. begin takes the write lock immediately (BEGIN IMMEDIATE). Savepoints nest inside
 * a transaction so that one failed job of a group commit can be undone alone.
 * commit returns CT_EIO if the data could not be made durable; the transaction is then rolled
 * back and nothing of it is stored.
 */
int ct_store_begin(ct_store_t *st);
int ct_store_commit(ct_store_t *st);
int ct_store_rollback(ct_store_t *st);
int ct_store_savepoint(ct_store_t *st);
int ct_store_release(ct_store_t *st);     /* keeps the work since the savepoint */
int ct_store_rollback_to(ct_store_t *st); /* undoes the work since the savepoint, and releases it */

/* Rows inserted, updated or deleted on this handle since it opened (statements that failed undo
 * theirs and count none): unchanged across a call means the call wrote nothing. */
int64_t ct_store_changes(ct_store_t *st);

/*
 * Log checkpoints (SQLite: copying the write-ahead log's pages into the database file, and
 * syncing it). By default a COMMIT that leaves the log past ~1,000 pages does this before it
 * returns, so whichever transaction crosses the line waits for it. After
 * ct_store_checkpoints_manual no commit does: the owner of the handle asks for one with
 * ct_store_checkpoint when nothing waits on it, and ct_store_log_uncopied says how much is
 * waiting. The log grows until then; nothing is less durable.
 *
 * ct_store_checkpoint copies what it can without waiting for readers (a reader's snapshot keeps
 * the pages it needs) and returns 0, or CT_EIO when the database could not be written or synced.
 * Outside a transaction only. Both are for a read-write handle; another backend may make them
 * no-ops (uncopied 0).
 */
void ct_store_checkpoints_manual(ct_store_t *st);
int64_t ct_store_log_uncopied(const ct_store_t *st);
int ct_store_checkpoint(ct_store_t *st);

/* Members. add: CT_EEXISTS if the id is taken. get: CT_ENOTFOUND if absent. */
int ct_store_member_add(ct_store_t *st, const ct_member_t *m);
int ct_store_member_get(ct_store_t *st, const char *id, ct_member_t *out);
int ct_store_member_set_active(ct_store_t *st, const char *id, bool active);
/* Sets (or with "" clears) a member's supervisor. CT_ENOTFOUND if the member is absent. The
 * caller checks roles. */
int ct_store_member_set_supervisor(ct_store_t *st, const char *id, const char *supervisor_id);
/* Calls cb for every member in id order; stops early and returns cb's value if it is not 0. */
int ct_store_member_list(ct_store_t *st, int (*cb)(const ct_member_t *m, void *arg), void *arg);

/* ==== care-team workflow ======================================================================
 * Participants, their care teams, consents, lockbox restrictions, referrals, session summaries
 * and safety alerts. Rules (who may do what) live in the daemon (authz.c, referral.c); the store
 * only keeps state and answers the questions those rules ask. Strings are NUL-terminated UTF-8 in
 * fixed arrays unless marked owned; list callbacks get a pointer valid only during the call and
 * stop the walk by returning non-zero (that value is returned). Lists are newest first unless
 * stated. Times are Unix milliseconds, UTC. */

#define CT_LABEL_MAX 64      /* participant label: initials or a chart number, never a full name */
#define CT_NOTE_MAX 1024     /* consent notes, restriction and status reasons, ack notes */
#define CT_LONGTEXT_MAX 4096 /* referral reason and goals, summary progress/next steps, concern */

typedef struct ct_participant {
    char id[CT_ID_MAX + 1];
    char label[CT_LABEL_MAX + 1];
    int64_t created_at_ms;
} ct_participant_t;

/* CT_EEXISTS if the id is taken. */
int ct_store_participant_add(ct_store_t *st, const ct_participant_t *p);
/* CT_ENOTFOUND if absent. */
int ct_store_participant_get(ct_store_t *st, const char *id, ct_participant_t *out);
/* In id order. */
int ct_store_participant_list(ct_store_t *st, int (*cb)(const ct_participant_t *p, void *arg),
                              void *arg);

/* One member of a participant's care team, joined with the member's registry row. */
typedef struct ct_team_entry {
    char participant_id[CT_ID_MAX + 1];
    ct_member_t member;
    int64_t joined_at_ms;
    char via[64]; /* how they joined: "admin" or "referral:<referral id>" */
} ct_team_entry_t;

/* Adds member_id to the team. Returns 0 if added, 1 if already on it (via unchanged),
 * CT_ENOTFOUND if the participant or the member does not exist. */
int ct_store_team_add(ct_store_t *st, const char *participant_id, const char *member_id,
                      const char *via, int64_t now_ms);
/* Returns 0, or CT_ENOTFOUND if the member was not on the team. */
int ct_store_team_remove(ct_store_t *st, const char *participant_id, const char *member_id);
/* The team in join order (oldest first). */
int ct_store_team_list(ct_store_t *st, const char *participant_id,
                       int (*cb)(const ct_team_entry_t *e, void *arg), void *arg);

/* A member's relation to a participant, as authz.h's relation bits use it. */
#define CT_STORE_REL_ON_TEAM 0x1u
#define CT_STORE_REL_LOCKBOXED 0x2u
/* Sets *out to the CT_STORE_REL_* bits of member_id for participant_id (0 when neither, also for
 * an unknown participant). Returns 0 or CT_E*. */
int ct_store_relation(ct_store_t *st, const char *participant_id, const char *member_id,
                      unsigned *out);

/* Consent scopes and methods, as the wire's ConsentScope and ConsentMethod values. */
typedef struct ct_consent {
    char consent_id[CT_UUID_STRLEN + 1];
    char participant_id[CT_ID_MAX + 1];
    int scope;
    int method;
    char note[CT_NOTE_MAX + 1];
    char recorded_by[CT_ID_MAX + 1];
    int64_t recorded_at_ms;
    char withdrawn_by[CT_ID_MAX + 1]; /* "" while active */
    int64_t withdrawn_at_ms;          /* 0 while active */
    char withdraw_reason[CT_NOTE_MAX + 1];
} ct_consent_t;

/* CT_EEXISTS if the id is taken, CT_ENOTFOUND if the participant does not exist. */
int ct_store_consent_add(ct_store_t *st, const ct_consent_t *c);
int ct_store_consent_get(ct_store_t *st, const char *consent_id, ct_consent_t *out);
/* Marks it withdrawn. CT_ENOTFOUND if absent, CT_ECONFLICT if already withdrawn. */
int ct_store_consent_withdraw(ct_store_t *st, const char *consent_id, const char *by,
                              const char *reason, int64_t now_ms);
/* Sets *active to whether the participant has a consent of this scope not withdrawn. */
int ct_store_consent_active(ct_store_t *st, const char *participant_id, int scope, bool *active);
int ct_store_consent_list(ct_store_t *st, const char *participant_id,
                          int (*cb)(const ct_consent_t *c, void *arg), void *arg);

/* A lockbox restriction: the participant does not want member_id to receive anything about them. */
typedef struct ct_restriction {
    char participant_id[CT_ID_MAX + 1];
    char member_id[CT_ID_MAX + 1];
    char reason[CT_NOTE_MAX + 1];
    char recorded_by[CT_ID_MAX + 1]; /* a member id, or "admin" for careteamd commands */
    int64_t recorded_at_ms;
} ct_restriction_t;

/* Returns 0 if recorded, 1 if that restriction already existed (unchanged), CT_ENOTFOUND if the
 * participant or the member does not exist. */
int ct_store_restriction_add(ct_store_t *st, const ct_restriction_t *r);
/* Returns 0, or CT_ENOTFOUND if there was no such restriction. */
int ct_store_restriction_remove(ct_store_t *st, const char *participant_id, const char *member_id);
/* Oldest first. */
int ct_store_restriction_list(ct_store_t *st, const char *participant_id,
                              int (*cb)(const ct_restriction_t *r, void *arg), void *arg);

/* Referral statuses, as the wire's ReferralStatus values (FHIR Task.status). */
typedef enum ct_referral_status {
    CT_REFERRAL_REQUESTED = 1,
    CT_REFERRAL_ACCEPTED = 2,
    CT_REFERRAL_REJECTED = 3,
    CT_REFERRAL_IN_PROGRESS = 4,
    CT_REFERRAL_ON_HOLD = 5,
    CT_REFERRAL_COMPLETED = 6,
    CT_REFERRAL_CANCELLED = 7,
} ct_referral_status_t;

typedef struct ct_referral {
    char referral_id[CT_UUID_STRLEN + 1];
    char participant_id[CT_ID_MAX + 1];
    char referrer_id[CT_ID_MAX + 1];
    char addressee_id[CT_ID_MAX + 1]; /* "" for the peer-worker queue */
    char assignee_id[CT_ID_MAX + 1];  /* "" until accepted */
    int status;                       /* ct_referral_status_t */
    int held_from;                    /* while on hold: the status it was held from; else 0 */
    int priority;                     /* wire Priority value */
    char reason[CT_LONGTEXT_MAX + 1];
    char goals[CT_LONGTEXT_MAX + 1]; /* newline-separated */
    char status_reason[CT_NOTE_MAX + 1];
    int64_t created_at_ms;
    int64_t updated_at_ms;
} ct_referral_t;

/* CT_EEXISTS if the id is taken. */
int ct_store_referral_insert(ct_store_t *st, const ct_referral_t *r);
int ct_store_referral_get(ct_store_t *st, const char *referral_id, ct_referral_t *out);
/* Writes every mutable field (addressee, assignee, status, held_from, status_reason,
 * updated_at_ms) of the row with r->referral_id. CT_ENOTFOUND if absent. */
int ct_store_referral_update(ct_store_t *st, const ct_referral_t *r);

/* Filters; every field set must match. */
typedef struct ct_referral_filter {
    const char *participant_id; /* NULL or "": any */
    const char *assignee_id;    /* NULL or "": any */
    const char *referrer_id;    /* NULL or "": any */
    bool queue_only;            /* status requested and addressee "" */
    int status;                 /* 0: any */
    int limit;                  /* at most this many rows */
} ct_referral_filter_t;
int ct_store_referral_list(ct_store_t *st, const ct_referral_filter_t *f,
                           int (*cb)(const ct_referral_t *r, void *arg), void *arg);

/* Session formats and risks, as the wire's SessionFormat and Risk values. */
typedef struct ct_summary {
    char summary_id[CT_UUID_STRLEN + 1];
    char referral_id[CT_UUID_STRLEN + 1];
    char participant_id[CT_ID_MAX + 1];
    char author_id[CT_ID_MAX + 1];
    char session_date[11]; /* YYYY-MM-DD */
    uint32_t duration_minutes;
    int format;
    char themes[CT_LONGTEXT_MAX + 1]; /* newline-separated */
    char goals_progress[CT_LONGTEXT_MAX + 1];
    char next_steps[CT_LONGTEXT_MAX + 1];
    bool participant_reviewed;
    int risk;
    char *text; /* owned: NUL-terminated UTF-8; freed by ct_summary_clear */
    char amends_summary_id[CT_UUID_STRLEN + 1]; /* "" if none */
    char alert_id[CT_UUID_STRLEN + 1];          /* "" if it opened none */
    int64_t created_at_ms;
} ct_summary_t;

/* Frees what a read function allocated into s (not s itself). */
void ct_summary_clear(ct_summary_t *s);
/* CT_EEXISTS if the id is taken. */
int ct_store_summary_insert(ct_store_t *st, const ct_summary_t *s);
/* The caller frees out with ct_summary_clear. */
int ct_store_summary_get(ct_store_t *st, const char *summary_id, ct_summary_t *out);
/* By participant_id or referral_id (the other NULL or ""), newest first, at most limit. */
int ct_store_summary_list(ct_store_t *st, const char *participant_id, const char *referral_id,
                          int limit, int (*cb)(const ct_summary_t *s, void *arg), void *arg);

/* Alert sources and statuses, as the wire's AlertSource and AlertStatus values. */
typedef struct ct_alert {
    char alert_id[CT_UUID_STRLEN + 1];
    char participant_id[CT_ID_MAX + 1];
    char raised_by[CT_ID_MAX + 1];
    int source;
    char summary_id[CT_UUID_STRLEN + 1];  /* "" unless source is a summary */
    char referral_id[CT_UUID_STRLEN + 1]; /* "" unless source is a summary */
    int risk;
    char text[CT_LONGTEXT_MAX + 1];
    int status;
    uint32_t escalations;
    int64_t deadline_ms; /* 0: no deadline pending */
    int64_t created_at_ms;
    char acknowledged_by[CT_ID_MAX + 1];
    int64_t acknowledged_at_ms;
    char note[CT_NOTE_MAX + 1];
} ct_alert_t;

/* CT_EEXISTS if the id is taken. */
int ct_store_alert_insert(ct_store_t *st, const ct_alert_t *a);
int ct_store_alert_get(ct_store_t *st, const char *alert_id, ct_alert_t *out);
/* Writes status, escalations, deadline_ms, acknowledged_by/at, note. CT_ENOTFOUND if absent. */
int ct_store_alert_update(ct_store_t *st, const ct_alert_t *a);
/* participant_id NULL or "": all participants. open_only: status not acknowledged. */
int ct_store_alert_list(ct_store_t *st, const char *participant_id, bool open_only, int limit,
                        int (*cb)(const ct_alert_t *a, void *arg), void *arg);
/* Alerts with 0 < deadline_ms <= now_ms, oldest deadline first. */
int ct_store_alert_due(ct_store_t *st, int64_t now_ms, int (*cb)(const ct_alert_t *a, void *arg),
                       void *arg);
/* Sets *deadline_ms to the earliest deadline_ms > 0 of any alert, or 0 when none is pending. */
int ct_store_alert_next_deadline(ct_store_t *st, int64_t *deadline_ms);

/*
 * Looks up an earlier message of sender with this client_msg_id. Returns 0 and fills *out and
 * *hash_match (whether its request hash equals request_hash), or CT_ENOTFOUND (*out untouched).
 * *out must be empty or cleared (ct_message_receipt_clear); the caller clears it after use.
 */
int ct_store_message_find(ct_store_t *st, const char *sender_id, const char *client_msg_id,
                          const uint8_t request_hash[32], ct_message_receipt_t *out,
                          bool *hash_match);

/*
 * Stores a message and one pending delivery row per recipient. m->message_id, stored_at_ms and
 * the other fields are the caller's; request_hash identifies the request's content for
 * idempotent resends. Fills out->seq. CT_EEXISTS if (sender, client_msg_id) is taken.
 * All or nothing outside a transaction: the insert undoes itself on error. Inside one, a failed
 * insert may leave part of the message (ct_store_changes moved), and the caller undoes it by
 * rolling back its savepoint or its transaction, as the writer does for a failed job.
 * *out is filled only on success; the caller clears it after use (ct_message_receipt_clear).
 */
int ct_store_message_insert(ct_store_t *st, const ct_message_t *m, const uint8_t request_hash[32],
                            ct_message_receipt_t *out);

/*
 * Marks the delivery of message_id to member_id done. Returns 0 if it was pending, 1 if it was
 * already done, CT_ENOTFOUND if that member is not a recipient of that message.
 */
int ct_store_delivery_ack(ct_store_t *st, const char *member_id, const char *message_id,
                          int64_t now_ms);

/*
 * Reads up to `limit` messages pending for member_id with seq > after_seq, oldest first, into
 * out[] (filled from index 0). Returns the number read (0..limit). The caller frees each with
 * ct_message_clear.
 *
 * Circle of care on every read: a message about a participant (participant_id != "") is skipped
 * (left pending, not returned) while member_id is restricted by that participant (lockbox), and,
 * unless it is a referral event (kind CT_MSG_REFERRAL, which reaches addressees not yet on the
 * team), while member_id is not on that participant's care team.
 */
int ct_store_inbox_page(ct_store_t *st, const char *member_id, int64_t after_seq, ct_message_t *out,
                        int limit);

/*
 * Appends an audit record as the row after the newest one: seq = newest seq + 1 (1 for the
 * first), encoded with the current encoding version (CT_AUDIT_ENCODING_CURRENT, which covers
 * cert_fp), leaf and chain computed by audit_chain.h from the newest row's chain (genesis for the
 * first). The newest row is read under the write lock, in the transaction that inserts the new
 * one, so appends from several processes (the daemon's writer, the admin commands) form one
 * chain. Inside the caller's transaction the row is part of it; with no transaction open the
 * append takes the write lock and commits by itself. The cost is one lookup at the end of the
 * seq index and one insert.
 * Returns the new row's sequence number (>= 1) or a negative error; CT_EINTERNAL (logged) if
 * the newest row's chain value is malformed, since nothing valid can be chained to it.
 */
int64_t ct_store_audit_append(ct_store_t *st, const ct_audit_t *a);

/*
 * The audit rows the newest COMMIT on this handle made durable, in the order they were
 * appended, as tally slots: the action's index in ct_audit_actions (ct_audit_actions_count for
 * a code not in it) times CT_AUDIT_OUTCOME_COLUMNS, plus ct_audit_outcome_column of the outcome.
 * Rows a ROLLBACK TO undid are not among them. *slots stays valid until the next BEGIN. Returns
 * their number: 0 after a failed COMMIT or a ROLLBACK. For the metrics (writer.c), which count
 * every row the daemon commits this way, whoever appended it.
 */
size_t ct_store_audit_committed(const ct_store_t *st, const uint16_t **slots);

/*
 * The newest audit row: its seq and chain value (the chain head), for `audit verify` and signed
 * checkpoints. An empty log gives *seq 0 and the genesis value. CT_EINTERNAL if the
 * stored chain value is not 32 bytes.
 */
int ct_store_audit_head(ct_store_t *st, int64_t *seq, uint8_t chain[CT_AUDIT_HASH_LEN]);

/*
 * One audit row as stored, for the verifier. The texts, leaf and chain point into the store's
 * row buffers and are valid only until the callback returns. The values are exactly what the
 * file holds, which need not be what the store wrote: bad_column names the first column whose
 * SQLite type is not the declared one (NULL when all are right), leaf_len / chain_len are
 * whatever length the stored blobs have, and row.version is the stored encoding version (any
 * integer; the verifier judges it).
 */
typedef struct ct_audit_stored {
    ct_audit_row_t row;
    const uint8_t *leaf;
    size_t leaf_len;
    const uint8_t *chain;
    size_t chain_len;
    const char *bad_column;
} ct_audit_stored_t;

/*
 * Calls cb for every audit row in seq order, one row in memory at a time. Stops early and
 * returns cb's value if it is not 0. The rows come from one read snapshot: rows committed after
 * the scan started are not seen. cb may use other store calls on this handle but not
 * ct_store_audit_scan again.
 */
int ct_store_audit_scan(ct_store_t *st, int (*cb)(const ct_audit_stored_t *row, void *arg),
                        void *arg);

/*
 * Signed checkpoints (audit_chain.h, audit_sign.h), in the append-only audit_checkpoints table,
 * one per covered seq. add stores cp as given (the caller signed it over the head it read in the
 * same transaction); returns 0, 1 if a checkpoint at cp->seq already exists (kept unchanged: its
 * head is necessarily the same), or a negative error.
 */
int ct_store_audit_checkpoint_add(ct_store_t *st, const ct_audit_checkpoint_t *cp);

/* The newest checkpoint's seq and time; *seq 0 (and *time_ms 0) when there is none. */
int ct_store_audit_checkpoint_newest(ct_store_t *st, int64_t *seq, int64_t *time_ms);

/*
 * Calls cb for every checkpoint in seq order (stops early and returns cb's value if not 0). A
 * checkpoint whose columns have the wrong type or length is passed with cp->malformed saying
 * so, and the fields that could be read.
 */
int ct_store_audit_checkpoint_scan(ct_store_t *st,
                                   int (*cb)(const ct_audit_checkpoint_t *cp, void *arg),
                                   void *arg);

/* Counts audit rows with the given action ("" for all): for tests and `careteamd audit`. */
int64_t ct_store_audit_count(ct_store_t *st, const char *action);

/* ---- audit query (AuditQuery, handle_audit_query.c) ---- */

/* What an audit query matches: every field that is set (NULL or "" strings, 0 times and outcome
 * -1 match everything). */
typedef struct ct_audit_filter {
    int64_t since_ms;           /* time_ms >= since_ms; 0 for no lower bound */
    int64_t until_ms;           /* time_ms < until_ms; 0 for no upper bound */
    const char *actor_id;       /* exact */
    const char *participant_id; /* exact */
    const char *action;         /* an exact code, or a prefix ending in '.' ("referral.") */
    int outcome;                /* -1 for any, else 0, 4, 8 or 12 */
    const char *object_type;    /* exact */
    const char *object_id;      /* exact */
} ct_audit_filter_t;

/* One audit row as a query returns it: every stored column but the hashes. The strings point
 * into the store's row buffers and are valid only until the callback returns. cert_fp is ""
 * for rows written before migration 4 and for actors without a certificate. */
typedef struct ct_audit_found {
    int64_t seq;
    int64_t time_ms;
    const char *actor_id;
    int actor_role;
    const char *cert_fp;
    const char *peer_addr;
    const char *action;
    const char *object_type;
    const char *object_id;
    const char *participant_id;
    int outcome;
    const char *detail;
} ct_audit_found_t;

/*
 * Calls cb for the audit rows with seq > after_seq that match f, in seq order, at most `limit`
 * of them (limit >= 1). Stops early when cb returns non-zero and returns that value; else 0 or
 * a negative error. The SQL has a predicate only for each filter that is set, so SQLite can
 * serve it from audit_participant or, for time, actor and action without a participant, from
 * the zone summaries of the log (audit_zones.h): only the zones that may hold a match are read.
 */
int ct_store_audit_query(ct_store_t *st, const ct_audit_filter_t *f, int64_t after_seq, int limit,
                         int (*cb)(const ct_audit_found_t *row, void *arg), void *arg);

/* Checks the zone summary that queries by time, actor or action rely on (audit_zones) against
 * the rows, in one pass over the log (careteamd audit verify): *uncovered is how many zones (of
 * CT_AUDIT_ZONE_ROWS rows by seq) have no summary or one that leaves out a row's time, action or
 * actor; *first the seq of the first row of the first of them (0 if none). Returns 0 or CT_E*. */
int ct_store_audit_zones_check(ct_store_t *st, int64_t *uncovered, int64_t *first);

/* Rebuilds audit_zones from the rows themselves, in a transaction of its own (restore does, so
 * that the summary a backup brings along is never trusted). Returns 0 or CT_E*. */
int ct_store_audit_zones_rebuild(ct_store_t *st);

/* SQLite's plan for the query ct_store_audit_query would run for f (EXPLAIN QUERY PLAN, one
 * step per line) into out: for tests and diagnosis. Returns 0 or CT_E*. */
int ct_store_audit_query_plan(ct_store_t *st, const ct_audit_filter_t *f, char *out, size_t len);

/* ==== retention (careteamd purge; docs/compliance.md "Retention") ==============================
 * A purge removes the content of old messages and the free text of old session summaries and
 * keeps every other column (ids, who, when, recipients and their delivery times), so that the
 * audit trail's references still resolve. Audit rows are never touched. What a purge leaves:
 *  - messages: subject CT_PURGE_MARKER, body "", payload NULL (workflow events lose the snapshot
 *    of their object, which may quote summary or referral text; the object's own row remains);
 *  - summaries: text CT_PURGE_MARKER, goals_progress "", next_steps "" (themes, dates, risk and
 *    the other structured fields stay).
 * Readers see those values as they are; a purged message is still delivered (replay) if it is
 * pending. */

#define CT_PURGE_MARKER "[removed by retention purge]"

typedef struct ct_purge_counts {
    int64_t messages;  /* messages whose content is (or would be) removed */
    int64_t pending;   /* old messages still undelivered to some recipient: kept unless
                          include_pending, else counted in messages too */
    int64_t summaries; /* summaries whose free text is (or would be) removed */
} ct_purge_counts_t;

/* Counts what ct_store_purge_apply would remove: messages stored and summaries created before
 * before_ms (Unix ms) whose content is still there. Writes nothing. */
int ct_store_purge_count(ct_store_t *st, int64_t before_ms, bool include_pending,
                         ct_purge_counts_t *out);

/* Removes it, inside the caller's transaction (CT_EINTERNAL without one), and fills out with
 * what was removed. Sets secure_delete on this handle so freed content is zeroed in the file. */
int ct_store_purge_apply(ct_store_t *st, int64_t before_ms, bool include_pending,
                         ct_purge_counts_t *out);

/* Checkpoints the write-ahead log into the database and truncates it to zero bytes, so that old
 * page images (which may hold purged content) leave the -wal file. CT_EUNAVAIL when another
 * connection's reader holds an older snapshot (a serving daemon may): the log is then overwritten
 * as the daemon writes and checkpoints. Outside a transaction only. */
int ct_store_wal_truncate(ct_store_t *st);

/* ==== forwarding (syslog_fwd.c; docs/compliance.md "Forwarding to a syslog collector") =======
 * The audit table is the durable buffer of what a forwarder has not yet handed to its
 * collector; a named cursor (schema migration 5) keeps the seq of the newest row it has. */

/*
 * Calls cb for the audit rows with seq > after_seq, in seq order, at most `limit` of them
 * (limit >= 1), in their stored form as ct_store_audit_scan gives it (texts, leaf and chain valid
 * only until cb returns). Stops early when cb returns non-zero and returns that value; else 0 or
 * a negative error. One range of the seq index.
 */
int ct_store_audit_after(ct_store_t *st, int64_t after_seq, int limit,
                         int (*cb)(const ct_audit_stored_t *row, void *arg), void *arg);

/* Sets *seq to the cursor `name` (0 when it was never set). Works on a read-only handle. */
int ct_store_forward_cursor_get(ct_store_t *st, const char *name, int64_t *seq);

/* Moves the cursor `name` forward to seq (creating it); a seq not above the stored one leaves it
 * unchanged, so a late or repeated update never moves it back. Returns 0 or CT_E*. */
int ct_store_forward_cursor_set(ct_store_t *st, const char *name, int64_t seq, int64_t now_ms);

/* ==== backup and restore (admin_backup.c; docs/operations.md "Backup and restore") ============
 * Whole-database copies made with SQLite's online backup API. A copy is one read snapshot of its
 * source: every transaction committed before the copy began is in it, none that commits later,
 * and the source's writers are not held up (WAL). The copy is a single file (rollback journal,
 * no -wal) written with synchronous=FULL. */

/*
 * Copies st's database into to_path, a new or empty file (an existing database there is
 * overwritten: the caller makes the path). Outside a transaction only. Returns 0 or CT_E* with
 * errbuf saying why.
 */
int ct_store_backup(ct_store_t *st, const char *to_path, char *errbuf, size_t errlen);

/* Copies the database file from_path (opened read-only, not migrated) into to_path as
 * ct_store_backup does. CT_EINVAL when from_path is not a SQLite database. */
int ct_store_copy_file(const char *from_path, const char *to_path, char *errbuf, size_t errlen);

/* PRAGMA quick_check: 0 when the file's structure is intact, else CT_EINTERNAL with SQLite's
 * first finding in errbuf. */
int ct_store_quick_check(ct_store_t *st, char *errbuf, size_t errlen);

#endif
