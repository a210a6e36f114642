/*
 * The checkpoint export file: `careteamd audit checkpoints DIR --out FILE` writes it, and
 * `careteamd audit verify DIR --checkpoints FILE` checks the log against it. It is plain text,
 * one record a line, so that it can be kept anywhere (a ticket, a mail, a WORM bucket) and read
 * without careteam:
 *
 *     careteam-audit-checkpoints 1
 *     # any comment line
 *     pubkey ed25519 KEY_ID PUBLIC_KEY_HEX
 *     checkpoint SEQ HEAD_HEX TIME_MS SIGNATURE_HEX KEY_ID
 *     ...
 *
 * The first line names the format and its version. `pubkey` (at most one) is the raw 32-byte
 * Ed25519 public key in hex and its key id (audit_sign.h); each `checkpoint` line is one
 * checkpoint: seq and time_ms in decimal, the 32-byte head and the 64-byte signature in hex,
 * the key id that signed it. Fields are separated by one space; blank lines and lines starting
 * with '#' are ignored.
 */
#ifndef CT_AUDIT_EXPORT_H
#define CT_AUDIT_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "audit_chain.h"
#include "audit_sign.h"

#define CT_AUDIT_EXPORT_MAGIC "careteam-audit-checkpoints 1"

/* Writes the export to f: the header, comment (one line, may be NULL), the public key (may be
 * NULL) and the checkpoints in the order given. Returns 0 or CT_EIO if writing failed. */
int ct_audit_export_write(FILE *f, const char *comment, const ct_audit_pubkey_t *key,
                          const ct_audit_checkpoint_t *cps, size_t n);

/*
 * Reads an export file. On success *cps is a new array of *n checkpoints (free() it; NULL when
 * *n is 0) and, if the file has a pubkey line, *key is that key (ct_audit_pubkey_free), else
 * NULL. Returns 0, CT_ENOTFOUND / CT_ESYS if the file cannot be read, or CT_EINVAL with errbuf
 * "PATH:LINE: what is wrong" for a malformed file (a key id that does not match its key
 * included).
 */
int ct_audit_export_read(const char *path, ct_audit_checkpoint_t **cps, size_t *n,
                         ct_audit_pubkey_t **key, char *errbuf, size_t errlen);

#endif
