/* Session helpers shared by handlers (see session.h). */
#include "session.h"

#include "careteam.pb-c.h"
#include "err.h"
#include "frame.h"

int ct_session_send_envelope(ct_session_t *s, const void *env)
{
    if (!s->open)
        return CT_ECLOSED;
    ct_buf_t b = CT_BUF_INIT;
    /* Our own replies are bounded by the server's limits; the wire maximum is the hard cap. */
    int r = ct_frame_append_envelope(&b, env, UINT32_MAX);
    if (r == 0)
        r = s->ops->send(s, b.data, b.len);
    ct_buf_free(&b);
    return r;
}

int ct_session_send_error(ct_session_t *s, uint64_t request_id, int err, const char *msg)
{
    Careteam__V1__Error e = CARETEAM__V1__ERROR__INIT;
    e.code = (Careteam__V1__ErrorCode)ct_err_to_wire(err);
    e.message = (char *)(msg != NULL && msg[0] != '\0' ? msg : ct_strerror(err));
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.request_id = request_id;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_ERROR;
    env.error = &e;
    return ct_session_send_envelope(s, &env);
}
