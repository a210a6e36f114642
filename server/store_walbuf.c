/* The VFS that writes each appended log frame in one call (see store_walbuf.h). */
#include "store_walbuf.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <sqlite3.h>

#define WALBUF_NAME "careteam-walbuf"
#define WAL_HEADER_LEN 32       /* the log's own header, at offset 0 */
#define WAL_FRAME_HEADER_LEN 24 /* each frame's header */

/*
 * An open log. Invariants:
 *  - held: header[] is a frame header SQLite appended at held_off that is not in the file
 *    yet. It waits for the next call only: the page that follows it (SQLite writes a frame as
 *    its header, then at once its page) goes out with it in one write; anything else writes it
 *    out first.
 *  - end is the end of the furthest write of this log generation (since the log's header was
 *    last written at offset 0): only a header written at or past it is an append and is held; a
 *    header rewritten in place (walRewriteChecksums) goes straight out, so that nothing is held
 *    once SQLite is done writing frames.
 * `real` is the default VFS's file for the log, in the memory that follows this struct.
 */
typedef struct walbuf_file {
    sqlite3_file base; /* first: SQLite's view; pMethods = &g_io */
    sqlite3_file *real;
    unsigned char header[WAL_FRAME_HEADER_LEN];
    bool held;
    sqlite3_int64 held_off;
    sqlite3_int64 end;
    unsigned char *frame; /* header + page, for the one write; sqlite3_malloc'd, grown as needed */
    int frame_cap;
} walbuf_file_t;

/* The real file starts here, aligned as SQLite aligns its own file objects. */
#define REAL_OFFSET ((sizeof(walbuf_file_t) + 15) & ~(size_t)15)

static sqlite3_vfs *g_root; /* the default VFS at registration */
static sqlite3_vfs g_vfs;
static const char *g_name; /* NULL if registration failed */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* Writes a held header out on its own (SQLite did something other than write its page). */
static int flush(walbuf_file_t *f)
{
    if (!f->held)
        return SQLITE_OK;
    f->held = false;
    return f->real->pMethods->xWrite(f->real, f->header, WAL_FRAME_HEADER_LEN, f->held_off);
}

static int wb_close(sqlite3_file *file)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    int rc = flush(f);
    int rc2 = f->real->pMethods->xClose(f->real);
    sqlite3_free(f->frame);
    f->frame = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *file, void *out, int amt, sqlite3_int64 off)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xRead(f->real, out, amt, off);
}

/* The held header and the page after it, in one write. Falls back to two if no memory. */
static int write_frame(walbuf_file_t *f, const void *page, int amt)
{
    int n = WAL_FRAME_HEADER_LEN + amt;
    if (n > f->frame_cap) {
        unsigned char *p = sqlite3_realloc(f->frame, n);
        if (p == NULL) {
            int rc = flush(f);
            return rc != SQLITE_OK ? rc
                                   : f->real->pMethods->xWrite(f->real, page, amt,
                                                               f->held_off + WAL_FRAME_HEADER_LEN);
        }
        f->frame = p;
        f->frame_cap = n;
    }
    memcpy(f->frame, f->header, WAL_FRAME_HEADER_LEN);
    memcpy(f->frame + WAL_FRAME_HEADER_LEN, page, (size_t)amt);
    f->held = false;
    return f->real->pMethods->xWrite(f->real, f->frame, n, f->held_off);
}

static int wb_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    if (off == 0 && amt == WAL_HEADER_LEN)
        f->end = 0; /* a new generation of the log: its frames append from here */
    if (off + amt > f->end)
        f->end = off + amt;
    if (f->held && off == f->held_off + WAL_FRAME_HEADER_LEN &&
        amt <= 0x1ffff - WAL_FRAME_HEADER_LEN) /* the default VFS's largest single write */
        return write_frame(f, data, amt);
    int rc = flush(f);
    if (rc != SQLITE_OK)
        return rc;
    if (amt == WAL_FRAME_HEADER_LEN && off + amt == f->end) {
        memcpy(f->header, data, WAL_FRAME_HEADER_LEN); /* an appended header: its page is next */
        f->held = true;
        f->held_off = off;
        return SQLITE_OK;
    }
    return f->real->pMethods->xWrite(f->real, data, amt, off);
}

static int wb_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    int rc = flush(f);
    if (rc != SQLITE_OK)
        return rc;
    if (size < f->end)
        f->end = size;
    return f->real->pMethods->xTruncate(f->real, size);
}

static int wb_sync(sqlite3_file *file, int flags)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int wb_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    int rc = flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int wb_lock(sqlite3_file *file, int level)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    return f->real->pMethods->xLock(f->real, level);
}

static int wb_unlock(sqlite3_file *file, int level)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    return f->real->pMethods->xUnlock(f->real, level);
}

static int wb_check_reserved(sqlite3_file *file, int *out)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int wb_file_control(sqlite3_file *file, int op, void *arg)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    int rc = flush(f); /* whatever the control does, it sees the file as SQLite wrote it */
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int wb_sector_size(sqlite3_file *file)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    return f->real->pMethods->xSectorSize(f->real);
}

static int wb_device_characteristics(sqlite3_file *file)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

/* A log is never shared-memory mapped or memory-mapped by SQLite; these only pass through. */
static int wb_shm_map(sqlite3_file *file, int page, int size, int extend, void volatile **out)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    const sqlite3_io_methods *m = f->real->pMethods;
    return m->iVersion >= 2 && m->xShmMap != NULL ? m->xShmMap(f->real, page, size, extend, out)
                                                  : SQLITE_IOERR;
}

static int wb_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    const sqlite3_io_methods *m = f->real->pMethods;
    return m->iVersion >= 2 && m->xShmLock != NULL ? m->xShmLock(f->real, offset, n, flags)
                                                   : SQLITE_IOERR;
}

static void wb_shm_barrier(sqlite3_file *file)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    if (f->real->pMethods->iVersion >= 2 && f->real->pMethods->xShmBarrier != NULL)
        f->real->pMethods->xShmBarrier(f->real);
}

static int wb_shm_unmap(sqlite3_file *file, int delete_flag)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    const sqlite3_io_methods *m = f->real->pMethods;
    return m->iVersion >= 2 && m->xShmUnmap != NULL ? m->xShmUnmap(f->real, delete_flag)
                                                    : SQLITE_OK;
}

static int wb_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **out)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    *out = NULL;
    int rc = flush(f);
    const sqlite3_io_methods *m = f->real->pMethods;
    return rc != SQLITE_OK                         ? rc
           : m->iVersion >= 3 && m->xFetch != NULL ? m->xFetch(f->real, off, amt, out)
                                                   : SQLITE_OK;
}

static int wb_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
    walbuf_file_t *f = (walbuf_file_t *)file;
    const sqlite3_io_methods *m = f->real->pMethods;
    return m->iVersion >= 3 && m->xUnfetch != NULL ? m->xUnfetch(f->real, off, p) : SQLITE_OK;
}

static const sqlite3_io_methods g_io = {
    .iVersion = 3,
    .xClose = wb_close,
    .xRead = wb_read,
    .xWrite = wb_write,
    .xTruncate = wb_truncate,
    .xSync = wb_sync,
    .xFileSize = wb_file_size,
    .xLock = wb_lock,
    .xUnlock = wb_unlock,
    .xCheckReservedLock = wb_check_reserved,
    .xFileControl = wb_file_control,
    .xSectorSize = wb_sector_size,
    .xDeviceCharacteristics = wb_device_characteristics,
    .xShmMap = wb_shm_map,
    .xShmLock = wb_shm_lock,
    .xShmBarrier = wb_shm_barrier,
    .xShmUnmap = wb_shm_unmap,
    .xFetch = wb_fetch,
    .xUnfetch = wb_unfetch,
};

/* Opens a log through the buffer, and every other file exactly as the default VFS does. */
static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                   int *out_flags)
{
    (void)vfs;
    if (!(flags & SQLITE_OPEN_WAL))
        return g_root->xOpen(g_root, name, file, flags, out_flags);
    walbuf_file_t *f = (walbuf_file_t *)file;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)((char *)file + REAL_OFFSET);
    memset(f->real, 0, (size_t)g_root->szOsFile);
    int rc = g_root->xOpen(g_root, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        /* SQLite calls xClose only if pMethods is set; the real file is ours to close. */
        if (f->real->pMethods != NULL)
            f->real->pMethods->xClose(f->real);
        f->base.pMethods = NULL;
        return rc;
    }
    f->base.pMethods = &g_io;
    return SQLITE_OK;
}

/* The rest of the VFS is the default one's. */
static int wb_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    return g_root->xDelete(g_root, name, sync_dir);
}

static int wb_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return g_root->xAccess(g_root, name, flags, out);
}

static int wb_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return g_root->xFullPathname(g_root, name, n, out);
}

static void *wb_dl_open(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return g_root->xDlOpen(g_root, name);
}

static void wb_dl_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    g_root->xDlError(g_root, n, out);
}

static void (*wb_dl_sym(sqlite3_vfs *vfs, void *handle, const char *sym))(void)
{
    (void)vfs;
    return g_root->xDlSym(g_root, handle, sym);
}

static void wb_dl_close(sqlite3_vfs *vfs, void *handle)
{
    (void)vfs;
    g_root->xDlClose(g_root, handle);
}

static int wb_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return g_root->xRandomness(g_root, n, out);
}

static int wb_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return g_root->xSleep(g_root, us);
}

static int wb_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return g_root->xCurrentTime(g_root, out);
}

static int wb_get_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return g_root->xGetLastError(g_root, n, out);
}

static int wb_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return g_root->xCurrentTimeInt64(g_root, out);
}

static void register_vfs(void)
{
    g_root = sqlite3_vfs_find(NULL);
    if (g_root == NULL || g_root->iVersion < 2)
        return;
    g_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)REAL_OFFSET + g_root->szOsFile,
        .mxPathname = g_root->mxPathname,
        .zName = WALBUF_NAME,
        .xOpen = wb_open,
        .xDelete = wb_delete,
        .xAccess = wb_access,
        .xFullPathname = wb_full_pathname,
        .xDlOpen = wb_dl_open,
        .xDlError = wb_dl_error,
        .xDlSym = wb_dl_sym,
        .xDlClose = wb_dl_close,
        .xRandomness = wb_randomness,
        .xSleep = wb_sleep,
        .xCurrentTime = wb_current_time,
        .xGetLastError = wb_get_last_error,
        .xCurrentTimeInt64 = wb_current_time_int64,
    };
    if (sqlite3_vfs_register(&g_vfs, 0) == SQLITE_OK)
        g_name = WALBUF_NAME;
}

const char *ct_walbuf_vfs(void)
{
    (void)pthread_once(&g_once, register_vfs);
    return g_name;
}
