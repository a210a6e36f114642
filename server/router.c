/*
 * The router (see router.h): a chained hash table from member id to a singly linked list of
 * that member's sessions (linked through ct_session.router_next).
 *
 * Invariant: a session is in at most one list, the one for its member_id, and `count` is the
 * number of sessions in all lists.
 */
#include "router.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

#define ROUTER_BUCKETS 4096 /* power of two; members of one clinic fit without resizing */

struct ct_router {
    ct_session_t *buckets[ROUTER_BUCKETS];
    size_t count;
};

static size_t bucket_of(const char *id)
{
    /* FNV-1a: ids are short and not chosen by unauthenticated peers. */
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return (size_t)(h & (ROUTER_BUCKETS - 1));
}

int ct_router_new(ct_router_t **out)
{
    *out = calloc(1, sizeof **out);
    return *out == NULL ? CT_ENOMEM : 0;
}

void ct_router_free(ct_router_t *r)
{
    free(r);
}

int ct_router_add(ct_router_t *r, ct_session_t *s)
{
    size_t b = bucket_of(s->member_id);
    s->router_next = r->buckets[b];
    r->buckets[b] = s;
    r->count++;
    return 0;
}

void ct_router_remove(ct_router_t *r, ct_session_t *s)
{
    ct_session_t **pp = &r->buckets[bucket_of(s->member_id)];
    for (; *pp != NULL; pp = &(*pp)->router_next) {
        if (*pp == s) {
            *pp = s->router_next;
            s->router_next = NULL;
            r->count--;
            return;
        }
    }
}

size_t ct_router_each(ct_router_t *r, const char *member_id, void (*cb)(ct_session_t *s, void *arg),
                      void *arg)
{
    size_t n = 0;
    ct_session_t *next;
    for (ct_session_t *s = r->buckets[bucket_of(member_id)]; s != NULL; s = next) {
        /* A send can close this session (slow consumer), which removes it from the list: take
         * the link first. */
        next = s->router_next;
        if (strcmp(s->member_id, member_id) == 0) {
            cb(s, arg);
            n++;
        }
    }
    return n;
}

size_t ct_router_count(const ct_router_t *r)
{
    return r->count;
}
