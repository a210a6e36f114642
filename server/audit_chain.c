/* The canonical encoding and hashes of audit rows, and the checkpoint message (see
 * audit_chain.h for the formats). */
#include "audit_chain.h"

#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "err.h"

/* Leaves whose input (0x00 and the encoding) fits here are hashed from the stack. The daemon's
 * records (ct_audit_rec_t) are all smaller. */
#define STACK_INPUT 1024

#define INT_LEN 8
#define TEXT_PREFIX_LEN 4
/* seq, time_ms, actor_role, outcome */
#define N_INTS 4
/* actor_id, peer_addr, action, object_type, object_id, participant_id, detail; and cert_fp in
 * version 2 */
#define N_TEXTS_V1 7
#define N_TEXTS_V2 8

const uint8_t ct_audit_genesis[CT_AUDIT_HASH_LEN] = {0};

ct_audit_text_t ct_audit_text(const char *s)
{
    ct_audit_text_t t = {.ptr = s != NULL ? s : "", .len = s != NULL ? strlen(s) : 0};
    return t;
}

size_t ct_audit_chain_encoded_len(const ct_audit_row_t *row)
{
    if (row->version == CT_AUDIT_ENCODING_V1 && row->cert_fp.len != 0)
        return 0; /* version 1 cannot hold a fingerprint: it would not be hashed (invariant 2) */
    if (row->version != CT_AUDIT_ENCODING_V1 && row->version != CT_AUDIT_ENCODING_V2)
        return 0;
    const ct_audit_text_t *texts[N_TEXTS_V2] = {
        &row->actor_id,  &row->peer_addr,      &row->action, &row->object_type,
        &row->object_id, &row->participant_id, &row->detail, &row->cert_fp};
    size_t n_texts = row->version == CT_AUDIT_ENCODING_V2 ? N_TEXTS_V2 : N_TEXTS_V1;
    size_t total = 1 + N_INTS * INT_LEN + n_texts * TEXT_PREFIX_LEN;
    for (size_t i = 0; i < n_texts; i++) {
        size_t len = texts[i]->len;
        if ((uint64_t)len > UINT32_MAX || len > SIZE_MAX - total)
            return 0;
        total += len;
    }
    return total;
}

static uint8_t *put_int(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v; /* two's complement by definition of the conversion */
    for (int i = 0; i < INT_LEN; i++)
        p[i] = (uint8_t)(u >> (56 - 8 * i));
    return p + INT_LEN;
}

static uint8_t *put_text(uint8_t *p, ct_audit_text_t t)
{
    uint32_t n = (uint32_t)t.len; /* fits: checked by ct_audit_chain_encoded_len */
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
    if (t.len > 0)
        memcpy(p + TEXT_PREFIX_LEN, t.ptr, t.len);
    return p + TEXT_PREFIX_LEN + t.len;
}

void ct_audit_chain_encode(const ct_audit_row_t *row, uint8_t *out)
{
    uint8_t *p = out;
    *p++ = (uint8_t)row->version;
    p = put_int(p, row->seq);
    p = put_int(p, row->time_ms);
    p = put_text(p, row->actor_id);
    p = put_int(p, row->actor_role);
    if (row->version >= CT_AUDIT_ENCODING_V2)
        p = put_text(p, row->cert_fp);
    p = put_text(p, row->peer_addr);
    p = put_text(p, row->action);
    p = put_text(p, row->object_type);
    p = put_text(p, row->object_id);
    p = put_text(p, row->participant_id);
    p = put_int(p, row->outcome);
    (void)put_text(p, row->detail);
}

int ct_audit_chain_leaf(const ct_audit_row_t *row, uint8_t leaf[CT_AUDIT_HASH_LEN])
{
    size_t len = ct_audit_chain_encoded_len(row);
    if (len == 0 || len == SIZE_MAX)
        return CT_EINVAL;
    uint8_t stack[STACK_INPUT];
    uint8_t *in = len + 1 <= sizeof stack ? stack : malloc(len + 1);
    if (in == NULL)
        return CT_ENOMEM;
    in[0] = 0x00; /* leaf domain: a leaf input can never be mistaken for a chain input */
    ct_audit_chain_encode(row, in + 1);
    int err = ct_sha256(in, len + 1, leaf);
    if (in != stack)
        free(in);
    return err;
}

int ct_audit_chain_link(const uint8_t prev[CT_AUDIT_HASH_LEN],
                        const uint8_t leaf[CT_AUDIT_HASH_LEN], uint8_t chain[CT_AUDIT_HASH_LEN])
{
    uint8_t in[2 * CT_AUDIT_HASH_LEN];
    memcpy(in, prev, CT_AUDIT_HASH_LEN);
    memcpy(in + CT_AUDIT_HASH_LEN, leaf, CT_AUDIT_HASH_LEN);
    return ct_sha256(in, sizeof in, chain);
}

void ct_audit_chain_hex(const uint8_t h[CT_AUDIT_HASH_LEN], char out[2 * CT_AUDIT_HASH_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < CT_AUDIT_HASH_LEN; i++) {
        out[2 * i] = digits[h[i] >> 4];
        out[2 * i + 1] = digits[h[i] & 0x0f];
    }
    out[2 * CT_AUDIT_HASH_LEN] = '\0';
}

void ct_audit_checkpoint_message(int64_t seq, const uint8_t head[CT_AUDIT_HASH_LEN],
                                 int64_t time_ms, uint8_t out[CT_AUDIT_CHECKPOINT_MSG_LEN])
{
    static const char domain[] = CT_AUDIT_CHECKPOINT_DOMAIN;
    uint8_t *p = out;
    memcpy(p, domain, sizeof domain - 1);
    p += sizeof domain - 1;
    p = put_int(p, seq);
    memcpy(p, head, CT_AUDIT_HASH_LEN);
    p += CT_AUDIT_HASH_LEN;
    (void)put_int(p, time_ms);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ct_audit_hex_decode(const char *s, size_t slen, uint8_t *out, size_t len)
{
    if (slen != 2 * len)
        return CT_EINVAL;
    for (size_t i = 0; i < len; i++) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return CT_EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
