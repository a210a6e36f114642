/*
 * A disk that fills up on demand, for tests only (test_disk_full.c): an LD_PRELOAD library that
 * makes write, pwrite, pwrite64, fsync and fdatasync fail with ENOSPC on careteamd's database
 * files while a control file exists.
 *
 *   CT_FAULT_CONTROL=/path/to/file   the fault is on while this path exists (checked per call)
 *   CT_FAULT_FILES=a,b,...           basenames the fault applies to; default
 *                                    "careteam.db,careteam.db-wal,careteam.db-journal"
 *   CT_FAULT_CALLS=a,b,...           the calls that fail, of write, pwrite (also pwrite64),
 *                                    fsync, fdatasync; default all of them ("fsync,fdatasync"
 *                                    leaves writes working and fails only the syncs)
 *
 * Without CT_FAULT_CONTROL every call goes straight through. The descriptor's file is found with
 * readlink on /proc/self/fd/N, only while the fault is on, so the daemon's own log (stderr) and
 * sockets are never affected. The shared-memory index (-shm) is left alone: SQLite writes it
 * through mmap, and a full disk does not fail a page already mapped.
 *
 * Built without sanitizers, so that it can precede libasan in a sanitizer build (the test sets
 * ASAN_OPTIONS=verify_asan_link_order=0).
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define DEFAULT_FILES "careteam.db,careteam.db-wal,careteam.db-journal"

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef int (*sync_fn)(int);

/* The next definition of name (libc's, or a sanitizer's interceptor). */
static void *next(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (f == NULL)
        abort(); /* cannot happen with glibc: every wrapped call exists */
    return f;
}

/* True when basename is one of the comma-separated names in list. */
static bool listed(const char *list, const char *basename)
{
    size_t n = strlen(basename);
    for (const char *p = list; *p != '\0';) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, basename, n) == 0)
            return true;
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}

/* True when the fault is on for `call` and fd is one of the database's files. Preserves
 * errno. */
static bool faulty(const char *call, int fd)
{
    const char *control = getenv("CT_FAULT_CONTROL");
    if (control == NULL || control[0] == '\0')
        return false;
    const char *calls = getenv("CT_FAULT_CALLS");
    if (calls != NULL && calls[0] != '\0' && !listed(calls, call))
        return false;
    int saved = errno;
    bool on = false;
    if (access(control, F_OK) == 0) {
        char link[64], path[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof path - 1);
        if (n > 0) {
            path[n] = '\0';
            const char *slash = strrchr(path, '/');
            const char *files = getenv("CT_FAULT_FILES");
            on = listed(files != NULL && files[0] != '\0' ? files : DEFAULT_FILES,
                        slash != NULL ? slash + 1 : path);
        }
    }
    errno = saved;
    return on;
}

ssize_t write(int fd, const void *buf, size_t len)
{
    if (faulty("write", fd)) {
        errno = ENOSPC;
        return -1;
    }
    return ((write_fn)next("write"))(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    if (faulty("pwrite", fd)) {
        errno = ENOSPC;
        return -1;
    }
    return ((pwrite_fn)next("pwrite"))(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
    if (faulty("pwrite", fd)) {
        errno = ENOSPC;
        return -1;
    }
    return ((pwrite_fn)next("pwrite64"))(fd, buf, len, off);
}

int fsync(int fd)
{
    if (faulty("fsync", fd)) {
        errno = ENOSPC;
        return -1;
    }
    return ((sync_fn)next("fsync"))(fd);
}

int fdatasync(int fd)
{
    if (faulty("fdatasync", fd)) {
        errno = ENOSPC;
        return -1;
    }
    return ((sync_fn)next("fdatasync"))(fd);
}
