/* SHA-256 through OpenSSL's EVP interface (see digest.h). */
#include "digest.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "err.h"

struct ct_digest {
    EVP_MD_CTX *md;
    int failed;
};

/* SHA-256, fetched once: in OpenSSL 3, EVP_sha256() in every init looks the algorithm up again
 * under the provider lock, and the writer hashes two or three times per message. The fetched
 * method lives as long as the process. */
static EVP_MD *g_sha256;
static pthread_once_t g_sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
    g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256_md(void)
{
    (void)pthread_once(&g_sha256_once, fetch_sha256);
    return g_sha256 != NULL ? g_sha256 : EVP_sha256();
}

ct_digest_t *ct_digest_new(void)
{
    ct_digest_t *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->md = EVP_MD_CTX_new();
    if (d->md == NULL || EVP_DigestInit_ex(d->md, sha256_md(), NULL) != 1) {
        EVP_MD_CTX_free(d->md);
        free(d);
        return NULL;
    }
    return d;
}

void ct_digest_u64(ct_digest_t *d, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (56 - 8 * i));
    if (EVP_DigestUpdate(d->md, b, sizeof b) != 1)
        d->failed = 1;
}

void ct_digest_field(ct_digest_t *d, const void *data, size_t len)
{
    ct_digest_u64(d, len);
    if (len > 0 && EVP_DigestUpdate(d->md, data, len) != 1)
        d->failed = 1;
}

void ct_digest_str(ct_digest_t *d, const char *s)
{
    ct_digest_field(d, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

int ct_digest_final(ct_digest_t *d, uint8_t out[CT_SHA256_LEN])
{
    unsigned int n = 0;
    int ok = !d->failed && EVP_DigestFinal_ex(d->md, out, &n) == 1 && n == CT_SHA256_LEN;
    EVP_MD_CTX_free(d->md);
    free(d);
    return ok ? 0 : CT_EINTERNAL;
}

/* One context per thread for ct_sha256, made on its first hash and freed when the thread exits:
 * EVP_Digest makes and frees a context per call, which was a third of the time the writer spends
 * hashing its audit rows (docs/performance.md, item 8). */
static pthread_key_t g_ctx_key;
static bool g_ctx_key_ok;
static pthread_once_t g_ctx_once = PTHREAD_ONCE_INIT;

static void free_thread_ctx(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void make_ctx_key(void)
{
    g_ctx_key_ok = pthread_key_create(&g_ctx_key, free_thread_ctx) == 0;
}

/* This thread's context, or NULL when none can be made (the caller then uses EVP_Digest). */
static EVP_MD_CTX *thread_ctx(void)
{
    (void)pthread_once(&g_ctx_once, make_ctx_key);
    if (!g_ctx_key_ok)
        return NULL;
    EVP_MD_CTX *ctx = pthread_getspecific(g_ctx_key);
    if (ctx == NULL) {
        ctx = EVP_MD_CTX_new();
        if (ctx != NULL && pthread_setspecific(g_ctx_key, ctx) != 0) {
            EVP_MD_CTX_free(ctx);
            ctx = NULL;
        }
    }
    return ctx;
}

int ct_sha256(const void *data, size_t len, uint8_t out[CT_SHA256_LEN])
{
    unsigned int n = 0;
    EVP_MD_CTX *ctx = thread_ctx();
    int ok = ctx != NULL ? EVP_DigestInit_ex(ctx, sha256_md(), NULL) == 1 &&
                               EVP_DigestUpdate(ctx, data, len) == 1 &&
                               EVP_DigestFinal_ex(ctx, out, &n) == 1
                         : EVP_Digest(data, len, out, &n, sha256_md(), NULL) == 1;
    return ok && n == CT_SHA256_LEN ? 0 : CT_EINTERNAL;
}
