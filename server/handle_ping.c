/* Ping -> Pong: a keep-alive that also resets the idle timer (done by conn.c on any frame). */
#include "audit.h"
#include "dispatch.h"

int ct_handle_ping(ct_request_t *req)
{
    Careteam__V1__Pong pong = CARETEAM__V1__PONG__INIT;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.request_id = req->request_id;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_PONG;
    env.pong = &pong;
    ct_session_send_envelope(req->session, &env);
    ct_audit_rec_t rec;
    ct_audit_rec_init(&rec, req->session, req->action);
    (void)ct_dispatch_audit(req->ctx, req->session, &rec);
    return 0;
}
