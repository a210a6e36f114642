/*
 * The router: member id -> that member's live, welcomed sessions. Loop thread only.
 *
 * A session is added when its Hello is answered and removed when its connection closes. The
 * router does not own sessions (their connections do); it lends them to the callback.
 */
#ifndef CT_ROUTER_H
#define CT_ROUTER_H

#include <stddef.h>

#include "session.h"

typedef struct ct_router ct_router_t;

int ct_router_new(ct_router_t **out);
void ct_router_free(ct_router_t *r); /* must be empty of sessions */

int ct_router_add(ct_router_t *r, ct_session_t *s);
void ct_router_remove(ct_router_t *r, ct_session_t *s); /* no-op if s is not registered */

/* Calls cb for each live session of member_id. cb may remove the session it was given (a send
 * that closes a slow consumer does), but no other. Returns how many sessions there were. */
size_t ct_router_each(ct_router_t *r, const char *member_id, void (*cb)(ct_session_t *s, void *arg),
                      void *arg);

/* Live sessions in total. */
size_t ct_router_count(const ct_router_t *r);

#endif
