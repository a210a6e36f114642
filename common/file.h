/*
 * Durable file creation for keys, certificates and settings: a file appears whole or not at
 * all, and an existing file is never replaced.
 */
#ifndef CT_FILE_H
#define CT_FILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Writes data[0..len) to path with the given mode: a temporary file in the same directory
 * (created 0600, so key bytes are never readable by others even before the final fchmod), fsync,
 * a rename that refuses to replace an existing path, and an fsync of the directory. `what` names
 * the file in messages ("CA key", "config"). Returns 0, CT_EEXISTS, CT_ENOMEM or CT_ESYS, with
 * errbuf (may be NULL) saying what failed and naming path.
 */
int ct_file_write_new(const char *path, const char *what, const void *data, size_t len, mode_t mode,
                      char *errbuf, size_t errlen);

/* Syncs the directory that holds path, so that a rename into it is durable. Failure is ignored:
 * the file itself was synced before its rename, and at worst the old name comes back. */
void ct_file_sync_parent(const char *path);

#endif
