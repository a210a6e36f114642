/*
 * Identifier and text validation, and the UUIDv7 generator (see ids.h).
 *
 * UUIDv7 layout (RFC 9562, section 5.7), most significant bit first:
 *
 *     48 bits unix_ts_ms | 4 bits ver (0111) | 12 bits counter | 2 bits var (10) | 62 bits random
 *
 * The 12-bit field (rand_a in the RFC) holds a counter, the RFC's "fixed-length dedicated counter"
 * method, so that ids from one generator sort in creation order:
 *   1. The pair (last_ms, seq) strictly increases with every id generated.
 *   2. A clock reading later than last_ms starts a new millisecond with seq 0. A reading equal to
 *      or earlier than last_ms (a burst, or the clock stepping back) keeps last_ms and increments
 *      seq; when seq passes 0xfff the id borrows the next millisecond. Ids may therefore run ahead
 *      of the clock by as many milliseconds as were borrowed, until the clock catches up.
 * The 62 random bits come from RAND_bytes so that ids are not guessable from one another.
 */
#include "ids.h"

#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "err.h"

#define UUID7_MAX_MS ((UINT64_C(1) << 48) - 1)
#define UUID7_SEQ_MAX 0xfffu

static bool id_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

bool ct_id_valid(const char *s)
{
    if (s == NULL)
        return false;
    size_t i = 0;
    for (; s[i] != '\0'; i++) {
        if (i >= CT_ID_MAX || !id_char((unsigned char)s[i]))
            return false;
    }
    return i > 0;
}

bool ct_client_msg_id_valid(const char *s)
{
    if (s == NULL)
        return false;
    size_t i = 0;
    for (; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= CT_ID_MAX || c < 0x21 || c > 0x7e)
            return false;
    }
    return i > 0;
}

static bool lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool ct_uuid_valid(const char *s)
{
    if (s == NULL)
        return false;
    for (size_t i = 0; i < CT_UUID_STRLEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        /* A NUL before position 36 fails both tests, so a short string stops here. */
        if (dash ? s[i] != '-' : !lower_hex(s[i]))
            return false;
    }
    return s[CT_UUID_STRLEN] == '\0';
}

/*
 * Well-formed UTF-8 per RFC 3629 / Unicode table 3-7. The second byte's range depends on the lead
 * byte; that is where overlongs (E0, F0), surrogates (ED) and code points past U+10FFFF (F4) are
 * excluded. C0, C1 and F5..FF never appear. NUL is refused too: these strings end up in C strings
 * and SQLite text, where an embedded NUL would silently truncate them.
 */
bool ct_utf8_valid(const char *s, size_t len)
{
    if (s == NULL)
        return len == 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        /* Most text is ASCII: eight bytes at a time while none is NUL or has its top bit set. */
        uint64_t w;
        while (len - i >= 8) {
            memcpy(&w, p + i, 8);
            if (((w | ((w - 0x0101010101010101u) & ~w)) & 0x8080808080808080u) != 0)
                break; /* a byte >= 0x80, or a zero byte, among these eight */
            i += 8;
        }
        if (i == len)
            break;
        unsigned char c = p[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;                           /* continuation bytes that follow */
        unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the first continuation byte */
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            if (c == 0xe0)
                lo = 0xa0; /* below: overlong 3-byte form */
            else if (c == 0xed)
                hi = 0x9f; /* above: U+D800..U+DFFF, surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            if (c == 0xf0)
                lo = 0x90; /* below: overlong 4-byte form */
            else if (c == 0xf4)
                hi = 0x8f; /* above: past U+10FFFF */
        } else {
            return false; /* stray continuation byte, C0/C1 overlong lead, or F5..FF */
        }
        if (len - i - 1 < n)
            return false; /* truncated sequence */
        if (p[i + 1] < lo || p[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
        }
        i += n + 1;
    }
    return true;
}

void ct_uuid7_gen_init(ct_uuid7_gen_t *g)
{
    g->last_ms = 0;
    g->seq = 0;
    g->pool_left = 0;
}

/* Copies 8 unused random bytes of g's pool into out, refilling it first when empty. Each byte
 * is handed out once (they end up in a public id, so nothing needs wiping). Returns false, g
 * unchanged, if RAND_bytes fails. */
static bool take_random8(ct_uuid7_gen_t *g, uint8_t out[8])
{
    if (g->pool_left < 8) {
        if (RAND_bytes(g->pool, (int)sizeof g->pool) != 1)
            return false;
        g->pool_left = sizeof g->pool;
    }
    g->pool_left -= 8;
    memcpy(out, g->pool + g->pool_left, 8);
    return true;
}

int ct_uuid7_next(ct_uuid7_gen_t *g, uint64_t now_ms, char out[CT_UUID_STRLEN + 1])
{
    if (now_ms > UUID7_MAX_MS)
        return CT_EINVAL;
    uint64_t ms = g->last_ms;
    uint16_t seq = g->seq;
    if (now_ms > ms) {
        ms = now_ms;
        seq = 0;
    } else if (seq < UUID7_SEQ_MAX) {
        seq++;
    } else {
        if (ms >= UUID7_MAX_MS)
            return CT_EINVAL; /* the 48-bit timestamp is exhausted: year 10889 */
        ms++;
        seq = 0;
    }

    uint8_t b[16];
    /* Draw the random tail before committing the new state, so a failure leaves g unchanged. */
    if (!take_random8(g, b + 8))
        return CT_EINTERNAL;
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70 | (seq >> 8));
    b[7] = (uint8_t)seq;
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3f));

    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 0x0f];
    }
    *o = '\0';

    g->last_ms = ms;
    g->seq = seq;
    return 0;
}

int64_t ct_now_ms(void)
{
    struct timespec ts;
    /* CLOCK_REALTIME cannot fail with a valid clock id and pointer; the zeroed timespec is only a
     * guard against a broken libc. */
    memset(&ts, 0, sizeof ts);
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
