/*
 * Envelope helpers for integration tests (see envelope.h).
 */
#include "envelope.h"

#include <criterion/criterion.h>

#include "err.h"
#include "frame.h"

#define CALL_MS 5000 /* longest wait for a response */

const char *ct_test_body_name(const Careteam__V1__Envelope *env)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
        &careteam__v1__envelope__descriptor, (unsigned)env->body_case);
    return f != NULL ? f->name : "(none)";
}

void ct_test_ping(ct_sync_t *s, const char *who)
{
    Careteam__V1__Ping p = CARETEAM__V1__PING__INIT;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_PING;
    env.ping = &p;
    Careteam__V1__Envelope *resp = NULL;
    int rc = ct_sync_call(s, &env, CALL_MS, &resp);
    cr_assert_eq(rc, 0, "%s: Ping: %s (%s)", who, ct_errname(rc), ct_sync_last_error(s));
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_PONG, "%s: Ping answered '%s' %s",
                 who, ct_test_body_name(resp), ct_response_message(resp));
    cr_assert_eq(resp->request_id, env.request_id, "%s: Pong must echo the request id", who);
    ct_envelope_free(resp);
}

void ct_test_append_ping(ct_buf_t *out, uint64_t request_id)
{
    Careteam__V1__Ping ping = CARETEAM__V1__PING__INIT;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.request_id = request_id;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_PING;
    env.ping = &ping;
    cr_assert_eq(ct_frame_append_envelope(out, &env, CT_FRAME_DEFAULT_MAX), 0);
}
