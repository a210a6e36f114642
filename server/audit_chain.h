/*
 * The hash chain of the audit log: the canonical encoding of one audit row, its leaf hash, the
 * link that chains it to the row before, and the message a signed checkpoint signs. Domain code
 * only, no SQLite and no OpenSSL types: the store computes leaf and chain here when it appends a
 * row, and `careteamd audit verify` recomputes them here, so the writer and the verifier cannot
 * disagree. docs/compliance.md states the same for auditors.
 *
 * Canonical encoding. Integers are 8 bytes, big-endian two's complement; texts are a 4-byte
 * big-endian unsigned byte count followed by the bytes exactly as stored (UTF-8, no terminating
 * NUL, no normalisation). Fields in this order (version 2 adds cert_fp; version 1 rows, written
 * before it existed, keep their encoding and have an empty cert_fp):
 *
 *     version (1 byte: 0x01 or 0x02)
 *     seq, time_ms                                   integers
 *     actor_id                                       text
 *     actor_role                                     integer (wire Role number)
 *     cert_fp                                        text, version 2 only
 *     peer_addr, action, object_type, object_id,
 *     participant_id                                 texts
 *     outcome                                        integer (0, 4, 8, 12)
 *     detail                                         text
 *
 *     leaf  = SHA-256(0x00 || encoding)
 *     chain = SHA-256(chain of the previous row || leaf)         (64 bytes in)
 *
 * The "previous row" of seq 1 is the genesis value, 32 zero bytes. seq is inside the leaf, so a
 * row moved to another position no longer matches its leaf; the chain makes every row depend on
 * all rows before it, so a deleted or inserted row breaks the chain of the row after it.
 *
 * Checkpoint message (what an Ed25519 checkpoint signature signs, audit_sign.h), 76 bytes:
 *
 *     "careteam-audit-checkpoint-v1" (28 ASCII bytes, no NUL) || seq || head || time_ms
 *
 * with seq and time_ms 8-byte big-endian integers and head the 32-byte chain value of row seq.
 *
 * Invariants:
 *  1. The encoding of a row is a pure function of its field values: nothing from SQLite (types,
 *     collation, row layout) enters it.
 *  2. Distinct rows have distinct encodings: every field has a fixed width or a length prefix,
 *     and the version byte says which fields there are (a version-1 row with a cert_fp has no
 *     encoding at all, so the fingerprint can never ride along unhashed).
 *  3. A shipped encoding version is never changed; a new one gets a new version byte, and the
 *     verifier keeps accepting the old one for the rows written with it.
 */
#ifndef CT_AUDIT_CHAIN_H
#define CT_AUDIT_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#define CT_AUDIT_HASH_LEN 32
#define CT_AUDIT_ENCODING_V1 0x01 /* rows written before cert_fp existed (schema < 4) */
#define CT_AUDIT_ENCODING_V2 0x02 /* adds cert_fp; the version this build writes */
#define CT_AUDIT_ENCODING_CURRENT CT_AUDIT_ENCODING_V2

/* A text field: len bytes at ptr, which need not be NUL-terminated; ptr may be NULL if len is
 * 0. Borrowed: it points into memory the caller owns. */
typedef struct ct_audit_text {
    const char *ptr;
    size_t len;
} ct_audit_text_t;

/* The fields of one audit row that the chain covers, in encoding order, and the encoding
 * version. A zeroed row has version 0, which has no encoding: every row says its version. */
typedef struct ct_audit_row {
    int version; /* CT_AUDIT_ENCODING_V1 or _V2 */
    int64_t seq; /* 1, 2, 3, ... with no gaps */
    int64_t time_ms;
    ct_audit_text_t actor_id;
    int64_t actor_role;
    ct_audit_text_t cert_fp; /* the actor's certificate SHA-256, 64 hex digits, or "" (admin,
                                daemon, before authentication); must be "" in version 1 */
    ct_audit_text_t peer_addr;
    ct_audit_text_t action;
    ct_audit_text_t object_type;
    ct_audit_text_t object_id;
    ct_audit_text_t participant_id;
    int64_t outcome;
    ct_audit_text_t detail;
} ct_audit_row_t;

/* The chain value "before seq 1": 32 zero bytes. */
extern const uint8_t ct_audit_genesis[CT_AUDIT_HASH_LEN];

/* A text view of the NUL-terminated string s (NULL reads as ""). */
ct_audit_text_t ct_audit_text(const char *s);

/* The length in bytes of row's canonical encoding, or 0 if it has none (an unknown version, a
 * version-1 row with a cert_fp, a text longer than UINT32_MAX bytes, or a total that does not
 * fit in size_t). */
size_t ct_audit_chain_encoded_len(const ct_audit_row_t *row);

/* Writes row's canonical encoding to out, which has room for ct_audit_chain_encoded_len(row)
 * bytes (and that length is not 0). */
void ct_audit_chain_encode(const ct_audit_row_t *row, uint8_t *out);

/* Computes the leaf hash of row. Returns 0, CT_EINVAL if the row has no encoding, CT_ENOMEM, or
 * CT_EINTERNAL if hashing failed. Rows up to about 1 KiB are hashed without allocating. */
int ct_audit_chain_leaf(const ct_audit_row_t *row, uint8_t leaf[CT_AUDIT_HASH_LEN]);

/* Computes the chain value of a row from the previous row's chain value and the row's leaf.
 * chain may alias prev. Returns 0 or CT_EINTERNAL. */
int ct_audit_chain_link(const uint8_t prev[CT_AUDIT_HASH_LEN],
                        const uint8_t leaf[CT_AUDIT_HASH_LEN], uint8_t chain[CT_AUDIT_HASH_LEN]);

/* Writes h as 64 lowercase hex digits and a NUL. */
void ct_audit_chain_hex(const uint8_t h[CT_AUDIT_HASH_LEN], char out[2 * CT_AUDIT_HASH_LEN + 1]);

/* ---- signed checkpoints ------------------------------------------------------------------ */

#define CT_AUDIT_CHECKPOINT_DOMAIN "careteam-audit-checkpoint-v1"
#define CT_AUDIT_CHECKPOINT_MSG_LEN (sizeof CT_AUDIT_CHECKPOINT_DOMAIN - 1 + 8 + 32 + 8)
#define CT_AUDIT_SIG_LEN 64    /* an Ed25519 signature */
#define CT_AUDIT_PUBKEY_LEN 32 /* an Ed25519 public key, raw */
#define CT_AUDIT_KEY_ID_LEN 16 /* hex digits: the first 8 bytes of SHA-256(raw public key) */

/*
 * A signed checkpoint: "the log had seq rows, and row seq's chain value was head", signed at
 * time_ms with the key key_id. Plain values, no pointers but `malformed`, which is NULL or a
 * static string saying why a stored checkpoint could not be read as one (a column of the wrong
 * type or length); the other fields then hold what could be read.
 */
typedef struct ct_audit_checkpoint {
    int64_t seq;
    uint8_t head[CT_AUDIT_HASH_LEN];
    int64_t time_ms;
    uint8_t sig[CT_AUDIT_SIG_LEN];
    char key_id[CT_AUDIT_KEY_ID_LEN + 1];
    const char *malformed;
} ct_audit_checkpoint_t;

/* Writes the checkpoint message of (seq, head, time_ms) to out (see the top of this file). */
void ct_audit_checkpoint_message(int64_t seq, const uint8_t head[CT_AUDIT_HASH_LEN],
                                 int64_t time_ms, uint8_t out[CT_AUDIT_CHECKPOINT_MSG_LEN]);

/* Parses exactly 2 * len hex digits (either case) of s into out. Returns 0 or CT_EINVAL. */
int ct_audit_hex_decode(const char *s, size_t slen, uint8_t *out, size_t len);

#endif
