/*
 * The local administration subcommands of careteamd: init, enroll, members, deactivate,
 * activate, audit verify. They run on the server host with direct access to the data directory;
 * every change is audited with actor "admin" and peer "local".
 *
 * Each returns 0 or a CT_E* code after printing a message that names what was wrong and how to
 * fix it on stderr.
 */
#ifndef CT_ADMIN_H
#define CT_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "role.h"

/* Paths inside a data directory. */
#define CT_DIR_CONF "careteamd.conf"
#define CT_DIR_DB "careteam.db"
#define CT_DIR_CA_KEY "ca.key"
#define CT_DIR_CA_CRT "ca.crt"
#define CT_DIR_SERVER_KEY "server.key"
#define CT_DIR_SERVER_CRT "server.crt"
#define CT_DIR_CRL "crl.pem"       /* optional certificate revocation list, read on start/SIGHUP */
#define CT_DIR_PID "careteamd.pid" /* the serving daemon's pid, while it runs */

/* Joins dir and name into out; returns 0 or CT_EINVAL if it does not fit. */
int ct_dir_path(char *out, size_t len, const char *dir, const char *name);

int ct_admin_init(const char *dir, const char *const *hosts, size_t n_hosts);
int ct_admin_enroll(const char *dir, const char *id, const char *name, ct_role_t role,
                    const char *out_prefix);
int ct_admin_members(const char *dir, bool json);
int ct_admin_set_active(const char *dir, const char *id, bool active);

/*
 * `careteamd audit verify DIR`: opens the database read-only and verifies the audit chain
 * (audit_verify.h). Prints the verdict on stdout: "audit log verified: N records, chain head
 * HEX", or "audit log verification FAILED at seq K (FAULT): ..." naming the first bad row.
 * Unlike the other commands it has three outcomes: 0 verified, 1 the log failed verification,
 * or a negative CT_E* code when it could not be checked (message on stderr).
 */
int ct_admin_audit_verify(const char *dir);

#endif
