/*
 * The error table: names, messages and the mapping to and from wire ErrorCodes.
 *
 * The expected wire codes are written out here by hand, not derived from CT_ERRNO_MAP, so a
 * change to the table that alters what a client sees fails this test and has to be made twice.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "careteam.pb-c.h"
#include "err.h"
#include "testsupport.h"

#define W(suffix) CARETEAM__V1__ERROR_CODE__ERROR_CODE_##suffix

static const struct {
    int err;
    int wire;
    const char *wire_name;
} expected[] = {
    {CT_EUNAUTHENTICATED, W(UNAUTHENTICATED), "UNAUTHENTICATED"},
    {CT_EFORBIDDEN, W(FORBIDDEN), "FORBIDDEN"},
    {CT_ENOTFOUND, W(NOT_FOUND), "NOT_FOUND"},
    {CT_EINVAL, W(INVALID_ARGUMENT), "INVALID_ARGUMENT"},
    {CT_ECONFLICT, W(CONFLICT), "CONFLICT"},
    {CT_EPRECONDITION, W(FAILED_PRECONDITION), "FAILED_PRECONDITION"},
    {CT_ETOOBIG, W(TOO_LARGE), "TOO_LARGE"},
    {CT_ERATELIMIT, W(RATE_LIMITED), "RATE_LIMITED"},
    {CT_EUNAVAIL, W(UNAVAILABLE), "UNAVAILABLE"},
    {CT_EINTERNAL, W(INTERNAL), "INTERNAL"},
    {CT_ENOMEM, W(INTERNAL), "INTERNAL"},
    {CT_EIO, W(UNAVAILABLE), "UNAVAILABLE"},
    {CT_EPROTO, W(INVALID_ARGUMENT), "INVALID_ARGUMENT"},
    {CT_ETLS, W(UNAUTHENTICATED), "UNAUTHENTICATED"},
    {CT_ECLOSED, W(UNAVAILABLE), "UNAVAILABLE"},
    {CT_EEXISTS, W(CONFLICT), "CONFLICT"},
    {CT_ETIMEDOUT, W(UNAVAILABLE), "UNAVAILABLE"},
    {CT_ESYS, W(INTERNAL), "INTERNAL"},
};
#define N_EXPECTED (sizeof expected / sizeof expected[0])

/* Every code in the table, in table order. */
static const int table_codes[] = {
#define CODE(name, val, wire, msg) CT_E##name,
    CT_ERRNO_MAP(CODE)
#undef CODE
};
#define N_CODES (sizeof table_codes / sizeof table_codes[0])

/* Values that are not in the table: success, positives, and negatives past the end. */
static const int unknown_codes[] = {0, 1, 42, -19, -100, -2147483647 - 1};
#define N_UNKNOWN (sizeof unknown_codes / sizeof unknown_codes[0])

TestSuite(err, .fini = ct_test_leak_check);

Test(err, expectations_cover_the_whole_table)
{
    cr_assert_eq(N_CODES, N_EXPECTED, "a code was added or removed: update `expected` above");
    for (size_t i = 0; i < N_CODES; i++)
        cr_assert_eq(table_codes[i], expected[i].err, "row %zu", i);
    ct_test_leak_check();
}

Test(err, codes_are_negative_and_distinct)
{
    for (size_t i = 0; i < N_CODES; i++) {
        cr_assert_lt(table_codes[i], 0, "%s", ct_errname(table_codes[i]));
        for (size_t j = i + 1; j < N_CODES; j++)
            cr_assert_neq(table_codes[i], table_codes[j]);
    }
    ct_test_leak_check();
}

Test(err, every_code_has_a_distinct_name)
{
    for (size_t i = 0; i < N_CODES; i++) {
        const char *a = ct_errname(table_codes[i]);
        cr_assert_not_null(a);
        cr_assert_eq(strncmp(a, "CT_E", 4), 0, "%s", a);
        cr_assert_str_neq(a, "CT_E?");
        for (size_t j = i + 1; j < N_CODES; j++)
            cr_assert_str_neq(a, ct_errname(table_codes[j]));
    }
    cr_assert_str_eq(ct_errname(CT_ENOTFOUND), "CT_ENOTFOUND");
    ct_test_leak_check();
}

Test(err, every_code_has_a_message)
{
    for (size_t i = 0; i < N_CODES; i++) {
        const char *m = ct_strerror(table_codes[i]);
        cr_assert_not_null(m);
        cr_assert_gt(strlen(m), 0, "%s", ct_errname(table_codes[i]));
        cr_assert_str_neq(m, "unknown error", "%s", ct_errname(table_codes[i]));
    }
    ct_test_leak_check();
}

Test(err, every_code_maps_to_its_wire_code)
{
    for (size_t i = 0; i < N_EXPECTED; i++) {
        int w = ct_err_to_wire(expected[i].err);
        cr_assert_eq(w, expected[i].wire, "%s", ct_errname(expected[i].err));
        cr_assert_str_eq(ct_wire_code_name(w), expected[i].wire_name);
    }
    ct_test_leak_check();
}

Test(err, unknown_codes_are_handled)
{
    for (size_t i = 0; i < N_UNKNOWN; i++) {
        int e = unknown_codes[i];
        cr_assert_str_eq(ct_strerror(e), "unknown error", "%d", e);
        cr_assert_str_eq(ct_errname(e), "CT_E?", "%d", e);
        cr_assert_eq(ct_err_to_wire(e), W(INTERNAL), "%d", e);
    }
    ct_test_leak_check();
}

Test(err, wire_codes_map_back_to_their_primary_code)
{
    static const struct {
        int wire;
        int err;
    } back[] = {
        {W(UNAUTHENTICATED), CT_EUNAUTHENTICATED},
        {W(FORBIDDEN), CT_EFORBIDDEN},
        {W(NOT_FOUND), CT_ENOTFOUND},
        {W(INVALID_ARGUMENT), CT_EINVAL},
        {W(CONFLICT), CT_ECONFLICT},
        {W(FAILED_PRECONDITION), CT_EPRECONDITION},
        {W(TOO_LARGE), CT_ETOOBIG},
        {W(RATE_LIMITED), CT_ERATELIMIT},
        {W(UNAVAILABLE), CT_EUNAVAIL},
        {W(INTERNAL), CT_EINTERNAL},
    };
    for (size_t i = 0; i < sizeof back / sizeof back[0]; i++) {
        int e = ct_err_from_wire(back[i].wire);
        cr_assert_eq(e, back[i].err, "wire %d gave %s", back[i].wire, ct_errname(e));
        cr_assert_eq(ct_err_to_wire(e), back[i].wire, "round trip of wire %d", back[i].wire);
    }
    ct_test_leak_check();
}

Test(err, unknown_wire_codes_become_internal)
{
    static const int unknown_wire[] = {W(UNSPECIFIED), 11, 255, -1};
    for (size_t i = 0; i < sizeof unknown_wire / sizeof unknown_wire[0]; i++)
        cr_assert_eq(ct_err_from_wire(unknown_wire[i]), CT_EINTERNAL, "%d", unknown_wire[i]);
    ct_test_leak_check();
}

Test(err, wire_code_names_handle_unspecified_and_unknown)
{
    cr_assert_str_eq(ct_wire_code_name(W(UNSPECIFIED)), "UNSPECIFIED");
    cr_assert_str_eq(ct_wire_code_name(11), "UNKNOWN");
    cr_assert_str_eq(ct_wire_code_name(-1), "UNKNOWN");
    ct_test_leak_check();
}
