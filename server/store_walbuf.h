/*
 * A SQLite VFS for the daemon's read-write handles that gathers the writes SQLite appends to a
 * database's write-ahead log (its "-wal" file) and gives them to the default VFS in one call.
 *
 * SQLite writes each log frame as two calls, its 24-byte header and then the page, so a commit of
 * 20 pages was 40 pwrite calls; it is now one (docs/performance.md, item 10). Every other file
 * (the database, its -shm, temporary files) is opened by the default VFS exactly as before, and
 * so is the log itself: only its appends pass through the buffer.
 *
 * Safety rests on when the buffer is written out (store_walbuf.c has the details):
 *  - right after the page of a commit frame (a frame header whose "database size after commit"
 *    field is not zero), so a transaction's frames are all in the file before SQLite publishes
 *    the transaction in the wal-index for readers, whatever the synchronous setting;
 *  - before every other operation on the log (sync, read, size, truncate, file controls, close)
 *    and before a write that is not an append (SQLite rewriting a frame in place, which is
 *    written straight through);
 *  - when it holds 120 KiB (one write of the default VFS is at most 128 KiB).
 * A failed write of the buffer is returned by the call that flushed it (the commit frame's page,
 * or the sync), which fails the commit as SQLite's own failed write would. A crash loses only
 * frames of a transaction that had not committed, as without the buffer.
 */
#ifndef CT_STORE_WALBUF_H
#define CT_STORE_WALBUF_H

/* Registers the VFS (once; not as the default) and returns its name for sqlite3_open_v2, or
 * NULL if it could not be registered, in which case the caller uses the default VFS. */
const char *ct_walbuf_vfs(void);

#endif
