/*
 * The audit signing key (see audit_sign.h for the contract).
 *
 * Invariants:
 *  1. Every key held by a handle is Ed25519; anything else is refused when loaded.
 *  2. Private key bytes only pass through secure-memory BIOs, which are wiped when freed (as in
 *     pki.c), and the private key file is never readable by group or others: written 0600, and
 *     refused when loaded with a wider mode.
 *  3. An existing key file is never overwritten (ct_file_write_new refuses to replace a path).
 *
 * Only deprecation-free OpenSSL 3 APIs are used (the build sets OPENSSL_NO_DEPRECATED).
 */
#include "audit_sign.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "digest.h"
#include "err.h"
#include "ossl.h"
#include "file.h"

struct ct_audit_signer {
    EVP_PKEY *key; /* owned */
    char key_id[CT_AUDIT_KEY_ID_LEN + 1];
};

struct ct_audit_pubkey {
    EVP_PKEY *key; /* owned */
    uint8_t raw[CT_AUDIT_PUBKEY_LEN];
    char key_id[CT_AUDIT_KEY_ID_LEN + 1];
};

/* Reads key's raw public half and derives its id. Returns 0 or CT_EINTERNAL. */
static int raw_and_id(EVP_PKEY *key, uint8_t raw[CT_AUDIT_PUBKEY_LEN],
                      char key_id[CT_AUDIT_KEY_ID_LEN + 1])
{
    size_t len = CT_AUDIT_PUBKEY_LEN;
    uint8_t h[CT_SHA256_LEN];
    if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1 || len != CT_AUDIT_PUBKEY_LEN) {
        ERR_clear_error();
        return CT_EINTERNAL;
    }
    if (ct_sha256(raw, CT_AUDIT_PUBKEY_LEN, h) != 0)
        return CT_EINTERNAL;
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < CT_AUDIT_KEY_ID_LEN / 2; i++) {
        key_id[2 * i] = digits[h[i] >> 4];
        key_id[2 * i + 1] = digits[h[i] & 0x0f];
    }
    key_id[CT_AUDIT_KEY_ID_LEN] = '\0';
    return 0;
}

/* Encodes key with write (private or public PEM) into a buffer and writes it to path. */
static int write_pem(const char *path, const char *what, EVP_PKEY *key, bool private_key,
                     char *errbuf, size_t errlen)
{
    BIO *mem = BIO_new(private_key ? BIO_s_secmem() : BIO_s_mem());
    if (mem == NULL)
        return ct_errf(errbuf, errlen, CT_ENOMEM, "cannot write %s %s: %s", what, path,
                       ct_ossl_reason());
    int ok = private_key ? PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL)
                         : PEM_write_bio_PUBKEY(mem, key);
    int rc;
    if (ok != 1) {
        rc = ct_errf(errbuf, errlen, CT_EINTERNAL, "cannot encode %s %s: %s", what, path,
                     ct_ossl_reason());
    } else {
        char *data = NULL;
        long n = BIO_get_mem_data(mem, &data);
        rc = ct_file_write_new(path, what, data, (size_t)n, private_key ? 0600 : 0644, errbuf,
                               errlen);
    }
    BIO_free(mem);
    return rc;
}

int ct_audit_sign_keygen(const char *key_path, const char *pub_path,
                         char key_id[CT_AUDIT_KEY_ID_LEN + 1], char *errbuf, size_t errlen)
{
    struct stat sb;
    if (lstat(key_path, &sb) == 0 || lstat(pub_path, &sb) == 0)
        return ct_errf(errbuf, errlen, CT_EEXISTS,
                       "%s already exists; refusing to replace an audit signing key",
                       lstat(key_path, &sb) == 0 ? key_path : pub_path);
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (key == NULL)
        return ct_errf(errbuf, errlen, CT_EINTERNAL, "cannot generate an Ed25519 key: %s",
                       ct_ossl_reason());
    uint8_t raw[CT_AUDIT_PUBKEY_LEN];
    int rc = raw_and_id(key, raw, key_id);
    if (rc != 0)
        ct_errf(errbuf, errlen, rc, "cannot read the new key's public half");
    if (rc == 0)
        rc = write_pem(key_path, "audit signing key", key, true, errbuf, errlen);
    if (rc == 0) {
        rc = write_pem(pub_path, "audit public key", key, false, errbuf, errlen);
        if (rc != 0)
            (void)unlink(key_path);
    }
    EVP_PKEY_free(key);
    return rc;
}

/* Reads a PEM key (private or public) from path; checks that it is Ed25519. */
static int read_pem(const char *path, const char *what, bool private_key, EVP_PKEY **out,
                    char *errbuf, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        int e = errno;
        return ct_errf(errbuf, errlen, e == ENOENT ? CT_ENOTFOUND : CT_ESYS,
                       "cannot read %s %s: %s", what, path, strerror(e));
    }
    if (private_key) {
        struct stat sb;
        if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & 077) != 0) {
            fclose(f);
            return ct_errf(errbuf, errlen, CT_EINVAL,
                           "%s %s is readable by group or others (mode %03o); fix it with: "
                           "chmod 600 %s",
                           what, path, (unsigned)(sb.st_mode & 0777), path);
        }
    }
    EVP_PKEY *k = private_key ? PEM_read_PrivateKey(f, NULL, ct_ossl_no_password, NULL)
                              : PEM_read_PUBKEY(f, NULL, ct_ossl_no_password, NULL);
    fclose(f);
    if (k == NULL)
        return ct_errf(errbuf, errlen, CT_EINVAL, "cannot parse %s %s: %s", what, path,
                       ct_ossl_reason());
    if (!EVP_PKEY_is_a(k, "ED25519")) {
        EVP_PKEY_free(k);
        return ct_errf(errbuf, errlen, CT_EINVAL, "%s %s is not an Ed25519 key", what, path);
    }
    *out = k;
    return 0;
}

int ct_audit_signer_load(const char *path, ct_audit_signer_t **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    ct_audit_signer_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return ct_errf(errbuf, errlen, CT_ENOMEM, "out of memory");
    int rc = read_pem(path, "audit signing key", true, &s->key, errbuf, errlen);
    uint8_t raw[CT_AUDIT_PUBKEY_LEN];
    if (rc == 0 && (rc = raw_and_id(s->key, raw, s->key_id)) != 0)
        ct_errf(errbuf, errlen, rc, "cannot read the public half of %s", path);
    if (rc != 0) {
        ct_audit_signer_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void ct_audit_signer_free(ct_audit_signer_t *s)
{
    if (s == NULL)
        return;
    EVP_PKEY_free(s->key);
    free(s);
}

const char *ct_audit_signer_key_id(const ct_audit_signer_t *s)
{
    return s->key_id;
}

int ct_audit_signer_sign(const ct_audit_signer_t *s, int64_t seq,
                         const uint8_t head[CT_AUDIT_HASH_LEN], int64_t time_ms,
                         ct_audit_checkpoint_t *out)
{
    memset(out, 0, sizeof *out);
    out->seq = seq;
    memcpy(out->head, head, CT_AUDIT_HASH_LEN);
    out->time_ms = time_ms;
    memcpy(out->key_id, s->key_id, sizeof out->key_id);
    uint8_t msg[CT_AUDIT_CHECKPOINT_MSG_LEN];
    ct_audit_checkpoint_message(seq, head, time_ms, msg);
    /* Ed25519 is a one-shot signature: no digest is named, the message is signed whole. */
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t sig_len = CT_AUDIT_SIG_LEN;
    int ok = ctx != NULL && EVP_DigestSignInit_ex(ctx, NULL, NULL, NULL, NULL, s->key, NULL) == 1 &&
             EVP_DigestSign(ctx, out->sig, &sig_len, msg, sizeof msg) == 1 &&
             sig_len == CT_AUDIT_SIG_LEN;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        ERR_clear_error();
        return CT_EINTERNAL;
    }
    return 0;
}

/* Wraps an Ed25519 public key (taking ownership of key) in a new handle. */
static int pubkey_wrap(EVP_PKEY *key, ct_audit_pubkey_t **out)
{
    *out = NULL;
    ct_audit_pubkey_t *k = calloc(1, sizeof *k);
    if (k == NULL) {
        EVP_PKEY_free(key);
        return CT_ENOMEM;
    }
    k->key = key;
    int rc = raw_and_id(key, k->raw, k->key_id);
    if (rc != 0) {
        ct_audit_pubkey_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

int ct_audit_pubkey_load(const char *path, ct_audit_pubkey_t **out, char *errbuf, size_t errlen)
{
    EVP_PKEY *key = NULL;
    *out = NULL;
    int rc = read_pem(path, "audit public key", false, &key, errbuf, errlen);
    if (rc == 0 && (rc = pubkey_wrap(key, out)) != 0)
        ct_errf(errbuf, errlen, rc, "cannot use audit public key %s", path);
    return rc;
}

int ct_audit_pubkey_from_raw(const uint8_t raw[CT_AUDIT_PUBKEY_LEN], ct_audit_pubkey_t **out)
{
    *out = NULL;
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, raw, CT_AUDIT_PUBKEY_LEN);
    if (key == NULL) {
        ERR_clear_error();
        return CT_EINVAL;
    }
    return pubkey_wrap(key, out);
}

void ct_audit_pubkey_free(ct_audit_pubkey_t *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->key);
    free(k);
}

const char *ct_audit_pubkey_key_id(const ct_audit_pubkey_t *k)
{
    return k->key_id;
}

void ct_audit_pubkey_raw(const ct_audit_pubkey_t *k, uint8_t raw[CT_AUDIT_PUBKEY_LEN])
{
    memcpy(raw, k->raw, CT_AUDIT_PUBKEY_LEN);
}

int ct_audit_pubkey_verify(const ct_audit_pubkey_t *k, const ct_audit_checkpoint_t *cp)
{
    uint8_t msg[CT_AUDIT_CHECKPOINT_MSG_LEN];
    ct_audit_checkpoint_message(cp->seq, cp->head, cp->time_ms, msg);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return CT_ENOMEM;
    int r = EVP_DigestVerifyInit_ex(ctx, NULL, NULL, NULL, NULL, k->key, NULL) == 1
                ? EVP_DigestVerify(ctx, cp->sig, CT_AUDIT_SIG_LEN, msg, sizeof msg)
                : -1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    if (r < 0)
        return CT_EINTERNAL; /* the check could not run */
    return r == 1 ? 1 : 0;
}
