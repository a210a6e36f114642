/*
 * Hello -> Welcome. The member is already authenticated by its certificate (conn.c looked it up
 * before dispatching anything); Hello checks the protocol version, answers with who the member
 * is, registers the session for live delivery and starts the inbox replay.
 */
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "dispatch.h"
#include "err.h"
#include "log.h"
#include "replay.h"

#define CLIENT_NAME_MAX 128

int ct_handle_hello(ct_request_t *req)
{
    const Careteam__V1__Hello *h = req->env->hello;
    ct_session_t *s = req->session;
    const char *client = h->client_name != NULL ? h->client_name : "";
    size_t client_len = strlen(client);
    if (client_len > CLIENT_NAME_MAX || !ct_utf8_valid(client, client_len)) {
        snprintf(req->why, sizeof req->why, "client_name must be UTF-8 text of at most %d bytes",
                 CLIENT_NAME_MAX);
        return CT_EINVAL;
    }
    if (h->protocol_version != CARETEAM__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT) {
        snprintf(req->why, sizeof req->why,
                 "this server speaks protocol version %d, the client asked for %u; use a "
                 "matching client",
                 CARETEAM__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT, h->protocol_version);
        return CT_EPRECONDITION;
    }

    Careteam__V1__Welcome w = CARETEAM__V1__WELCOME__INIT;
    w.member_id = s->member_id;
    w.display_name = s->display_name;
    w.role = (Careteam__V1__Role)s->role;
    w.protocol_version = CARETEAM__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    w.server_name = (char *)req->ctx->cfg->server_name;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.request_id = req->request_id;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_WELCOME;
    env.welcome = &w;
    int r = ct_session_send_envelope(s, &env);
    if (r != 0)
        return r;

    s->welcomed = true;
    ct_router_add(req->ctx->router, s);
    ct_audit_rec_t rec;
    ct_audit_rec_init(&rec, s, req->action);
    ct_audit_rec_object(&rec, "member", s->member_id);
    (void)ct_dispatch_audit(req->ctx, req->session, &rec);
    ct_log_info("session.welcome", "conn=%llu member=%s role=%s peer=%s", (unsigned long long)s->id,
                s->member_id, ct_role_name(s->role), s->peer_addr);
    if (ct_replay_start(req->ctx, s) != 0) {
        ct_log_error("replay.failed", "conn=%llu reason=out_of_memory", (unsigned long long)s->id);
        s->ops->close(s);
    }
    return 0;
}
