/*
 * Data directory checks (see datadir.h).
 *
 * The rules are tables, so that `serve` and `check-config` apply the same ones with the same
 * words: `modes` (what others must not be able to do to each file) and `required` (what `serve`
 * opens, and the command that makes it). A file that is missing is skipped by the mode and owner
 * checks; CT_DATADIR_FILES reports it.
 */
#include "datadir.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "admin.h"
#include "text.h"

static void say(ct_datadir_report_fn report, void *arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(ct_datadir_report_fn report, void *arg, const char *fmt, ...)
{
    char text[8192 + 512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    report(text, arg);
}

/* Permissions: a file others could read or replace gives away the keys or the message bodies. */
static const struct {
    const char *name; /* NULL: the directory itself */
    mode_t forbidden;
    const char *fix_mode;
    const char *what;
} modes[] = {
    {NULL, 022, "700", "writable by group or others"},
    {CT_DIR_CA_KEY, 077, "600", "readable by group or others"},
    {CT_DIR_SERVER_KEY, 077, "600", "readable by group or others"},
    {CT_DIR_AUDIT_KEY, 077, "600", "readable by group or others"},
    {CT_DIR_DB, 007, "600", "readable by others"},
};

/* What `serve` opens; "%s" in the hint is DIR. ca.key is only needed by `enroll`. */
static const struct {
    const char *name;
    const char *hint;
} required[] = {
    {CT_DIR_CONF, "it is made by `careteamd init`; an empty file means every default"},
    {CT_DIR_CA_CRT, "restore it from your copy of the data directory"},
    {CT_DIR_SERVER_CRT, "restore it from your copy of the data directory"},
    {CT_DIR_SERVER_KEY, "restore it from your copy of the data directory"},
    {CT_DIR_DB, "restore the database with `careteamd restore FILE %s`"},
    {CT_DIR_AUDIT_KEY, "create one with `careteamd audit keygen %s`"},
};

/* Files whose owner must be the serving account (besides DIR): what it reads or writes. */
static const char *const owned[] = {
    CT_DIR_CONF,       CT_DIR_CA_CRT,    CT_DIR_CA_KEY,    CT_DIR_SERVER_CRT,
    CT_DIR_SERVER_KEY, CT_DIR_AUDIT_KEY, CT_DIR_AUDIT_PUB, CT_DIR_DB,
    CT_DIR_DB "-wal",  CT_DIR_DB "-shm", CT_DIR_CRL,       CT_DIR_PID,
};

static void path_of(char *out, size_t len, const char *dir, const char *name)
{
    if (name == NULL)
        ct_text_copy(out, len, dir);
    else
        ct_dir_path(out, len, dir, name);
}

static int check_modes(const char *dir, ct_datadir_report_fn report, void *arg)
{
    int n = 0;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        char path[4096];
        struct stat sb;
        path_of(path, sizeof path, dir, modes[i].name);
        if (stat(path, &sb) != 0 || (sb.st_mode & modes[i].forbidden) == 0)
            continue;
        say(report, arg, "%s is %s (mode %03o); fix it with: chmod %s %s", path, modes[i].what,
            (unsigned)(sb.st_mode & 0777), modes[i].fix_mode, path);
        n++;
    }
    return n;
}

static int check_files(const char *dir, ct_datadir_report_fn report, void *arg)
{
    int n = 0;
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        char path[4096], hint[4600];
        struct stat sb;
        ct_dir_path(path, sizeof path, dir, required[i].name);
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
            continue;
        snprintf(hint, sizeof hint, required[i].hint, dir);
        say(report, arg, "%s %s; %s", path,
            stat(path, &sb) == 0 ? "is not a regular file" : "is missing", hint);
        n++;
    }
    return n;
}

/* One problem for all the files of DIR the account does not own: one chown fixes them all. */
static int check_owner(const char *dir, uid_t owner, const char *owner_name,
                       ct_datadir_report_fn report, void *arg)
{
    char names[1024] = "", first[4096] = "";
    size_t n = 0, len = 0;
    uid_t other = 0;
    for (size_t i = 0; i <= sizeof owned / sizeof owned[0]; i++) {
        char path[4096];
        struct stat sb;
        path_of(path, sizeof path, dir, i == 0 ? NULL : owned[i - 1]);
        if (stat(path, &sb) != 0 || sb.st_uid == owner)
            continue;
        if (n++ == 0) {
            ct_text_copy(first, sizeof first, path);
            other = sb.st_uid;
        }
        int w = snprintf(names + len, sizeof names - len, "%s%s", len > 0 ? ", " : "",
                         i == 0 ? "the directory" : owned[i - 1]);
        if (w > 0 && (size_t)w < sizeof names - len)
            len += (size_t)w;
    }
    if (n == 0)
        return 0;
    struct passwd *pw = getpwuid(other);
    say(report, arg,
        "%s belongs to %s (uid %u), not to %s, the account careteamd serves as (%zu not %s's: "
        "%s); fix it with: chown -R %s: %s",
        first, pw != NULL ? pw->pw_name : "an unknown account", (unsigned)other, owner_name, n,
        owner_name, names, owner_name, dir);
    return 1;
}

int ct_datadir_check(const char *dir, unsigned what, uid_t owner, const char *owner_name,
                     ct_datadir_report_fn report, void *arg)
{
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        int e = errno;
        if (stat(dir, &sb) == 0)
            say(report, arg, "%s is not a directory", dir);
        else if (e == ENOENT)
            say(report, arg, "%s does not exist; create a data directory with `careteamd init %s`",
                dir, dir);
        else
            say(report, arg, "cannot open %s: %s", dir, strerror(e));
        return 1;
    }
    int n = 0;
    if (what & CT_DATADIR_FILES)
        n += check_files(dir, report, arg);
    if (what & CT_DATADIR_MODES)
        n += check_modes(dir, report, arg);
    if (what & CT_DATADIR_OWNER)
        n += check_owner(dir, owner, owner_name, report, arg);
    return n;
}

pid_t ct_datadir_daemon_pid(const char *dir)
{
    char path[4096], comm[64] = "";
    ct_dir_path(path, sizeof path, dir, CT_DIR_PID);
    FILE *f = fopen(path, "re");
    long pid = 0;
    if (f == NULL)
        return 0;
    int n = fscanf(f, "%ld", &pid);
    fclose(f);
    if (n != 1 || pid <= 1)
        return 0;
    snprintf(path, sizeof path, "/proc/%ld/comm", pid);
    f = fopen(path, "re");
    if (f == NULL)
        return 0;
    if (fgets(comm, sizeof comm, f) == NULL)
        comm[0] = '\0';
    fclose(f);
    comm[strcspn(comm, "\n")] = '\0';
    return strcmp(comm, "careteamd") == 0 ? (pid_t)pid : 0;
}
