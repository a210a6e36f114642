/*
 * SHA-256 for content fingerprints (idempotent resend checks) without exposing OpenSSL types.
 * Fields are fed with a length prefix so that ("ab","c") and ("a","bc") differ.
 */
#ifndef CT_DIGEST_H
#define CT_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define CT_SHA256_LEN 32

typedef struct ct_digest ct_digest_t; /* opaque; one hash in progress */

/* Returns a new digest or NULL on allocation failure. */
ct_digest_t *ct_digest_new(void);
/* Adds a length-prefixed field. */
void ct_digest_field(ct_digest_t *d, const void *data, size_t len);
void ct_digest_str(ct_digest_t *d, const char *s); /* NULL counts as "" */
void ct_digest_u64(ct_digest_t *d, uint64_t v);
/* Writes the hash and frees d. Returns 0 or CT_EINTERNAL. */
int ct_digest_final(ct_digest_t *d, uint8_t out[CT_SHA256_LEN]);

/* SHA-256 of len bytes exactly as given (no length prefix). Returns 0 or CT_EINTERNAL. Keeps one
 * OpenSSL context per calling thread, freed when the thread exits: call it only from threads
 * that exit before the process does (the main thread, the writer), not from libuv's pool, whose
 * threads are joined after OpenSSL has cleaned up at exit. */
int ct_sha256(const void *data, size_t len, uint8_t out[CT_SHA256_LEN]);

#endif
