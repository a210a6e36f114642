/*
 * Operating a data directory: `careteamd check-config` (admin_check.c), `careteamd backup` and
 * `careteamd restore` (admin_backup.c). See docs/operations.md for the admin's view.
 *
 * Like the other admin commands, each prints what went wrong and how to fix it on stderr and
 * returns 0 or a CT_E* code.
 */
#ifndef CT_ADMIN_OPS_H
#define CT_ADMIN_OPS_H

/*
 * `careteamd check-config PATH`: PATH is a data directory (its careteamd.conf, then the checks
 * `serve` makes of the directory: files present, permissions, and the owner when the config names
 * a `user`) or a careteamd.conf on its own. Prints every problem on stderr, each on its own line
 * ("FILE:LINE: ..." for the settings), warnings too; then, when there is no error, one line on
 * stdout: "PATH: OK (listen HOST:PORT)". Returns 0 (warnings allowed) or CT_EINVAL.
 */
int ct_admin_check_config(const char *path);

/*
 * `careteamd backup DIR FILE`: a consistent copy of DIR's database (store.h, "backup and
 * restore") written to FILE, which must not exist; safe while the daemon serves. Audited in DIR
 * (admin.backup, with the copy's audit seq and chain head) once FILE is in place.
 */
int ct_admin_backup(const char *dir, const char *file);

/*
 * `careteamd restore FILE DIR`: replaces DIR's database with the backup FILE. DIR must be an
 * existing data directory (its CA, keys and settings stay) that no daemon serves. FILE is copied
 * into DIR, checked (SQLite structure, the audit chain and its signed checkpoints under DIR's
 * audit key), brought to the current schema and audited (admin.restore) before it is renamed into
 * place; the previous database is kept as careteam.db.before-restore.
 */
int ct_admin_restore(const char *file, const char *dir);

/* The name restore keeps the previous database under, in DIR. */
#define CT_DIR_DB_BEFORE_RESTORE "careteam.db.before-restore"

#endif
