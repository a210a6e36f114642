/*
 * The audit signing key: an Ed25519 key pair, separate from the TLS keys, that signs the audit
 * log's checkpoints (audit_chain.h gives the signed message), and its public half that checks
 * them. `careteamd init` makes the pair (DIR/audit-signing.key, mode 0600, and
 * DIR/audit-signing.pub); `careteamd audit keygen DIR` makes it for a data directory that
 * predates it. Only this file includes OpenSSL for it; callers see opaque handles.
 *
 * Files: the private key is PKCS#8 PEM (unencrypted, like the TLS keys), the public key
 * SubjectPublicKeyInfo PEM, so `openssl pkey` reads both. The key id is the first 8 bytes of
 * SHA-256 of the raw 32-byte public key, as 16 lowercase hex digits: it names the key in every
 * checkpoint and in exports.
 *
 * Errors are CT_E* codes; errbuf (may be NULL) receives a message naming the file and the cause.
 */
#ifndef CT_AUDIT_SIGN_H
#define CT_AUDIT_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "audit_chain.h"

typedef struct ct_audit_signer ct_audit_signer_t; /* a private key; used by one thread */
typedef struct ct_audit_pubkey ct_audit_pubkey_t; /* a public key; read-only after loading */

/*
 * Makes a new key pair: key_path (mode 0600) and pub_path (mode 0644), each written whole or
 * not at all; neither may exist (CT_EEXISTS). If the public key cannot be written the private
 * key is removed again. Fills key_id. Returns 0 or CT_E*.
 */
int ct_audit_sign_keygen(const char *key_path, const char *pub_path,
                         char key_id[CT_AUDIT_KEY_ID_LEN + 1], char *errbuf, size_t errlen);

/*
 * Loads the private key at path. Refuses (CT_EINVAL) a file that group or others may read, or
 * a key that is not Ed25519; CT_ENOTFOUND if the file is missing. The caller frees *out with
 * ct_audit_signer_free.
 */
int ct_audit_signer_load(const char *path, ct_audit_signer_t **out, char *errbuf, size_t errlen);
void ct_audit_signer_free(ct_audit_signer_t *s); /* NULL is ignored */
const char *ct_audit_signer_key_id(const ct_audit_signer_t *s);

/* Signs the checkpoint (seq, head, time_ms) and fills *out whole. Returns 0 or CT_EINTERNAL. */
int ct_audit_signer_sign(const ct_audit_signer_t *s, int64_t seq,
                         const uint8_t head[CT_AUDIT_HASH_LEN], int64_t time_ms,
                         ct_audit_checkpoint_t *out);

/* Loads a public key from a PEM file (SubjectPublicKeyInfo, as audit-signing.pub), or from the
 * raw 32 bytes. Must be Ed25519 (CT_EINVAL). The caller frees *out with ct_audit_pubkey_free. */
int ct_audit_pubkey_load(const char *path, ct_audit_pubkey_t **out, char *errbuf, size_t errlen);
int ct_audit_pubkey_from_raw(const uint8_t raw[CT_AUDIT_PUBKEY_LEN], ct_audit_pubkey_t **out);
void ct_audit_pubkey_free(ct_audit_pubkey_t *k); /* NULL is ignored */
const char *ct_audit_pubkey_key_id(const ct_audit_pubkey_t *k);
void ct_audit_pubkey_raw(const ct_audit_pubkey_t *k, uint8_t raw[CT_AUDIT_PUBKEY_LEN]);

/* Whether cp's signature is valid under k for cp's (seq, head, time_ms): returns 1 if it is, 0
 * if not, or CT_ENOMEM / CT_EINTERNAL if it could not be checked. Does not look at cp->key_id: the
 * caller compares ids to say "another key" rather than "forged". */
int ct_audit_pubkey_verify(const ct_audit_pubkey_t *k, const ct_audit_checkpoint_t *cp);

#endif
