/*
 * A SQLite VFS for the daemon's read-write handles that writes each frame SQLite appends to a
 * database's write-ahead log (its "-wal" file) in one call instead of two.
 *
 * SQLite writes a log frame as its 24-byte header and then, at once, its page: two pwrite calls
 * per page of every commit (docs/performance.md, item 10). This VFS holds an appended frame
 * header back until that next call and writes the two together. Every other file (the database,
 * its -shm, temporary files) is opened by the default VFS exactly as before, and so is the log
 * itself; only that one header waits.
 *
 * Nothing else is ever held: a header waits for one call at most, and any call other than its
 * page (a sync, a read, a size, a truncate, a file control, a close, another write) writes it out
 * first. So when SQLite is done writing a frame, the file holds exactly what it would without this
 * VFS: no other connection, no rollback and no crash can see a difference. A header rewritten in
 * place (SQLite rewriting checksums) is written at once, not held. The one write of a header and
 * its page fails or succeeds where the page's own write would have, and reports it to that call.
 */
#ifndef CT_STORE_WALBUF_H
#define CT_STORE_WALBUF_H

/* Registers the VFS (once; not as the default) and returns its name for sqlite3_open_v2, or
 * NULL if it could not be registered, in which case the caller uses the default VFS. */
const char *ct_walbuf_vfs(void);

#endif
