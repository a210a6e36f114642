/*
 * One client connection: TLS, authentication of the certificate's member, framing, dispatch,
 * timers, and the session that handlers and the router see. See conn.c for the state machine.
 */
#ifndef CT_CONN_H
#define CT_CONN_H

#include <uv.h>

#include "dispatch.h"
#include "tls.h"

typedef struct ct_conn ct_conn_t;

/* The part of the server a connection needs. Owned by the server. */
typedef struct ct_conn_env {
    ct_handler_ctx_t handlers;
    ct_tls_ctx_t *tls;
    uint64_t next_id;
    size_t n_conns;   /* open connections */
    ct_conn_t *conns; /* all connections, for shutdown; list owned by conn.c */
    bool stopping;    /* set by ct_conn_pause_all: no new sessions, no more reading */
    void (*on_last_close)(struct ct_conn_env *env); /* optional: n_conns dropped to 0 */
    /* Optional: asked with the client certificate's serial when a handshake completes; true
     * refuses the session (audited session.revoked). It covers a handshake that began under the
     * TLS context of an older revocation list (SIGHUP reloads it in between). */
    bool (*revoked)(const char *serial, void *arg);
    void *revoked_arg;
} ct_conn_env_t;

/* Accepts one pending connection from listener and starts its handshake. Returns 0 or CT_E*. */
int ct_conn_accept(ct_conn_env_t *env, uv_stream_t *listener);

/* Looks up the member of every active connection again (off the loop) and closes, with an
 * UNAUTHENTICATED Error and an audit row, those whose member is no longer active. Run on SIGHUP,
 * which `careteamd deactivate` sends to a running daemon. */
void ct_conn_recheck_members(ct_conn_env_t *env);

/*
 * Closes every connection past the TLS handshake whose client certificate env->revoked names:
 * each gets an UNAUTHENTICATED Error, a session.revoked audit row (reason=certificate_revoked)
 * and a graceful close. Connections still in the handshake are checked when it completes. Run on
 * SIGHUP after the list is reloaded. Returns how many it closed.
 */
size_t ct_conn_close_revoked(ct_conn_env_t *env);

/* Stops reading requests on every connection and admits no new session (shutdown, first step). */
void ct_conn_pause_all(ct_conn_env_t *env);

/* Closes every connection: gracefully, or at once when `now`. */
void ct_conn_close_all(ct_conn_env_t *env, bool now);

#endif
