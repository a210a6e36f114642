/*
 * Dates and RFC 3339 times as typed on a command line (common/timeparse.h): purge --before,
 * audit query --since/--until, summary post --date.
 */
#include <criterion/criterion.h>

#include "err.h"
#include "testsupport.h"
#include "timeparse.h"

Test(timeparse, dates_are_real_calendar_days)
{
    cr_expect(ct_date_valid("2024-02-29"), "a leap day");
    cr_expect_not(ct_date_valid("2023-02-29"), "not a leap year");
    cr_expect_not(ct_date_valid("2000-13-01"));
    cr_expect_not(ct_date_valid("2000-1-01"));
    cr_expect_not(ct_date_valid("2000-01-01T00:00:00Z"), "a time is not a date");
    cr_expect(ct_date_valid("1900-02-28"));
    cr_expect(ct_date_valid("2000-02-29"), "divisible by 400");
    cr_expect_not(ct_date_valid("1900-02-29"), "divisible by 100");
    ct_test_leak_check();
}

Test(timeparse, times_in_every_accepted_form)
{
    int64_t ms = -1;
    bool date_only = false;
    cr_assert_eq(ct_time_parse("1970-01-02", &ms, &date_only), 0);
    cr_expect_eq(ms, 86400000);
    cr_expect(date_only);
    cr_assert_eq(ct_time_parse("2026-11-25T10:00:00Z", &ms, &date_only), 0);
    cr_expect_eq(ms, 1795600800000LL);
    cr_expect_not(date_only);
    cr_assert_eq(ct_time_parse("2026-11-25T12:00:00.25+02:00", &ms, NULL), 0);
    cr_expect_eq(ms, 1795600800250LL, "the offset is subtracted; .25 is 250 ms");
    cr_assert_eq(ct_time_parse("2026-11-25 09:30:00-00:30", &ms, NULL), 0);
    cr_expect_eq(ms, 1795600800000LL, "a space separator and a negative offset");
    ct_test_leak_check();
}

Test(timeparse, malformed_times_are_refused)
{
    static const char *const bad[] = {"",
                                      "2026-11-25T10:00:00",
                                      "2026-11-25T10:00Z",
                                      "2026-11-25T24:00:00Z",
                                      "2026-11-25T10:00:00.Z",
                                      "2026-11-25T10:00:00+2:00",
                                      "1969-12-31",
                                      "2026-11-31",
                                      "2026-11-25Z",
                                      "2026-11-25T10:00:00Zjunk"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 0;
        cr_expect_eq(ct_time_parse(bad[i], &ms, NULL), CT_EINVAL, "'%s' was accepted", bad[i]);
    }
    ct_test_leak_check();
}
