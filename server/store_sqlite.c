/*
 * The SQLite implementation of store.h: the one file of careteam that includes sqlite3.h.
 *
 * A ct_store_t wraps one sqlite3 connection plus its cache of prepared statements. Every handle
 * runs with foreign_keys=ON, synchronous=FULL and a busy timeout; the read-write handle also
 * puts the database in WAL mode (persistent in the file), so read-only handles on other threads
 * keep reading while the writer commits. The schema is brought up to date by numbered migrations
 * keyed on PRAGMA user_version (see `migrations` below).
 *
 * Invariants:
 *  1. Every statement in st->stmt[] is prepared at most once per handle (on first use) and is
 *     reset with its bindings cleared before the function that stepped it returns. Text and blob
 *     parameters are therefore bound SQLITE_STATIC: the caller's memory outlives the binding.
 *  2. st->depth is 0 outside a transaction, 1 inside ct_store_begin, and 1 + k with k job
 *     savepoints open. It only changes when the SQL that starts or ends that level succeeded.
 *  3. st->lost is 0 unless SQLite rolled the open transaction back by itself after an error
 *     (disk full, I/O error, out of memory); it then holds that error, and every write and
 *     transaction call returns it until the caller ends the transaction with ct_store_rollback
 *     (or ct_store_commit, which also returns it). No write ever autocommits on its own while
 *     the caller believes a transaction is open.
 *  4. Nothing of a message's subject or body is ever logged. SQLite error messages are logged;
 *     they name tables and columns, never values.
 *  5. The audit rows have seq 1, 2, 3, ... without gaps, and each row's leaf and chain are those
 *     of audit_chain.h under the row's encoding version (column enc), chained to the row before
 *     it. Only audit_append writes audit rows (and migration 2 for the rows that existed before
 *     the chain); it reads the newest row in the write transaction that inserts the next, so
 *     concurrent appenders cannot fork the chain. A checkpoint row (audit_checkpoints) is only
 *     written by checkpoint_add, signed by its caller over a head read in the same transaction.
 *  6. ct_store_inbox_page never returns a message about a participant to a member that store.h's
 *     circle of care excludes (lockbox, or not on the team for anything but a referral event).
 *     The check is in the page's SQL (INBOX_CIRCLE_OF_CARE), so a skipped message stays pending
 *     and is returned by a later read once the member may see it.
 *
 * Transaction states (st->depth, st->lost):
 *
 *            begin                savepoint
 *     IDLE ─────────────► TXN ─────────────────► TXN+SP ──► TXN+SP+SP ...
 *      ▲ ▲                 │  ◄─────────────────
 *      │ └─commit/rollback─┘  release/rollback_to      (TXN* = TXN with any savepoints)
 *      │
 *      └─rollback/commit── LOST ◄── a failed write after which SQLite rolled TXN* back
 *
 *   transition               function                    SQL
 *   IDLE -> TXN              ct_store_begin              BEGIN IMMEDIATE
 *   TXN* -> IDLE             ct_store_commit             COMMIT (ROLLBACK if it fails)
 *   TXN* -> IDLE             ct_store_rollback           ROLLBACK
 *   TXN* -> TXN*+SP          ct_store_savepoint          SAVEPOINT job
 *   TXN*+SP -> TXN*          ct_store_release            RELEASE job
 *   TXN*+SP -> TXN*          ct_store_rollback_to        ROLLBACK TO job; RELEASE job
 *   TXN* -> LOST             any step that fails         (SQLite rolled back on its own)
 *   LOST -> IDLE             ct_store_rollback / commit  (nothing to do)
 */
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "audit_actions.h"
#include "audit_zones.h"
#include "err.h"
#include "log.h"
#include "store_walbuf.h"
#include "text.h"

/* How long a handle waits for another connection's lock before giving up with CT_EUNAVAIL. */
#define BUSY_TIMEOUT_MS 5000

/* Savepoints nested inside one transaction at most (the writer uses one per job). */
#define STORE_MAX_DEPTH 8

#define HASH_LEN 32

/*
 * Schema migrations. migrations[i] brings a database from user_version i to i + 1: its SQL
 * script runs first (if any), then its C function (if any), in one transaction together with the
 * user_version bump, so a crash leaves the database at a whole version. Never edit a migration
 * that has shipped: append a new one, and add a fixture database of the old version to
 * tests/unit/test_store.c.
 */
typedef struct migration {
    const char *sql;            /* a script, or NULL */
    int (*run)(ct_store_t *st); /* returns 0 or a CT_E* code; NULL for none */
} migration_t;

static int migrate_audit_chain(ct_store_t *st);

/*
 * Migration 2 -> 3: the care-team workflow (store.h). Members gain their supervisor; messages
 * gain their kind (existing rows read as CT_MSG_TEXT), event, payload (NULL when there is none)
 * and withheld list. New tables hold participants, their care teams, consents, lockbox
 * restrictions, referrals, session summaries and safety alerts. Foreign keys name participants
 * and members only (neither is ever deleted); the functions still check that those exist before
 * writing, so that callers get CT_ENOTFOUND rather than a constraint error. Each list and filter
 * of store.h is served by an index that gives its order (a care team, a few rows, is sorted).
 */
static const char migrate3_sql[] =
    "ALTER TABLE members ADD COLUMN supervisor_id TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE messages ADD COLUMN kind INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE messages ADD COLUMN event TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE messages ADD COLUMN payload BLOB;"
    "ALTER TABLE messages ADD COLUMN withheld TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE participants ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  label TEXT NOT NULL,"
    "  created_at_ms INTEGER NOT NULL"
    ") STRICT;"
    /* A rowid table: the rowid breaks ties of joined_at_ms in join order. The primary
     * key's index answers "is M on P's team" (relation, the inbox filter). */
    "CREATE TABLE care_team ("
    "  participant_id TEXT NOT NULL REFERENCES participants (id),"
    "  member_id TEXT NOT NULL REFERENCES members (id),"
    "  joined_at_ms INTEGER NOT NULL,"
    "  via TEXT NOT NULL,"
    "  PRIMARY KEY (participant_id, member_id)"
    ") STRICT;"
    "CREATE TABLE consents ("
    "  consent_id TEXT PRIMARY KEY NOT NULL,"
    "  participant_id TEXT NOT NULL REFERENCES participants (id),"
    "  scope INTEGER NOT NULL,"
    "  method INTEGER NOT NULL,"
    "  note TEXT NOT NULL,"
    "  recorded_by TEXT NOT NULL,"
    "  recorded_at_ms INTEGER NOT NULL,"
    /* The struct's "" / 0 for an active consent are also valid values of a withdrawal
     * (a test clock at 0), so withdrawal has its own flag. */
    "  withdrawn INTEGER NOT NULL DEFAULT 0 CHECK (withdrawn IN (0, 1)),"
    "  withdrawn_by TEXT NOT NULL DEFAULT '',"
    "  withdrawn_at_ms INTEGER NOT NULL DEFAULT 0,"
    "  withdraw_reason TEXT NOT NULL DEFAULT ''"
    ") STRICT;"
    "CREATE INDEX consents_participant"
    "  ON consents (participant_id, recorded_at_ms, consent_id);"
    /* Rowid table for the same reason as care_team (oldest first). */
    "CREATE TABLE restrictions ("
    "  participant_id TEXT NOT NULL REFERENCES participants (id),"
    "  member_id TEXT NOT NULL REFERENCES members (id),"
    "  reason TEXT NOT NULL,"
    "  recorded_by TEXT NOT NULL,"
    "  recorded_at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (participant_id, member_id)"
    ") STRICT;"
    "CREATE TABLE referrals ("
    "  referral_id TEXT PRIMARY KEY NOT NULL,"
    "  participant_id TEXT NOT NULL REFERENCES participants (id),"
    "  referrer_id TEXT NOT NULL,"
    "  addressee_id TEXT NOT NULL,"
    "  assignee_id TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  held_from INTEGER NOT NULL,"
    "  priority INTEGER NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  goals TEXT NOT NULL,"
    "  status_reason TEXT NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  updated_at_ms INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX referrals_participant"
    "  ON referrals (participant_id, created_at_ms, referral_id);"
    "CREATE INDEX referrals_assignee ON referrals (assignee_id, created_at_ms, referral_id);"
    "CREATE INDEX referrals_referrer ON referrals (referrer_id, created_at_ms, referral_id);"
    "CREATE INDEX referrals_status ON referrals (status, created_at_ms, referral_id);"
    /* Lists with no leading filter: newest first without a sort. The queue is served by
     * referrals_status (status 1), its addressee checked on those rows. */
    "CREATE INDEX referrals_created ON referrals (created_at_ms, referral_id);"
    "CREATE TABLE summaries ("
    "  summary_id TEXT PRIMARY KEY NOT NULL,"
    "  referral_id TEXT NOT NULL,"
    "  participant_id TEXT NOT NULL REFERENCES participants (id),"
    "  author_id TEXT NOT NULL,"
    "  session_date TEXT NOT NULL,"
    "  duration_minutes INTEGER NOT NULL,"
    "  format INTEGER NOT NULL,"
    "  themes TEXT NOT NULL,"
    "  goals_progress TEXT NOT NULL,"
    "  next_steps TEXT NOT NULL,"
    "  participant_reviewed INTEGER NOT NULL CHECK (participant_reviewed IN (0, 1)),"
    "  risk INTEGER NOT NULL,"
    "  text TEXT NOT NULL,"
    "  amends_summary_id TEXT NOT NULL,"
    "  alert_id TEXT NOT NULL,"
    "  created_at_ms INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX summaries_participant"
    "  ON summaries (participant_id, created_at_ms, summary_id);"
    "CREATE INDEX summaries_referral ON summaries (referral_id, created_at_ms, summary_id);"
    "CREATE TABLE alerts ("
    "  alert_id TEXT PRIMARY KEY NOT NULL,"
    "  participant_id TEXT NOT NULL REFERENCES participants (id),"
    "  raised_by TEXT NOT NULL,"
    "  source INTEGER NOT NULL,"
    "  summary_id TEXT NOT NULL,"
    "  referral_id TEXT NOT NULL,"
    "  risk INTEGER NOT NULL,"
    "  text TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  escalations INTEGER NOT NULL CHECK (escalations >= 0),"
    "  deadline_ms INTEGER NOT NULL,"
    "  created_at_ms INTEGER NOT NULL,"
    "  acknowledged_by TEXT NOT NULL,"
    "  acknowledged_at_ms INTEGER NOT NULL,"
    "  note TEXT NOT NULL"
    ") STRICT;"
    "CREATE INDEX alerts_participant ON alerts (participant_id, created_at_ms, alert_id);"
    "CREATE INDEX alerts_created ON alerts (created_at_ms, alert_id);"
    /* The escalation timer: only alerts with a deadline pending. */
    "CREATE INDEX alerts_deadline ON alerts (deadline_ms, alert_id) WHERE deadline_ms > 0;";

/*
 * Migration 3 -> 4: the audit trail records the actor's certificate fingerprint and is signed
 * (issue 4). audit gains cert_fp and enc, the row's canonical encoding version (audit_chain.h):
 * existing rows keep version 1 and an empty cert_fp, so their leaves and chains stay valid, and
 * new rows are written with version 2, which covers cert_fp. ADD COLUMN leaves the table STRICT
 * and its append-only triggers in place (it fires no UPDATE trigger). audit_checkpoints holds
 * the signed checkpoints, append-only too. The four indexes serve the audit query (by time, and
 * by actor, participant or action in seq order).
 */
static const char migrate4_sql[] =
    "ALTER TABLE audit ADD COLUMN cert_fp TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE audit ADD COLUMN enc INTEGER NOT NULL DEFAULT 1;"
    "CREATE TABLE audit_checkpoints ("
    "  seq INTEGER PRIMARY KEY CHECK (seq >= 1),"
    "  head BLOB NOT NULL CHECK (length(head) = 32),"
    "  time_ms INTEGER NOT NULL,"
    "  signature BLOB NOT NULL CHECK (length(signature) = 64),"
    "  key_id TEXT NOT NULL"
    ") STRICT;"
    "CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints"
    "  BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;"
    "CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints"
    "  BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;"
    "CREATE INDEX audit_time ON audit (time_ms);"
    "CREATE INDEX audit_actor ON audit (actor_id, seq);"
    "CREATE INDEX audit_participant ON audit (participant_id, seq);"
    "CREATE INDEX audit_action ON audit (action, seq);";

/*
 * Migration 4 -> 5: the forwarding cursors (store.h, "forwarding"). One row per forwarder
 * (name "syslog" for syslog_fwd.c): the seq of the newest audit row it has handed to its
 * collector. The audit table itself is the buffer of what is not yet forwarded, so this is all
 * the state forwarding keeps on disk.
 */
static const char migrate_forward_sql[] = "CREATE TABLE forward_cursors ("
                                          "  name TEXT PRIMARY KEY NOT NULL,"
                                          "  seq INTEGER NOT NULL CHECK (seq >= 0),"
                                          "  updated_at_ms INTEGER NOT NULL"
                                          ") STRICT;";

/*
 * Migration 5 -> 6: audit_participant leaves out the rows about no participant (sessions,
 * messages without one, daemon events), which are most rows and were all one key ('') that every
 * such append had to insert into. A query by participant names a participant, and says
 * `participant_id <> ''` too (aq_build), so that SQLite can use the partial index.
 */
static const char migrate_audit_participant_sql[] =
    "DROP INDEX audit_participant;"
    "CREATE INDEX audit_participant ON audit (participant_id, seq) WHERE participant_id <> '';";

/*
 * Migration 6 -> 7: audit_time gives way to audit_zones, a summary of the time range of each
 * zone of CT_AUDIT_ZONE_ROWS consecutive rows (zone = (seq - 1) >> CT_AUDIT_ZONE_SHIFT). The
 * index cost one B-tree entry per row, about 8 % of the relay's throughput (docs/performance.md);
 * a zone row is updated once per commit (zones_note). A query by time reads the zones whose
 * range meets it and then only those rows (aq_build), with the exact time test on each row, so
 * rows written out of time order (another process, a clock set back) are still found: they
 * widen their zone's range. `careteamd audit verify` checks that every zone covers its rows.
 */
#define ZONE_SHIFT_SQL "10"
#define ZONE_ROWS_SQL "1024"
_Static_assert(CT_AUDIT_ZONE_ROWS == 1024, "ZONE_SHIFT_SQL and ZONE_ROWS_SQL follow the shift");
static const char migrate_audit_zones_sql[] =
    "CREATE TABLE audit_zones ("
    "  zone INTEGER PRIMARY KEY,"
    "  min_time INTEGER NOT NULL,"
    "  max_time INTEGER NOT NULL"
    ") STRICT;"
    "INSERT INTO audit_zones (zone, min_time, max_time)"
    " SELECT (seq - 1) >> " ZONE_SHIFT_SQL ", min(time_ms), max(time_ms) FROM audit"
    " WHERE true GROUP BY 1;"
    "DROP INDEX audit_time;";

/*
 * Migration 7 -> 8: the zones also summarise their actions (a 64-bit mask) and actors (a 512-bit
 * Bloom filter in eight integers), see audit_zones.h, and audit_actor and audit_action give way
 * to them: together they were about 16 % of the relay's throughput (docs/performance.md). The
 * zones that exist get every bit set, so that they match every query: still exact, only not
 * narrowed.
 */
static const char migrate_audit_zone_bits_sql[] =
    "ALTER TABLE audit_zones ADD COLUMN actions INTEGER NOT NULL DEFAULT -1;"
    "ALTER TABLE audit_zones ADD COLUMN actors0 INTEGER NOT NULL DEFAULT -1;"
    "ALTER TABLE audit_zones ADD COLUMN actors1 INTEGER NOT NULL DEFAULT -1;"
    "ALTER TABLE audit_zones ADD COLUMN actors2 INTEGER NOT NULL DEFAULT -1;"
    "ALTER TABLE audit_zones ADD COLUMN actors3 INTEGER NOT NULL DEFAULT -1;"
    "ALTER TABLE audit_zones ADD COLUMN actors4 INTEGER NOT NULL DEFAULT -1;"
    "ALTER TABLE audit_zones ADD COLUMN actors5 INTEGER NOT NULL DEFAULT -1;"
    "ALTER TABLE audit_zones ADD COLUMN actors6 INTEGER NOT NULL DEFAULT -1;"
    "ALTER TABLE audit_zones ADD COLUMN actors7 INTEGER NOT NULL DEFAULT -1;"
    "DROP INDEX audit_actor;"
    "DROP INDEX audit_action;";

/*
 * Migration 8 -> 9: action bits from a fixed table of the action codes instead of a hash of them
 * (audit_zones.c): a hash put some rare actions on the bit of a common one, so that a query for
 * them read the whole log (docs/performance.md, "Audit queries"). The zones written with the
 * hashed bits match every action from now on.
 */
static const char migrate_audit_zone_actions_sql[] = "UPDATE audit_zones SET actions = -1;";

/*
 * Migration 9 -> 10: messages without AUTOINCREMENT. It made SQLite read and rewrite the
 * sqlite_sequence row on every insert, which was about 10 % of the relay's throughput
 * (docs/performance.md). What it guarded, that a committed seq is never reused (the inbox
 * replay pages by seq), now rests on rows never being deleted (a purge blanks them,
 * ct_store_purge_apply), so that SQLite's newest + 1 is always a new seq; a trigger holds every
 * writer to it. (Only a database whose newest messages were deleted by hand, which no careteamd
 * ever did, loses numbers above its newest row with sqlite_sequence.) SQLite cannot drop
 * AUTOINCREMENT in place, so both tables are rebuilt: recipients first, pointing at the new
 * messages table, so that dropping the old one (an implicit DELETE under foreign_keys = ON)
 * cascades to nothing. RENAME carries the recipients' REFERENCES along to the final name. The old
 * tables' rows are copied as they are.
 */
#define MESSAGE_COLUMNS                                                                            \
    "seq, message_id, sender_id, sender_role, client_msg_id, request_hash, participant_id,"        \
    " subject, body, priority, stored_at_ms, kind, event, payload, withheld"
static const char migrate_messages_seq_sql[] =
    "CREATE TABLE messages_v10 ("
    "  seq INTEGER PRIMARY KEY,"
    "  message_id TEXT NOT NULL UNIQUE,"
    "  sender_id TEXT NOT NULL,"
    "  sender_role INTEGER NOT NULL,"
    "  client_msg_id TEXT NOT NULL,"
    "  request_hash BLOB NOT NULL CHECK (length(request_hash) = 32),"
    "  participant_id TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  priority INTEGER NOT NULL,"
    "  stored_at_ms INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL DEFAULT 1,"
    "  event TEXT NOT NULL DEFAULT '',"
    "  payload BLOB,"
    "  withheld TEXT NOT NULL DEFAULT '',"
    "  UNIQUE (sender_id, client_msg_id)"
    ");"
    "INSERT INTO messages_v10 (" MESSAGE_COLUMNS ") SELECT " MESSAGE_COLUMNS
    " FROM messages ORDER BY seq;"
    "CREATE TABLE message_recipients_v10 ("
    "  message_seq INTEGER NOT NULL REFERENCES messages_v10 (seq) ON DELETE CASCADE,"
    "  member_id TEXT NOT NULL,"
    "  position INTEGER NOT NULL,"
    "  delivered_at_ms INTEGER,"
    "  PRIMARY KEY (message_seq, member_id)"
    ") WITHOUT ROWID;"
    "INSERT INTO message_recipients_v10 (message_seq, member_id, position, delivered_at_ms)"
    " SELECT message_seq, member_id, position, delivered_at_ms FROM message_recipients"
    " ORDER BY message_seq, member_id;"
    "DROP TABLE message_recipients;"
    "DROP TABLE messages;"
    "ALTER TABLE messages_v10 RENAME TO messages;"
    "ALTER TABLE message_recipients_v10 RENAME TO message_recipients;"
    "CREATE INDEX message_recipients_pending ON message_recipients (member_id, message_seq)"
    "  WHERE delivered_at_ms IS NULL;"
    "CREATE TRIGGER messages_no_delete BEFORE DELETE ON messages"
    "  BEGIN SELECT RAISE(ABORT, 'messages are never deleted: a seq must not be reused'); END;";

/* One zone's summary merged into audit_zones (zones_note): ?1 zone, ?2 ?3 times, ?4 actions,
 * ?5..?12 actor words. */
#define ZONE_MERGE_SQL                                                                             \
    "INSERT INTO audit_zones (zone, min_time, max_time, actions, actors0, actors1, actors2,"       \
    " actors3, actors4, actors5, actors6, actors7)"                                                \
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"                                  \
    " ON CONFLICT (zone) DO UPDATE SET min_time = min(min_time, excluded.min_time),"               \
    " max_time = max(max_time, excluded.max_time), actions = actions | excluded.actions,"          \
    " actors0 = actors0 | excluded.actors0, actors1 = actors1 | excluded.actors1,"                 \
    " actors2 = actors2 | excluded.actors2, actors3 = actors3 | excluded.actors3,"                 \
    " actors4 = actors4 | excluded.actors4, actors5 = actors5 | excluded.actors5,"                 \
    " actors6 = actors6 | excluded.actors6, actors7 = actors7 | excluded.actors7"

static const migration_t migrations[] = {
    /* 0 -> 1: members, messages with their recipients, and the append-only audit trail. */
    {.sql = "CREATE TABLE members ("
            "  id TEXT PRIMARY KEY NOT NULL,"
            "  display_name TEXT NOT NULL,"
            "  role INTEGER NOT NULL,"
            "  active INTEGER NOT NULL CHECK (active IN (0, 1)),"
            "  created_at_ms INTEGER NOT NULL"
            ");"
            /* AUTOINCREMENT: a seq is never reused, even after the newest message is deleted, so
             * the after_seq cursors that clients keep stay meaningful. (Migration 10 drops it
             * and forbids deletes instead.) */
            "CREATE TABLE messages ("
            "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            "  message_id TEXT NOT NULL UNIQUE,"
            "  sender_id TEXT NOT NULL,"
            "  sender_role INTEGER NOT NULL,"
            "  client_msg_id TEXT NOT NULL,"
            "  request_hash BLOB NOT NULL CHECK (length(request_hash) = 32),"
            "  participant_id TEXT NOT NULL,"
            "  subject TEXT NOT NULL,"
            "  body TEXT NOT NULL,"
            "  priority INTEGER NOT NULL,"
            "  stored_at_ms INTEGER NOT NULL,"
            "  UNIQUE (sender_id, client_msg_id)"
            ");"
            "CREATE TABLE message_recipients ("
            "  message_seq INTEGER NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,"
            "  member_id TEXT NOT NULL,"
            "  position INTEGER NOT NULL,"
            "  delivered_at_ms INTEGER,"
            "  PRIMARY KEY (message_seq, member_id)"
            ") WITHOUT ROWID;"
            /* Inbox replay: "pending for member X with seq > N, by seq" is one range scan of this
             * partial index, which holds only undelivered rows and so stays small. */
            "CREATE INDEX message_recipients_pending ON message_recipients (member_id, message_seq)"
            "  WHERE delivered_at_ms IS NULL;"
            "CREATE TABLE audit ("
            "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            "  time_ms INTEGER NOT NULL,"
            "  actor_id TEXT NOT NULL,"
            "  actor_role INTEGER NOT NULL,"
            "  peer_addr TEXT NOT NULL,"
            "  action TEXT NOT NULL,"
            "  object_type TEXT NOT NULL,"
            "  object_id TEXT NOT NULL,"
            "  participant_id TEXT NOT NULL,"
            "  outcome INTEGER NOT NULL,"
            "  detail TEXT NOT NULL"
            ");"
            "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
            "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
            "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
            "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"},
    /* 1 -> 2: the audit rows gain leaf and chain (audit_chain.h); existing rows are chained in
     * seq order. See migrate_audit_chain. */
    {.run = migrate_audit_chain},
    /* 2 -> 3: the care-team workflow; see migrate3_sql. */
    {.sql = migrate3_sql},
    /* 3 -> 4: cert_fp and encoding version 2, signed checkpoints; see migrate4_sql. */
    {.sql = migrate4_sql},
    /* 4 -> 5: the forwarding cursors (syslog_fwd.c); see migrate_forward_sql. */
    {.sql = migrate_forward_sql},
    /* 5 -> 6: audit_participant only for rows about a participant; see its SQL. */
    {.sql = migrate_audit_participant_sql},
    /* 6 -> 7: audit_zones instead of the audit_time index; see its SQL. */
    {.sql = migrate_audit_zones_sql},
    /* 7 -> 8: zones summarise actions and actors, instead of audit_action and audit_actor. */
    {.sql = migrate_audit_zone_bits_sql},
    /* 8 -> 9: action bits from a table, not a hash; see its SQL. */
    {.sql = migrate_audit_zone_actions_sql},
    /* 9 -> 10: messages without AUTOINCREMENT; see its SQL. */
    {.sql = migrate_messages_seq_sql},
};

#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

/* The columns of an audit row that encoding version 1 covers, in the order of audit_row_from
 * below (migration 2 reads and writes exactly these). The scan and the append add leaf, chain,
 * and then the columns of migration 4, cert_fp and enc: AUDIT_STORED_COLUMNS. */
#define AUDIT_ROW_COLUMNS                                                                          \
    "seq, time_ms, actor_id, actor_role, peer_addr, action, object_type, object_id,"               \
    " participant_id, outcome, detail"
#define AUDIT_STORED_COLUMNS AUDIT_ROW_COLUMNS ", leaf, chain, cert_fp, enc"

/* The columns of a member row, in the order of member_from_row. */
#define MEMBER_COLUMNS_OF(t)                                                                       \
    t ".id, " t ".display_name, " t ".role, " t ".active, " t ".created_at_ms, " t ".supervisor_"  \
      "id"
#define MEMBER_COLUMNS "id, display_name, role, active, created_at_ms, supervisor_id"

/*
 * The circle of care of the inbox (store.h, ct_store_inbox_page), on the row of messages AS m
 * for member ?1: a message about no participant always passes; one about a participant passes
 * when ?1 is not restricted by that participant and, unless it is a referral event (kind 2), is
 * on that participant's team. Both subqueries are one lookup in a primary-key index, so the page
 * stays one range scan of message_recipients_pending.
 */
#define INBOX_CIRCLE_OF_CARE                                                                       \
    "(m.participant_id = ''"                                                                       \
    " OR (NOT EXISTS (SELECT 1 FROM restrictions AS x"                                             \
    "                 WHERE x.participant_id = m.participant_id AND x.member_id = ?1)"             \
    "     AND (m.kind = 2 OR EXISTS (SELECT 1 FROM care_team AS t"                                 \
    "          WHERE t.participant_id = m.participant_id AND t.member_id = ?1))))"

/* The columns of each workflow table, in the order of its *_from_row and its INSERT. The UPDATEs
 * of referrals and alerts number their parameters as these columns too, so that one bind_* function
 * per struct serves both the insert and the update. */
#define CONSENT_COLUMNS                                                                            \
    "consent_id, participant_id, scope, method, note, recorded_by, recorded_at_ms, withdrawn,"     \
    " withdrawn_by, withdrawn_at_ms, withdraw_reason"
#define REFERRAL_COLUMNS                                                                           \
    "referral_id, participant_id, referrer_id, addressee_id, assignee_id, status, held_from,"      \
    " priority, reason, goals, status_reason, created_at_ms, updated_at_ms"
#define SUMMARY_COLUMNS                                                                            \
    "summary_id, referral_id, participant_id, author_id, session_date, duration_minutes, format,"  \
    " themes, goals_progress, next_steps, participant_reviewed, risk, text, amends_summary_id,"    \
    " alert_id, created_at_ms"
#define ALERT_COLUMNS                                                                              \
    "alert_id, participant_id, raised_by, source, summary_id, referral_id, risk, text, status,"    \
    " escalations, deadline_ms, created_at_ms, acknowledged_by, acknowledged_at_ms, note"

/* The wire's ALERT_STATUS_ACKNOWLEDGED: the one status that is not "open" for alert_list. */
#define ALERT_ACKNOWLEDGED "3"

/*
 * A referral list whose WHERE starts with `lead`, the term one index serves (see
 * ct_store_referral_list); every filter is then applied to what that index yields, newest
 * first. Parameters: ?1 participant, ?2 assignee, ?3 referrer ("" for any), ?4 queue_only,
 * ?5 status (0 for any), ?6 limit (-1 for none).
 */
#define REFERRAL_LIST(lead)                                                                        \
    "SELECT " REFERRAL_COLUMNS " FROM referrals WHERE " lead                                       \
    " AND (?1 = '' OR participant_id = ?1) AND (?2 = '' OR assignee_id = ?2)"                      \
    " AND (?3 = '' OR referrer_id = ?3) AND (?4 = 0 OR (status = 1 AND addressee_id = ''))"        \
    " AND (?5 = 0 OR status = ?5)"                                                                 \
    " ORDER BY created_at_ms DESC, referral_id DESC LIMIT ?6"

/* Every statement a handle may run: X(name, sql). Prepared lazily, see stmt_get. */
#define STMT_MAP(X)                                                                                \
    X(BEGIN, "BEGIN IMMEDIATE")                                                                    \
    X(COMMIT, "COMMIT")                                                                            \
    X(ROLLBACK, "ROLLBACK")                                                                        \
    X(SAVEPOINT, "SAVEPOINT job")                                                                  \
    X(RELEASE, "RELEASE job")                                                                      \
    X(ROLLBACK_TO, "ROLLBACK TO job")                                                              \
    X(MSG_SAVEPOINT, "SAVEPOINT message_insert")                                                   \
    X(MSG_RELEASE, "RELEASE message_insert")                                                       \
    X(MSG_ROLLBACK_TO, "ROLLBACK TO message_insert")                                               \
    X(USER_VERSION, "PRAGMA user_version")                                                         \
    X(MEMBER_ADD, "INSERT INTO members (" MEMBER_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)")      \
    X(MEMBER_GET, "SELECT " MEMBER_COLUMNS " FROM members WHERE id = ?1")                          \
    X(MEMBER_SET_ACTIVE, "UPDATE members SET active = ?2 WHERE id = ?1")                           \
    X(MEMBER_SET_SUPERVISOR, "UPDATE members SET supervisor_id = ?2 WHERE id = ?1")                \
    X(MEMBER_LIST, "SELECT " MEMBER_COLUMNS " FROM members ORDER BY id")                           \
    X(MSG_FIND, "SELECT seq, message_id, stored_at_ms, request_hash, withheld FROM messages"       \
                " WHERE sender_id = ?1 AND client_msg_id = ?2")                                    \
    X(MSG_INSERT, "INSERT INTO messages (message_id, sender_id, sender_role, client_msg_id,"       \
                  " request_hash, participant_id, subject, body, priority, stored_at_ms,"          \
                  " kind, event, payload, withheld)"                                               \
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)")         \
    X(RCPT_INSERT, "INSERT INTO message_recipients (message_seq, member_id, position)"             \
                   " VALUES (?1, ?2, ?3)")                                                         \
    X(RCPT_ACK, "UPDATE message_recipients SET delivered_at_ms = ?3"                               \
                " WHERE member_id = ?1 AND delivered_at_ms IS NULL"                                \
                " AND message_seq = (SELECT seq FROM messages WHERE message_id = ?2)")             \
    X(RCPT_EXISTS, "SELECT EXISTS (SELECT 1 FROM message_recipients"                               \
                   " WHERE member_id = ?1"                                                         \
                   " AND message_seq = (SELECT seq FROM messages WHERE message_id = ?2))")         \
    X(INBOX_PAGE, "SELECT m.seq, m.message_id, m.sender_id, m.sender_role, m.client_msg_id,"       \
                  " m.participant_id, m.subject, m.body, m.priority, m.stored_at_ms,"              \
                  " m.kind, m.event, m.payload, m.withheld"                                        \
                  " FROM message_recipients AS r JOIN messages AS m ON m.seq = r.message_seq"      \
                  " WHERE r.member_id = ?1 AND r.delivered_at_ms IS NULL AND r.message_seq > ?2"   \
                  " AND " INBOX_CIRCLE_OF_CARE " ORDER BY r.message_seq LIMIT ?3")                 \
    X(RCPT_LIST, "SELECT member_id FROM message_recipients WHERE message_seq = ?1"                 \
                 " ORDER BY position")                                                             \
    X(AUDIT_HEAD, "SELECT seq, chain FROM audit ORDER BY seq DESC LIMIT 1")                        \
    X(AUDIT_APPEND, "INSERT INTO audit (" AUDIT_STORED_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5,"     \
                    " ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)")                              \
    X(AUDIT_SCAN, "SELECT " AUDIT_STORED_COLUMNS " FROM audit ORDER BY seq")                       \
    X(CHECKPOINT_ADD, "INSERT INTO audit_checkpoints (seq, head, time_ms, signature, key_id)"      \
                      " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (seq) DO NOTHING")                 \
    X(CHECKPOINT_NEWEST, "SELECT seq, time_ms FROM audit_checkpoints ORDER BY seq DESC LIMIT 1")   \
    X(CHECKPOINT_SCAN, "SELECT seq, head, time_ms, signature, key_id FROM audit_checkpoints"       \
                       " ORDER BY seq")                                                            \
    X(AUDIT_COUNT, "SELECT count(*) FROM audit WHERE ?1 = '' OR action = ?1")                      \
    X(AUDIT_ZONE_MERGE, ZONE_MERGE_SQL)                                                            \
    X(EXISTS_PM, "SELECT EXISTS (SELECT 1 FROM participants WHERE id = ?1),"                       \
                 " EXISTS (SELECT 1 FROM members WHERE id = ?2)")                                  \
    X(PARTICIPANT_ADD, "INSERT INTO participants (id, label, created_at_ms) VALUES (?1, ?2, ?3)")  \
    X(PARTICIPANT_GET, "SELECT id, label, created_at_ms FROM participants WHERE id = ?1")          \
    X(PARTICIPANT_LIST, "SELECT id, label, created_at_ms FROM participants ORDER BY id")           \
    X(TEAM_ADD, "INSERT INTO care_team (participant_id, member_id, joined_at_ms, via)"             \
                " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (participant_id, member_id) DO NOTHING")     \
    X(TEAM_REMOVE, "DELETE FROM care_team WHERE participant_id = ?1 AND member_id = ?2")           \
    X(TEAM_LIST, "SELECT " MEMBER_COLUMNS_OF(                                                      \
                     "m") ", t.participant_id, t.joined_at_ms, t.via"                              \
                          " FROM care_team AS t JOIN members AS m ON m.id = t.member_id"           \
                          " WHERE t.participant_id = ?1 ORDER BY t.joined_at_ms, t.rowid")         \
    X(RELATION,                                                                                    \
      "SELECT EXISTS (SELECT 1 FROM care_team"                                                     \
      "               WHERE participant_id = ?1 AND member_id = ?2),"                              \
      " EXISTS (SELECT 1 FROM restrictions WHERE participant_id = ?1 AND member_id = ?2)")         \
    X(CONSENT_ADD, "INSERT INTO consents (" CONSENT_COLUMNS ")"                                    \
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")                       \
    X(CONSENT_GET, "SELECT " CONSENT_COLUMNS " FROM consents WHERE consent_id = ?1")               \
    X(CONSENT_WITHDRAW, "UPDATE consents SET withdrawn = 1, withdrawn_by = ?2,"                    \
                        " withdrawn_at_ms = ?3, withdraw_reason = ?4"                              \
                        " WHERE consent_id = ?1 AND withdrawn = 0")                                \
    X(CONSENT_ACTIVE, "SELECT EXISTS (SELECT 1 FROM consents"                                      \
                      " WHERE participant_id = ?1 AND scope = ?2 AND withdrawn = 0)")              \
    X(CONSENT_LIST, "SELECT " CONSENT_COLUMNS " FROM consents WHERE participant_id = ?1"           \
                    " ORDER BY recorded_at_ms DESC, consent_id DESC")                              \
    X(RESTRICTION_ADD, "INSERT INTO restrictions (participant_id, member_id, reason, recorded_by," \
                       " recorded_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)"                              \
                       " ON CONFLICT (participant_id, member_id) DO NOTHING")                      \
    X(RESTRICTION_REMOVE, "DELETE FROM restrictions WHERE participant_id = ?1 AND member_id = ?2") \
    X(RESTRICTION_LIST, "SELECT participant_id, member_id, reason, recorded_by, recorded_at_ms"    \
                        " FROM restrictions WHERE participant_id = ?1"                             \
                        " ORDER BY recorded_at_ms, rowid")                                         \
    X(REFERRAL_INSERT, "INSERT INTO referrals (" REFERRAL_COLUMNS ")"                              \
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")         \
    X(REFERRAL_GET, "SELECT " REFERRAL_COLUMNS " FROM referrals WHERE referral_id = ?1")           \
    X(REFERRAL_UPDATE, "UPDATE referrals SET addressee_id = ?4, assignee_id = ?5, status = ?6,"    \
                       " held_from = ?7, status_reason = ?11, updated_at_ms = ?13"                 \
                       " WHERE referral_id = ?1")                                                  \
    X(REFERRAL_LIST_PARTICIPANT, REFERRAL_LIST("participant_id = ?1"))                             \
    X(REFERRAL_LIST_ASSIGNEE, REFERRAL_LIST("assignee_id = ?2"))                                   \
    X(REFERRAL_LIST_REFERRER, REFERRAL_LIST("referrer_id = ?3"))                                   \
    X(REFERRAL_LIST_QUEUE, REFERRAL_LIST("status = 1 AND addressee_id = ''"))                      \
    X(REFERRAL_LIST_STATUS, REFERRAL_LIST("status = ?5"))                                          \
    X(REFERRAL_LIST_ALL, REFERRAL_LIST("1"))                                                       \
    X(SUMMARY_INSERT, "INSERT INTO summaries (" SUMMARY_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5,"    \
                      " ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)")                       \
    X(SUMMARY_GET, "SELECT " SUMMARY_COLUMNS " FROM summaries WHERE summary_id = ?1")              \
    X(SUMMARY_LIST_PARTICIPANT, "SELECT " SUMMARY_COLUMNS " FROM summaries"                        \
                                " WHERE participant_id = ?1 AND (?2 = '' OR referral_id = ?2)"     \
                                " ORDER BY created_at_ms DESC, summary_id DESC LIMIT ?3")          \
    X(SUMMARY_LIST_REFERRAL, "SELECT " SUMMARY_COLUMNS " FROM summaries"                           \
                             " WHERE referral_id = ?2 AND (?1 = '' OR participant_id = ?1)"        \
                             " ORDER BY created_at_ms DESC, summary_id DESC LIMIT ?3")             \
    X(ALERT_INSERT, "INSERT INTO alerts (" ALERT_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"   \
                    " ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)")                                      \
    X(ALERT_GET, "SELECT " ALERT_COLUMNS " FROM alerts WHERE alert_id = ?1")                       \
    X(ALERT_UPDATE, "UPDATE alerts SET status = ?9, escalations = ?10, deadline_ms = ?11,"         \
                    " acknowledged_by = ?13, acknowledged_at_ms = ?14, note = ?15"                 \
                    " WHERE alert_id = ?1")                                                        \
    X(ALERT_LIST_PARTICIPANT, "SELECT " ALERT_COLUMNS " FROM alerts WHERE participant_id = ?1"     \
                              " AND (?2 = 0 OR status != " ALERT_ACKNOWLEDGED ")"                  \
                              " ORDER BY created_at_ms DESC, alert_id DESC LIMIT ?3")              \
    X(ALERT_LIST_ALL, "SELECT " ALERT_COLUMNS " FROM alerts"                                       \
                      " WHERE ?2 = 0 OR status != " ALERT_ACKNOWLEDGED                             \
                      " ORDER BY created_at_ms DESC, alert_id DESC LIMIT ?3")                      \
    X(ALERT_DUE, "SELECT " ALERT_COLUMNS " FROM alerts WHERE deadline_ms > 0"                      \
                 " AND deadline_ms <= ?1 ORDER BY deadline_ms, alert_id")                          \
    X(ALERT_NEXT_DEADLINE, "SELECT min(deadline_ms) FROM alerts WHERE deadline_ms > 0")

enum stmt_id {
#define STMT_ENUM(name, sql) STMT_##name,
    STMT_MAP(STMT_ENUM)
#undef STMT_ENUM
};

enum {
#define STMT_ONE(name, sql) +1
    STMT_COUNT = 0 STMT_MAP(STMT_ONE)
#undef STMT_ONE
};

static const char *const stmt_sql[STMT_COUNT] = {
#define STMT_SQL(name, sql) [STMT_##name] = sql,
    STMT_MAP(STMT_SQL)
#undef STMT_SQL
};

/* Members remembered per write transaction (ct_store.members). */
#define MEMBER_CACHE 8

struct ct_store {
    sqlite3 *db; /* owned; closed by ct_store_close */
    ct_store_mode_t mode;
    int depth;                      /* invariant 2 */
    int lost;                       /* invariant 3 */
    sqlite3_stmt *stmt[STMT_COUNT]; /* owned, NULL until first use; invariant 1 */
    /* The newest audit row as this write transaction left it, so that the next append need
     * not read it back: valid only when head_known, which only audit_insert sets and every
     * BEGIN, COMMIT, ROLLBACK and ROLLBACK TO clears (no other writer can append meanwhile:
     * the transaction holds the write lock). */
    bool head_known;
    int64_t head_seq;
    uint8_t head_chain[CT_AUDIT_HASH_LEN];
    /* The summaries of the zones this write transaction appended to (n_zones of them), merged
     * into audit_zones just before COMMIT (zones_note). Emptied at BEGIN, COMMIT and ROLLBACK;
     * kept across ROLLBACK TO: a row rolled back leaves its zone's summary a little wider,
     * which only costs a query a few more rows to test. */
    ct_audit_zone_t *zones;
    size_t n_zones, cap_zones;
    /* The audit rows this write transaction appended, as tally slots (ct_store_audit_committed),
     * in order. tally_mark[d] is how many there were when the savepoint at depth d opened, so
     * that its ROLLBACK TO drops its rows. Emptied at BEGIN and ROLLBACK; after a COMMIT that
     * succeeded they are its rows (tally_committed) until the next BEGIN. */
    uint16_t *tally;
    size_t n_tally, cap_tally;
    size_t tally_mark[STORE_MAX_DEPTH + 1];
    bool tally_committed;
    /* Manual log checkpoints (ct_store_checkpoints_manual): the log's size in frames after the
     * newest commit (from the WAL hook), and how many of them the newest checkpoint copied. A
     * log that shrank was restarted from its start, so nothing of it is copied yet. */
    int log_frames;
    int log_copied;
    /* Members this write transaction read (ct_store_member_get), up to MEMBER_CACHE of them,
     * replaced oldest first: a batch's messages mostly go to the same few recipients, and no other
     * connection can change a row while the transaction holds the write lock. Only rows found are
     * kept (so a member added later was never cached). Emptied at BEGIN, COMMIT, ROLLBACK and
     * ROLLBACK TO, and by every update of a member. */
    ct_member_t members[MEMBER_CACHE];
    size_t n_members; /* reads cached so far; slot n % MEMBER_CACHE is the next to fill */
};

/* ---- errors ------------------------------------------------------------------------------ */

/* Maps an (extended) SQLite result code to the CT_E* code callers act on. */
static int map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
        return CT_EIO;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CT_EUNAVAIL;
    case SQLITE_NOMEM:
        return CT_ENOMEM;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            return CT_EEXISTS;
        return CT_EINTERNAL;
    default:
        return CT_EINTERNAL;
    }
}

/*
 * Called when an SQLite call returned rc (not OK/ROW/DONE) during operation op. Logs it unless
 * it is the expected "already exists", notes a transaction that SQLite rolled back by itself
 * (invariant 3), and returns the CT_E* code.
 */
static int fail(ct_store_t *st, int rc, const char *op)
{
    int err = map_rc(rc);
    if (err == 0)
        err = CT_EINTERNAL;
    if (err != CT_EEXISTS)
        ct_log_warn("store.sqlite_error", "op=%s rc=%d err=\"%s\" msg=\"%s\"", op, rc,
                    sqlite3_errstr(rc), sqlite3_errmsg(st->db));
    if (st->depth > 0 && st->lost == 0 && sqlite3_get_autocommit(st->db))
        st->lost = err;
    return err;
}

/*
 * Returns st->lost, first noticing a transaction that ended without a call of ours (invariant
 * 3). Every write checks it: once SQLite has rolled the caller's transaction back, a further
 * write would run in autocommit mode and be stored on its own, outside the batch it belongs to.
 */
static int txn_lost(ct_store_t *st)
{
    if (st->depth > 0 && st->lost == 0 && sqlite3_get_autocommit(st->db))
        st->lost = CT_EINTERNAL; /* cause unknown: fail() did not see it happen */
    return st->lost;
}

/* Writes a formatted message into errbuf if the caller gave one. */
static void set_errbuf(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_errbuf(char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (errbuf == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

/* ---- statements -------------------------------------------------------------------------- */

/* Returns the handle's cached statement id in *out, preparing it on first use. */
static int stmt_get(ct_store_t *st, enum stmt_id id, sqlite3_stmt **out)
{
    if (st->stmt[id] == NULL) {
        int rc = sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &st->stmt[id], NULL);
        if (rc != SQLITE_OK) {
            st->stmt[id] = NULL;
            return fail(st, rc, "prepare");
        }
    }
    *out = st->stmt[id];
    return 0;
}

/* Returns a used statement to its cache: ready to run again, holding no caller memory. */
static void stmt_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/*
 * Binding helpers. Each does nothing once *rc is not SQLITE_OK, so a run of binds needs one
 * check at the end. NULL strings bind as "" (store.h: empty means "not applicable").
 */
static void bind_text(sqlite3_stmt *s, int idx, const char *v, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_text(s, idx, v != NULL ? v : "", -1, SQLITE_STATIC);
}

static void bind_int64(sqlite3_stmt *s, int idx, int64_t v, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_int64(s, idx, v);
}

/*
 * Runs a statement that returns no rows (a write, or transaction control) after its parameters
 * were bound with the helpers above (rc is their result); always resets it. Returns 0 if it
 * changed a row, and if_unchanged if it changed none: CT_ENOTFOUND for an update or delete of a
 * missing row, 1 for an insert that kept the row already there (ON CONFLICT DO NOTHING), 0 where
 * that cannot happen or does not matter. Otherwise a CT_E* code, never CT_ENOTFOUND (no SQLite
 * error maps to it), so that callers may take CT_ENOTFOUND to mean "no row changed".
 */
static int run_write(ct_store_t *st, sqlite3_stmt *s, int rc, const char *op, int if_unchanged)
{
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    int err = rc == SQLITE_DONE ? 0 : fail(st, rc, op);
    if (err == 0 && if_unchanged != 0 && sqlite3_changes(st->db) == 0)
        err = if_unchanged;
    stmt_done(s);
    return err;
}

/*
 * Fetches the cached statement id of a write, refusing first when the caller's transaction was
 * lost (invariant 3): the write would otherwise be stored on its own.
 */
static int write_stmt(ct_store_t *st, enum stmt_id id, sqlite3_stmt **out)
{
    int err = txn_lost(st);
    return err != 0 ? err : stmt_get(st, id, out);
}

/* Binds the fields of a struct to a write's parameters; *rc as the bind helpers. */
typedef void (*row_binder_t)(sqlite3_stmt *s, const void *in, int *rc);

/* Runs the write id with its parameters bound from in by bind; returns as run_write. */
static int write_row(ct_store_t *st, enum stmt_id id, row_binder_t bind, const void *in,
                     const char *op, int if_unchanged)
{
    sqlite3_stmt *s = NULL;
    int err = write_stmt(st, id, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind(s, in, &rc);
    return run_write(st, s, rc, op, if_unchanged);
}

/* Runs one parameterless cached statement (transaction control, mostly). */
static int exec_stmt(ct_store_t *st, enum stmt_id id, const char *op)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, id, &s);
    if (err == 0)
        err = run_write(st, s, SQLITE_OK, op, 0);
    return err;
}

/* ---- reading rows ------------------------------------------------------------------------ */

/*
 * Steps a bound query that always returns one row (an EXISTS or an aggregate; rc is the result
 * of its binds) and reads its first n columns as integers into v[]; always resets it.
 */
static int query_ints(ct_store_t *st, sqlite3_stmt *s, int rc, int64_t *v, int n, const char *op)
{
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    int err = 0;
    if (rc == SQLITE_ROW) {
        for (int i = 0; i < n; i++)
            v[i] = sqlite3_column_int64(s, i);
    } else {
        err = fail(st, rc, op);
    }
    stmt_done(s);
    return err;
}

/* Reads the current row of a statement into a struct; returns 0 or a CT_E* code. */
typedef int (*row_reader_t)(sqlite3_stmt *s, void *out);

/*
 * Runs a lookup by one text key (bound to ?1) that returns at most one row, read into out.
 * CT_ENOTFOUND when there is none.
 */
static int get_by_key(ct_store_t *st, enum stmt_id id, const char *key, row_reader_t read,
                      void *out, const char *op)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, id, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, key, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        err = read(s, out);
    else if (rc == SQLITE_DONE)
        err = CT_ENOTFOUND;
    else
        err = fail(st, rc, op);
    stmt_done(s);
    return err;
}

/*
 * Steps a bound list statement (rc is the result of its binds) and calls visit for every row.
 * Stops at the first non-zero value of visit and returns it. The statement stays open while
 * visit runs: a caller's callback inside it may use every other store call on this handle but
 * must not start the same list on it again. Always resets the statement.
 */
static int walk_rows(ct_store_t *st, sqlite3_stmt *s, int rc,
                     int (*visit)(sqlite3_stmt *s, void *ctx), void *ctx, const char *op)
{
    int err = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        err = visit(s, ctx);
        if (err != 0)
            break;
        rc = SQLITE_OK;
    }
    if (err == 0 && rc != SQLITE_DONE)
        err = fail(st, rc, op);
    stmt_done(s);
    return err;
}

/* walk_rows over the parameterless statement id. */
static int list_all(ct_store_t *st, enum stmt_id id, int (*visit)(sqlite3_stmt *s, void *ctx),
                    void *ctx, const char *op)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, id, &s);
    return err != 0 ? err : walk_rows(st, s, SQLITE_OK, visit, ctx, op);
}

/* walk_rows over statement id with key bound to ?1 (a participant's team, consents, ...). */
static int list_by_key(ct_store_t *st, enum stmt_id id, const char *key,
                       int (*visit)(sqlite3_stmt *s, void *ctx), void *ctx, const char *op)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, id, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, key, &rc);
    return walk_rows(st, s, rc, visit, ctx, op);
}

/*
 * The visitor of a list whose callback takes a ct_<type>: defines name_walk_t (the caller's
 * callback and its argument) and name_visit, which reads each row with reader into a struct on
 * the stack and passes it on. The callbacks of store.h differ in their row type, and calling one
 * through a pointer of another function type is undefined behaviour, so this typed call is the
 * only code a list needs of its own.
 */
#define ROW_VISITOR(name, type, reader)                                                            \
    typedef struct name##_walk {                                                                   \
        int (*cb)(const type *row, void *arg);                                                     \
        void *arg;                                                                                 \
    } name##_walk_t;                                                                               \
                                                                                                   \
    static int name##_visit(sqlite3_stmt *s, void *ctx)                                            \
    {                                                                                              \
        name##_walk_t *w = ctx;                                                                    \
        type row;                                                                                  \
        int err = reader(s, &row);                                                                 \
        return err != 0 ? err : w->cb(&row, w->arg);                                               \
    }

/*
 * Returns arr, an array of n elements of size bytes with *cap allocated, with room for one more:
 * doubled when full (4 at first). NULL when out of memory; arr is then unchanged.
 */
static void *reserve_one(void *arr, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap == 0 ? 4 : *cap * 2;
    void *p = realloc(arr, ncap * size);
    if (p != NULL)
        *cap = ncap;
    return p;
}

/*
 * Copies text column col into a fixed array of cap bytes. Like the bind helpers it does nothing
 * once *err is set, so a run of copies needs one check at the end. A stored value that does not
 * fit cannot come from this file's writers (they check lengths), so it is reported as internal.
 */
static void copy_col(sqlite3_stmt *s, int col, char *dst, size_t cap, int *err)
{
    if (*err != 0)
        return;
    const unsigned char *v = sqlite3_column_text(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    if (v == NULL)
        n = 0;
    if (n >= cap) {
        *err = CT_EINTERNAL;
        return;
    }
    if (n > 0)
        memcpy(dst, v, n);
    dst[n] = '\0';
}

/* Returns a malloc'd NUL-terminated copy of text column col and its length in *len. */
static char *dup_col(sqlite3_stmt *s, int col, size_t *len)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    if (v == NULL)
        n = 0;
    char *p = malloc(n + 1);
    if (p == NULL)
        return NULL;
    if (n > 0)
        memcpy(p, v, n);
    p[n] = '\0';
    if (len != NULL)
        *len = n;
    return p;
}

/* True when the fixed array s of cap bytes holds a NUL-terminated string. */
static bool fits(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

/* fits for a char array field of a store.h struct (an array, never a pointer). */
#define FITS(field) fits((field), sizeof(field))

/* store.h's list limits: "at most limit rows"; 0 or less means no limit (SQLite's -1). */
static int64_t sql_limit(int limit)
{
    return limit > 0 ? limit : -1;
}

/* True when an optional filter string is set (store.h: NULL or "" means any). */
static bool given(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* ---- open, migrate, close ---------------------------------------------------------------- */

int ct_store_schema_version(void)
{
    return SCHEMA_VERSION;
}

int ct_store_db_version(ct_store_t *st)
{
    sqlite3_stmt *s = NULL;
    int64_t v = 0;
    int err = stmt_get(st, STMT_USER_VERSION, &s);
    if (err == 0)
        err = query_ints(st, s, SQLITE_OK, &v, 1, "db_version");
    return err != 0 ? err : (int)v;
}

/* Runs an SQL script on db (no cache: for open-time pragmas and migrations). */
static int exec_script(ct_store_t *st, const char *sql, const char *op)
{
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : fail(st, rc, op);
}

/* Puts the database in WAL mode, which persists in the file; read-only handles inherit it. */
static int enable_wal(ct_store_t *st)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
    if (rc != SQLITE_OK)
        return fail(st, rc, "journal_mode");
    rc = sqlite3_step(s);
    int err = 0;
    if (rc != SQLITE_ROW)
        err = fail(st, rc, "journal_mode");
    else if (sqlite3_column_text(s, 0) == NULL ||
             sqlite3_stricmp((const char *)sqlite3_column_text(s, 0), "wal") != 0)
        err = CT_EINTERNAL; /* e.g. an in-memory database: no durability, refuse it */
    sqlite3_finalize(s);
    return err;
}

/*
 * A migration that rebuilds a table (10) writes the whole table into the write-ahead log, and a
 * serving daemon only ever runs PASSIVE checkpoints, which leave the file at its largest: give
 * that disk space back now. Best effort: busy while another process reads, which only costs the
 * space until the last connection closes.
 */
static void log_back_after_migration(ct_store_t *st)
{
    int err = ct_store_wal_truncate(st);
    if (err != 0)
        ct_log_warn("store.migrate_log_kept", "code=%s", ct_errname(err));
}

/*
 * Applies the migrations the database lacks, one transaction each. The version is read again
 * under the write lock, so two processes opening the same new file do not both migrate it.
 */
static int migrate(ct_store_t *st, const char *path, char *errbuf, size_t errlen)
{
    bool migrated = false;
    for (;;) {
        int err = exec_stmt(st, STMT_BEGIN, "migrate.begin");
        if (err != 0) {
            set_errbuf(errbuf, errlen, "%s: cannot lock the database to migrate it: %s", path,
                       sqlite3_errmsg(st->db));
            return err;
        }
        int v = ct_store_db_version(st);
        if (v < 0 || v >= SCHEMA_VERSION) {
            /* Up to date (or newer, which the caller reports): nothing to write. */
            exec_stmt(st, STMT_ROLLBACK, "migrate.rollback");
            if (v < 0)
                set_errbuf(errbuf, errlen, "%s: cannot read the schema version: %s", path,
                           sqlite3_errmsg(st->db));
            if (v >= 0 && migrated)
                log_back_after_migration(st);
            return v < 0 ? v : 0;
        }
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", v + 1);
        if (migrations[v].sql != NULL)
            err = exec_script(st, migrations[v].sql, "migrate");
        if (err == 0 && migrations[v].run != NULL)
            err = migrations[v].run(st);
        if (err == 0)
            err = exec_script(st, bump, "migrate.version");
        if (err == 0)
            err = exec_stmt(st, STMT_COMMIT, "migrate.commit");
        if (err != 0) {
            set_errbuf(errbuf, errlen, "%s: migration to schema version %d failed: %s (%s)", path,
                       v + 1, ct_strerror(err), sqlite3_errmsg(st->db));
            if (!sqlite3_get_autocommit(st->db))
                exec_stmt(st, STMT_ROLLBACK, "migrate.rollback");
            return err;
        }
        ct_log_info("store.migrated", "version=%d", v + 1);
        migrated = true;
    }
}

/* Checks that the schema version is exactly the one this build writes. */
static int check_version(ct_store_t *st, const char *path, char *errbuf, size_t errlen)
{
    int v = ct_store_db_version(st);
    if (v < 0) {
        set_errbuf(errbuf, errlen, "%s: not a readable careteam database: %s", path,
                   sqlite3_errmsg(st->db));
        return v;
    }
    if (v == 0) {
        set_errbuf(errbuf, errlen,
                   "%s: database is not initialised (schema version 0); open it read-write first",
                   path);
        return CT_EPRECONDITION;
    }
    if (v < SCHEMA_VERSION) {
        set_errbuf(errbuf, errlen,
                   "%s: database schema version %d is older than this build's %d; open it "
                   "read-write once to migrate it",
                   path, v, SCHEMA_VERSION);
        return CT_EPRECONDITION;
    }
    if (v > SCHEMA_VERSION) {
        set_errbuf(errbuf, errlen,
                   "%s: database schema version %d is newer than this build's %d; use a newer "
                   "careteamd",
                   path, v, SCHEMA_VERSION);
        return CT_EPRECONDITION;
    }
    return 0;
}

static pthread_once_t g_sqlite_once = PTHREAD_ONCE_INIT;

/* Process-wide SQLite settings, before its first use. Should SQLite already be initialised (a
 * test that used it first), the calls fail and change nothing.
 *  - Memory statistics off: with them on, every sqlite3_malloc and sqlite3_free takes one global
 *    mutex, which the writer thread paid for on each row it wrote; careteamd never reads them.
 *  - Statement journals (the undo log of each savepoint: a writer job's, writer.c) stay in
 *    memory up to STMTJRNL_SPILL, in chunks of that size, instead of 64 KiB: a job's journal
 *    (the pages it changed, a few dozen KB) then never spills to a temporary file, which SQLite
 *    opened and wrote on nearly every batch, and costs one allocation instead of one per KiB
 *    (temp_store = MEMORY would have kept it in 1 KiB chunks, one malloc each).
 *    STMTJRNL_SPILL must stay under 128 KiB: a journal that grows past it (a purge, a migration)
 *    is copied to the file one chunk per write, and SQLite's unix VFS writes at most 131,071
 *    bytes per call (seekAndWriteFd masks the length with 0x1ffff), so a larger chunk fails as
 *    SQLITE_FULL, "disk full". test_store's purge_of_megabytes_in_one_transaction_succeeds
 *    holds it. */
#define STMTJRNL_SPILL (120 * 1024)
_Static_assert(STMTJRNL_SPILL <= 0x1ffff, "SQLite's unix VFS cannot write a larger chunk at once");
static void configure_sqlite(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    (void)sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, STMTJRNL_SPILL);
}

int ct_store_open(const char *path, ct_store_mode_t mode, ct_store_t **out, char *errbuf,
                  size_t errlen)
{
    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';
    if (out == NULL)
        return CT_EINVAL;
    *out = NULL;
    if (path == NULL || (mode != CT_STORE_READWRITE && mode != CT_STORE_READONLY)) {
        set_errbuf(errbuf, errlen, "invalid database path or mode");
        return CT_EINVAL;
    }
    pthread_once(&g_sqlite_once, configure_sqlite);

    ct_store_t *st = calloc(1, sizeof *st);
    if (st == NULL) {
        set_errbuf(errbuf, errlen, "%s: out of memory", path);
        return CT_ENOMEM;
    }
    st->mode = mode;

    /* NOMUTEX: a handle is used by one thread at a time (store.h), so SQLite's per-connection
     * mutex would only cost time. */
    int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    flags |= mode == CT_STORE_READONLY ? SQLITE_OPEN_READONLY
                                       : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    /* A read-write handle appends to the log through the buffer of store_walbuf.h. */
    int rc =
        sqlite3_open_v2(path, &st->db, flags, mode == CT_STORE_READWRITE ? ct_walbuf_vfs() : NULL);
    int err;
    if (rc != SQLITE_OK) {
        int sys = st->db != NULL ? sqlite3_system_errno(st->db) : 0;
        if (mode == CT_STORE_READONLY && sys == ENOENT) {
            set_errbuf(errbuf, errlen, "%s: cannot open the database read-only: no such file",
                       path);
            err = CT_ENOTFOUND;
        } else {
            set_errbuf(errbuf, errlen, "%s: cannot open the database: %s", path,
                       st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
            err = map_rc(rc) != 0 ? map_rc(rc) : CT_EINTERNAL;
        }
        goto fail;
    }
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    /* SQLite silently opens a write-protected file read-only: say so now, not at first write. */
    if (mode == CT_STORE_READWRITE && sqlite3_db_readonly(st->db, "main") == 1) {
        set_errbuf(errbuf, errlen, "%s: the database file is not writable", path);
        err = CT_EIO;
        goto fail;
    }

    /* Per-connection settings: none of them persists in the file except journal_mode. */
    err = exec_script(st, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;", "pragmas");
    if (err == 0 && mode == CT_STORE_READWRITE)
        err = enable_wal(st);
    if (err != 0) {
        set_errbuf(errbuf, errlen, "%s: cannot configure the database: %s", path,
                   sqlite3_errmsg(st->db));
        goto fail;
    }

    if (mode == CT_STORE_READWRITE) {
        err = migrate(st, path, errbuf, errlen);
        if (err != 0)
            goto fail;
    }
    err = check_version(st, path, errbuf, errlen);
    if (err != 0)
        goto fail;

    *out = st;
    return 0;

fail:
    ct_store_close(st);
    return err;
}

void ct_store_close(ct_store_t *st)
{
    if (st == NULL)
        return;
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    /* An open transaction is rolled back by the close: only commit makes work durable. */
    int rc = sqlite3_close(st->db);
    if (rc != SQLITE_OK)
        ct_log_error("store.close_failed", "rc=%d err=\"%s\"", rc, sqlite3_errstr(rc));
    free(st->zones);
    free(st->tally);
    free(st);
}

/* ---- transactions ------------------------------------------------------------------------ */

/* Common entry check of the calls that need an open transaction (with min_depth levels). */
static int txn_check(ct_store_t *st, int min_depth, const char *op)
{
    if (st->depth < min_depth) {
        ct_log_error("store.misuse", "op=%s depth=%d", op, st->depth);
        return CT_EINTERNAL;
    }
    return txn_lost(st);
}

int ct_store_begin(ct_store_t *st)
{
    if (st->depth != 0) {
        ct_log_error("store.misuse", "op=begin depth=%d", st->depth);
        return CT_EINTERNAL;
    }
    st->head_known = false;
    st->n_members = 0;
    st->n_zones = 0;
    st->n_tally = 0;
    st->tally_committed = false;
    int err = exec_stmt(st, STMT_BEGIN, "begin");
    if (err == 0) {
        st->depth = 1;
        st->lost = 0;
    }
    return err;
}

/* Room for one more item in `items`, an array of *cap items of `size` bytes with n in use: the
 * array itself, or when it is full a copy twice as large (first `first` items), updating *cap.
 * NULL when out of memory; the array is then unchanged and still the caller's. */
static void *array_room(void *items, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n < *cap)
        return items;
    size_t grown_cap = *cap ? *cap * 2 : first;
    void *grown = realloc(items, grown_cap * size);
    if (grown != NULL)
        *cap = grown_cap;
    return grown;
}

/* A new, empty summary of zone `zone` at the end of st->zones; NULL when out of memory. */
static ct_audit_zone_t *zones_push(ct_store_t *st, int64_t zone)
{
    ct_audit_zone_t *zones = array_room(st->zones, &st->cap_zones, st->n_zones, sizeof *zones, 4);
    if (zones == NULL)
        return NULL;
    st->zones = zones;
    ct_audit_zone_t *z = &st->zones[st->n_zones++];
    ct_audit_zone_start(z, zone);
    return z;
}

/* Writer side of audit_insert: the row joins its zone's summary in st->zones. */
static int zones_add(ct_store_t *st, int64_t seq, const ct_audit_t *a)
{
    int64_t zone = ct_audit_zone_of(seq);
    ct_audit_zone_t *z = st->n_zones > 0 ? &st->zones[st->n_zones - 1] : NULL;
    if ((z == NULL || z->zone != zone) && (z = zones_push(st, zone)) == NULL)
        return CT_ENOMEM;
    ct_audit_zone_add(z, a->time_ms, a->action, a->actor_id);
    return 0;
}

/* Writer side of audit_insert: the row's tally slot joins this transaction's, before the row is
 * inserted (audit_insert drops it again if the insert fails). Returns whether it did. Best
 * effort: the tally only feeds the metrics, so a row is never refused because its slot could
 * not be kept (the metrics then count one row fewer, and say so in the log). */
static bool tally_push(ct_store_t *st, const ct_audit_t *a)
{
    uint16_t *tally = array_room(st->tally, &st->cap_tally, st->n_tally, sizeof *tally, 64);
    if (tally == NULL) {
        ct_log_error("store.metrics_incomplete", "reason=out_of_memory action=%s",
                     a->action != NULL ? a->action : "");
        return false;
    }
    st->tally = tally;
    size_t action = ct_audit_action_index(a->action);
    st->tally[st->n_tally++] =
        (uint16_t)(action * CT_AUDIT_OUTCOME_COLUMNS + ct_audit_outcome_column(a->outcome));
    return true;
}

size_t ct_store_audit_committed(const ct_store_t *st, const uint16_t **slots)
{
    *slots = st->tally;
    return st->tally_committed ? st->n_tally : 0;
}

/* Before COMMIT: the summaries of the zones this transaction appended to (migrations 7, 8). A
 * query reads only the zones whose summary says they may hold a match, so the commit fails
 * rather than store a row no summary covers. */
static int zones_note(ct_store_t *st)
{
    int err = 0;
    for (size_t i = 0; err == 0 && i < st->n_zones; i++) {
        const ct_audit_zone_t *z = &st->zones[i];
        sqlite3_stmt *s = NULL;
        err = stmt_get(st, STMT_AUDIT_ZONE_MERGE, &s);
        if (err != 0)
            break;
        int rc = SQLITE_OK;
        bind_int64(s, 1, z->zone, &rc);
        bind_int64(s, 2, z->min_time, &rc);
        bind_int64(s, 3, z->max_time, &rc);
        bind_int64(s, 4, (int64_t)z->actions, &rc);
        for (int w = 0; w < CT_AUDIT_ZONE_ACTOR_WORDS; w++)
            bind_int64(s, 5 + w, (int64_t)z->actors[w], &rc);
        err = run_write(st, s, rc, "audit_zones", 0);
    }
    return err;
}

/* zones_note, then st->zones is empty: for a rebuild that writes many zones. */
static int zones_note_flush(ct_store_t *st)
{
    int err = zones_note(st);
    st->n_zones = 0;
    return err;
}

int ct_store_commit(ct_store_t *st)
{
    st->head_known = false;
    st->n_members = 0;
    int err = txn_check(st, 1, "commit");
    if (err == 0)
        err = zones_note(st);
    st->n_zones = 0;
    if (err == 0)
        err = exec_stmt(st, STMT_COMMIT, "commit");
    st->tally_committed = err == 0;
    if (err != 0)
        st->n_tally = 0;
    /* A failed COMMIT may leave the transaction open (e.g. the WAL could not be written): roll
     * it back so that nothing of it can be committed later by accident. */
    if (err != 0 && !sqlite3_get_autocommit(st->db))
        exec_stmt(st, STMT_ROLLBACK, "commit.rollback");
    st->depth = 0;
    st->lost = 0;
    return err;
}

int ct_store_rollback(ct_store_t *st)
{
    st->head_known = false;
    st->n_members = 0;
    st->n_zones = 0;
    st->n_tally = 0;
    st->tally_committed = false;
    int err = 0;
    if (!sqlite3_get_autocommit(st->db))
        err = exec_stmt(st, STMT_ROLLBACK, "rollback");
    if (err == 0 || sqlite3_get_autocommit(st->db)) {
        st->depth = 0;
        st->lost = 0;
    }
    return err;
}

/* SQLite calls this after every commit on a handle with manual checkpoints: frames is the
 * log's size. Returning SQLITE_OK and doing nothing else is what turns automatic checkpoints
 * off (the automatic ones are this same hook, installed by sqlite3_wal_autocheckpoint). */
static int on_wal_commit(void *arg, sqlite3 *db, const char *schema, int frames)
{
    (void)db;
    (void)schema;
    ct_store_t *st = arg;
    if (frames < st->log_frames)
        st->log_copied = 0;
    st->log_frames = frames;
    return SQLITE_OK;
}

void ct_store_checkpoints_manual(ct_store_t *st)
{
    sqlite3_wal_hook(st->db, on_wal_commit, st);
}

int64_t ct_store_log_uncopied(const ct_store_t *st)
{
    return st->log_frames > st->log_copied ? st->log_frames - st->log_copied : 0;
}

int ct_store_checkpoint(ct_store_t *st)
{
    if (st->depth != 0) {
        ct_log_error("store.misuse", "op=checkpoint depth=%d", st->depth);
        return CT_EINTERNAL;
    }
    int frames = 0, copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(st->db, "main", SQLITE_CHECKPOINT_PASSIVE, &frames, &copied);
    if ((rc & 0xff) == SQLITE_BUSY)
        return CT_EUNAVAIL; /* another connection is checkpointing: it does the work */
    if (rc != SQLITE_OK)
        return fail(st, rc, "checkpoint");
    if (frames >= 0) {
        st->log_frames = frames;
        st->log_copied = copied;
    }
    return 0;
}

int ct_store_savepoint(ct_store_t *st)
{
    int err = txn_check(st, 1, "savepoint");
    if (err == 0 && st->depth >= STORE_MAX_DEPTH) {
        ct_log_error("store.misuse", "op=savepoint depth=%d", st->depth);
        err = CT_EINTERNAL;
    }
    if (err == 0)
        err = exec_stmt(st, STMT_SAVEPOINT, "savepoint");
    if (err == 0)
        st->tally_mark[++st->depth] = st->n_tally;
    return err;
}

int ct_store_release(ct_store_t *st)
{
    int err = txn_check(st, 2, "release");
    if (err == 0)
        err = exec_stmt(st, STMT_RELEASE, "release");
    if (err == 0)
        st->depth--;
    return err;
}

int ct_store_rollback_to(ct_store_t *st)
{
    st->head_known = false;
    st->n_members = 0;
    int err = txn_check(st, 2, "rollback_to");
    /* ROLLBACK TO keeps the savepoint open; the RELEASE then removes it without keeping
     * anything, since its work was just undone. */
    if (err == 0)
        err = exec_stmt(st, STMT_ROLLBACK_TO, "rollback_to");
    if (err == 0) {
        st->n_tally = st->tally_mark[st->depth]; /* the rows are undone, whatever RELEASE does */
        err = exec_stmt(st, STMT_RELEASE, "rollback_to.release");
    }
    if (err == 0)
        st->depth--;
    return err;
}

/* ---- members ----------------------------------------------------------------------------- */

/* Fills out (a ct_member_t) from the MEMBER_COLUMNS that start s's current row. */
static int member_from_row(sqlite3_stmt *s, void *out)
{
    ct_member_t *m = out;
    memset(m, 0, sizeof *m);
    int err = 0;
    copy_col(s, 0, m->id, sizeof m->id, &err);
    copy_col(s, 1, m->display_name, sizeof m->display_name, &err);
    m->role = (ct_role_t)sqlite3_column_int(s, 2);
    m->active = sqlite3_column_int(s, 3) != 0;
    m->created_at_ms = sqlite3_column_int64(s, 4);
    copy_col(s, 5, m->supervisor_id, sizeof m->supervisor_id, &err);
    return err;
}

/* Binds in (a ct_member_t) to ?1..?6 as MEMBER_COLUMNS. */
static void bind_member(sqlite3_stmt *s, const void *in, int *rc)
{
    const ct_member_t *m = in;
    bind_text(s, 1, m->id, rc);
    bind_text(s, 2, m->display_name, rc);
    bind_int64(s, 3, m->role, rc);
    bind_int64(s, 4, m->active ? 1 : 0, rc);
    bind_int64(s, 5, m->created_at_ms, rc);
    bind_text(s, 6, m->supervisor_id, rc);
}

int ct_store_member_add(ct_store_t *st, const ct_member_t *m)
{
    if (!FITS(m->id) || !FITS(m->display_name) || !FITS(m->supervisor_id))
        return CT_EINVAL;
    return write_row(st, STMT_MEMBER_ADD, bind_member, m, "member_add", 0); /* not cached yet */
}

/* In a write transaction, a member read before in it comes from st->members. */
int ct_store_member_get(ct_store_t *st, const char *id, ct_member_t *out)
{
    bool cache = st->depth > 0 && st->lost == 0; /* lost: SQLite ended it, the lock is gone */
    size_t cached = st->n_members < MEMBER_CACHE ? st->n_members : MEMBER_CACHE;
    for (size_t i = 0; cache && i < cached; i++) {
        if (strcmp(st->members[i].id, id) == 0) {
            *out = st->members[i];
            return 0;
        }
    }
    int err = get_by_key(st, STMT_MEMBER_GET, id, member_from_row, out, "member_get");
    if (err == 0 && cache)
        st->members[st->n_members++ % MEMBER_CACHE] = *out;
    return err;
}

int ct_store_member_set_active(ct_store_t *st, const char *id, bool active)
{
    st->n_members = 0;
    sqlite3_stmt *s = NULL;
    int err = write_stmt(st, STMT_MEMBER_SET_ACTIVE, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, id, &rc);
    bind_int64(s, 2, active ? 1 : 0, &rc);
    return run_write(st, s, rc, "member_set_active", CT_ENOTFOUND);
}

int ct_store_member_set_supervisor(ct_store_t *st, const char *id, const char *supervisor_id)
{
    if (supervisor_id != NULL && strlen(supervisor_id) > CT_ID_MAX)
        return CT_EINVAL;
    st->n_members = 0;
    sqlite3_stmt *s = NULL;
    int err = write_stmt(st, STMT_MEMBER_SET_SUPERVISOR, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, id, &rc);
    bind_text(s, 2, supervisor_id, &rc);
    return run_write(st, s, rc, "member_set_supervisor", CT_ENOTFOUND);
}

ROW_VISITOR(member, ct_member_t, member_from_row)

/*
 * The statement stays open while cb runs: cb may use every other store call on this handle but
 * must not call ct_store_member_list on it again.
 */
int ct_store_member_list(ct_store_t *st, int (*cb)(const ct_member_t *m, void *arg), void *arg)
{
    member_walk_t w = {cb, arg};
    return list_all(st, STMT_MEMBER_LIST, member_visit, &w, "member_list");
}

/* ---- messages ---------------------------------------------------------------------------- */

void ct_message_clear(ct_message_t *m)
{
    if (m == NULL)
        return;
    free(m->subject);
    free(m->body);
    free(m->to);
    free(m->payload);
    free(m->withheld);
    m->subject = NULL;
    m->body = NULL;
    m->body_len = 0;
    m->to = NULL;
    m->n_to = 0;
    m->payload = NULL;
    m->payload_len = 0;
    m->withheld = NULL;
}

int64_t ct_store_changes(ct_store_t *st)
{
    return (int64_t)sqlite3_total_changes64(st->db);
}

void ct_message_receipt_clear(ct_message_receipt_t *r)
{
    free(r->withheld);
    r->withheld = NULL;
}

int ct_store_message_find(ct_store_t *st, const char *sender_id, const char *client_msg_id,
                          const uint8_t request_hash[32], ct_message_receipt_t *out,
                          bool *hash_match)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, STMT_MSG_FIND, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, sender_id, &rc);
    bind_text(s, 2, client_msg_id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof *out);
        out->seq = sqlite3_column_int64(s, 0);
        copy_col(s, 1, out->message_id, sizeof out->message_id, &err);
        out->stored_at_ms = sqlite3_column_int64(s, 2);
        const void *h = sqlite3_column_blob(s, 3);
        *hash_match = h != NULL && sqlite3_column_bytes(s, 3) == HASH_LEN &&
                      memcmp(h, request_hash, HASH_LEN) == 0;
        if (err == 0 && sqlite3_column_bytes(s, 4) > 0 &&
            (out->withheld = dup_col(s, 4, NULL)) == NULL)
            err = CT_ENOMEM;
    } else if (rc == SQLITE_DONE) {
        err = CT_ENOTFOUND;
    } else {
        err = fail(st, rc, "message_find");
    }
    stmt_done(s);
    return err;
}

/* Inserts the messages row; sets *seq. */
static int insert_message_row(ct_store_t *st, const ct_message_t *m, const uint8_t *hash,
                              int64_t *seq)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, STMT_MSG_INSERT, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, m->message_id, &rc);
    bind_text(s, 2, m->sender_id, &rc);
    bind_int64(s, 3, m->sender_role, &rc);
    bind_text(s, 4, m->client_msg_id, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob(s, 5, hash, HASH_LEN, SQLITE_STATIC);
    bind_text(s, 6, m->participant_id, &rc);
    bind_text(s, 7, m->subject, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(s, 8, m->body != NULL ? m->body : "", (int)m->body_len,
                               SQLITE_STATIC);
    bind_int64(s, 9, m->priority, &rc);
    bind_int64(s, 10, m->stored_at_ms, &rc);
    /* Callers from before the workflow leave kind 0, the wire's "unspecified": a text. */
    bind_int64(s, 11, m->kind == 0 ? CT_MSG_TEXT : m->kind, &rc);
    bind_text(s, 12, m->event, &rc);
    if (rc == SQLITE_OK)
        rc = m->payload_len > 0
                 ? sqlite3_bind_blob(s, 13, m->payload, (int)m->payload_len, SQLITE_STATIC)
                 : sqlite3_bind_null(s, 13);
    bind_text(s, 14, m->withheld, &rc);
    err = run_write(st, s, rc, "message_insert", 0);
    if (err == 0)
        *seq = sqlite3_last_insert_rowid(st->db);
    return err;
}

/* Inserts one pending delivery row per recipient, numbered by position in m->to. */
static int insert_recipients(ct_store_t *st, const ct_message_t *m, int64_t seq)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, STMT_RCPT_INSERT, &s);
    for (size_t i = 0; err == 0 && i < m->n_to; i++) {
        if (!FITS(m->to[i]))
            return CT_EINVAL;
        int rc = SQLITE_OK;
        bind_int64(s, 1, seq, &rc);
        bind_text(s, 2, m->to[i], &rc);
        bind_int64(s, 3, (int64_t)i, &rc);
        err = run_write(st, s, rc, "message_insert.recipient", 0);
        /* The same member twice in m->to is the caller's bug, not a resend: keep CT_EEXISTS
         * for "(sender, client_msg_id) is taken". */
        if (err == CT_EEXISTS)
            err = CT_EINVAL;
    }
    return err;
}

/*
 * Outside a transaction the message row and its recipient rows are written under a savepoint of
 * the insert's own (SQLite's outermost SAVEPOINT is a transaction; st->depth stays 0), so that
 * the insert is all or nothing. Inside one the caller undoes a failed insert (store.h): the
 * writer's send job has no savepoint at all (writer.h, no_savepoint), and a nested one per
 * message was 1.4 % of the daemon's instructions (docs/performance.md, item 6). Returns CT_EINVAL
 * for a malformed message (unterminated fields, a body over INT_MAX bytes, a recipient listed
 * twice).
 */
int ct_store_message_insert(ct_store_t *st, const ct_message_t *m, const uint8_t request_hash[32],
                            ct_message_receipt_t *out)
{
    if (!FITS(m->message_id) || !FITS(m->sender_id) || !FITS(m->client_msg_id) ||
        !FITS(m->participant_id) || m->body_len > INT_MAX ||
        (m->body == NULL && m->body_len != 0) || (m->to == NULL && m->n_to != 0) ||
        !FITS(m->event) || m->payload_len > INT_MAX ||
        (m->payload == NULL && m->payload_len != 0) ||
        (m->withheld != NULL && strlen(m->withheld) >= CT_WITHHELD_MAX))
        return CT_EINVAL;
    int err = txn_lost(st);
    if (err != 0)
        return err;
    /* Copied first, so that running out of memory stores nothing. */
    char *withheld = NULL;
    if (m->withheld != NULL && m->withheld[0] != '\0' && (withheld = strdup(m->withheld)) == NULL)
        return CT_ENOMEM;

    bool own = st->depth == 0;
    if (own) {
        err = exec_stmt(st, STMT_MSG_SAVEPOINT, "message_insert.savepoint");
        if (err != 0) {
            free(withheld);
            return err;
        }
    }
    int64_t seq = 0;
    err = insert_message_row(st, m, request_hash, &seq);
    if (err == 0)
        err = insert_recipients(st, m, seq);
    if (err != 0) {
        /* Undo the partial message, unless SQLite already rolled everything back. */
        if (own && !sqlite3_get_autocommit(st->db)) {
            exec_stmt(st, STMT_MSG_ROLLBACK_TO, "message_insert.rollback_to");
            exec_stmt(st, STMT_MSG_RELEASE, "message_insert.release");
        }
        free(withheld);
        return err;
    }
    /* Outside a caller's transaction this RELEASE is the commit. */
    err = own ? exec_stmt(st, STMT_MSG_RELEASE, "message_insert.release") : 0;
    if (err != 0) {
        if (st->depth == 0 && !sqlite3_get_autocommit(st->db))
            exec_stmt(st, STMT_ROLLBACK, "message_insert.rollback");
        free(withheld);
        return err;
    }
    out->seq = seq;
    memcpy(out->message_id, m->message_id, sizeof out->message_id);
    out->stored_at_ms = m->stored_at_ms;
    out->withheld = withheld;
    return 0;
}

int ct_store_delivery_ack(ct_store_t *st, const char *member_id, const char *message_id,
                          int64_t now_ms)
{
    sqlite3_stmt *s = NULL;
    int err = write_stmt(st, STMT_RCPT_ACK, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, member_id, &rc);
    bind_text(s, 2, message_id, &rc);
    bind_int64(s, 3, now_ms, &rc);
    err = run_write(st, s, rc, "delivery_ack", CT_ENOTFOUND);
    if (err != CT_ENOTFOUND)
        return err;

    /* Nothing was pending: either already delivered (1) or not a recipient at all. */
    int64_t recipient = 0;
    err = stmt_get(st, STMT_RCPT_EXISTS, &s);
    if (err != 0)
        return err;
    rc = SQLITE_OK;
    bind_text(s, 1, member_id, &rc);
    bind_text(s, 2, message_id, &rc);
    err = query_ints(st, s, rc, &recipient, 1, "delivery_ack.exists");
    if (err == 0)
        err = recipient != 0 ? 1 : CT_ENOTFOUND;
    return err;
}

/* The recipients being read into a message (load_recipients). */
typedef struct recipients_fill {
    ct_message_t *m;
    size_t cap; /* elements allocated at m->to */
} recipients_fill_t;

static int recipient_collect(sqlite3_stmt *s, void *ctx)
{
    recipients_fill_t *f = ctx;
    ct_message_t *m = f->m;
    void *to = reserve_one(m->to, m->n_to, &f->cap, sizeof *m->to);
    if (to == NULL)
        return CT_ENOMEM;
    m->to = to;
    int err = 0;
    copy_col(s, 0, m->to[m->n_to], sizeof m->to[0], &err);
    if (err == 0)
        m->n_to++;
    return err;
}

/* Fills m->to and m->n_to with the recipients of message seq in position order. */
static int load_recipients(ct_store_t *st, int64_t seq, ct_message_t *m)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, STMT_RCPT_LIST, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_int64(s, 1, seq, &rc);
    recipients_fill_t f = {m, 0};
    return walk_rows(st, s, rc, recipient_collect, &f, "inbox_page.recipients");
}

/* Fills m (zeroed by the caller) from the current INBOX_PAGE row. */
static int message_from_row(ct_store_t *st, sqlite3_stmt *s, ct_message_t *m)
{
    int err = 0;
    m->seq = sqlite3_column_int64(s, 0);
    copy_col(s, 1, m->message_id, sizeof m->message_id, &err);
    copy_col(s, 2, m->sender_id, sizeof m->sender_id, &err);
    m->sender_role = (ct_role_t)sqlite3_column_int(s, 3);
    copy_col(s, 4, m->client_msg_id, sizeof m->client_msg_id, &err);
    copy_col(s, 5, m->participant_id, sizeof m->participant_id, &err);
    m->priority = sqlite3_column_int(s, 8);
    m->stored_at_ms = sqlite3_column_int64(s, 9);
    m->kind = sqlite3_column_int(s, 10);
    copy_col(s, 11, m->event, sizeof m->event, &err);
    if (err != 0)
        return err;
    m->subject = dup_col(s, 6, NULL);
    m->body = dup_col(s, 7, &m->body_len);
    m->withheld = dup_col(s, 13, NULL);
    if (m->subject == NULL || m->body == NULL || m->withheld == NULL)
        return CT_ENOMEM;
    const void *payload = sqlite3_column_blob(s, 12);
    size_t payload_len = (size_t)sqlite3_column_bytes(s, 12);
    if (payload != NULL && payload_len > 0) {
        m->payload = malloc(payload_len);
        if (m->payload == NULL)
            return CT_ENOMEM;
        memcpy(m->payload, payload, payload_len);
        m->payload_len = payload_len;
    }
    return load_recipients(st, m->seq, m);
}

int ct_store_inbox_page(ct_store_t *st, const char *member_id, int64_t after_seq, ct_message_t *out,
                        int limit)
{
    if (limit <= 0)
        return 0;
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, STMT_INBOX_PAGE, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, member_id, &rc);
    bind_int64(s, 2, after_seq, &rc);
    bind_int64(s, 3, limit, &rc);
    int n = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        memset(&out[n], 0, sizeof out[n]);
        err = message_from_row(st, s, &out[n]);
        n++; /* counted even on error, so that the cleanup below frees it */
        if (err != 0 || n == limit)
            break;
        rc = SQLITE_OK;
    }
    if (err == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        err = fail(st, rc, "inbox_page");
    stmt_done(s);
    if (err != 0) {
        /* All or nothing: the caller owns no message when this returns an error. */
        for (int i = 0; i < n; i++)
            ct_message_clear(&out[i]);
        return err;
    }
    return n;
}

/* ---- care-team workflow ------------------------------------------------------------------ */

/*
 * Called before a write that names a participant (and, unless member_id is NULL, a member).
 * Returns 0 if they exist, else CT_ENOTFOUND or the error of the lookup; like write_stmt, it
 * first refuses a lost transaction (invariant 3). The tables' foreign keys would refuse a
 * missing one too, but as a constraint error; store.h promises CT_ENOTFOUND.
 */
static int require(ct_store_t *st, const char *participant_id, const char *member_id)
{
    sqlite3_stmt *s = NULL;
    int64_t found[2] = {0, 0}; /* the participant, the member */
    int err = txn_lost(st);
    if (err == 0)
        err = stmt_get(st, STMT_EXISTS_PM, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, participant_id, &rc);
    bind_text(s, 2, member_id, &rc);
    err = query_ints(st, s, rc, found, 2, "exists");
    if (err == 0 && (found[0] == 0 || (member_id != NULL && found[1] == 0)))
        err = CT_ENOTFOUND;
    return err;
}

/*
 * Deletes the row of (participant_id, member_id) with statement id (TEAM_REMOVE,
 * RESTRICTION_REMOVE). CT_ENOTFOUND if there was none.
 */
static int delete_pair(ct_store_t *st, enum stmt_id id, const char *participant_id,
                       const char *member_id, const char *op)
{
    sqlite3_stmt *s = NULL;
    int err = write_stmt(st, id, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, participant_id, &rc);
    bind_text(s, 2, member_id, &rc);
    return run_write(st, s, rc, op, CT_ENOTFOUND);
}

/* ---- participants ---- */

static int participant_from_row(sqlite3_stmt *s, void *out)
{
    ct_participant_t *p = out;
    memset(p, 0, sizeof *p);
    int err = 0;
    copy_col(s, 0, p->id, sizeof p->id, &err);
    copy_col(s, 1, p->label, sizeof p->label, &err);
    p->created_at_ms = sqlite3_column_int64(s, 2);
    return err;
}

static void bind_participant(sqlite3_stmt *s, const void *in, int *rc)
{
    const ct_participant_t *p = in;
    bind_text(s, 1, p->id, rc);
    bind_text(s, 2, p->label, rc);
    bind_int64(s, 3, p->created_at_ms, rc);
}

int ct_store_participant_add(ct_store_t *st, const ct_participant_t *p)
{
    if (!FITS(p->id) || !FITS(p->label))
        return CT_EINVAL;
    return write_row(st, STMT_PARTICIPANT_ADD, bind_participant, p, "participant_add", 0);
}

int ct_store_participant_get(ct_store_t *st, const char *id, ct_participant_t *out)
{
    return get_by_key(st, STMT_PARTICIPANT_GET, id, participant_from_row, out, "participant_get");
}

ROW_VISITOR(participant, ct_participant_t, participant_from_row)

int ct_store_participant_list(ct_store_t *st, int (*cb)(const ct_participant_t *p, void *arg),
                              void *arg)
{
    participant_walk_t w = {cb, arg};
    return list_all(st, STMT_PARTICIPANT_LIST, participant_visit, &w, "participant_list");
}

/* ---- care teams and relations ---- */

int ct_store_team_add(ct_store_t *st, const char *participant_id, const char *member_id,
                      const char *via, int64_t now_ms)
{
    if (via != NULL && strlen(via) >= sizeof((ct_team_entry_t *)0)->via)
        return CT_EINVAL;
    sqlite3_stmt *s = NULL;
    int err = require(st, participant_id, member_id);
    if (err == 0)
        err = write_stmt(st, STMT_TEAM_ADD, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, participant_id, &rc);
    bind_text(s, 2, member_id, &rc);
    bind_int64(s, 3, now_ms, &rc);
    bind_text(s, 4, via, &rc);
    return run_write(st, s, rc, "team_add", 1);
}

int ct_store_team_remove(ct_store_t *st, const char *participant_id, const char *member_id)
{
    return delete_pair(st, STMT_TEAM_REMOVE, participant_id, member_id, "team_remove");
}

/* TEAM_LIST rows: MEMBER_COLUMNS, then participant_id, joined_at_ms, via. */
static int team_entry_from_row(sqlite3_stmt *s, void *out)
{
    ct_team_entry_t *e = out;
    memset(e, 0, sizeof *e);
    int err = member_from_row(s, &e->member);
    copy_col(s, 6, e->participant_id, sizeof e->participant_id, &err);
    e->joined_at_ms = sqlite3_column_int64(s, 7);
    copy_col(s, 8, e->via, sizeof e->via, &err);
    return err;
}

ROW_VISITOR(team, ct_team_entry_t, team_entry_from_row)

int ct_store_team_list(ct_store_t *st, const char *participant_id,
                       int (*cb)(const ct_team_entry_t *e, void *arg), void *arg)
{
    team_walk_t w = {cb, arg};
    return list_by_key(st, STMT_TEAM_LIST, participant_id, team_visit, &w, "team_list");
}

int ct_store_relation(ct_store_t *st, const char *participant_id, const char *member_id,
                      unsigned *out)
{
    sqlite3_stmt *s = NULL;
    int64_t rel[2] = {0, 0}; /* on the team, lockboxed */
    int err = stmt_get(st, STMT_RELATION, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, participant_id, &rc);
    bind_text(s, 2, member_id, &rc);
    err = query_ints(st, s, rc, rel, 2, "relation");
    if (err == 0) {
        *out = 0;
        if (rel[0] != 0)
            *out |= CT_STORE_REL_ON_TEAM;
        if (rel[1] != 0)
            *out |= CT_STORE_REL_LOCKBOXED;
    }
    return err;
}

/* ---- consents ---- */

/* CONSENT_COLUMNS; column 7 (the withdrawn flag) is implied by withdrawn_by/at in the struct. */
static int consent_from_row(sqlite3_stmt *s, void *out)
{
    ct_consent_t *c = out;
    memset(c, 0, sizeof *c);
    int err = 0;
    copy_col(s, 0, c->consent_id, sizeof c->consent_id, &err);
    copy_col(s, 1, c->participant_id, sizeof c->participant_id, &err);
    c->scope = sqlite3_column_int(s, 2);
    c->method = sqlite3_column_int(s, 3);
    copy_col(s, 4, c->note, sizeof c->note, &err);
    copy_col(s, 5, c->recorded_by, sizeof c->recorded_by, &err);
    c->recorded_at_ms = sqlite3_column_int64(s, 6);
    copy_col(s, 8, c->withdrawn_by, sizeof c->withdrawn_by, &err);
    c->withdrawn_at_ms = sqlite3_column_int64(s, 9);
    copy_col(s, 10, c->withdraw_reason, sizeof c->withdraw_reason, &err);
    return err;
}

/* Binds in (a ct_consent_t) to ?1..?11 as CONSENT_COLUMNS. */
static void bind_consent(sqlite3_stmt *s, const void *in, int *rc)
{
    const ct_consent_t *c = in;
    bind_text(s, 1, c->consent_id, rc);
    bind_text(s, 2, c->participant_id, rc);
    bind_int64(s, 3, c->scope, rc);
    bind_int64(s, 4, c->method, rc);
    bind_text(s, 5, c->note, rc);
    bind_text(s, 6, c->recorded_by, rc);
    bind_int64(s, 7, c->recorded_at_ms, rc);
    bind_int64(s, 8, c->withdrawn_by[0] != '\0' || c->withdrawn_at_ms != 0, rc);
    bind_text(s, 9, c->withdrawn_by, rc);
    bind_int64(s, 10, c->withdrawn_at_ms, rc);
    bind_text(s, 11, c->withdraw_reason, rc);
}

int ct_store_consent_add(ct_store_t *st, const ct_consent_t *c)
{
    if (!FITS(c->consent_id) || !FITS(c->participant_id) || !FITS(c->note) ||
        !FITS(c->recorded_by) || !FITS(c->withdrawn_by) || !FITS(c->withdraw_reason))
        return CT_EINVAL;
    int err = require(st, c->participant_id, NULL);
    if (err == 0)
        err = write_row(st, STMT_CONSENT_ADD, bind_consent, c, "consent_add", 0);
    return err;
}

int ct_store_consent_get(ct_store_t *st, const char *consent_id, ct_consent_t *out)
{
    return get_by_key(st, STMT_CONSENT_GET, consent_id, consent_from_row, out, "consent_get");
}

int ct_store_consent_withdraw(ct_store_t *st, const char *consent_id, const char *by,
                              const char *reason, int64_t now_ms)
{
    if ((by != NULL && strlen(by) > CT_ID_MAX) || (reason != NULL && strlen(reason) > CT_NOTE_MAX))
        return CT_EINVAL;
    sqlite3_stmt *s = NULL;
    int err = write_stmt(st, STMT_CONSENT_WITHDRAW, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, consent_id, &rc);
    bind_text(s, 2, by, &rc);
    bind_int64(s, 3, now_ms, &rc);
    bind_text(s, 4, reason, &rc);
    err = run_write(st, s, rc, "consent_withdraw", CT_ENOTFOUND);
    if (err != CT_ENOTFOUND)
        return err;
    /* Nothing active had that id: absent, or withdrawn before. */
    ct_consent_t c;
    err = ct_store_consent_get(st, consent_id, &c);
    return err == 0 ? CT_ECONFLICT : err;
}

int ct_store_consent_active(ct_store_t *st, const char *participant_id, int scope, bool *active)
{
    sqlite3_stmt *s = NULL;
    int64_t found = 0;
    int err = stmt_get(st, STMT_CONSENT_ACTIVE, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, participant_id, &rc);
    bind_int64(s, 2, scope, &rc);
    err = query_ints(st, s, rc, &found, 1, "consent_active");
    if (err == 0)
        *active = found != 0;
    return err;
}

ROW_VISITOR(consent, ct_consent_t, consent_from_row)

int ct_store_consent_list(ct_store_t *st, const char *participant_id,
                          int (*cb)(const ct_consent_t *c, void *arg), void *arg)
{
    consent_walk_t w = {cb, arg};
    return list_by_key(st, STMT_CONSENT_LIST, participant_id, consent_visit, &w, "consent_list");
}

/* ---- lockbox restrictions ---- */

static int restriction_from_row(sqlite3_stmt *s, void *out)
{
    ct_restriction_t *r = out;
    memset(r, 0, sizeof *r);
    int err = 0;
    copy_col(s, 0, r->participant_id, sizeof r->participant_id, &err);
    copy_col(s, 1, r->member_id, sizeof r->member_id, &err);
    copy_col(s, 2, r->reason, sizeof r->reason, &err);
    copy_col(s, 3, r->recorded_by, sizeof r->recorded_by, &err);
    r->recorded_at_ms = sqlite3_column_int64(s, 4);
    return err;
}

static void bind_restriction(sqlite3_stmt *s, const void *in, int *rc)
{
    const ct_restriction_t *r = in;
    bind_text(s, 1, r->participant_id, rc);
    bind_text(s, 2, r->member_id, rc);
    bind_text(s, 3, r->reason, rc);
    bind_text(s, 4, r->recorded_by, rc);
    bind_int64(s, 5, r->recorded_at_ms, rc);
}

int ct_store_restriction_add(ct_store_t *st, const ct_restriction_t *r)
{
    if (!FITS(r->participant_id) || !FITS(r->member_id) || !FITS(r->reason) ||
        !FITS(r->recorded_by))
        return CT_EINVAL;
    int err = require(st, r->participant_id, r->member_id);
    if (err == 0)
        err = write_row(st, STMT_RESTRICTION_ADD, bind_restriction, r, "restriction_add", 1);
    return err;
}

int ct_store_restriction_remove(ct_store_t *st, const char *participant_id, const char *member_id)
{
    return delete_pair(st, STMT_RESTRICTION_REMOVE, participant_id, member_id,
                       "restriction_remove");
}

ROW_VISITOR(restriction, ct_restriction_t, restriction_from_row)

int ct_store_restriction_list(ct_store_t *st, const char *participant_id,
                              int (*cb)(const ct_restriction_t *r, void *arg), void *arg)
{
    restriction_walk_t w = {cb, arg};
    return list_by_key(st, STMT_RESTRICTION_LIST, participant_id, restriction_visit, &w,
                       "restriction_list");
}

/* ---- referrals ---- */

static int referral_from_row(sqlite3_stmt *s, void *out)
{
    ct_referral_t *r = out;
    memset(r, 0, sizeof *r);
    int err = 0;
    copy_col(s, 0, r->referral_id, sizeof r->referral_id, &err);
    copy_col(s, 1, r->participant_id, sizeof r->participant_id, &err);
    copy_col(s, 2, r->referrer_id, sizeof r->referrer_id, &err);
    copy_col(s, 3, r->addressee_id, sizeof r->addressee_id, &err);
    copy_col(s, 4, r->assignee_id, sizeof r->assignee_id, &err);
    r->status = sqlite3_column_int(s, 5);
    r->held_from = sqlite3_column_int(s, 6);
    r->priority = sqlite3_column_int(s, 7);
    copy_col(s, 8, r->reason, sizeof r->reason, &err);
    copy_col(s, 9, r->goals, sizeof r->goals, &err);
    copy_col(s, 10, r->status_reason, sizeof r->status_reason, &err);
    r->created_at_ms = sqlite3_column_int64(s, 11);
    r->updated_at_ms = sqlite3_column_int64(s, 12);
    return err;
}

/* Binds in (a ct_referral_t) to ?1..?13 as REFERRAL_COLUMNS: REFERRAL_INSERT, and the subset
 * that REFERRAL_UPDATE uses. */
static void bind_referral(sqlite3_stmt *s, const void *in, int *rc)
{
    const ct_referral_t *r = in;
    bind_text(s, 1, r->referral_id, rc);
    bind_text(s, 2, r->participant_id, rc);
    bind_text(s, 3, r->referrer_id, rc);
    bind_text(s, 4, r->addressee_id, rc);
    bind_text(s, 5, r->assignee_id, rc);
    bind_int64(s, 6, r->status, rc);
    bind_int64(s, 7, r->held_from, rc);
    bind_int64(s, 8, r->priority, rc);
    bind_text(s, 9, r->reason, rc);
    bind_text(s, 10, r->goals, rc);
    bind_text(s, 11, r->status_reason, rc);
    bind_int64(s, 12, r->created_at_ms, rc);
    bind_int64(s, 13, r->updated_at_ms, rc);
}

static bool referral_fits(const ct_referral_t *r)
{
    return FITS(r->referral_id) && FITS(r->participant_id) && FITS(r->referrer_id) &&
           FITS(r->addressee_id) && FITS(r->assignee_id) && FITS(r->reason) && FITS(r->goals) &&
           FITS(r->status_reason);
}

/* Also CT_ENOTFOUND if the participant does not exist (the foreign key). */
int ct_store_referral_insert(ct_store_t *st, const ct_referral_t *r)
{
    if (!referral_fits(r))
        return CT_EINVAL;
    int err = require(st, r->participant_id, NULL);
    if (err == 0)
        err = write_row(st, STMT_REFERRAL_INSERT, bind_referral, r, "referral_insert", 0);
    return err;
}

int ct_store_referral_get(ct_store_t *st, const char *referral_id, ct_referral_t *out)
{
    return get_by_key(st, STMT_REFERRAL_GET, referral_id, referral_from_row, out, "referral_get");
}

int ct_store_referral_update(ct_store_t *st, const ct_referral_t *r)
{
    if (!referral_fits(r))
        return CT_EINVAL;
    return write_row(st, STMT_REFERRAL_UPDATE, bind_referral, r, "referral_update", CT_ENOTFOUND);
}

ROW_VISITOR(referral, ct_referral_t, referral_from_row)

/*
 * One statement per leading filter, so that each list is a walk of one index in its order:
 * the most selective filter set leads (participant, assignee, referrer, the queue, status), and
 * the others are checked on the rows that index yields. A list with no filter walks the table.
 */
int ct_store_referral_list(ct_store_t *st, const ct_referral_filter_t *f,
                           int (*cb)(const ct_referral_t *r, void *arg), void *arg)
{
    static const ct_referral_filter_t none = {0};
    if (f == NULL)
        f = &none;
    enum stmt_id id = given(f->participant_id) ? STMT_REFERRAL_LIST_PARTICIPANT
                      : given(f->assignee_id)  ? STMT_REFERRAL_LIST_ASSIGNEE
                      : given(f->referrer_id)  ? STMT_REFERRAL_LIST_REFERRER
                      : f->queue_only          ? STMT_REFERRAL_LIST_QUEUE
                      : f->status != 0         ? STMT_REFERRAL_LIST_STATUS
                                               : STMT_REFERRAL_LIST_ALL;
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, id, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, f->participant_id, &rc);
    bind_text(s, 2, f->assignee_id, &rc);
    bind_text(s, 3, f->referrer_id, &rc);
    bind_int64(s, 4, f->queue_only ? 1 : 0, &rc);
    bind_int64(s, 5, f->status, &rc);
    bind_int64(s, 6, sql_limit(f->limit), &rc);
    referral_walk_t w = {cb, arg};
    return walk_rows(st, s, rc, referral_visit, &w, "referral_list");
}

/* ---- session summaries ---- */

void ct_summary_clear(ct_summary_t *s)
{
    if (s == NULL)
        return;
    free(s->text);
    s->text = NULL;
}

/* Fills out (a ct_summary_t) from a SUMMARY_COLUMNS row; on success out->text is the caller's. */
static int summary_from_row(sqlite3_stmt *s, void *out)
{
    ct_summary_t *m = out;
    memset(m, 0, sizeof *m);
    int err = 0;
    copy_col(s, 0, m->summary_id, sizeof m->summary_id, &err);
    copy_col(s, 1, m->referral_id, sizeof m->referral_id, &err);
    copy_col(s, 2, m->participant_id, sizeof m->participant_id, &err);
    copy_col(s, 3, m->author_id, sizeof m->author_id, &err);
    copy_col(s, 4, m->session_date, sizeof m->session_date, &err);
    m->duration_minutes = (uint32_t)sqlite3_column_int64(s, 5);
    m->format = sqlite3_column_int(s, 6);
    copy_col(s, 7, m->themes, sizeof m->themes, &err);
    copy_col(s, 8, m->goals_progress, sizeof m->goals_progress, &err);
    copy_col(s, 9, m->next_steps, sizeof m->next_steps, &err);
    m->participant_reviewed = sqlite3_column_int(s, 10) != 0;
    m->risk = sqlite3_column_int(s, 11);
    copy_col(s, 13, m->amends_summary_id, sizeof m->amends_summary_id, &err);
    copy_col(s, 14, m->alert_id, sizeof m->alert_id, &err);
    m->created_at_ms = sqlite3_column_int64(s, 15);
    if (err != 0)
        return err;
    m->text = dup_col(s, 12, NULL);
    return m->text != NULL ? 0 : CT_ENOMEM;
}

/* Binds in (a ct_summary_t) to ?1..?16 as SUMMARY_COLUMNS. */
static void bind_summary(sqlite3_stmt *s, const void *in, int *rc)
{
    const ct_summary_t *m = in;
    bind_text(s, 1, m->summary_id, rc);
    bind_text(s, 2, m->referral_id, rc);
    bind_text(s, 3, m->participant_id, rc);
    bind_text(s, 4, m->author_id, rc);
    bind_text(s, 5, m->session_date, rc);
    bind_int64(s, 6, m->duration_minutes, rc);
    bind_int64(s, 7, m->format, rc);
    bind_text(s, 8, m->themes, rc);
    bind_text(s, 9, m->goals_progress, rc);
    bind_text(s, 10, m->next_steps, rc);
    bind_int64(s, 11, m->participant_reviewed ? 1 : 0, rc);
    bind_int64(s, 12, m->risk, rc);
    bind_text(s, 13, m->text, rc);
    bind_text(s, 14, m->amends_summary_id, rc);
    bind_text(s, 15, m->alert_id, rc);
    bind_int64(s, 16, m->created_at_ms, rc);
}

/* Also CT_ENOTFOUND if the participant does not exist (the foreign key). */
int ct_store_summary_insert(ct_store_t *st, const ct_summary_t *m)
{
    if (!FITS(m->summary_id) || !FITS(m->referral_id) || !FITS(m->participant_id) ||
        !FITS(m->author_id) || !FITS(m->session_date) || !FITS(m->themes) ||
        !FITS(m->goals_progress) || !FITS(m->next_steps) || !FITS(m->amends_summary_id) ||
        !FITS(m->alert_id) || (m->text != NULL && strlen(m->text) > INT_MAX))
        return CT_EINVAL;
    int err = require(st, m->participant_id, NULL);
    if (err == 0)
        err = write_row(st, STMT_SUMMARY_INSERT, bind_summary, m, "summary_insert", 0);
    return err;
}

int ct_store_summary_get(ct_store_t *st, const char *summary_id, ct_summary_t *out)
{
    /* On any error out holds no allocation: summary_from_row allocates the text last. */
    return get_by_key(st, STMT_SUMMARY_GET, summary_id, summary_from_row, out, "summary_get");
}

/* Not a ROW_VISITOR: the row owns its text, which is freed once the callback returns. */
typedef struct summary_walk {
    int (*cb)(const ct_summary_t *s, void *arg);
    void *arg;
} summary_walk_t;

static int summary_visit(sqlite3_stmt *s, void *ctx)
{
    summary_walk_t *w = ctx;
    ct_summary_t m;
    int err = summary_from_row(s, &m);
    if (err == 0)
        err = w->cb(&m, w->arg);
    ct_summary_clear(&m);
    return err;
}

/* CT_EINVAL when neither participant_id nor referral_id is given. */
int ct_store_summary_list(ct_store_t *st, const char *participant_id, const char *referral_id,
                          int limit, int (*cb)(const ct_summary_t *s, void *arg), void *arg)
{
    if (!given(participant_id) && !given(referral_id))
        return CT_EINVAL;
    sqlite3_stmt *s = NULL;
    int err = stmt_get(
        st, given(referral_id) ? STMT_SUMMARY_LIST_REFERRAL : STMT_SUMMARY_LIST_PARTICIPANT, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, participant_id, &rc);
    bind_text(s, 2, referral_id, &rc);
    bind_int64(s, 3, sql_limit(limit), &rc);
    summary_walk_t w = {cb, arg};
    return walk_rows(st, s, rc, summary_visit, &w, "summary_list");
}

/* ---- safety alerts ---- */

static int alert_from_row(sqlite3_stmt *s, void *out)
{
    ct_alert_t *a = out;
    memset(a, 0, sizeof *a);
    int err = 0;
    copy_col(s, 0, a->alert_id, sizeof a->alert_id, &err);
    copy_col(s, 1, a->participant_id, sizeof a->participant_id, &err);
    copy_col(s, 2, a->raised_by, sizeof a->raised_by, &err);
    a->source = sqlite3_column_int(s, 3);
    copy_col(s, 4, a->summary_id, sizeof a->summary_id, &err);
    copy_col(s, 5, a->referral_id, sizeof a->referral_id, &err);
    a->risk = sqlite3_column_int(s, 6);
    copy_col(s, 7, a->text, sizeof a->text, &err);
    a->status = sqlite3_column_int(s, 8);
    a->escalations = (uint32_t)sqlite3_column_int64(s, 9);
    a->deadline_ms = sqlite3_column_int64(s, 10);
    a->created_at_ms = sqlite3_column_int64(s, 11);
    copy_col(s, 12, a->acknowledged_by, sizeof a->acknowledged_by, &err);
    a->acknowledged_at_ms = sqlite3_column_int64(s, 13);
    copy_col(s, 14, a->note, sizeof a->note, &err);
    return err;
}

/* Binds in (a ct_alert_t) to ?1..?15 as ALERT_COLUMNS: ALERT_INSERT, and the subset that
 * ALERT_UPDATE uses. */
static void bind_alert(sqlite3_stmt *s, const void *in, int *rc)
{
    const ct_alert_t *a = in;
    bind_text(s, 1, a->alert_id, rc);
    bind_text(s, 2, a->participant_id, rc);
    bind_text(s, 3, a->raised_by, rc);
    bind_int64(s, 4, a->source, rc);
    bind_text(s, 5, a->summary_id, rc);
    bind_text(s, 6, a->referral_id, rc);
    bind_int64(s, 7, a->risk, rc);
    bind_text(s, 8, a->text, rc);
    bind_int64(s, 9, a->status, rc);
    bind_int64(s, 10, a->escalations, rc);
    bind_int64(s, 11, a->deadline_ms, rc);
    bind_int64(s, 12, a->created_at_ms, rc);
    bind_text(s, 13, a->acknowledged_by, rc);
    bind_int64(s, 14, a->acknowledged_at_ms, rc);
    bind_text(s, 15, a->note, rc);
}

static bool alert_fits(const ct_alert_t *a)
{
    return FITS(a->alert_id) && FITS(a->participant_id) && FITS(a->raised_by) &&
           FITS(a->summary_id) && FITS(a->referral_id) && FITS(a->text) &&
           FITS(a->acknowledged_by) && FITS(a->note);
}

/* Also CT_ENOTFOUND if the participant does not exist (the foreign key). */
int ct_store_alert_insert(ct_store_t *st, const ct_alert_t *a)
{
    if (!alert_fits(a))
        return CT_EINVAL;
    int err = require(st, a->participant_id, NULL);
    if (err == 0)
        err = write_row(st, STMT_ALERT_INSERT, bind_alert, a, "alert_insert", 0);
    return err;
}

int ct_store_alert_get(ct_store_t *st, const char *alert_id, ct_alert_t *out)
{
    return get_by_key(st, STMT_ALERT_GET, alert_id, alert_from_row, out, "alert_get");
}

int ct_store_alert_update(ct_store_t *st, const ct_alert_t *a)
{
    if (!alert_fits(a))
        return CT_EINVAL;
    return write_row(st, STMT_ALERT_UPDATE, bind_alert, a, "alert_update", CT_ENOTFOUND);
}

ROW_VISITOR(alert, ct_alert_t, alert_from_row)

int ct_store_alert_list(ct_store_t *st, const char *participant_id, bool open_only, int limit,
                        int (*cb)(const ct_alert_t *a, void *arg), void *arg)
{
    sqlite3_stmt *s = NULL;
    int err =
        stmt_get(st, given(participant_id) ? STMT_ALERT_LIST_PARTICIPANT : STMT_ALERT_LIST_ALL, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    if (given(participant_id))
        bind_text(s, 1, participant_id, &rc);
    bind_int64(s, 2, open_only ? 1 : 0, &rc);
    bind_int64(s, 3, sql_limit(limit), &rc);
    alert_walk_t w = {cb, arg};
    return walk_rows(st, s, rc, alert_visit, &w, "alert_list");
}

/* The due alerts, read into memory (see ct_store_alert_due). */
typedef struct alert_array {
    ct_alert_t *v; /* owned; freed by ct_store_alert_due */
    size_t n, cap;
} alert_array_t;

static int alert_collect(sqlite3_stmt *s, void *ctx)
{
    alert_array_t *a = ctx;
    ct_alert_t *v = reserve_one(a->v, a->n, &a->cap, sizeof *a->v);
    if (v == NULL)
        return CT_ENOMEM;
    a->v = v;
    int err = alert_from_row(s, &a->v[a->n]);
    if (err == 0)
        a->n++;
    return err;
}

/*
 * The due alerts are read into memory before the first callback, because the escalation timer
 * updates each one (new deadline, or none) from its callback: changing rows of the index a
 * statement is still walking would make the walk see them again or skip others. Due alerts are
 * few (each is re-armed or closed as it is handled), so the copy is small.
 */
int ct_store_alert_due(ct_store_t *st, int64_t now_ms, int (*cb)(const ct_alert_t *a, void *arg),
                       void *arg)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, STMT_ALERT_DUE, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_int64(s, 1, now_ms, &rc);
    alert_array_t due = {NULL, 0, 0};
    err = walk_rows(st, s, rc, alert_collect, &due, "alert_due");
    for (size_t i = 0; err == 0 && i < due.n; i++)
        err = cb(&due.v[i], arg);
    free(due.v);
    return err;
}

int ct_store_alert_next_deadline(ct_store_t *st, int64_t *deadline_ms)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, STMT_ALERT_NEXT_DEADLINE, &s);
    if (err == 0) /* min() of no rows is NULL, read as 0 */
        err = query_ints(st, s, SQLITE_OK, deadline_ms, 1, "alert_next_deadline");
    return err;
}

/* ---- audit ------------------------------------------------------------------------------- */

/*
 * The SQLite type each AUDIT_STORED_COLUMNS column must have. Migration 2 made the table STRICT,
 * so only a file edited outside SQLite's rules can hold anything else.
 */
static const struct {
    const char *name;
    int type;
} audit_columns[] = {
    {"seq", SQLITE_INTEGER},        {"time_ms", SQLITE_INTEGER}, {"actor_id", SQLITE_TEXT},
    {"actor_role", SQLITE_INTEGER}, {"peer_addr", SQLITE_TEXT},  {"action", SQLITE_TEXT},
    {"object_type", SQLITE_TEXT},   {"object_id", SQLITE_TEXT},  {"participant_id", SQLITE_TEXT},
    {"outcome", SQLITE_INTEGER},    {"detail", SQLITE_TEXT},     {"leaf", SQLITE_BLOB},
    {"chain", SQLITE_BLOB},         {"cert_fp", SQLITE_TEXT},    {"enc", SQLITE_INTEGER},
};

#define AUDIT_ROW_NCOLS 11    /* the columns of AUDIT_ROW_COLUMNS; leaf and chain follow */
#define AUDIT_STORED_NCOLS 15 /* the columns of AUDIT_STORED_COLUMNS */
#define AUDIT_COL_CERT_FP 13
#define AUDIT_COL_ENC 14

/* The name of the first of columns 0..n-1 of s whose type is not audit_columns[]'s, or NULL.
 * Called before any column is read: reading a column may convert its type. */
static const char *audit_bad_column(sqlite3_stmt *s, int n)
{
    for (int i = 0; i < n; i++) {
        if (sqlite3_column_type(s, i) != audit_columns[i].type)
            return audit_columns[i].name;
    }
    return NULL;
}

static ct_audit_text_t col_audit_text(sqlite3_stmt *s, int col)
{
    const char *p = (const char *)sqlite3_column_text(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    ct_audit_text_t t = {.ptr = p != NULL ? p : "", .len = p != NULL ? n : 0};
    return t;
}

/* Fills row from the AUDIT_ROW_COLUMNS of s's current row; the texts point into that row. The
 * row reads as encoding version 1 with no cert_fp, as every row was before migration 4. */
static void audit_row_from(sqlite3_stmt *s, ct_audit_row_t *row)
{
    row->version = CT_AUDIT_ENCODING_V1;
    row->cert_fp = ct_audit_text("");
    row->seq = sqlite3_column_int64(s, 0);
    row->time_ms = sqlite3_column_int64(s, 1);
    row->actor_id = col_audit_text(s, 2);
    row->actor_role = sqlite3_column_int64(s, 3);
    row->peer_addr = col_audit_text(s, 4);
    row->action = col_audit_text(s, 5);
    row->object_type = col_audit_text(s, 6);
    row->object_id = col_audit_text(s, 7);
    row->participant_id = col_audit_text(s, 8);
    row->outcome = sqlite3_column_int64(s, 9);
    row->detail = col_audit_text(s, 10);
}

static void bind_audit_text(sqlite3_stmt *s, int idx, ct_audit_text_t t, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = t.len > INT_MAX ? SQLITE_TOOBIG
                              : sqlite3_bind_text(s, idx, t.ptr != NULL ? t.ptr : "", (int)t.len,
                                                  SQLITE_STATIC);
}

static void bind_hash(sqlite3_stmt *s, int idx, const uint8_t *h, int *rc)
{
    if (*rc == SQLITE_OK)
        *rc = sqlite3_bind_blob(s, idx, h, CT_AUDIT_HASH_LEN, SQLITE_STATIC);
}

/* Binds row, leaf and chain to an INSERT whose parameters ?1..?13 are AUDIT_ROW_COLUMNS, leaf,
 * chain (migration 2's backfill) or ?1..?15 AUDIT_STORED_COLUMNS (AUDIT_APPEND), and steps it;
 * always resets it. */
static int audit_insert_row(ct_store_t *st, sqlite3_stmt *s, const ct_audit_row_t *row,
                            const uint8_t *leaf, const uint8_t *chain, const char *op)
{
    int rc = SQLITE_OK;
    bind_int64(s, 1, row->seq, &rc);
    bind_int64(s, 2, row->time_ms, &rc);
    bind_audit_text(s, 3, row->actor_id, &rc);
    bind_int64(s, 4, row->actor_role, &rc);
    bind_audit_text(s, 5, row->peer_addr, &rc);
    bind_audit_text(s, 6, row->action, &rc);
    bind_audit_text(s, 7, row->object_type, &rc);
    bind_audit_text(s, 8, row->object_id, &rc);
    bind_audit_text(s, 9, row->participant_id, &rc);
    bind_int64(s, 10, row->outcome, &rc);
    bind_audit_text(s, 11, row->detail, &rc);
    bind_hash(s, 12, leaf, &rc);
    bind_hash(s, 13, chain, &rc);
    if (sqlite3_bind_parameter_count(s) >= AUDIT_STORED_NCOLS) {
        bind_audit_text(s, 14, row->cert_fp, &rc);
        bind_int64(s, 15, row->version, &rc);
    }
    return run_write(st, s, rc, op, 0);
}

/* Computes the leaf of row and, from *chain (the previous row's), the row's own chain value,
 * which replaces *chain. */
static int audit_hash_row(const ct_audit_row_t *row, uint8_t leaf[CT_AUDIT_HASH_LEN],
                          uint8_t chain[CT_AUDIT_HASH_LEN])
{
    int err = ct_audit_chain_leaf(row, leaf);
    if (err == 0)
        err = ct_audit_chain_link(chain, leaf, chain);
    return err;
}

/*
 * Migration 1 -> 2. SQLite cannot add a NOT NULL column without a default nor compute SHA-256,
 * so the table is rebuilt: audit_v2 is created STRICT with leaf and chain, every existing row is
 * copied into it in seq order with its hashes computed here (one row in memory at a time), then
 * the old table goes (taking its triggers along: DROP TABLE fires none) and audit_v2 takes its
 * name and gets the same append-only triggers. seq loses AUTOINCREMENT: audit_append assigns
 * seq itself (newest + 1), which keeps the numbering gapless. Existing seq values are kept as
 * they are; a gap in them is evidence, and `audit verify` reports it.
 */
static int migrate_audit_chain(ct_store_t *st)
{
    static const char create[] = "CREATE TABLE audit_v2 ("
                                 "  seq INTEGER PRIMARY KEY CHECK (seq >= 1),"
                                 "  time_ms INTEGER NOT NULL,"
                                 "  actor_id TEXT NOT NULL,"
                                 "  actor_role INTEGER NOT NULL,"
                                 "  peer_addr TEXT NOT NULL,"
                                 "  action TEXT NOT NULL,"
                                 "  object_type TEXT NOT NULL,"
                                 "  object_id TEXT NOT NULL,"
                                 "  participant_id TEXT NOT NULL,"
                                 "  outcome INTEGER NOT NULL,"
                                 "  detail TEXT NOT NULL,"
                                 "  leaf BLOB NOT NULL CHECK (length(leaf) = 32),"
                                 "  chain BLOB NOT NULL CHECK (length(chain) = 32)"
                                 ") STRICT;";
    static const char swap[] = "DROP TABLE audit;"
                               "ALTER TABLE audit_v2 RENAME TO audit;"
                               "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
                               "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
                               "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
                               "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;";
    int err = exec_script(st, create, "migrate2.create");
    if (err != 0)
        return err;

    sqlite3_stmt *rd = NULL, *wr = NULL;
    int rc = sqlite3_prepare_v2(st->db, "SELECT " AUDIT_ROW_COLUMNS " FROM audit ORDER BY seq", -1,
                                &rd, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(st->db,
                                "INSERT INTO audit_v2 (" AUDIT_ROW_COLUMNS ", leaf, chain)"
                                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                                -1, &wr, NULL);
    err = rc == SQLITE_OK ? 0 : fail(st, rc, "migrate2.prepare");
    uint8_t chain[CT_AUDIT_HASH_LEN], leaf[CT_AUDIT_HASH_LEN];
    memcpy(chain, ct_audit_genesis, sizeof chain);
    int64_t n = 0;
    while (err == 0 && (rc = sqlite3_step(rd)) == SQLITE_ROW) {
        /* Version 1 was not STRICT; a value of another type is chained as read, and said. */
        const char *bad = audit_bad_column(rd, AUDIT_ROW_NCOLS);
        if (bad != NULL)
            ct_log_warn("store.audit_backfill_type", "seq=%lld column=%s",
                        (long long)sqlite3_column_int64(rd, 0), bad);
        ct_audit_row_t row;
        audit_row_from(rd, &row);
        err = audit_hash_row(&row, leaf, chain);
        if (err == 0)
            err = audit_insert_row(st, wr, &row, leaf, chain, "migrate2.insert");
        n++;
    }
    if (err == 0 && rc != SQLITE_DONE)
        err = fail(st, rc, "migrate2.read");
    sqlite3_finalize(rd);
    sqlite3_finalize(wr);
    if (err == 0)
        err = exec_script(st, swap, "migrate2.swap");
    if (err == 0)
        ct_log_info("store.audit_chained", "rows=%lld", (long long)n);
    return err;
}

int ct_store_audit_head(ct_store_t *st, int64_t *seq, uint8_t chain[CT_AUDIT_HASH_LEN])
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(st, STMT_AUDIT_HEAD, &s);
    if (err != 0)
        return err;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        int type = sqlite3_column_type(s, 1);
        const void *c = sqlite3_column_blob(s, 1);
        int n = sqlite3_column_bytes(s, 1);
        *seq = sqlite3_column_int64(s, 0);
        if (type == SQLITE_BLOB && c != NULL && n == CT_AUDIT_HASH_LEN) {
            memcpy(chain, c, CT_AUDIT_HASH_LEN);
        } else {
            ct_log_error("store.audit_head_malformed", "seq=%lld chain_bytes=%d", (long long)*seq,
                         n);
            err = CT_EINTERNAL;
        }
    } else if (rc == SQLITE_DONE) {
        *seq = 0;
        memcpy(chain, ct_audit_genesis, CT_AUDIT_HASH_LEN);
    } else {
        err = fail(st, rc, "audit_head");
    }
    stmt_done(s);
    return err;
}

/* Inserts a as the row after the newest one (invariant 5); the caller holds the write lock. */
static int audit_insert(ct_store_t *st, const ct_audit_t *a, int64_t *seq)
{
    int64_t last = 0;
    uint8_t chain[CT_AUDIT_HASH_LEN], leaf[CT_AUDIT_HASH_LEN];
    int err = 0;
    if (st->head_known && st->depth > 0) {
        last = st->head_seq;
        memcpy(chain, st->head_chain, CT_AUDIT_HASH_LEN);
    } else {
        err = ct_store_audit_head(st, &last, chain);
    }
    if (err == 0 && last == INT64_MAX)
        err = CT_EINTERNAL; /* only a doctored file gets here */
    if (err != 0)
        return err;
    ct_audit_row_t row = {
        .version = CT_AUDIT_ENCODING_CURRENT,
        .seq = last + 1,
        .time_ms = a->time_ms,
        .actor_id = ct_audit_text(a->actor_id),
        .actor_role = a->actor_role,
        .cert_fp = ct_audit_text(a->cert_fp),
        .peer_addr = ct_audit_text(a->peer_addr),
        .action = ct_audit_text(a->action),
        .object_type = ct_audit_text(a->object_type),
        .object_id = ct_audit_text(a->object_id),
        .participant_id = ct_audit_text(a->participant_id),
        .outcome = a->outcome,
        .detail = ct_audit_text(a->detail),
    };
    err = audit_hash_row(&row, leaf, chain);
    sqlite3_stmt *s = NULL;
    if (err == 0)
        err = stmt_get(st, STMT_AUDIT_APPEND, &s);
    /* The zone first: nothing may fail after the row is in (an audit-only job has no savepoint
     * to undo it), and a summary a row wider than its rows is harmless. */
    if (err == 0)
        err = zones_add(st, row.seq, a);
    bool tallied = err == 0 && tally_push(st, a);
    if (err == 0)
        err = audit_insert_row(st, s, &row, leaf, chain, "audit_append");
    if (err != 0 && tallied)
        st->n_tally--;
    if (err != 0)
        st->head_known = false;
    if (err == 0) {
        *seq = row.seq;
        st->head_known = st->depth > 0;
        st->head_seq = row.seq;
        memcpy(st->head_chain, chain, CT_AUDIT_HASH_LEN);
    }
    return err;
}

int64_t ct_store_audit_append(ct_store_t *st, const ct_audit_t *a)
{
    int err = txn_lost(st);
    if (err != 0)
        return err;
    /* The newest row must be read under the write lock: outside a transaction, take it here. */
    bool own = st->depth == 0;
    if (own) {
        err = ct_store_begin(st);
        if (err != 0)
            return err;
    }
    int64_t seq = 0;
    err = audit_insert(st, a, &seq);
    if (own) {
        if (err == 0)
            err = ct_store_commit(st);
        else
            (void)ct_store_rollback(st);
    }
    return err != 0 ? err : seq;
}

/* Fills out (a ct_audit_stored_t) from an AUDIT_SCAN row; it points into that row. */
static int audit_stored_from_row(sqlite3_stmt *s, void *out)
{
    ct_audit_stored_t *r = out;
    memset(r, 0, sizeof *r);
    r->bad_column = audit_bad_column(s, AUDIT_STORED_NCOLS);
    audit_row_from(s, &r->row);
    r->leaf = sqlite3_column_blob(s, AUDIT_ROW_NCOLS);
    r->leaf_len = r->leaf != NULL ? (size_t)sqlite3_column_bytes(s, AUDIT_ROW_NCOLS) : 0;
    r->chain = sqlite3_column_blob(s, AUDIT_ROW_NCOLS + 1);
    r->chain_len = r->chain != NULL ? (size_t)sqlite3_column_bytes(s, AUDIT_ROW_NCOLS + 1) : 0;
    r->row.cert_fp = col_audit_text(s, AUDIT_COL_CERT_FP);
    /* A version beyond one byte is no version at all; 0 has no encoding either, so the verifier
     * names it rather than hashing a truncated value. */
    int64_t enc = sqlite3_column_int64(s, AUDIT_COL_ENC);
    r->row.version = enc >= 1 && enc <= 255 ? (int)enc : 0;
    return 0;
}

ROW_VISITOR(audit, ct_audit_stored_t, audit_stored_from_row)

int ct_store_audit_scan(ct_store_t *st, int (*cb)(const ct_audit_stored_t *row, void *arg),
                        void *arg)
{
    audit_walk_t w = {cb, arg};
    return list_all(st, STMT_AUDIT_SCAN, audit_visit, &w, "audit_scan");
}

int ct_store_audit_checkpoint_add(ct_store_t *st, const ct_audit_checkpoint_t *cp)
{
    sqlite3_stmt *s = NULL;
    int err = write_stmt(st, STMT_CHECKPOINT_ADD, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_int64(s, 1, cp->seq, &rc);
    bind_hash(s, 2, cp->head, &rc);
    bind_int64(s, 3, cp->time_ms, &rc);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob(s, 4, cp->sig, CT_AUDIT_SIG_LEN, SQLITE_STATIC);
    bind_text(s, 5, cp->key_id, &rc);
    return run_write(st, s, rc, "checkpoint_add", 1);
}

int ct_store_audit_checkpoint_newest(ct_store_t *st, int64_t *seq, int64_t *time_ms)
{
    sqlite3_stmt *s = NULL;
    *seq = 0;
    *time_ms = 0;
    int err = stmt_get(st, STMT_CHECKPOINT_NEWEST, &s);
    if (err != 0)
        return err;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64(s, 0);
        *time_ms = sqlite3_column_int64(s, 1);
    } else if (rc != SQLITE_DONE) {
        err = fail(st, rc, "checkpoint_newest");
    }
    stmt_done(s);
    return err;
}

/* Copies a blob column of exactly len bytes into out; false (out zeroed) if it is not one. */
static bool col_fixed_blob(sqlite3_stmt *s, int col, uint8_t *out, size_t len)
{
    memset(out, 0, len);
    if (sqlite3_column_type(s, col) != SQLITE_BLOB)
        return false;
    const void *p = sqlite3_column_blob(s, col);
    if (p == NULL || (size_t)sqlite3_column_bytes(s, col) != len)
        return false;
    memcpy(out, p, len);
    return true;
}

/* Fills out (a ct_audit_checkpoint_t) from a CHECKPOINT_SCAN row, naming what is malformed. */
static int checkpoint_from_row(sqlite3_stmt *s, void *out)
{
    ct_audit_checkpoint_t *cp = out;
    memset(cp, 0, sizeof *cp);
    bool ints =
        sqlite3_column_type(s, 0) == SQLITE_INTEGER && sqlite3_column_type(s, 2) == SQLITE_INTEGER;
    bool text = sqlite3_column_type(s, 4) == SQLITE_TEXT;
    cp->seq = sqlite3_column_int64(s, 0);
    cp->time_ms = sqlite3_column_int64(s, 2);
    bool head = col_fixed_blob(s, 1, cp->head, CT_AUDIT_HASH_LEN);
    bool sig = col_fixed_blob(s, 3, cp->sig, CT_AUDIT_SIG_LEN);
    const char *id = text ? (const char *)sqlite3_column_text(s, 4) : NULL;
    ct_text_copy(cp->key_id, sizeof cp->key_id, id);
    if (!ints)
        cp->malformed = "its seq or time is not an integer";
    else if (!head)
        cp->malformed = "its head is not a 32-byte value";
    else if (!sig)
        cp->malformed = "its signature is not a 64-byte value";
    else if (!text)
        cp->malformed = "its key id is not a text";
    return 0;
}

ROW_VISITOR(checkpoint, ct_audit_checkpoint_t, checkpoint_from_row)

int ct_store_audit_checkpoint_scan(ct_store_t *st,
                                   int (*cb)(const ct_audit_checkpoint_t *cp, void *arg), void *arg)
{
    checkpoint_walk_t w = {cb, arg};
    return list_all(st, STMT_CHECKPOINT_SCAN, checkpoint_visit, &w, "checkpoint_scan");
}

int64_t ct_store_audit_count(ct_store_t *st, const char *action)
{
    sqlite3_stmt *s = NULL;
    int64_t n = 0;
    int err = stmt_get(st, STMT_AUDIT_COUNT, &s);
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, action, &rc);
    err = query_ints(st, s, rc, &n, 1, "audit_count");
    return err != 0 ? err : n;
}

/* ---- audit query (AuditQuery) ------------------------------------------------------------- */

/*
 * ct_store_audit_query builds its SELECT from the filters that are set, so that each query is a
 * plain conjunction SQLite can match to an index, where a statement with every predicate written
 * "(? = '' OR col = ?)" would defeat them all. "seq > ?" is always there (a rowid range), then:
 *   participant_id = ?         audit_participant (participant_id, seq), partial: one range of the
 *                              index, already in seq order; every other filter is a row test
 *   time_ms, actor_id, action  without a participant: the zones whose summary may hold a match
 *   (exact)                    (audit_zones, audit_zones.h: time range, action bit, the actor's
 *                              three Bloom bits), in order, each zone's rows by rowid range, every
 *                              filter tested on every row ("FROM audit_zones CROSS JOIN audit ...
 *                              ORDER BY zone, seq": the same order as by seq, with no sort)
 *   anything else              the rowid range in seq order (no sort; a page stops at its LIMIT)
 * In the zone plan every row filter is written "+col" so that SQLite never serves it from an
 * index (an automatic one would lose the seq order and sort every match). Checked with EXPLAIN
 * QUERY PLAN in tests/unit/test_store.c. The statement is prepared per call, there being 2^8
 * shapes (preparing is small next to reading a page), and finalized before returning, so it stays
 * out of STMT_MAP.
 */

#define AQ_SQL_MAX 2048
#define AQ_BINDS_MAX 24

typedef struct aq_bind {
    bool is_text;
    int64_t i;
    const char *s;
    int slen; /* -1: NUL-terminated */
} aq_bind_t;

typedef struct aq_sql {
    char text[AQ_SQL_MAX];
    size_t len;
    aq_bind_t binds[AQ_BINDS_MAX];
    int n;
    char prefix_end[64]; /* the upper bound of an action prefix ("referral/") */
    /* Filters from now on are tests on each row, never an index ("+col"): in the zone plan an
     * index (even an automatic one) would lose the seq order and sort every match. */
    bool row_tests;
} aq_sql_t;

static void aq_append(aq_sql_t *q, const char *sql)
{
    size_t n = strlen(sql);
    if (q->len + n < sizeof q->text) {
        memcpy(q->text + q->len, sql, n + 1);
        q->len += n;
    }
}

/* Appends " AND <pred>" whose one parameter "?" is bound to text s. */
static void aq_text(aq_sql_t *q, const char *pred, const char *s, int slen)
{
    aq_append(q, q->row_tests ? " AND +" : " AND ");
    aq_append(q, pred);
    q->binds[q->n++] = (aq_bind_t){.is_text = true, .s = s, .slen = slen};
}

static void aq_int(aq_sql_t *q, const char *pred, int64_t v)
{
    aq_append(q, q->row_tests ? " AND +" : " AND ");
    aq_append(q, pred);
    q->binds[q->n++] = (aq_bind_t){.is_text = false, .i = v};
}

static bool aq_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* Appends " AND (z.actors<word> & ?) = ?", both bound to mask: the zone has all of the actor's
 * Bloom bits of that word. */
static void aq_mask(aq_sql_t *q, int word, uint64_t mask)
{
    char pred[48];
    snprintf(pred, sizeof pred, " AND (z.actors%d & ?) = ?", word);
    aq_append(q, pred);
    q->binds[q->n++] = (aq_bind_t){.is_text = false, .i = (int64_t)mask};
    q->binds[q->n++] = (aq_bind_t){.is_text = false, .i = (int64_t)mask};
}

/* Builds the query for f into q. Returns 0, or CT_EINVAL for an action prefix too long. */
static int aq_build(aq_sql_t *q, const ct_audit_filter_t *f, int64_t after_seq, int limit)
{
    memset(q, 0, sizeof *q);
    bool exact_action = aq_set(f->action) && f->action[strlen(f->action) - 1] != '.';
    bool zones = !aq_set(f->participant_id) &&
                 (f->since_ms != 0 || f->until_ms != 0 || aq_set(f->actor_id) || exact_action);
    aq_append(q, "SELECT seq, time_ms, actor_id, actor_role, cert_fp, peer_addr, action,"
                 " object_type, object_id, participant_id, outcome, detail FROM ");
    if (zones) {
        /* Zone z holds seq z * ZONE_ROWS + 1 .. (z + 1) * ZONE_ROWS; the first zone that can
         * hold a row after after_seq is after_seq >> ZONE_SHIFT. */
        aq_append(q, "audit_zones AS z CROSS JOIN audit WHERE z.zone >= ?"
                     " AND seq >= z.zone * " ZONE_ROWS_SQL " + 1"
                     " AND seq <= z.zone * " ZONE_ROWS_SQL " + " ZONE_ROWS_SQL);
        q->binds[q->n++] = (aq_bind_t){.is_text = false, .i = after_seq >> CT_AUDIT_ZONE_SHIFT};
        if (f->since_ms != 0)
            aq_int(q, "z.max_time >= ?", f->since_ms);
        if (f->until_ms != 0)
            aq_int(q, "z.min_time < ?", f->until_ms);
        if (exact_action)
            aq_int(q, "(z.actions & ?) <> 0", (int64_t)ct_audit_zone_action_bit(f->action));
        if (aq_set(f->actor_id)) {
            uint64_t w[CT_AUDIT_ZONE_ACTOR_WORDS];
            ct_audit_zone_actor_bits(f->actor_id, w);
            for (int i = 0; i < CT_AUDIT_ZONE_ACTOR_WORDS; i++)
                if (w[i] != 0)
                    aq_mask(q, i, w[i]);
        }
        aq_int(q, "seq > ?", after_seq);
        q->row_tests = true;
    } else {
        aq_append(q, "audit WHERE seq > ?");
        q->binds[q->n++] = (aq_bind_t){.is_text = false, .i = after_seq};
    }
    if (f->since_ms != 0)
        aq_int(q, "time_ms >= ?", f->since_ms);
    if (f->until_ms != 0)
        aq_int(q, "time_ms < ?", f->until_ms);
    if (aq_set(f->actor_id))
        aq_text(q, "actor_id = ?", f->actor_id, -1);
    if (aq_set(f->participant_id)) {
        aq_text(q, "participant_id = ?", f->participant_id, -1);
        aq_append(q, " AND participant_id <> ''"); /* lets SQLite use the partial index */
    }
    if (aq_set(f->action)) {
        size_t n = strlen(f->action);
        if (f->action[n - 1] != '.') {
            aq_text(q, "action = ?", f->action, -1);
        } else {
            /* "referral." matches [ "referral.", "referral/" ): '/' follows '.' in ASCII, and
             * the BINARY collation compares bytes. */
            if (n >= sizeof q->prefix_end)
                return CT_EINVAL;
            memcpy(q->prefix_end, f->action, n - 1);
            q->prefix_end[n - 1] = '.' + 1;
            aq_text(q, "action >= ?", f->action, -1);
            aq_text(q, "action < ?", q->prefix_end, (int)n);
        }
    }
    if (f->outcome >= 0)
        aq_int(q, "outcome = ?", f->outcome);
    if (aq_set(f->object_type))
        aq_text(q, "object_type = ?", f->object_type, -1);
    if (aq_set(f->object_id))
        aq_text(q, "object_id = ?", f->object_id, -1);
    aq_append(q, zones ? " ORDER BY z.zone, seq LIMIT ?" : " ORDER BY seq LIMIT ?");
    q->binds[q->n++] = (aq_bind_t){.is_text = false, .i = limit};
    return 0;
}

static const char *aq_col_text(sqlite3_stmt *s, int col)
{
    const char *p = (const char *)sqlite3_column_text(s, col);
    return p != NULL ? p : "";
}

typedef struct aq_walk {
    int (*cb)(const ct_audit_found_t *row, void *arg);
    void *arg;
} aq_walk_t;

static int aq_visit(sqlite3_stmt *s, void *ctx)
{
    aq_walk_t *w = ctx;
    ct_audit_found_t r = {
        .seq = sqlite3_column_int64(s, 0),
        .time_ms = sqlite3_column_int64(s, 1),
        .actor_id = aq_col_text(s, 2),
        .actor_role = sqlite3_column_int(s, 3),
        .cert_fp = aq_col_text(s, 4),
        .peer_addr = aq_col_text(s, 5),
        .action = aq_col_text(s, 6),
        .object_type = aq_col_text(s, 7),
        .object_id = aq_col_text(s, 8),
        .participant_id = aq_col_text(s, 9),
        .outcome = sqlite3_column_int(s, 10),
        .detail = aq_col_text(s, 11),
    };
    return w->cb(&r, w->arg);
}

int ct_store_audit_query(ct_store_t *st, const ct_audit_filter_t *f, int64_t after_seq, int limit,
                         int (*cb)(const ct_audit_found_t *row, void *arg), void *arg)
{
    if (limit < 1 || after_seq < 0)
        return CT_EINVAL;
    aq_sql_t *q = malloc(sizeof *q);
    if (q == NULL)
        return CT_ENOMEM;
    int err = aq_build(q, f, after_seq, limit);
    sqlite3_stmt *s = NULL;
    int rc = SQLITE_OK;
    if (err == 0) {
        rc = sqlite3_prepare_v2(st->db, q->text, -1, &s, NULL);
        if (rc != SQLITE_OK)
            err = fail(st, rc, "audit_query.prepare");
    }
    for (int i = 0; err == 0 && rc == SQLITE_OK && i < q->n; i++) {
        const aq_bind_t *b = &q->binds[i];
        rc = b->is_text ? sqlite3_bind_text(s, i + 1, b->s, b->slen, SQLITE_STATIC)
                        : sqlite3_bind_int64(s, i + 1, b->i);
    }
    if (err == 0) {
        aq_walk_t w = {cb, arg};
        err = walk_rows(st, s, rc, aq_visit, &w, "audit_query");
    }
    sqlite3_finalize(s);
    free(q);
    return err;
}

/* Reads zone z's stored summary into out; CT_ENOTFOUND when there is none. */
static int zone_read(ct_store_t *st, sqlite3_stmt *s, int64_t zone, ct_audit_zone_t *out)
{
    int rc = sqlite3_reset(s);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, 1, zone);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        return CT_ENOTFOUND;
    if (rc != SQLITE_ROW)
        return fail(st, rc, "audit_zones_read");
    out->zone = zone;
    out->min_time = sqlite3_column_int64(s, 0);
    out->max_time = sqlite3_column_int64(s, 1);
    out->actions = (uint64_t)sqlite3_column_int64(s, 2);
    for (int w = 0; w < CT_AUDIT_ZONE_ACTOR_WORDS; w++)
        out->actors[w] = (uint64_t)sqlite3_column_int64(s, 3 + w);
    return 0;
}

/* Summarises the rows of each zone in one pass over the log (seq order, one zone in memory)
 * and calls visit with each zone's summary; stops at the first non-zero return. */
static int zones_scan(ct_store_t *st,
                      int (*visit)(ct_store_t *st, const ct_audit_zone_t *z, void *arg), void *arg)
{
    sqlite3_stmt *rows = NULL;
    int rc = sqlite3_prepare_v2(
        st->db, "SELECT seq, time_ms, action, actor_id FROM audit ORDER BY seq", -1, &rows, NULL);
    int err = rc == SQLITE_OK ? 0 : fail(st, rc, "audit_zones_scan");
    ct_audit_zone_t acc;
    bool have = false;
    while (err == 0) {
        rc = sqlite3_step(rows);
        bool end = rc == SQLITE_DONE;
        if (!end && rc != SQLITE_ROW) {
            err = fail(st, rc, "audit_zones_scan");
            break;
        }
        int64_t seq = end ? 0 : sqlite3_column_int64(rows, 0);
        if (have && (end || ct_audit_zone_of(seq) != acc.zone)) {
            err = visit(st, &acc, arg);
            have = false;
        }
        if (end || err != 0)
            break;
        if (!have) {
            ct_audit_zone_start(&acc, ct_audit_zone_of(seq));
            have = true;
        }
        ct_audit_zone_add(&acc, sqlite3_column_int64(rows, 1),
                          (const char *)sqlite3_column_text(rows, 2),
                          (const char *)sqlite3_column_text(rows, 3));
    }
    sqlite3_finalize(rows);
    return err;
}

typedef struct zones_verdict {
    sqlite3_stmt *read;
    int64_t count, first;
} zones_verdict_t;

static int zone_compare(ct_store_t *st, const ct_audit_zone_t *z, void *arg)
{
    zones_verdict_t *v = arg;
    ct_audit_zone_t stored;
    int r = zone_read(st, v->read, z->zone, &stored);
    if (r != 0 && r != CT_ENOTFOUND)
        return r;
    if ((r == CT_ENOTFOUND || !ct_audit_zone_covers(&stored, z)) && v->count++ == 0)
        v->first = (z->zone << CT_AUDIT_ZONE_SHIFT) + 1;
    return 0;
}

int ct_store_audit_zones_check(ct_store_t *st, int64_t *uncovered, int64_t *first)
{
    zones_verdict_t v = {0};
    int rc = sqlite3_prepare_v2(st->db,
                                "SELECT min_time, max_time, actions, actors0, actors1, actors2,"
                                " actors3, actors4, actors5, actors6, actors7 FROM audit_zones"
                                " WHERE zone = ?1",
                                -1, &v.read, NULL);
    int err = rc == SQLITE_OK ? zones_scan(st, zone_compare, &v) : fail(st, rc, "audit_zones");
    sqlite3_finalize(v.read);
    *uncovered = v.count;
    *first = v.first;
    return err;
}

/* Rebuild: one zone summarised from its rows joins st->zones, merged in groups of 256. */
static int zone_store(ct_store_t *st, const ct_audit_zone_t *z, void *arg)
{
    (void)arg;
    ct_audit_zone_t *slot = zones_push(st, z->zone);
    if (slot == NULL)
        return CT_ENOMEM;
    *slot = *z;
    return st->n_zones >= 256 ? zones_note_flush(st) : 0;
}

int ct_store_audit_zones_rebuild(ct_store_t *st)
{
    int err = ct_store_begin(st);
    if (err != 0)
        return err;
    err = sqlite3_exec(st->db, "DELETE FROM audit_zones", NULL, NULL, NULL) == SQLITE_OK
              ? 0
              : fail(st, sqlite3_errcode(st->db), "audit_zones_rebuild");
    if (err == 0)
        err = zones_scan(st, zone_store, NULL);
    if (err == 0)
        return ct_store_commit(st); /* merges what zone_store left in st->zones */
    (void)ct_store_rollback(st);
    return err;
}

int ct_store_audit_query_plan(ct_store_t *st, const ct_audit_filter_t *f, char *out, size_t len)
{
    if (len == 0)
        return CT_EINVAL;
    out[0] = '\0';
    aq_sql_t *q = malloc(sizeof *q);
    if (q == NULL)
        return CT_ENOMEM;
    int err = aq_build(q, f, 0, 100);
    char sql[AQ_SQL_MAX + 32];
    snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", q->text);
    sqlite3_stmt *s = NULL;
    if (err == 0 && sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        err = fail(st, sqlite3_errcode(st->db), "audit_query_plan");
    size_t used = 0;
    while (err == 0 && sqlite3_step(s) == SQLITE_ROW) {
        const char *step = (const char *)sqlite3_column_text(s, 3);
        int n = snprintf(out + used, len - used, "%s\n", step != NULL ? step : "");
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
    sqlite3_finalize(s);
    free(q);
    return err;
}

/* ---- retention purge (careteamd purge; store.h "retention") ------------------------------
 * Statements are prepared here, not in STMT_MAP: a purge runs once per process, in the admin
 * command's own handle. A row "not yet purged" is one whose content is not already exactly
 * what a purge leaves, so running the same purge twice changes nothing the second time. */

/* ?1 cutoff (ms). Messages stored before it whose content is still there. */
#define PURGE_MSG_OLD                                                                              \
    "m.stored_at_ms < ?1 AND NOT (m.subject = '" CT_PURGE_MARKER "' AND m.body = ''"               \
    " AND m.payload IS NULL)"
/* Whether message m still waits for delivery to at least one recipient. */
#define PURGE_MSG_PENDING                                                                          \
    "EXISTS (SELECT 1 FROM message_recipients AS r"                                                \
    "        WHERE r.message_seq = m.seq AND r.delivered_at_ms IS NULL)"
#define PURGE_SUMMARY_OLD                                                                          \
    "created_at_ms < ?1 AND NOT (text = '" CT_PURGE_MARKER "' AND goals_progress = ''"             \
    " AND next_steps = '')"

/* Runs one purge statement with ?1 = before_ms and, if it has one, ?2 = include_pending.
 * For a query, reads its one row's first n columns into v; for an UPDATE, sets *v to the number
 * of rows it changed. */
static int purge_run(ct_store_t *st, const char *sql, int64_t before_ms, bool include_pending,
                     int64_t *v, int n, const char *op)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        return fail(st, rc, op);
    rc = sqlite3_bind_int64(s, 1, before_ms);
    if (rc == SQLITE_OK && sqlite3_bind_parameter_count(s) >= 2)
        rc = sqlite3_bind_int(s, 2, include_pending ? 1 : 0);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    int err = 0;
    if (rc == SQLITE_ROW) {
        for (int i = 0; i < n; i++)
            v[i] = sqlite3_column_int64(s, i);
    } else if (rc == SQLITE_DONE && n == 0) {
        *v = sqlite3_changes64(st->db);
    } else {
        err = fail(st, rc, op);
    }
    sqlite3_finalize(s);
    return err;
}

int ct_store_purge_count(ct_store_t *st, int64_t before_ms, bool include_pending,
                         ct_purge_counts_t *out)
{
    memset(out, 0, sizeof *out);
    int64_t msg[2] = {0, 0}; /* old messages, of which pending */
    int err = purge_run(st,
                        "SELECT count(*), coalesce(sum(pending), 0) FROM (SELECT " PURGE_MSG_PENDING
                        " AS pending FROM messages AS m WHERE " PURGE_MSG_OLD ")",
                        before_ms, false, msg, 2, "purge.count_messages");
    if (err == 0)
        err = purge_run(st, "SELECT count(*) FROM summaries WHERE " PURGE_SUMMARY_OLD, before_ms,
                        false, &out->summaries, 1, "purge.count_summaries");
    if (err != 0)
        return err;
    out->pending = msg[1];
    out->messages = include_pending ? msg[0] : msg[0] - msg[1];
    return 0;
}

int ct_store_purge_apply(ct_store_t *st, int64_t before_ms, bool include_pending,
                         ct_purge_counts_t *out)
{
    int err = txn_check(st, 1, "purge");
    if (err == 0)
        err = ct_store_purge_count(st, before_ms, include_pending, out);
    /* Content freed by this handle's writes is overwritten with zeros in the file, rather than
     * left in free space where a copy of the file would still show it. */
    if (err == 0)
        err = exec_script(st, "PRAGMA secure_delete = ON", "purge.secure_delete");
    int64_t changed = 0;
    if (err == 0)
        err = purge_run(st,
                        "UPDATE messages AS m SET subject = '" CT_PURGE_MARKER "', body = '',"
                        " payload = NULL WHERE " PURGE_MSG_OLD " AND (?2 OR NOT " PURGE_MSG_PENDING
                        ")",
                        before_ms, include_pending, &changed, 0, "purge.messages");
    if (err == 0 && changed != out->messages) {
        ct_log_error("store.purge_mismatch", "table=messages counted=%lld changed=%lld",
                     (long long)out->messages, (long long)changed);
        err = CT_EINTERNAL; /* the write lock is held: nothing can have changed in between */
    }
    if (err == 0)
        err = purge_run(st,
                        "UPDATE summaries SET text = '" CT_PURGE_MARKER "', goals_progress = '',"
                        " next_steps = '' WHERE " PURGE_SUMMARY_OLD,
                        before_ms, false, &changed, 0, "purge.summaries");
    if (err == 0 && changed != out->summaries) {
        ct_log_error("store.purge_mismatch", "table=summaries counted=%lld changed=%lld",
                     (long long)out->summaries, (long long)changed);
        err = CT_EINTERNAL;
    }
    return err;
}

int ct_store_wal_truncate(ct_store_t *st)
{
    int rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    if (rc == SQLITE_OK)
        return 0;
    /* Busy is expected while a serving daemon's readers hold an older snapshot. */
    return (rc & 0xff) == SQLITE_BUSY ? CT_EUNAVAIL : fail(st, rc, "wal_truncate");
}

/* ---- forwarding (syslog_fwd.c; store.h "forwarding") -------------------------------------
 * Statements are prepared per call, not in STMT_MAP: the forwarder runs one of each per batch
 * (up to CT_SYSLOG_BATCH rows), so preparing is small next to the work, and the statement cache
 * of every handle stays as it was. */

/* Prepares sql on st's connection into *out. Returns 0 or CT_E* (logged as op). */
static int prepare_local(ct_store_t *st, const char *sql, sqlite3_stmt **out, const char *op)
{
    int rc = sqlite3_prepare_v2(st->db, sql, -1, out, NULL);
    if (rc != SQLITE_OK) {
        *out = NULL;
        return fail(st, rc, op);
    }
    return 0;
}

int ct_store_audit_after(ct_store_t *st, int64_t after_seq, int limit,
                         int (*cb)(const ct_audit_stored_t *row, void *arg), void *arg)
{
    if (limit < 1 || after_seq < 0)
        return CT_EINVAL;
    sqlite3_stmt *s = NULL;
    int err = prepare_local(st,
                            "SELECT " AUDIT_STORED_COLUMNS " FROM audit WHERE seq > ?1"
                            " ORDER BY seq LIMIT ?2",
                            &s, "audit_after.prepare");
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_int64(s, 1, after_seq, &rc);
    bind_int64(s, 2, limit, &rc);
    audit_walk_t w = {cb, arg};
    err = walk_rows(st, s, rc, audit_visit, &w, "audit_after");
    sqlite3_finalize(s);
    return err;
}

int ct_store_forward_cursor_get(ct_store_t *st, const char *name, int64_t *seq)
{
    *seq = 0;
    sqlite3_stmt *s = NULL;
    int err = prepare_local(st, "SELECT coalesce(max(seq), 0) FROM forward_cursors WHERE name = ?1",
                            &s, "forward_cursor_get.prepare");
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, name, &rc);
    err = query_ints(st, s, rc, seq, 1, "forward_cursor_get");
    sqlite3_finalize(s);
    return err;
}

int ct_store_forward_cursor_set(ct_store_t *st, const char *name, int64_t seq, int64_t now_ms)
{
    if (seq < 0)
        return CT_EINVAL;
    int err = txn_lost(st);
    sqlite3_stmt *s = NULL;
    if (err == 0)
        err = prepare_local(st,
                            "INSERT INTO forward_cursors (name, seq, updated_at_ms)"
                            " VALUES (?1, ?2, ?3) ON CONFLICT (name) DO UPDATE"
                            " SET seq = excluded.seq, updated_at_ms = excluded.updated_at_ms"
                            " WHERE excluded.seq > forward_cursors.seq",
                            &s, "forward_cursor_set.prepare");
    if (err != 0)
        return err;
    int rc = SQLITE_OK;
    bind_text(s, 1, name, &rc);
    bind_int64(s, 2, seq, &rc);
    bind_int64(s, 3, now_ms, &rc);
    err = run_write(st, s, rc, "forward_cursor_set", 0);
    sqlite3_finalize(s);
    return err;
}

/* ---- backup and restore (admin_backup.c; store.h "backup and restore") -------------------
 * These open their own connection to the copy; nothing here touches st's statement cache. */

/* How long a copy waits, in all, for a source that is busy (its WAL being recovered). */
#define BACKUP_BUSY_MS 5000
#define BACKUP_RETRY_MS 50

/* Copies src's main database into to_path. Returns 0 or CT_E* with errbuf set. */
static int backup_into(sqlite3 *src, const char *to_path, char *errbuf, size_t errlen)
{
    sqlite3 *dst = NULL;
    int rc = sqlite3_open_v2(to_path, &dst,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                 SQLITE_OPEN_EXRESCODE,
                             NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(dst, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
        if (b == NULL) {
            rc = sqlite3_errcode(dst);
        } else {
            /* -1: every page in one step, so under one read transaction of src: a consistent
             * snapshot however much the daemon commits meanwhile. Copying in slices would let
             * a write by another connection restart the copy, possibly forever under load. */
            for (int waited = 0;; waited += BACKUP_RETRY_MS) {
                rc = sqlite3_backup_step(b, -1);
                if (((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) ||
                    waited >= BACKUP_BUSY_MS)
                    break;
                sqlite3_sleep(BACKUP_RETRY_MS);
            }
            int fin = sqlite3_backup_finish(b);
            if (rc == SQLITE_DONE)
                rc = fin;
        }
    }
    /* The copy is one self-contained file, whatever the source's journal mode was. */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL);
    int err = 0;
    if (rc != SQLITE_OK) {
        err = (rc & 0xff) == SQLITE_NOTADB ? CT_EINVAL
              : map_rc(rc) != 0            ? map_rc(rc)
                                           : CT_EINTERNAL;
        set_errbuf(errbuf, errlen, "cannot copy the database to %s: %s", to_path,
                   dst != NULL ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
    }
    rc = sqlite3_close(dst);
    if (rc != SQLITE_OK && err == 0) {
        set_errbuf(errbuf, errlen, "cannot close %s: %s", to_path, sqlite3_errstr(rc));
        err = CT_EIO;
    }
    return err;
}

int ct_store_backup(ct_store_t *st, const char *to_path, char *errbuf, size_t errlen)
{
    if (st->depth != 0) {
        set_errbuf(errbuf, errlen, "cannot copy the database inside a transaction");
        return CT_EINTERNAL;
    }
    return backup_into(st->db, to_path, errbuf, errlen);
}

int ct_store_copy_file(const char *from_path, const char *to_path, char *errbuf, size_t errlen)
{
    sqlite3 *src = NULL;
    int rc = sqlite3_open_v2(
        from_path, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
    int err;
    if (rc != SQLITE_OK) {
        set_errbuf(errbuf, errlen, "cannot open %s: %s", from_path,
                   src != NULL ? sqlite3_errmsg(src) : sqlite3_errstr(rc));
        err = map_rc(rc) != 0 ? map_rc(rc) : CT_EINTERNAL;
    } else {
        sqlite3_busy_timeout(src, BUSY_TIMEOUT_MS);
        err = backup_into(src, to_path, errbuf, errlen);
    }
    sqlite3_close(src);
    return err;
}

int ct_store_quick_check(ct_store_t *st, char *errbuf, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "PRAGMA quick_check", -1, &s, NULL);
    if (rc != SQLITE_OK) {
        set_errbuf(errbuf, errlen, "cannot check the database: %s", sqlite3_errmsg(st->db));
        return fail(st, rc, "quick_check.prepare");
    }
    int err = 0;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *first = (const char *)sqlite3_column_text(s, 0);
        if (first == NULL || strcmp(first, "ok") != 0) {
            set_errbuf(errbuf, errlen, "the database is damaged: %s",
                       first != NULL ? first : "(no detail)");
            err = CT_EINTERNAL;
        }
    } else {
        set_errbuf(errbuf, errlen, "cannot check the database: %s", sqlite3_errmsg(st->db));
        err = fail(st, rc, "quick_check");
    }
    sqlite3_finalize(s);
    return err;
}
