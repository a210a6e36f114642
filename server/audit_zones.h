/*
 * Zone summaries of the audit log: what store_sqlite.c keeps in audit_zones (migrations 7 and 8)
 * so that audit queries by time, actor or action read only the zones that can hold a match,
 * without an index entry per row.
 *
 * A zone is CT_AUDIT_ZONE_ROWS consecutive rows by seq. Its summary is a superset of its rows:
 * the smallest and largest time, a 64-bit mask with one bit per action (a fixed table of the
 * action codes, bit 63 for any other) and a Bloom filter of the actor ids
 * (CT_AUDIT_ZONE_ACTOR_BITS bits, three per actor, from an FNV-1a hash of the id). A
 * zone whose summary does not contain a query's time, action bit or all of its actor bits holds
 * no row for it; one that does may (the query tests each row). The bits are functions of the
 * strings alone, fixed forever (they are stored): never change the hash or the bit counts
 * without a migration that rebuilds audit_zones.
 */
#ifndef CT_AUDIT_ZONES_H
#define CT_AUDIT_ZONES_H

#include <stdbool.h>
#include <stdint.h>

#define CT_AUDIT_ZONE_SHIFT 10
#define CT_AUDIT_ZONE_ROWS (1 << CT_AUDIT_ZONE_SHIFT)
#define CT_AUDIT_ZONE_ACTOR_WORDS 8
#define CT_AUDIT_ZONE_ACTOR_BITS (64 * CT_AUDIT_ZONE_ACTOR_WORDS)

typedef struct ct_audit_zone {
    int64_t zone;
    int64_t min_time, max_time;
    uint64_t actions;
    uint64_t actors[CT_AUDIT_ZONE_ACTOR_WORDS];
} ct_audit_zone_t;

/* The zone of row seq (seq >= 1). */
static inline int64_t ct_audit_zone_of(int64_t seq)
{
    return (seq - 1) >> CT_AUDIT_ZONE_SHIFT;
}

/* The action's bit in a zone's action mask (audit_zones.c, ZONE_ACTIONS). */
uint64_t ct_audit_zone_action_bit(const char *action);

/* The code that owns bit `bit` of the action mask (fixed forever), or NULL for bit 63 (every
 * other code) and bits not yet given out. */
const char *ct_audit_zone_action_code(unsigned bit);

/* The actor's three Bloom bits: word[i] is set to the bits of word i (the rest zero). */
void ct_audit_zone_actor_bits(const char *actor_id, uint64_t word[CT_AUDIT_ZONE_ACTOR_WORDS]);

/* An empty summary of zone `zone` (it covers nothing). */
void ct_audit_zone_start(ct_audit_zone_t *z, int64_t zone);

/* Adds one row to z. */
void ct_audit_zone_add(ct_audit_zone_t *z, int64_t time_ms, const char *action,
                       const char *actor_id);

/* Whether the stored summary covers every row that `rows` summarises (same zone). */
bool ct_audit_zone_covers(const ct_audit_zone_t *stored, const ct_audit_zone_t *rows);

#endif
