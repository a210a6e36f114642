/*
 * Identifiers and text validation shared by the server (which enforces them) and the client
 * (which checks early to give a better message).
 *
 *  - member and participant ids: 1-64 characters of [A-Za-z0-9._-]
 *  - client_msg_id: 1-64 printable ASCII characters (0x21-0x7e)
 *  - message ids: UUIDv7 in text form, 36 characters, time-ordered
 */
#ifndef CT_IDS_H
#define CT_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CT_ID_MAX 64
#define CT_UUID_STRLEN 36

bool ct_id_valid(const char *s);            /* member / participant id */
bool ct_client_msg_id_valid(const char *s); /* client_msg_id */
bool ct_uuid_valid(const char *s);          /* canonical lowercase UUID text form */

/* True when s[0..len) is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF). */
bool ct_utf8_valid(const char *s, size_t len);

/*
 * UUIDv7 generator. Not thread-safe: each thread that makes ids owns its own generator (the
 * server's store writer thread owns the one that names messages). Ids from one generator are
 * strictly increasing, even within one millisecond and across a clock step backwards.
 */
typedef struct ct_uuid7_gen {
    uint64_t last_ms;
    uint16_t seq; /* 12-bit counter within last_ms */
    /* Random bytes drawn ahead, used from the end: one RAND_bytes call per 32 ids instead of one
     * per id (each call costs more than the bytes). A zeroed generator starts empty. */
    uint16_t pool_left;
    uint8_t pool[256];
} ct_uuid7_gen_t;

void ct_uuid7_gen_init(ct_uuid7_gen_t *g);

/* Writes a new id (36 chars + NUL) into out. now_ms is the Unix time in milliseconds. */
int ct_uuid7_next(ct_uuid7_gen_t *g, uint64_t now_ms, char out[CT_UUID_STRLEN + 1]);

/* Wall-clock Unix time in milliseconds. */
int64_t ct_now_ms(void);

#endif
