/*
 * Unit tests of the audit chain's canonical encoding and hashes, and of the checkpoint message
 * (server/audit_chain.c).
 *
 * The expected bytes and hashes below were computed independently of this code, with
 * /usr/bin/python3 and hashlib, from the formats as docs/compliance.md states them. Version 1
 * (vectors A to D):
 *
 *     import hashlib, struct
 *     def enc(seq, time_ms, actor_id, actor_role, peer_addr, action, object_type, object_id,
 *             participant_id, outcome, detail):
 *         i = lambda v: struct.pack('>q', v)
 *         t = lambda s: struct.pack('>I', len(s.encode())) + s.encode()
 *         return (b'\x01' + i(seq) + i(time_ms) + t(actor_id) + i(actor_role) + t(peer_addr)
 *                 + t(action) + t(object_type) + t(object_id) + t(participant_id) + i(outcome)
 *                 + t(detail))
 *     leaf = lambda e: hashlib.sha256(b'\x00' + e).digest()
 *     link = lambda prev, lf: hashlib.sha256(prev + lf).digest()
 *
 * Version 2 (vector E) starts with b'\x02' and has t(cert_fp) right after i(actor_role). The
 * checkpoint message is b'careteam-audit-checkpoint-v1' + i(seq) + head + i(time_ms). All were
 * pasted here as hex. If one of them fails, the encoding changed: that breaks every stored
 * chain, so it needs a new encoding version, not new vectors.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_chain.h"
#include "err.h"
#include "testsupport.h"

TestSuite(audit_chain, .fini = ct_test_leak_check);

/* Vector A: a typical daemon record, seq 1. */
static ct_audit_row_t row_a(void)
{
    ct_audit_row_t r = {
        .version = CT_AUDIT_ENCODING_V1,
        .seq = 1,
        .time_ms = 1700000000000,
        .actor_id = ct_audit_text("dr.ahmed"),
        .actor_role = 1,
        .peer_addr = ct_audit_text("127.0.0.1:50000"),
        .action = ct_audit_text("message.send"),
        .object_type = ct_audit_text("message"),
        .object_id = ct_audit_text("01900000-0000-7000-8000-000000000001"),
        .participant_id = ct_audit_text("p-17"),
        .outcome = 0,
        .detail = ct_audit_text("recipients=2"),
    };
    return r;
}

static const char ENC_A[] =
    "0100000000000000010000018bcfe568000000000864722e61686d656400000000000000010000000f3132372e"
    "302e302e313a35303030300000000c6d6573736167652e73656e64000000076d6573736167650000002430313930"
    "303030302d303030302d373030302d383030302d30303030303030303030303100000004702d3137000000000000"
    "00000000000c726563697069656e74733d32";
static const char LEAF_A[] = "76c8cc62713403fdecf09810ec6801b037c7e9b14fe053ce1c6a05f8e5bedeed";

/* Vector B: every text empty, a negative time (two's complement), seq 2. */
static ct_audit_row_t row_b(void)
{
    ct_audit_row_t r = {.version = CT_AUDIT_ENCODING_V1, .seq = 2, .time_ms = -1, .outcome = 12};
    return r;
}

static const char ENC_B[] = "010000000000000002ffffffffffffffff000000000000000000000000000000000000"
                            "0000000000000000000000000000000000000000000c00000000";
static const char LEAF_B[] = "91e43b5c558f09573f6a377954e6e6b75e10cb1d6984b5ccfc1020b3665b04e5";

/* Vector C: byte order of a large seq, non-ASCII UTF-8 ("café ✓"). */
static ct_audit_row_t row_c(void)
{
    ct_audit_row_t r = {
        .version = CT_AUDIT_ENCODING_V1,
        .seq = 0x0102030405060708,
        .time_ms = 1700000000123,
        .actor_id = ct_audit_text("pw.sam"),
        .actor_role = 3,
        .peer_addr = ct_audit_text("local"),
        .action = ct_audit_text("member.enroll"),
        .object_type = ct_audit_text("member"),
        .object_id = ct_audit_text("pw.sam"),
        .participant_id = ct_audit_text(""),
        .outcome = 4,
        .detail = ct_audit_text("caf\xc3\xa9 \xe2\x9c\x93"),
    };
    return r;
}

static const char ENC_C[] =
    "0101020304050607080000018bcfe5687b0000000670772e73616d0000000000000003000000056c6f63616c0000"
    "000d6d656d6265722e656e726f6c6c000000066d656d6265720000000670772e73616d0000000000000000000000"
    "0400000009636166c3a920e29c93";
static const char LEAF_C[] = "90255a5955707118669e7f5e6c5de5e3a98c599f699d823bc3ad4647fd7e6075";

/* Vector D: a detail of 5000 'x', larger than the leaf's stack buffer. */
static const char LEAF_D[] = "603e797776c21a1acc415c625451b2c1cd9dfb296c54e9e822bbb0f5aa1f53fb";

/* Vector E: vector A's record written with encoding version 2, with the actor's certificate
 * fingerprint (SHA-256 of "example certificate", as hex). docs/compliance.md shows it by field. */
#define FP_E "60a3fc80cd8d087bc8168f6570269dc500863b337424a07aa71b9a104dc25c7f"
static ct_audit_row_t row_e(void)
{
    ct_audit_row_t r = row_a();
    r.version = CT_AUDIT_ENCODING_V2;
    r.cert_fp = ct_audit_text(FP_E);
    return r;
}

static const char ENC_E[] =
    "0200000000000000010000018bcfe568000000000864722e61686d6564000000000000000100000040363061"
    "3366633830636438643038376263383136386636353730323639646335303038363362333337343234613037"
    "6161373162396131303464633235633766"
    "0000000f3132372e302e302e313a35303030300000000c6d6573736167652e73656e64000000076d6573736167"
    "650000002430313930303030302d303030302d373030302d383030302d30303030303030303030303100000004"
    "702d313700000000000000000000000c726563697069656e74733d32";
static const char LEAF_E[] = "af8c7cd1bc2a3271086413de2a46373ad07fab7b3148fafcc6e4c247e8ec545a";
static const char CHAIN_E[] = "661c85b9022a1e59472731fd36be8f82b12693184be95c38ca10cf5b961ac28b";
/* Vector A as version 2 with an empty cert_fp: not vector A's leaf (the version byte and the
 * empty text's prefix are hashed). */
static const char LEAF_E_EMPTY_FP[] =
    "a4bf05b966e9339b32725623621abe02251d887ebb743b3be8bfc21df996166d";

/* The checkpoint message of (seq 1842, head CHAIN_1, time 1700000000000). */
static const char CHECKPOINT_MSG[] =
    "636172657465616d2d61756469742d636865636b706f696e742d76310000000000000732536b07e7e8fb563e03"
    "008d403c1e34bea6c5be45347291c4487197a7efbe86800000018bcfe56800";

/* chain(A at seq 1) from genesis, then chain(B at seq 2). */
static const char CHAIN_1[] = "536b07e7e8fb563e03008d403c1e34bea6c5be45347291c4487197a7efbe8680";
static const char CHAIN_2[] = "391de78822655159eabef63ea80b05cc5dc6ae97a69c17a5411b609675afb645";

/* Encodes row into a malloc'd lowercase hex string; asserts the length matches. */
static char *encode_hex(const ct_audit_row_t *row)
{
    size_t len = ct_audit_chain_encoded_len(row);
    cr_assert_gt(len, 0);
    uint8_t *bytes = malloc(len);
    char *hex = malloc(2 * len + 1);
    cr_assert(bytes != NULL && hex != NULL);
    ct_audit_chain_encode(row, bytes);
    for (size_t i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
    free(bytes);
    return hex;
}

static void assert_leaf(const ct_audit_row_t *row, const char *want)
{
    uint8_t leaf[CT_AUDIT_HASH_LEN];
    char hex[2 * CT_AUDIT_HASH_LEN + 1];
    cr_assert_eq(ct_audit_chain_leaf(row, leaf), 0);
    ct_audit_chain_hex(leaf, hex);
    cr_assert_str_eq(hex, want);
}

Test(audit_chain, encoding_of_a_typical_record_matches_the_vector)
{
    ct_audit_row_t a = row_a();
    cr_assert_eq(ct_audit_chain_encoded_len(&a), (sizeof ENC_A - 1) / 2);
    char *hex = encode_hex(&a);
    cr_assert_str_eq(hex, ENC_A);
    free(hex);
    ct_test_leak_check();
}

Test(audit_chain, encoding_of_empty_texts_and_negative_time_matches_the_vector)
{
    ct_audit_row_t b = row_b();
    cr_assert_eq(ct_audit_chain_encoded_len(&b), 61, "1 + 4 integers of 8 + 7 prefixes of 4");
    char *hex = encode_hex(&b);
    cr_assert_str_eq(hex, ENC_B);
    free(hex);
    ct_test_leak_check();
}

Test(audit_chain, encoding_is_big_endian_and_keeps_utf8_bytes)
{
    ct_audit_row_t c = row_c();
    char *hex = encode_hex(&c);
    cr_assert_str_eq(hex, ENC_C);
    free(hex);
    ct_test_leak_check();
}

Test(audit_chain, leaf_hashes_match_the_vectors)
{
    ct_audit_row_t a = row_a(), b = row_b(), c = row_c();
    assert_leaf(&a, LEAF_A);
    assert_leaf(&b, LEAF_B);
    assert_leaf(&c, LEAF_C);
    ct_test_leak_check();
}

Test(audit_chain, leaf_of_a_record_larger_than_the_stack_buffer_matches_the_vector)
{
    char *detail = malloc(5001);
    cr_assert_not_null(detail);
    memset(detail, 'x', 5000);
    detail[5000] = '\0';
    ct_audit_row_t d = {
        .version = CT_AUDIT_ENCODING_V1,
        .seq = 3,
        .time_ms = 1700000000999,
        .actor_id = ct_audit_text("co.jones"),
        .actor_role = 5,
        .peer_addr = ct_audit_text("[::1]:7443"),
        .action = ct_audit_text("audit.query"),
        .object_type = ct_audit_text("audit"),
        .object_id = ct_audit_text(""),
        .participant_id = ct_audit_text(""),
        .outcome = 8,
        .detail = ct_audit_text(detail),
    };
    assert_leaf(&d, LEAF_D);
    free(detail);
    ct_test_leak_check();
}

Test(audit_chain, chain_from_genesis_matches_the_vectors)
{
    for (size_t i = 0; i < CT_AUDIT_HASH_LEN; i++)
        cr_assert_eq(ct_audit_genesis[i], 0, "genesis is 32 zero bytes");
    ct_audit_row_t a = row_a(), b = row_b();
    uint8_t leaf[CT_AUDIT_HASH_LEN], chain[CT_AUDIT_HASH_LEN];
    char hex[2 * CT_AUDIT_HASH_LEN + 1];
    cr_assert_eq(ct_audit_chain_leaf(&a, leaf), 0);
    cr_assert_eq(ct_audit_chain_link(ct_audit_genesis, leaf, chain), 0);
    ct_audit_chain_hex(chain, hex);
    cr_assert_str_eq(hex, CHAIN_1);
    cr_assert_eq(ct_audit_chain_leaf(&b, leaf), 0);
    cr_assert_eq(ct_audit_chain_link(chain, leaf, chain), 0, "chain may alias prev");
    ct_audit_chain_hex(chain, hex);
    cr_assert_str_eq(hex, CHAIN_2);
    ct_test_leak_check();
}

/* seq is inside the leaf: the same content at another position is another leaf. */
Test(audit_chain, seq_is_part_of_the_leaf)
{
    ct_audit_row_t a = row_a(), moved = row_a();
    moved.seq = 2;
    uint8_t l1[CT_AUDIT_HASH_LEN], l2[CT_AUDIT_HASH_LEN];
    cr_assert_eq(ct_audit_chain_leaf(&a, l1), 0);
    cr_assert_eq(ct_audit_chain_leaf(&moved, l2), 0);
    cr_assert_neq(memcmp(l1, l2, sizeof l1), 0);
    ct_test_leak_check();
}

/* Length prefixes: moving bytes from one field to the next changes the encoding. */
Test(audit_chain, field_boundaries_are_unambiguous)
{
    ct_audit_row_t x = row_b(), y = row_b();
    x.object_type = ct_audit_text("ab");
    x.object_id = ct_audit_text("c");
    y.object_type = ct_audit_text("a");
    y.object_id = ct_audit_text("bc");
    uint8_t lx[CT_AUDIT_HASH_LEN], ly[CT_AUDIT_HASH_LEN];
    cr_assert_eq(ct_audit_chain_leaf(&x, lx), 0);
    cr_assert_eq(ct_audit_chain_leaf(&y, ly), 0);
    cr_assert_neq(memcmp(lx, ly, sizeof lx), 0);
    ct_test_leak_check();
}

/* Texts are hashed by their length, not up to a NUL: bytes hidden after a NUL still count. */
Test(audit_chain, bytes_after_an_embedded_nul_are_hashed)
{
    ct_audit_row_t x = row_a(), y = row_a();
    ct_audit_text_t hidden = {.ptr = "recipients=2\0more", .len = 17};
    y.detail = hidden;
    uint8_t lx[CT_AUDIT_HASH_LEN], ly[CT_AUDIT_HASH_LEN];
    cr_assert_eq(ct_audit_chain_leaf(&x, lx), 0);
    cr_assert_eq(ct_audit_chain_leaf(&y, ly), 0);
    cr_assert_neq(memcmp(lx, ly, sizeof lx), 0);
    ct_test_leak_check();
}

Test(audit_chain, text_of_null_is_empty)
{
    ct_audit_text_t t = ct_audit_text(NULL);
    cr_assert_eq(t.len, 0);
    cr_assert_not_null(t.ptr);
    ct_audit_row_t a = row_b(), b = row_b();
    a.detail = t;
    uint8_t la[CT_AUDIT_HASH_LEN], lb[CT_AUDIT_HASH_LEN];
    cr_assert_eq(ct_audit_chain_leaf(&a, la), 0);
    cr_assert_eq(ct_audit_chain_leaf(&b, lb), 0);
    cr_assert_eq(memcmp(la, lb, sizeof la), 0, "NULL and \"\" encode alike");
    ct_test_leak_check();
}

/* A text whose length does not fit the 4-byte prefix has no encoding (never read: len only). */
Test(audit_chain, text_over_4_gib_is_refused)
{
#if SIZE_MAX > UINT32_MAX
    ct_audit_row_t r = row_b();
    r.detail.ptr = "x";
    r.detail.len = (size_t)UINT32_MAX + 1;
    cr_assert_eq(ct_audit_chain_encoded_len(&r), 0);
    uint8_t leaf[CT_AUDIT_HASH_LEN];
    cr_assert_eq(ct_audit_chain_leaf(&r, leaf), CT_EINVAL);
#endif
    ct_test_leak_check();
}

Test(audit_chain, hex_is_lowercase_and_terminated)
{
    uint8_t h[CT_AUDIT_HASH_LEN];
    for (size_t i = 0; i < sizeof h; i++)
        h[i] = (uint8_t)(0xf0 + (i % 16));
    char hex[2 * CT_AUDIT_HASH_LEN + 1];
    memset(hex, '?', sizeof hex);
    ct_audit_chain_hex(h, hex);
    cr_assert_eq(strlen(hex), 64);
    cr_assert_eq(strncmp(hex, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", 32), 0, "%s", hex);
    ct_test_leak_check();
}

Test(audit_chain, version_2_encoding_adds_cert_fp_after_actor_role)
{
    ct_audit_row_t e = row_e();
    cr_assert_eq(ct_audit_chain_encoded_len(&e), 223);
    char *hex = encode_hex(&e);
    cr_assert_str_eq(hex, ENC_E);
    free(hex);
    ct_test_leak_check();
}

Test(audit_chain, version_2_leaf_and_chain_match_the_vectors)
{
    ct_audit_row_t e = row_e();
    assert_leaf(&e, LEAF_E);
    uint8_t leaf[CT_AUDIT_HASH_LEN], chain[CT_AUDIT_HASH_LEN];
    char hex[2 * CT_AUDIT_HASH_LEN + 1];
    cr_assert_eq(ct_audit_chain_leaf(&e, leaf), 0);
    cr_assert_eq(ct_audit_chain_link(ct_audit_genesis, leaf, chain), 0);
    ct_audit_chain_hex(chain, hex);
    cr_assert_str_eq(hex, CHAIN_E);
    ct_test_leak_check();
}

/* The version byte is hashed: the same record under version 1 and 2 has two leaves. */
Test(audit_chain, version_is_part_of_the_leaf)
{
    ct_audit_row_t e = row_a();
    e.version = CT_AUDIT_ENCODING_V2;
    assert_leaf(&e, LEAF_E_EMPTY_FP);
    ct_audit_row_t a = row_a();
    assert_leaf(&a, LEAF_A);
    ct_test_leak_check();
}

/* Version 1 cannot hold a fingerprint: such a row has no encoding, rather than one that leaves
 * the fingerprint unhashed. An unknown version (0 is what a zeroed row has) has none either. */
Test(audit_chain, version_1_with_a_cert_fp_or_an_unknown_version_has_no_encoding)
{
    ct_audit_row_t a = row_a();
    a.cert_fp = ct_audit_text(FP_E);
    cr_assert_eq(ct_audit_chain_encoded_len(&a), 0);
    uint8_t leaf[CT_AUDIT_HASH_LEN];
    cr_assert_eq(ct_audit_chain_leaf(&a, leaf), CT_EINVAL);
    ct_audit_row_t z = row_a();
    z.version = 0;
    cr_assert_eq(ct_audit_chain_encoded_len(&z), 0);
    z.version = 3;
    cr_assert_eq(ct_audit_chain_encoded_len(&z), 0);
    ct_test_leak_check();
}

Test(audit_chain, checkpoint_message_matches_the_vector)
{
    uint8_t head[CT_AUDIT_HASH_LEN], msg[CT_AUDIT_CHECKPOINT_MSG_LEN];
    cr_assert_eq(ct_audit_hex_decode(CHAIN_1, strlen(CHAIN_1), head, sizeof head), 0);
    cr_assert_eq(CT_AUDIT_CHECKPOINT_MSG_LEN, 76);
    ct_audit_checkpoint_message(1842, head, 1700000000000, msg);
    char hex[2 * CT_AUDIT_CHECKPOINT_MSG_LEN + 1];
    for (size_t i = 0; i < sizeof msg; i++)
        snprintf(hex + 2 * i, 3, "%02x", msg[i]);
    cr_assert_str_eq(hex, CHECKPOINT_MSG);
    ct_test_leak_check();
}

Test(audit_chain, hex_decode_takes_exact_length_and_either_case)
{
    uint8_t out[2];
    cr_assert_eq(ct_audit_hex_decode("aB0f", 4, out, 2), 0);
    cr_assert(out[0] == 0xab && out[1] == 0x0f);
    cr_assert_eq(ct_audit_hex_decode("ab0", 3, out, 2), CT_EINVAL);
    cr_assert_eq(ct_audit_hex_decode("ab0g", 4, out, 2), CT_EINVAL);
    ct_test_leak_check();
}
