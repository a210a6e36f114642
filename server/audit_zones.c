/* Zone summaries of the audit log (see audit_zones.h). */
#include "audit_zones.h"

#include <pthread.h>
#include <string.h>

#include "audit_actions.h"

/* FNV-1a, 64 bits: small, stable and good enough to spread short ids over 512 bits. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (const unsigned char *p = (const unsigned char *)(s != NULL ? s : ""); *p; p++) {
        h ^= *p;
        h *= 0x100000001b3u;
    }
    return h;
}

/*
 * The action bits (migration 9): bit i for ZONE_ACTIONS[i], bit 63 for every other code. Exact
 * for these codes, so that a query for a rare action (a restore, a revocation) reads only the
 * zones that hold one. FROZEN: the bits are stored in audit_zones. Append new codes (up to index
 * 62); never reorder or remove one. A code not listed shares bit 63, which is still correct.
 */
static const char *const ZONE_ACTIONS[] = {
    "tls.handshake",        "session.authenticate",
    "session.deadline",     "session.hello",
    "session.idle",         "session.ping",
    "session.refused",      "session.slow_consumer",
    "session.revoked",      "protocol.violation",
    "protocol.bad_frame",   "protocol.frame_too_large",
    "message.send",         "message.deliver",
    "message.delivery_ack", "consent.record",
    "consent.withdraw",     "consent.list",
    "restriction.record",   "restriction.lift",
    "referral.create",      "referral.update",
    "referral.accept",      "referral.reject",
    "referral.start",       "referral.hold",
    "referral.resume",      "referral.complete",
    "referral.cancel",      "referral.reassign",
    "referral.list",        "summary.post",
    "summary.list",         "concern.raise",
    "alert.open",           "alert.escalate",
    "alert.acknowledge",    "alert.list",
    "audit.query",          "audit.keygen",
    "audit.checkpoint",     "audit.verify",
    "daemon.start",         "daemon.stop",
    "daemon.reload",        "admin.init",
    "admin.read",           "admin.refused",
    "member.enroll",        "member.activate",
    "member.deactivate",    "member.renew",
    "member.revoke",        "server.revoke",
    "server.renew",         "member.supervisor",
    "participant.add",      "team.add",
    "team.remove",          "retention.purge",
    "admin.backup",         "admin.restore",
};
_Static_assert(sizeof ZONE_ACTIONS / sizeof ZONE_ACTIONS[0] <= 63, "bit 63 is for other codes");

#define N_ZONE_ACTIONS (sizeof ZONE_ACTIONS / sizeof ZONE_ACTIONS[0])

/* Each action code's bit, by its index in ct_audit_actions:
 * every appended row looks its action up on the writer's hot path, so one binary search
 * (ct_audit_action_index) and this table replace a search of ZONE_ACTIONS. Built once by
 * whichever thread asks first. */
static unsigned char bit_of[255]; /* the table has at most 255 codes (audit_actions.c) */
static pthread_once_t bit_of_once = PTHREAD_ONCE_INIT;

static void bit_of_build(void)
{
    for (size_t i = 0; i < ct_audit_actions_count && i < sizeof bit_of; i++) {
        bit_of[i] = 63;
        for (size_t b = 0; b < N_ZONE_ACTIONS; b++) {
            if (strcmp(ZONE_ACTIONS[b], ct_audit_actions[i].code) == 0)
                bit_of[i] = (unsigned char)b;
        }
    }
}

uint64_t ct_audit_zone_action_bit(const char *action)
{
    pthread_once(&bit_of_once, bit_of_build);
    size_t i = ct_audit_action_index(action);
    if (i < ct_audit_actions_count)
        return (uint64_t)1 << bit_of[i];
    /* Not in today's table: a code retired from it keeps its frozen bit, so that a query for
     * it still finds the zones written when it was in use. */
    for (size_t b = 0; action != NULL && b < N_ZONE_ACTIONS; b++) {
        if (strcmp(ZONE_ACTIONS[b], action) == 0)
            return (uint64_t)1 << b;
    }
    return (uint64_t)1 << 63;
}

const char *ct_audit_zone_action_code(unsigned bit)
{
    return bit < N_ZONE_ACTIONS ? ZONE_ACTIONS[bit] : NULL;
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
