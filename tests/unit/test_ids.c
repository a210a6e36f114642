/*
 * Identifier validation, UTF-8 validation and the UUIDv7 generator.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "err.h"
#include "ids.h"
#include "text.h"
#include "testsupport.h"

/* Fills dst with n copies of c and a NUL (dst holds at least n + 1 bytes). */
static char *repeat(char *dst, char c, size_t n)
{
    memset(dst, c, n);
    dst[n] = '\0';
    return dst;
}

/* ---- member and participant ids --------------------------------------------------------- */

TestSuite(id, .fini = ct_test_leak_check);

Test(id, accepts_the_allowed_alphabet)
{
    cr_assert(ct_id_valid("a"));
    cr_assert(ct_id_valid("alice"));
    cr_assert(ct_id_valid("Dr.Smith_2-west"));
    cr_assert(ct_id_valid("0123456789"));
    cr_assert(ct_id_valid("..."));
    ct_test_leak_check();
}

Test(id, accepts_64_characters_rejects_65)
{
    char s[CT_ID_MAX + 2];
    cr_assert(ct_id_valid(repeat(s, 'x', CT_ID_MAX)));
    cr_assert_not(ct_id_valid(repeat(s, 'x', CT_ID_MAX + 1)));
    ct_test_leak_check();
}

Test(id, rejects_empty_and_null)
{
    cr_assert_not(ct_id_valid(""));
    cr_assert_not(ct_id_valid(NULL));
    ct_test_leak_check();
}

Test(id, rejects_other_characters)
{
    static const char *bad[] = {"a*",   "*",     "a/b", "../x", "a b",  " a",       "a\t", "a\n",
                                "\x01", "a\x7f", "a@b", "a:b",  "a\\b", "\xc3\xa9", "a%2f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(ct_id_valid(bad[i]), "accepted bad id #%zu", i);
    ct_test_leak_check();
}

/* ---- client_msg_id ---------------------------------------------------------------------- */

TestSuite(client_msg_id, .fini = ct_test_leak_check);

Test(client_msg_id, accepts_printable_ascii)
{
    cr_assert(ct_client_msg_id_valid("msg-1"));
    cr_assert(ct_client_msg_id_valid("!"));
    cr_assert(ct_client_msg_id_valid("~"));
    cr_assert(ct_client_msg_id_valid("a/b*c:{\"q\"}"));
    ct_test_leak_check();
}

Test(client_msg_id, accepts_64_characters_rejects_65)
{
    char s[CT_ID_MAX + 2];
    cr_assert(ct_client_msg_id_valid(repeat(s, '#', CT_ID_MAX)));
    cr_assert_not(ct_client_msg_id_valid(repeat(s, '#', CT_ID_MAX + 1)));
    ct_test_leak_check();
}

Test(client_msg_id, rejects_empty_null_space_controls_and_non_ascii)
{
    static const char *bad[] = {"", "a b", " ", "a\t", "a\n", "\x1f", "\x7f", "\xc3\xa9"};
    cr_assert_not(ct_client_msg_id_valid(NULL));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(ct_client_msg_id_valid(bad[i]), "accepted bad client_msg_id #%zu", i);
    ct_test_leak_check();
}

/* ---- UUID text form --------------------------------------------------------------------- */

TestSuite(uuid, .fini = ct_test_leak_check);

Test(uuid, accepts_canonical_lowercase)
{
    cr_assert(ct_uuid_valid("01890a5d-ac96-774b-bcce-b302099a8057"));
    cr_assert(ct_uuid_valid("00000000-0000-0000-0000-000000000000"));
    ct_test_leak_check();
}

Test(uuid, rejects_other_forms)
{
    static const char *bad[] = {
        "01890A5D-AC96-774B-BCCE-B302099A8057",   /* uppercase */
        "01890a5dac96774bbcceb302099a8057",       /* no dashes */
        "01890a5d-ac96-774b-bcce-b302099a805",    /* 35 characters */
        "01890a5d-ac96-774b-bcce-b302099a80577",  /* 37 characters */
        "01890a5d-ac96-774b-bcce_b302099a8057",   /* wrong separator */
        "01890a5d-ac96-774b-bcce-b302099a805g",   /* not hex */
        "{01890a5d-ac96-774b-bcce-b302099a8057}", /* braces */
        "",
    };
    cr_assert_not(ct_uuid_valid(NULL));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(ct_uuid_valid(bad[i]), "accepted %s", bad[i]);
    ct_test_leak_check();
}

/* ---- UTF-8 ------------------------------------------------------------------------------ */

struct utf8_case {
    const char *bytes;
    size_t len;
    const char *what;
};
#define U(s, what)                                                                                 \
    {                                                                                              \
        s, sizeof s - 1, what                                                                      \
    }

static void expect_utf8(const struct utf8_case *c, size_t n, bool valid)
{
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(ct_utf8_valid(c[i].bytes, c[i].len), valid, "%s: expected %s", c[i].what,
                     valid ? "valid" : "invalid");
}

TestSuite(utf8, .fini = ct_test_leak_check);

Test(utf8, accepts_well_formed_text)
{
    static const struct utf8_case ok[] = {
        U("", "empty"),
        U("plain ascii\t\r\n", "ascii with controls"),
        U("\xc2\x80", "U+0080, smallest 2-byte"),
        U("\xc3\xa9", "e acute"),
        U("\xdf\xbf", "U+07FF, largest 2-byte"),
        U("\xe0\xa0\x80", "U+0800, smallest 3-byte"),
        U("\xe2\x82\xac", "euro sign"),
        U("\xed\x9f\xbf", "U+D7FF, just below the surrogates"),
        U("\xee\x80\x80", "U+E000, just above the surrogates"),
        U("\xef\xbf\xbf", "U+FFFF"),
        U("\xf0\x90\x80\x80", "U+10000, smallest 4-byte"),
        U("\xf0\x9f\x98\x80", "emoji"),
        U("\xf4\x8f\xbf\xbf", "U+10FFFF, the last code point"),
        U("caf\xc3\xa9 \xe2\x82\xac 5 \xf0\x9f\x98\x80", "mixed"),
    };
    expect_utf8(ok, sizeof ok / sizeof ok[0], true);
    cr_assert(ct_utf8_valid(NULL, 0));
    ct_test_leak_check();
}

Test(utf8, rejects_overlong_forms)
{
    static const struct utf8_case bad[] = {
        U("\xc0\x80", "overlong NUL"),
        U("\xc0\xaf", "overlong slash"),
        U("\xc1\xbf", "overlong U+007F"),
        U("\xe0\x80\x80", "overlong 3-byte NUL"),
        U("\xe0\x9f\xbf", "overlong U+07FF"),
        U("\xf0\x80\x80\x80", "overlong 4-byte NUL"),
        U("\xf0\x8f\xbf\xbf", "overlong U+FFFF"),
    };
    expect_utf8(bad, sizeof bad / sizeof bad[0], false);
    ct_test_leak_check();
}

Test(utf8, rejects_surrogates)
{
    static const struct utf8_case bad[] = {
        U("\xed\xa0\x80", "U+D800"),
        U("\xed\xaf\xbf", "U+DBFF"),
        U("\xed\xb0\x80", "U+DC00"),
        U("\xed\xbf\xbf", "U+DFFF"),
        U("\xed\xa0\xbd\xed\xb8\x80", "CESU-8 surrogate pair"),
    };
    expect_utf8(bad, sizeof bad / sizeof bad[0], false);
    ct_test_leak_check();
}

Test(utf8, rejects_code_points_above_10ffff)
{
    static const struct utf8_case bad[] = {
        U("\xf4\x90\x80\x80", "U+110000"),
        U("\xf5\x80\x80\x80", "lead F5"),
        U("\xf7\xbf\xbf\xbf", "lead F7"),
        U("\xf8\x88\x80\x80\x80", "5-byte form"),
        U("\xfc\x84\x80\x80\x80\x80", "6-byte form"),
        U("\xfe", "FE"),
        U("\xff", "FF"),
    };
    expect_utf8(bad, sizeof bad / sizeof bad[0], false);
    ct_test_leak_check();
}

Test(utf8, rejects_truncated_sequences)
{
    static const struct utf8_case bad[] = {
        U("\xc3", "2-byte lead alone"),
        U("\xe2\x82", "3-byte missing one"),
        U("\xe2", "3-byte lead alone"),
        U("\xf0\x9f\x98", "4-byte missing one"),
        U("abc\xf0\x9f", "truncated at the end of text"),
        U("\xc3"
          "a",
          "lead followed by ascii"),
        U("\xe2\x28\xa1", "bad second byte"),
        U("\xe2\x82\x28", "bad third byte"),
        U("\xf0\x9f\x98\x28", "bad fourth byte"),
    };
    expect_utf8(bad, sizeof bad / sizeof bad[0], false);
    ct_test_leak_check();
}

Test(utf8, rejects_stray_continuation_bytes)
{
    static const struct utf8_case bad[] = {
        U("\x80", "lone 80"),
        U("\xbf", "lone BF"),
        U("a\x80z", "continuation between ascii"),
        U("\xc3\xa9\xa9", "one continuation too many"),
    };
    expect_utf8(bad, sizeof bad / sizeof bad[0], false);
    ct_test_leak_check();
}

Test(utf8, rejects_nul_inside_len)
{
    cr_assert_not(ct_utf8_valid("a\0b", 3));
    cr_assert_not(ct_utf8_valid("\0", 1));
    cr_assert(ct_utf8_valid("a\0b", 1), "a NUL beyond len is not examined");
    ct_test_leak_check();
}

Test(utf8, examines_exactly_len_bytes)
{
    /* "é" cut after its first byte is truncated, even though the next byte would complete it. */
    cr_assert_not(ct_utf8_valid("\xc3\xa9", 1));
    cr_assert(ct_utf8_valid("ok\xff", 2), "a bad byte beyond len is not examined");
    cr_assert_not(ct_utf8_valid(NULL, 1));
    ct_test_leak_check();
}

/* ASCII is checked eight bytes at a time: a NUL, a stray byte or a valid sequence at any
 * position of a longer text, and any length around the word size, gets the same answer as a
 * byte at a time would give. */
Test(utf8, long_text_is_checked_at_every_position)
{
    char t[41];
    for (size_t len = 0; len <= 40; len++) {
        memset(t, 'a', sizeof t);
        cr_assert(ct_utf8_valid(t, len), "%zu ASCII bytes", len);
        for (size_t at = 0; at < len; at++) {
            memset(t, 'a', sizeof t);
            t[at] = '\0';
            cr_assert_not(ct_utf8_valid(t, len), "NUL at %zu of %zu", at, len);
            t[at] = (char)0x80;
            cr_assert_not(ct_utf8_valid(t, len), "stray continuation at %zu of %zu", at, len);
            t[at] = (char)0xff;
            cr_assert_not(ct_utf8_valid(t, len), "0xff at %zu of %zu", at, len);
            t[at] = (char)0xc3; /* "é" needs the next byte too */
            cr_assert_not(ct_utf8_valid(t, len), "cut or broken sequence at %zu of %zu", at, len);
            if (at + 1 < len) {
                t[at + 1] = (char)0xa9;
                cr_assert(ct_utf8_valid(t, len), "'é' at %zu of %zu", at, len);
            }
        }
    }
    ct_test_leak_check();
}

/* ---- bounded text copies (text.h) ----------------------------------------------------------- */

Test(text, copy_cuts_to_the_field_and_terminates)
{
    char f[6];
    memset(f, 'x', sizeof f);
    cr_assert_eq(ct_text_copy(f, sizeof f, "hello"), 5);
    cr_assert_str_eq(f, "hello", "an exact fit");
    cr_assert_eq(ct_text_copy(f, sizeof f, "hello, world"), 12, "the length, as snprintf");
    cr_assert_str_eq(f, "hello");
    cr_assert_eq(ct_text_copy(f, sizeof f, NULL), 0);
    cr_assert_str_eq(f, "");
    cr_assert_eq(ct_text_copy(f, 1, "abc"), 3);
    cr_assert_str_eq(f, "", "a one-byte field holds only the terminator");
    f[0] = 'x';
    cr_assert_eq(ct_text_copy(f, 0, "abc"), 3);
    cr_assert_eq(f[0], 'x', "no room at all: nothing written");
    ct_test_leak_check();
}

/* ---- UUIDv7 generator ------------------------------------------------------------------- */

/* The 48-bit timestamp of a UUIDv7 in text form (first 12 hex digits, skipping the dash). */
static uint64_t uuid_ms(const char *u)
{
    char hex[13];
    memcpy(hex, u, 8);
    memcpy(hex + 8, u + 9, 4);
    hex[12] = '\0';
    unsigned long long v = 0;
    cr_assert_eq(sscanf(hex, "%12llx", &v), 1);
    return (uint64_t)v;
}

/* Generates n ids with clock(i) as the time of the i-th, asserting each is a valid v7 id that
 * sorts strictly after the previous one. Returns the generator's final state in *g. */
static void expect_increasing(ct_uuid7_gen_t *g, size_t n, uint64_t (*clock)(size_t))
{
    char prev[CT_UUID_STRLEN + 1] = "";
    char cur[CT_UUID_STRLEN + 1];
    ct_uuid7_gen_init(g);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(ct_uuid7_next(g, clock(i), cur), 0);
        cr_assert(ct_uuid_valid(cur), "%s", cur);
        cr_assert_eq(cur[14], '7');
        cr_assert_gt(strcmp(cur, prev), 0, "id %zu: %s after %s", i, cur, prev);
        memcpy(prev, cur, sizeof cur);
    }
}

#define T0 UINT64_C(1790000000000) /* 2026-09-21, an arbitrary fixed time */

static uint64_t fixed_clock(size_t i)
{
    (void)i;
    return T0;
}

static uint64_t backwards_clock(size_t i)
{
    return T0 - i;
}

/* Jumps forward and back by up to a few milliseconds, as an NTP-slewed clock might. */
static uint64_t jittery_clock(size_t i)
{
    static const int steps[] = {0, 3, -2, -5, 1, 0, 7, -7, 2};
    return T0 + (uint64_t)(int64_t)steps[i % (sizeof steps / sizeof steps[0])] + i / 50;
}

TestSuite(uuid7, .fini = ct_test_leak_check);

Test(uuid7, has_version_7_and_variant_10)
{
    ct_uuid7_gen_t g;
    ct_uuid7_gen_init(&g);
    for (int i = 0; i < 64; i++) {
        char u[CT_UUID_STRLEN + 1];
        cr_assert_eq(ct_uuid7_next(&g, (uint64_t)ct_now_ms(), u), 0);
        cr_assert_eq(strlen(u), CT_UUID_STRLEN);
        cr_assert(ct_uuid_valid(u), "%s", u);
        cr_assert_eq(u[14], '7', "version nibble of %s", u);
        cr_assert(strchr("89ab", u[19]) != NULL, "variant nibble of %s", u);
    }
    ct_test_leak_check();
}

Test(uuid7, encodes_the_timestamp_in_the_first_48_bits)
{
    ct_uuid7_gen_t g;
    char u[CT_UUID_STRLEN + 1];
    ct_uuid7_gen_init(&g);
    cr_assert_eq(ct_uuid7_next(&g, UINT64_C(0x0123456789ab), u), 0);
    cr_assert_eq(strncmp(u, "01234567-89ab-7000-", 19), 0, "%s", u);
    cr_assert_eq(uuid_ms(u), UINT64_C(0x0123456789ab));
    ct_test_leak_check();
}

Test(uuid7, random_tail_differs_within_one_millisecond)
{
    ct_uuid7_gen_t g;
    char a[CT_UUID_STRLEN + 1], b[CT_UUID_STRLEN + 1];
    ct_uuid7_gen_init(&g);
    cr_assert_eq(ct_uuid7_next(&g, T0, a), 0);
    cr_assert_eq(ct_uuid7_next(&g, T0, b), 0);
    /* 62 random bits: equal tails would mean the random source is not used. */
    cr_assert_str_neq(a + 19, b + 19);
    ct_test_leak_check();
}

/* The random bits are drawn ahead in a pool: across several refills no tail comes twice. */
Test(uuid7, random_tails_never_repeat_across_pool_refills)
{
    enum { N = 200 };
    static char tails[N][CT_UUID_STRLEN + 1];
    ct_uuid7_gen_t g;
    ct_uuid7_gen_init(&g);
    for (int i = 0; i < N; i++) {
        char id[CT_UUID_STRLEN + 1];
        cr_assert_eq(ct_uuid7_next(&g, T0, id), 0);
        snprintf(tails[i], sizeof tails[i], "%s", id + 19);
        for (int k = 0; k < i; k++)
            cr_assert_str_neq(tails[k], tails[i], "ids %d and %d share their random tail", k, i);
    }
    ct_test_leak_check();
}

Test(uuid7, increasing_over_10000_ids_with_a_fixed_clock)
{
    ct_uuid7_gen_t g;
    expect_increasing(&g, 10000, fixed_clock);
    /* 4096 ids fit in one millisecond's counter; 10,000 borrow two more milliseconds. */
    cr_assert_eq(g.last_ms, T0 + 2);
    ct_test_leak_check();
}

Test(uuid7, increasing_over_10000_ids_with_a_backwards_clock)
{
    ct_uuid7_gen_t g;
    expect_increasing(&g, 10000, backwards_clock);
    cr_assert_eq(g.last_ms, T0 + 2, "a clock going back never moves ids back");
    ct_test_leak_check();
}

Test(uuid7, increasing_with_a_jittery_clock)
{
    ct_uuid7_gen_t g;
    expect_increasing(&g, 10000, jittery_clock);
    ct_test_leak_check();
}

Test(uuid7, a_later_millisecond_restarts_the_counter)
{
    ct_uuid7_gen_t g;
    char u[CT_UUID_STRLEN + 1];
    ct_uuid7_gen_init(&g);
    cr_assert_eq(ct_uuid7_next(&g, T0, u), 0);
    cr_assert_eq(ct_uuid7_next(&g, T0, u), 0);
    cr_assert_eq(g.seq, 1);
    cr_assert_eq(ct_uuid7_next(&g, T0 + 10, u), 0);
    cr_assert_eq(g.seq, 0);
    cr_assert_eq(uuid_ms(u), T0 + 10);
    cr_assert_eq(strncmp(u + 14, "7000", 4), 0, "%s", u);
    ct_test_leak_check();
}

Test(uuid7, rejects_times_beyond_48_bits)
{
    ct_uuid7_gen_t g;
    char u[CT_UUID_STRLEN + 1];
    ct_uuid7_gen_init(&g);
    cr_assert_eq(ct_uuid7_next(&g, UINT64_C(1) << 48, u), CT_EINVAL);
    cr_assert_eq(g.last_ms, 0, "a refused call leaves the generator unchanged");
    ct_test_leak_check();
}

/* ---- clock ------------------------------------------------------------------------------ */

TestSuite(clock, .fini = ct_test_leak_check);

Test(clock, now_ms_is_unix_milliseconds)
{
    int64_t before = (int64_t)time(NULL) * 1000;
    int64_t now = ct_now_ms();
    int64_t after = (int64_t)time(NULL) * 1000 + 1000;
    cr_assert_geq(now, before);
    cr_assert_lt(now, after);
    ct_test_leak_check();
}
