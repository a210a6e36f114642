/*
 * common/digest.h: SHA-256 against the FIPS 180-2 examples, on one thread and on several at
 * once (ct_sha256 keeps one context per thread and reuses it).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "digest.h"
#include "testsupport.h"

static void hex(const uint8_t h[CT_SHA256_LEN], char out[2 * CT_SHA256_LEN + 1])
{
    for (size_t i = 0; i < CT_SHA256_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static const struct {
    const char *in;
    const char *sha256;
} vectors[] = {
    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
};

/* Hashes every vector `rounds` times; returns how many answers were wrong. */
static void *hash_vectors(void *arg)
{
    long rounds = (long)arg, wrong = 0;
    for (long r = 0; r < rounds; r++)
        for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
            uint8_t h[CT_SHA256_LEN];
            char got[2 * CT_SHA256_LEN + 1];
            if (ct_sha256(vectors[i].in, strlen(vectors[i].in), h) != 0)
                wrong++;
            hex(h, got);
            wrong += strcmp(got, vectors[i].sha256) != 0;
        }
    return (void *)wrong;
}

Test(digest, sha256_of_the_fips_examples)
{
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        uint8_t h[CT_SHA256_LEN];
        char got[2 * CT_SHA256_LEN + 1];
        cr_assert_eq(ct_sha256(vectors[i].in, strlen(vectors[i].in), h), 0);
        hex(h, got);
        cr_assert_str_eq(got, vectors[i].sha256, "SHA-256(\"%s\")", vectors[i].in);
    }
    ct_test_leak_check();
}

/* Threads that hash at the same time each get right answers, and threads that come and go do
 * not leak their contexts (ct_test_leak_check, in the sanitizer build). */
Test(digest, sha256_on_threads_at_once)
{
    enum { THREADS = 4, ROUNDS = 2000 };
    for (int wave = 0; wave < 2; wave++) {
        pthread_t t[THREADS];
        for (int i = 0; i < THREADS; i++)
            cr_assert_eq(pthread_create(&t[i], NULL, hash_vectors, (void *)(long)ROUNDS), 0);
        for (int i = 0; i < THREADS; i++) {
            void *wrong = NULL;
            cr_assert_eq(pthread_join(t[i], &wrong), 0);
            cr_assert_eq((long)wrong, 0, "wave %d, thread %d: %ld wrong hashes", wave, i,
                         (long)wrong);
        }
    }
    cr_assert_eq((long)hash_vectors((void *)1L), 0, "the test's own thread");
    ct_test_leak_check();
}
