/*
 * `careteamd backup` and `careteamd restore` (see admin_ops.h; docs/operations.md "Backup and
 * restore").
 *
 * A backup is the database only: the CA, keys and settings do not change once made and are kept
 * by copying the data directory once; the database is what changes every second. Both commands
 * make their new file beside its final name and move it there in one step, so that a crash leaves
 * either no file or a whole one:
 *
 *   backup   FILE.tmp-XXXXXX  --copy (one snapshot)-->  fsync  --link(2), refuses to replace-->
 * FILE restore  DIR/careteam.db.restore-XXXXXX  --copy, migrate, quick_check, verify the audit
 *            chain, append admin.restore-->  fsync  --link old db to careteam.db.before-restore,
 *            move its -wal/-shm along, rename(2)-->  DIR/careteam.db
 *
 * Invariants:
 *  1. backup never replaces an existing file, and leaves nothing behind when it fails.
 *  2. restore changes nothing in DIR unless the copy verified; the database it replaces is kept,
 *     with its write-ahead log, under one name (careteam.db.before-restore, which SQLite opens
 *     with its own -wal), and never overwritten by a later restore.
 *  3. A database is never replaced under a serving daemon (DIR/careteamd.pid names none alive).
 */
#include "admin_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "audit_chain.h"
#include "audit_sign.h"
#include "audit_verify.h"
#include "datadir.h"
#include "err.h"
#include "store.h"
#include "text.h"

/* fsyncs path (a file or a directory). Returns 0 or -1 with errno. */
static int sync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

/* fsyncs the directory that holds path. */
static int sync_parent(const char *path)
{
    char copy[4096];
    ct_text_copy(copy, sizeof copy, path);
    return sync_path(dirname(copy));
}

/* Removes a database file that SQLite may have given companions. */
static void remove_db(const char *path)
{
    static const char *const suffixes[] = {"", "-journal", "-wal", "-shm"};
    char p[4200];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
        unlink(p);
    }
}

/* Makes an empty private file from template (ending XXXXXX). Returns 0 or -1 with errno. */
static int make_temp(char *template)
{
    int fd = mkstemp(template);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

/* Reads the audit head of the database file at path (read-only). */
static int audit_head_of(const char *path, int64_t *seq, char hex[2 * CT_AUDIT_HASH_LEN + 1],
                         char *err, size_t errlen)
{
    ct_store_t *st = NULL;
    uint8_t head[CT_AUDIT_HASH_LEN];
    int r = ct_store_open(path, CT_STORE_READONLY, &st, err, errlen);
    if (r == 0 && (r = ct_store_audit_head(st, seq, head)) != 0)
        snprintf(err, errlen, "cannot read the copy's audit log: %s", ct_strerror(r));
    ct_store_close(st);
    if (r == 0)
        ct_audit_chain_hex(head, hex);
    return r;
}

int ct_admin_backup(const char *dir, const char *file)
{
    struct stat sb;
    if (lstat(file, &sb) == 0) {
        fprintf(stderr,
                "careteamd: %s already exists; a backup never replaces a file: choose a new name "
                "(e.g. with the date in it)\n",
                file);
        return CT_EEXISTS;
    }
    char tmp[4200], err[4600] = "", hex[2 * CT_AUDIT_HASH_LEN + 1];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", file) >= (int)sizeof tmp) {
        fprintf(stderr, "careteamd: backup path is too long\n");
        return CT_EINVAL;
    }
    ct_store_t *st = NULL;
    int r = ct_admin_open_store(dir, CT_STORE_READWRITE, &st);
    if (r != 0)
        return r;
    if (make_temp(tmp) != 0) {
        fprintf(stderr, "careteamd: cannot create a file beside %s: %s\n", file, strerror(errno));
        ct_store_close(st);
        return CT_ESYS;
    }
    int64_t seq = 0;
    r = ct_store_backup(st, tmp, err, sizeof err);
    if (r == 0)
        r = audit_head_of(tmp, &seq, hex, err, sizeof err);
    if (r == 0 && (sync_path(tmp) != 0 || stat(tmp, &sb) != 0)) {
        r = ct_errf(err, sizeof err, CT_EIO, "cannot write %s: %s", tmp, strerror(errno));
    }
    /* link(2) refuses to replace FILE, even one made since the check above (invariant 1). */
    if (r == 0 && link(tmp, file) != 0) {
        int e = errno;
        r = ct_errf(err, sizeof err, e == EEXIST ? CT_EEXISTS : CT_ESYS, "cannot create %s: %s%s",
                    file, strerror(e),
                    e == EEXIST ? " (a backup never replaces a file: choose a new name)" : "");
    }
    remove_db(tmp);
    if (r == 0 && sync_parent(file) != 0)
        r = ct_errf(err, sizeof err, CT_EIO, "cannot sync the directory of %s: %s", file,
                    strerror(errno));
    if (r == 0) {
        char detail[160];
        snprintf(detail, sizeof detail, "audit_seq=%" PRId64 " head=%.16s bytes=%lld", seq, hex,
                 (long long)sb.st_size);
        r = ct_admin_audit(st, "admin.backup", "database", "", NULL, detail);
        if (r != 0) {
            /* An unrecorded copy of every message is what the audit trail exists to prevent. */
            unlink(file);
            snprintf(err, sizeof err, "cannot record the backup in the audit log (%s); %s removed",
                     ct_strerror(r), file);
        }
    }
    ct_store_close(st);
    if (r != 0) {
        fprintf(stderr, "careteamd: backup failed: %s\n", err);
        return r;
    }
    printf("Backup of %s written to %s (%lld bytes): the audit log up to seq %" PRId64
           ", chain head %s.\n"
           "It holds message bodies: keep it as private as the data directory. Restore it with\n"
           "`careteamd restore %s DIR` into a stopped data directory.\n",
           dir, file, (long long)sb.st_size, seq, hex, file);
    return 0;
}

/* ---- restore -------------------------------------------------------------------------------- */

/*
 * Verifies the audit log of st (the copy) with the checkpoints it holds, under DIR's audit public
 * key. Returns 0 when it verifies (*v filled), else CT_E* after printing why.
 */
static int verify_copy(ct_store_t *st, const char *dir, const char *file, ct_audit_verdict_t *v)
{
    char pub[4096], err[512];
    ct_audit_checkpoint_t *cps = NULL;
    size_t n = 0;
    ct_audit_pubkey_t *key = NULL;
    int r = ct_audit_checkpoints_read(st, &cps, &n);
    if (r != 0) {
        fprintf(stderr, "careteamd: cannot read the checkpoints of %s: %s\n", file, ct_strerror(r));
        return r;
    }
    ct_dir_path(pub, sizeof pub, dir, CT_DIR_AUDIT_PUB);
    if (n > 0) {
        r = ct_audit_pubkey_load(pub, &key, err, sizeof err);
        if (r != 0)
            fprintf(stderr,
                    "careteamd: cannot check the %zu signed checkpoints of %s: %s. A backup is "
                    "restored into the data directory it came from, whose audit key signed them.\n",
                    n, file, err);
    }
    if (r == 0) {
        ct_audit_verify_opts_t o = {.checkpoints = cps, .n_checkpoints = n, .pubkey = key};
        r = ct_audit_verify(st, &o, v);
        if (r != 0)
            fprintf(stderr, "careteamd: cannot read the audit log of %s: %s\n", file,
                    ct_strerror(r));
    }
    if (r == 0 && v->fault != CT_AUDIT_FAULT_NONE) {
        fprintf(stderr,
                "careteamd: the audit log of %s does not verify, at seq %" PRId64 " (%s): %s\n"
                "Nothing was restored. %s\n",
                file, v->bad_seq, ct_audit_fault_name(v->fault), v->what,
                v->fault == CT_AUDIT_FAULT_SIGNATURE
                    ? "If the backup comes from another data directory, restore it there: "
                      "its checkpoints are signed by that directory's audit key."
                    : "Use an older backup.");
        r = CT_EINVAL;
    }
    free(cps);
    ct_audit_pubkey_free(key);
    return r;
}

/* Checks that dir is a data directory no daemon serves and that restore has its names free.
 * Prints why not. */
static int restore_preconditions(const char *file, const char *dir, const char *before)
{
    struct stat sb;
    char conf[4096];
    ct_dir_path(conf, sizeof conf, dir, CT_DIR_CONF);
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode) || stat(conf, &sb) != 0) {
        fprintf(stderr,
                "careteamd: %s is not a data directory (no %s). restore replaces the database of "
                "an existing data directory and keeps its CA, keys and settings: put back your "
                "copy of the data directory first, then restore the database into it.\n",
                dir, conf);
        return CT_ENOTFOUND;
    }
    pid_t pid = ct_datadir_daemon_pid(dir);
    if (pid != 0) {
        fprintf(stderr,
                "careteamd: a careteamd (pid %ld) is serving %s; stop it first (`systemctl stop "
                "careteamd`), restore, then start it again\n",
                (long)pid, dir);
        return CT_EPRECONDITION;
    }
    if (lstat(before, &sb) == 0) {
        fprintf(stderr,
                "careteamd: %s exists, from an earlier restore; restore keeps the current "
                "database under that name and never overwrites it: move it away first\n",
                before);
        return CT_EEXISTS;
    }
    if (stat(file, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fprintf(stderr, "careteamd: cannot read the backup %s: %s\n", file,
                stat(file, &sb) != 0 ? strerror(errno) : "not a regular file");
        return CT_ENOTFOUND;
    }
    return 0;
}

/*
 * Copies FILE to tmp and makes it the database to put in place: current schema, intact, its
 * audit chain verified, and the restore appended to it. *v is the verdict before the append.
 */
static int prepare_copy(const char *file, const char *dir, const char *tmp, ct_audit_verdict_t *v)
{
    char err[4600];
    int r = ct_store_copy_file(file, tmp, err, sizeof err);
    if (r != 0) {
        fprintf(stderr, "careteamd: %s%s\n", err,
                r == CT_EINVAL ? " (is it a backup made by `careteamd backup`?)" : "");
        return r;
    }
    ct_store_t *st = NULL;
    r = ct_store_open(tmp, CT_STORE_READWRITE, &st, err, sizeof err);
    if (r != 0) {
        fprintf(stderr, "careteamd: the backup %s cannot be used: %s\n", file, err);
        return r;
    }
    r = ct_store_quick_check(st, err, sizeof err);
    if (r != 0)
        fprintf(stderr, "careteamd: the backup %s is damaged: %s\n", file, err);
    if (r == 0)
        r = verify_copy(st, dir, file, v);
    /* The zone summaries are outside the chain: rebuilt from the verified rows, never taken
     * from the backup. */
    if (r == 0 && (r = ct_store_audit_zones_rebuild(st)) != 0)
        fprintf(stderr, "careteamd: cannot rebuild the zone summaries of the audit log: %s\n",
                ct_strerror(r));
    if (r == 0) {
        char detail[160], hex[2 * CT_AUDIT_HASH_LEN + 1];
        ct_audit_chain_hex(v->head, hex);
        snprintf(detail, sizeof detail, "audit_seq=%" PRId64 " head=%.16s checkpoints=%" PRId64,
                 v->records, hex, v->checkpoints);
        r = ct_admin_audit(st, "admin.restore", "database", "", NULL, detail);
        if (r != 0)
            fprintf(stderr, "careteamd: cannot record the restore in the restored audit log: %s\n",
                    ct_strerror(r));
    }
    ct_store_close(st);
    return r;
}

/* Puts tmp in place as DIR's database, keeping the old one (with its -wal and -shm) as before
 * (invariant 2). */
static int swap_in(const char *tmp, const char *db, const char *before, bool *kept)
{
    struct stat sb;
    *kept = false;
    if (lstat(db, &sb) == 0) {
        if (link(db, before) != 0) {
            fprintf(stderr, "careteamd: cannot keep the current database as %s: %s\n", before,
                    strerror(errno));
            return CT_ESYS;
        }
        *kept = true;
        /* The old -wal holds commits not yet in the old file; beside the new file SQLite would
         * replay them into it. It goes with the old database. */
        static const char *const companions[] = {"-wal", "-shm"};
        for (size_t i = 0; i < 2; i++) {
            char from[4200], to[4200];
            snprintf(from, sizeof from, "%s%s", db, companions[i]);
            snprintf(to, sizeof to, "%s%s", before, companions[i]);
            if (rename(from, to) != 0 && errno != ENOENT) {
                fprintf(stderr, "careteamd: cannot move %s to %s: %s\n", from, to, strerror(errno));
                return CT_ESYS;
            }
        }
    }
    if (rename(tmp, db) != 0) {
        fprintf(stderr, "careteamd: cannot move the restored database to %s: %s\n", db,
                strerror(errno));
        return CT_ESYS;
    }
    return 0;
}

int ct_admin_restore(const char *file, const char *dir)
{
    char db[4096], before[4096], tmp[4200];
    ct_dir_path(db, sizeof db, dir, CT_DIR_DB);
    ct_dir_path(before, sizeof before, dir, CT_DIR_DB_BEFORE_RESTORE);
    int r = restore_preconditions(file, dir, before);
    if (r != 0)
        return r;
    snprintf(tmp, sizeof tmp, "%s.restore-XXXXXX", db);
    if (make_temp(tmp) != 0) {
        fprintf(stderr, "careteamd: cannot create a file in %s: %s\n", dir, strerror(errno));
        return CT_ESYS;
    }
    ct_audit_verdict_t v;
    r = prepare_copy(file, dir, tmp, &v);
    /* Run as root on a directory that belongs to the daemon's account, the new file must be that
     * account's too, or the daemon could not open it. */
    struct stat dsb;
    if (r == 0 && geteuid() == 0 && stat(dir, &dsb) == 0 &&
        chown(tmp, dsb.st_uid, dsb.st_gid) != 0) {
        fprintf(stderr, "careteamd: cannot give %s to the owner of %s: %s\n", tmp, dir,
                strerror(errno));
        r = CT_ESYS;
    }
    if (r == 0 && sync_path(tmp) != 0) {
        fprintf(stderr, "careteamd: cannot write %s: %s\n", tmp, strerror(errno));
        r = CT_EIO;
    }
    /* Checked again right before the swap: a daemon may have started meanwhile (invariant 3). */
    if (r == 0 && ct_datadir_daemon_pid(dir) != 0) {
        fprintf(stderr,
                "careteamd: a careteamd started serving %s during the restore; stop it "
                "and run restore again\n",
                dir);
        r = CT_EPRECONDITION;
    }
    bool kept = false;
    if (r == 0)
        r = swap_in(tmp, db, before, &kept);
    if (r == 0 && sync_path(dir) != 0) {
        fprintf(stderr, "careteamd: cannot sync %s: %s\n", dir, strerror(errno));
        r = CT_EIO;
    }
    if (r != 0) {
        remove_db(tmp);
        fprintf(stderr, "careteamd: restore failed; %s\n",
                kept ? "the previous database is kept as careteam.db.before-restore"
                     : "the data directory is unchanged");
        return r;
    }
    char hex[2 * CT_AUDIT_HASH_LEN + 1];
    ct_audit_chain_hex(v.head, hex);
    printf("Restored %s into %s.\n"
           "  audit log verified: %" PRId64 " records, chain head %s; %" PRId64
           " signed checkpoints\n"
           "  the restore is recorded as audit seq %" PRId64 " (admin.restore)\n",
           file, db, v.records, hex, v.checkpoints, v.records + 1);
    if (kept)
        printf("  the previous database is kept as %s (remove it once the daemon runs well)\n",
               before);
    printf("Messages and changes made after the backup was taken are not in it. Start the daemon "
           "again.\n");
    return 0;
}
