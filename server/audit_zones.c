/* Zone summaries of the audit log (see audit_zones.h). */
#include "audit_zones.h"

#include <string.h>

/* FNV-1a, 64 bits: small, stable and good enough to spread short ids over a few hundred bits. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (const unsigned char *p = (const unsigned char *)(s != NULL ? s : ""); *p; p++) {
        h ^= *p;
        h *= 0x100000001b3u;
    }
    return h;
}

uint64_t ct_audit_zone_action_bit(const char *action)
{
    return (uint64_t)1 << (fnv1a(action) % 64);
}

void ct_audit_zone_actor_bits(const char *actor_id, uint64_t word[CT_AUDIT_ZONE_ACTOR_WORDS])
{
    memset(word, 0, CT_AUDIT_ZONE_ACTOR_WORDS * sizeof word[0]);
    uint64_t h = fnv1a(actor_id);
    /* Three bit positions from three 21-bit slices of one hash (enough for 512 bits). */
    for (int k = 0; k < 3; k++) {
        unsigned bit = (unsigned)((h >> (21 * k)) % CT_AUDIT_ZONE_ACTOR_BITS);
        word[bit / 64] |= (uint64_t)1 << (bit % 64);
    }
}

void ct_audit_zone_start(ct_audit_zone_t *z, int64_t zone)
{
    memset(z, 0, sizeof *z);
    z->zone = zone;
    z->min_time = INT64_MAX;
    z->max_time = INT64_MIN;
}

void ct_audit_zone_add(ct_audit_zone_t *z, int64_t time_ms, const char *action,
                       const char *actor_id)
{
    if (time_ms < z->min_time)
        z->min_time = time_ms;
    if (time_ms > z->max_time)
        z->max_time = time_ms;
    z->actions |= ct_audit_zone_action_bit(action);
    uint64_t w[CT_AUDIT_ZONE_ACTOR_WORDS];
    ct_audit_zone_actor_bits(actor_id, w);
    for (int i = 0; i < CT_AUDIT_ZONE_ACTOR_WORDS; i++)
        z->actors[i] |= w[i];
}

bool ct_audit_zone_covers(const ct_audit_zone_t *stored, const ct_audit_zone_t *rows)
{
    if (rows->min_time < stored->min_time || rows->max_time > stored->max_time)
        return false;
    if ((rows->actions & ~stored->actions) != 0)
        return false;
    for (int i = 0; i < CT_AUDIT_ZONE_ACTOR_WORDS; i++)
        if ((rows->actors[i] & ~stored->actors[i]) != 0)
            return false;
    return true;
}
