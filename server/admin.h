/*
 * The local administration subcommands of careteamd: init, enroll, members, deactivate,
 * activate, revoke, audit verify (admin.c), and the care-team commands participant, team,
 * lockbox and supervisor (admin_care.c). They run on the server host with direct access to the
 * data directory; every change is audited, in the transaction that makes it, with the OS account
 * ("local:<user>") as actor, role admin and peer "local".
 *
 * Each returns 0 or a CT_E* code after printing a message that names what was wrong and how to
 * fix it on stderr.
 */
#ifndef CT_ADMIN_H
#define CT_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "role.h"
#include "store.h"

/* Paths inside a data directory. */
#define CT_DIR_CONF "careteamd.conf"
#define CT_DIR_DB "careteam.db"
#define CT_DIR_CA_KEY "ca.key"
#define CT_DIR_CA_CRT "ca.crt"
#define CT_DIR_SERVER_KEY "server.key"
#define CT_DIR_SERVER_CRT "server.crt"
#define CT_DIR_CRL "crl.pem"       /* optional certificate revocation list, read on start/SIGHUP */
#define CT_DIR_PID "careteamd.pid" /* the serving daemon's pid, while it runs */
#define CT_DIR_AUDIT_KEY "audit-signing.key" /* Ed25519 key that signs audit checkpoints */
#define CT_DIR_AUDIT_PUB "audit-signing.pub" /* its public key: copy it off the host */

/* Joins dir and name into out; returns 0 or CT_EINVAL if it does not fit. */
int ct_dir_path(char *out, size_t len, const char *dir, const char *name);

/*
 * `careteamd init DIR [--host NAME]... [--crl-url URL]`: makes DIR with the CA, the server
 * certificate (for the hosts), an empty revocation list DIR/crl.pem signed by the CA, the audit
 * signing key, careteamd.conf and the database. crl_url (NULL or "": the default, file:// and the
 * absolute path of DIR/crl.pem) is where crl.pem will be published: it must pass
 * ct_config_crl_url_check (CT_EINVAL otherwise), is named in the server certificate and kept as
 * crl_url in careteamd.conf, from which enroll and renew name it in member certificates.
 */
int ct_admin_init(const char *dir, const char *const *hosts, size_t n_hosts, const char *crl_url);
/* supervisor: NULL or "" for none; otherwise role must be CT_ROLE_PEER_WORKER and supervisor an
 * active peer_supervisor (checked in the enrolment's transaction). */
int ct_admin_enroll(const char *dir, const char *id, const char *name, ct_role_t role,
                    const char *out_prefix, const char *supervisor);
int ct_admin_members(const char *dir, bool json);
int ct_admin_set_active(const char *dir, const char *id, bool active);
/* `careteamd renew`: a new certificate and key for an existing, active member (PREFIX.key,
 * PREFIX.crt), audited as member.renew with its serial (so `revoke` finds it). */
int ct_admin_renew(const char *dir, const char *id, const char *out_prefix);
/*
 * `careteamd renew DIR --server`: a new key and certificate for the daemon from DIR's CA, for
 * the hosts the current DIR/server.crt names plus hosts[0..n_hosts), naming the configured
 * crl_url. They replace DIR/server.key and DIR/server.crt (renamed into place after the audit
 * row server.renew, which names the new and the previous serial, is committed), and a running
 * daemon is told to reload them (SIGHUP). For a certificate that expires, one that was revoked
 * (`revoke --server` first: that lists the current one), or new host names.
 */
int ct_admin_renew_server(const char *dir, const char *const *hosts, size_t n_hosts);

/*
 * `careteamd revoke DIR --id ID [--reason R] [--cert FILE]`: adds the member's certificates to
 * DIR/crl.pem (signed by DIR's CA, earlier entries kept): the one `enroll` recorded in its audit
 * row and, with cert_file (may be NULL), that certificate, which must be DIR's CA's and name the
 * member. Audited (member.revoke), then tells a serving daemon (SIGHUP), which reloads the list
 * and closes sessions made with a revoked certificate. reason is a CT_PKI_REASON_* code.
 * Changes no membership (`deactivate` does that); revoking again is harmless.
 */
int ct_admin_revoke(const char *dir, const char *id, int reason, const char *cert_file);

/*
 * `careteamd revoke DIR --server [--reason R]`: adds the daemon's own certificate, DIR/server.crt
 * (which must be DIR's CA's), to DIR/crl.pem, for when server.key may have leaked. The daemon
 * does not check its own certificate; clients given the list (ct_client_opts_t.crl, careteam
 * --crl) refuse every server presenting it. Audited (server.revoke). Revoking again is harmless.
 */
int ct_admin_revoke_server(const char *dir, int reason);

/*
 * `careteamd audit verify DIR [--checkpoints FILE] [--pubkey FILE]`: opens the database
 * read-only and verifies the audit chain and the signed checkpoints (audit_verify.h): those of
 * the database, or with checkpoints_file (not NULL) those of an export instead. The public key is
 * pubkey_file if not NULL, else the export's own key (with checkpoints_file), else
 * DIR/audit-signing.pub. Prints the verdict on stdout: "audit log verified: N records, chain
 * head HEX" and a "checkpoints: ..." line, or "audit log verification FAILED at seq K (FAULT):
 * ..." naming the first bad row. Unlike the other commands it has three outcomes: 0 verified, 1
 * the log failed verification, or a negative CT_E* code when it could not be checked (message
 * on stderr), e.g. checkpoints to check and no public key to check them with.
 */
int ct_admin_audit_verify(const char *dir, const char *checkpoints_file, const char *pubkey_file);

/* `careteamd audit keygen DIR`: makes DIR/audit-signing.key and .pub for a data directory made
 * before `init` made them; refuses if either exists. Audited (audit.keygen). */
int ct_admin_audit_keygen(const char *dir);

/* `careteamd audit checkpoint DIR`: appends an audit.checkpoint row and signs a checkpoint
 * covering it, in one transaction, with DIR's signing key. */
int ct_admin_audit_checkpoint(const char *dir);

/* `careteamd audit checkpoints DIR [--out FILE]`: exports every checkpoint and the public key
 * (audit_export.h) to out_file (a new file, mode 0644) or, when NULL, stdout. Read-only. */
int ct_admin_audit_checkpoints(const char *dir, const char *out_file);

/* ---- care-team administration (admin_care.c) ------------------------------------------------
 * Participants are registered by id and a label (initials or a chart number, never a full name:
 * the label is shown to the care team and kept out of the audit trail and logs). A care team is
 * the set of members who may work on a participant's care; a lockbox restriction keeps one
 * member from receiving anything about a participant, whether on the team or not. The listing
 * commands print a table, or with json one JSON value on one line, and write no audit row. */

/* `participant add`: audit participant.add. CT_EEXISTS if the id is taken. */
int ct_admin_participant_add(const char *dir, const char *id, const char *label);
int ct_admin_participant_list(const char *dir, bool json);

/* `team add`: the member must be active and neither compliance nor admin; audit team.add (a
 * member already on the team is reported and not audited again). `team remove`: audit
 * team.remove. `team show`: the team in join order, then the participant's restrictions. */
int ct_admin_team_add(const char *dir, const char *participant_id, const char *member_id);
int ct_admin_team_remove(const char *dir, const char *participant_id, const char *member_id);
int ct_admin_team_show(const char *dir, const char *participant_id, bool json);

/* `lockbox add` (reason may be NULL; audit restriction.record), `lockbox remove` (audit
 * restriction.lift), `lockbox list`. Restrictions made here are recorded by "admin". */
int ct_admin_lockbox_add(const char *dir, const char *participant_id, const char *member_id,
                         const char *reason);
int ct_admin_lockbox_remove(const char *dir, const char *participant_id, const char *member_id);
int ct_admin_lockbox_list(const char *dir, const char *participant_id, bool json);

/* `supervisor set`: sets (supervisor_id an active peer_supervisor) or, with "", clears the
 * supervisor of a peer worker; audit member.supervisor. */
int ct_admin_supervisor_set(const char *dir, const char *member_id, const char *supervisor_id);

/* ---- shared by admin.c and admin_care.c; not for other modules --------------------------- */

/* Opens DIR's database; prints why on stderr (naming `careteamd init` when DIR has none). */
int ct_admin_open_store(const char *dir, ct_store_mode_t mode, ct_store_t **st);

/* Ends a command's transaction: commits when r is 0, else rolls back. Returns r, or the
 * commit's error (CT_EIO: nothing of the change is stored). */
int ct_admin_end(ct_store_t *st, int r);

/* Appends a successful admin audit row (actor local:<user>, role admin, peer "local").
 * participant_id and detail may be NULL. detail is metadata only: never a label or free text. */
int ct_admin_audit(ct_store_t *st, const char *action, const char *object_type,
                   const char *object_id, const char *participant_id, const char *detail);
/* The same with any outcome (a refused or failed command). */
int ct_admin_audit_outcome(ct_store_t *st, const char *action, const char *object_type,
                           const char *object_id, const char *participant_id,
                           ct_audit_outcome_t outcome, const char *detail);

/* True when s is min..max bytes of well-formed UTF-8 without control characters. */
bool ct_admin_text_ok(const char *s, size_t min, size_t max);

/* Prints s on stdout as a JSON string literal (quotes included). */
void ct_admin_json_string(const char *s);

/*
 * Checks, inside the caller's transaction, that id names an active peer_supervisor. Returns 0,
 * or CT_ENOTFOUND / CT_EPRECONDITION with a message in err saying what is wrong and how to fix it
 * (dir is named in the hint).
 */
int ct_admin_supervisor_check(ct_store_t *st, const char *dir, const char *id, char *err,
                              size_t errlen);

/* ---- retention (admin_purge.c) --------------------------------------------------------------
 * `careteamd purge DIR --before DATE`: removes the content of messages and the free text of
 * session summaries older than DATE and audits it (retention.purge) in the same transaction;
 * see admin_purge.c for the rules and docs/compliance.md "Retention" for the policy. */

/* A cutoff less than this many days ago needs --force (a date in the future is always refused). */
#define CT_PURGE_MIN_AGE_DAYS 30

typedef struct ct_admin_purge_opts {
    bool dry_run;         /* count only: read-only, nothing changed, no audit row */
    bool include_pending; /* also messages still waiting for delivery to a recipient */
    bool force;           /* allow a cutoff less than CT_PURGE_MIN_AGE_DAYS ago */
} ct_admin_purge_opts_t;

/* Returns 0 or a CT_E* code (CT_EINVAL for a refused cutoff) after saying why on stderr. */
int ct_admin_purge(const char *dir, int64_t before_ms, const ct_admin_purge_opts_t *o);

#endif
