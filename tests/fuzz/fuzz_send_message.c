/*
 * Fuzz target: SendMessage request validation (server/handle_send_message.c, through
 * ct_send_message_validate) together with the exactness check dispatch applies before it, i.e.
 * everything the server decides about a SendMessage before anything is stored.
 *
 * Input: byte 0 picks the limits (bit 0: the defaults, or tight ones so that the size and count
 * limits are reachable with small inputs); the rest is a serialized SendMessage, which the harness
 * wraps in an Envelope exactly as a client would. Properties:
 *   1. ct_send_message_validate accepts exactly the requests an independent reading of the rules
 *      in docs/protocol.md accepts (ids, UTF-8, sizes, recipient count and duplicates, priority),
 *      and refuses with CT_EINVAL or CT_ETOOBIG and a message.
 *   2. A request that passes both the exactness check and validation carries no NUL inside any
 *      string on the wire: what is stored is what was sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "careteam.pb-c.h"
#include "config.h"
#include "dispatch.h"
#include "err.h"
#include "frame.h"
#include "oracle.h"

/* Request id 1, then field 12 (send_message), length-delimited. */
#define ENV_REQUEST_ID 0x08, 0x01
#define ENV_SEND_MESSAGE_TAG 0x62

/* Appends v as a base-128 varint; returns the bytes written. */
static size_t put_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    do {
        out[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
    return n;
}

/* Property 1: the rules, read from the protocol documentation rather than from validate(). */
static bool reference_accepts(const ct_config_t *cfg, const Careteam__V1__SendMessage *m)
{
    if (!ct_fuzz_client_msg_id_ref(m->client_msg_id))
        return false;
    if (m->n_to < 1 || m->n_to > cfg->max_recipients)
        return false;
    for (size_t i = 0; i < m->n_to; i++) {
        if (!ct_fuzz_id_ref(m->to[i]))
            return false;
        for (size_t k = i + 1; k < m->n_to; k++) {
            if (strcmp(m->to[i], m->to[k]) == 0)
                return false;
        }
    }
    if (m->participant_id[0] != '\0' && !ct_fuzz_id_ref(m->participant_id))
        return false;
    size_t subject = strlen(m->subject), body = strlen(m->body);
    if (subject > cfg->max_subject || !ct_fuzz_utf8_ref(m->subject, subject))
        return false;
    if (body < 1 || body > cfg->max_body || !ct_fuzz_utf8_ref(m->body, body))
        return false;
    /* The cast: a priority from the wire may be any int32, negative included. */
    return (int)m->priority >= (int)CARETEAM__V1__PRIORITY__PRIORITY_UNSPECIFIED &&
           (int)m->priority <= (int)CARETEAM__V1__PRIORITY__PRIORITY_STAT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    ct_config_t cfg;
    ct_config_defaults(&cfg);
    if (data[0] & 1) {
        cfg.max_recipients = 3;
        cfg.max_subject = 8;
        cfg.max_body = 16;
    }
    const uint8_t *msg = data + 1;
    size_t msg_len = size - 1;

    /* The Envelope a client sends: request_id, then the SendMessage. */
    uint8_t *wire = malloc(msg_len + 16);
    CT_FUZZ_CHECK(wire != NULL, "out of memory");
    size_t n = 0;
    const uint8_t head[] = {ENV_REQUEST_ID, ENV_SEND_MESSAGE_TAG};
    memcpy(wire, head, sizeof head);
    n += sizeof head;
    n += put_varint(wire + n, msg_len);
    memcpy(wire + n, msg, msg_len);
    n += msg_len;

    Careteam__V1__Envelope *env = careteam__v1__envelope__unpack(NULL, n, wire);
    if (env == NULL || env->body_case != CARETEAM__V1__ENVELOPE__BODY_SEND_MESSAGE) {
        careteam__v1__envelope__free_unpacked(env, NULL);
        free(wire);
        return 0;
    }
    const Careteam__V1__SendMessage *m = env->send_message;
    bool text_ok = ct_frame_text_valid(wire, n); /* the check dispatch makes first */
    char why[256];
    memset(why, 0x5a, sizeof why);
    int rc = ct_send_message_validate(&cfg, m, why, sizeof why);

    CT_FUZZ_CHECK(rc == 0 || rc == CT_EINVAL || rc == CT_ETOOBIG, "rc %d", rc);
    CT_FUZZ_CHECK(memchr(why, '\0', sizeof why) != NULL, "unterminated message");
    CT_FUZZ_CHECK(rc == 0 || why[0] != '\0', "refused (%d) without a message", rc);
    CT_FUZZ_CHECK((rc == 0) == reference_accepts(&cfg, m), "validate says %d (%s), reference %s",
                  rc, rc == 0 ? "" : why, rc == 0 ? "refuses" : "accepts");
    if (text_ok && rc == 0)
        CT_FUZZ_CHECK(
            !ct_fuzz_wire_has_nul_string(&careteam__v1__send_message__descriptor, msg, msg_len),
            "a SendMessage with a NUL inside a string would be stored");

    careteam__v1__envelope__free_unpacked(env, NULL);
    free(wire);
    return 0;
}
