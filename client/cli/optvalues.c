/*
 * Checking option values before connecting, where a check helps the user: a misspelt --format,
 * a date the server would refuse, a participant id in the place of a referral id. Each check
 * reports the option, the bad value and what is allowed, as a usage error (exit 2).
 *
 * These checks mirror the protocol's rules (proto/careteam.proto) but do not replace them: the
 * server checks everything again and has the last word, and its refusals reach the user verbatim.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ids.h"

int ct_cli_check_id(cli_t *cli, const char *opt, const char *arg, const char *what)
{
    if (ct_id_valid(arg))
        return 0;
    return ct_cli_usage_error(cli, "%s '%s' is not a %s (1-64 characters of A-Z a-z 0-9 . _ -)",
                              opt, arg, what);
}

int ct_cli_check_uuid(cli_t *cli, const char *opt, const char *arg, const char *what,
                      const char *list)
{
    if (ct_uuid_valid(arg))
        return 0;
    return ct_cli_usage_error(cli,
                              "%s '%s' is not a %s (36 characters like "
                              "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b, as `%s` prints them)",
                              opt, arg, what, list);
}

int ct_cli_check_name(cli_t *cli, const char *opt, const char *arg, const ct_cli_names_t *t,
                      int *out)
{
    char names[256];
    if (ct_cli_name_parse(t, arg, out) == 0)
        return 0;
    return ct_cli_usage_error(cli, "%s '%s' is not one of: %s", opt, arg,
                              ct_cli_names_join(t, names, sizeof names));
}

int ct_cli_check_number(cli_t *cli, const char *opt, const char *arg, unsigned min, unsigned max,
                        unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || arg[0] < '0' || arg[0] > '9' || v < min ||
        v > max)
        return ct_cli_usage_error(cli, "%s '%s' is not a whole number from %u to %u", opt, arg, min,
                                  max);
    *out = (unsigned)v;
    return 0;
}

int ct_cli_check_limit(cli_t *cli, const char *arg, uint32_t *out)
{
    unsigned limit;
    int rc = ct_cli_check_number(cli, "--limit", arg, 1, 1000, &limit);
    if (rc == 0)
        *out = limit;
    return rc;
}

/* Days in month m (1-12) of year y, Gregorian. */
static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

int ct_cli_check_date(cli_t *cli, const char *opt, const char *arg)
{
    static const char pattern[] = "dddd-dd-dd";
    bool ok = strlen(arg) == sizeof pattern - 1;
    for (size_t i = 0; ok && pattern[i] != '\0'; i++)
        ok = pattern[i] == 'd' ? arg[i] >= '0' && arg[i] <= '9' : arg[i] == pattern[i];
    if (ok) {
        int y = atoi(arg), m = atoi(arg + 5), d = atoi(arg + 8);
        ok = y >= 1900 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
    }
    if (ok)
        return 0;
    return ct_cli_usage_error(cli, "%s '%s' is not a date YYYY-MM-DD (for example 2026-01-31)", opt,
                              arg);
}

/* Reads exactly n digits at s into *v. */
static bool digits(const char *s, size_t n, int *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

/* Parses "YYYY-MM-DD" (*date_only set) or RFC 3339 "YYYY-MM-DDTHH:MM:SS[.fff]Z" (or an offset
 * +HH:MM / -HH:MM instead of Z) into Unix milliseconds. */
static bool parse_time(const char *s, int64_t *ms, bool *date_only)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return false;
    const char *p = s + 10;
    *date_only = *p == '\0';
    int64_t offset_s = 0;
    if (!*date_only) {
        if ((*p != 'T' && *p != 't') || !digits(p + 1, 2, &h) || p[3] != ':' ||
            !digits(p + 4, 2, &mi) || p[6] != ':' || !digits(p + 7, 2, &sec) || h > 23 || mi > 59 ||
            sec > 60)
            return false;
        p += 9;
        if (*p == '.') {
            int scale = 100, n = 0;
            for (p++; *p >= '0' && *p <= '9'; p++, n++) {
                frac += (*p - '0') * scale; /* milliseconds; finer digits are dropped */
                scale /= 10;
            }
            if (n == 0)
                return false;
        }
        int oh, om;
        if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
            offset_s = 0;
        } else if ((*p == '+' || *p == '-') && digits(p + 1, 2, &oh) && p[3] == ':' &&
                   digits(p + 4, 2, &om) && p[6] == '\0' && oh <= 23 && om <= 59) {
            offset_s = (*p == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60);
        } else {
            return false;
        }
    }
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    *ms = ((int64_t)t - offset_s) * 1000 + frac;
    return true;
}

int ct_cli_check_time(cli_t *cli, const char *opt, const char *arg, bool end_of_day, int64_t *ms)
{
    bool date_only = false;
    if (parse_time(arg, ms, &date_only)) {
        if (date_only && end_of_day)
            *ms += 86400000;
        return 0;
    }
    return ct_cli_usage_error(cli,
                              "%s '%s' is not a time: give RFC 3339 UTC such as "
                              "2026-11-25T10:00:00Z, or a date such as 2026-11-25",
                              opt, arg);
}

int ct_cli_check_text(cli_t *cli, const char *opt, const char *arg)
{
    if (ct_utf8_valid(arg, strlen(arg)))
        return 0;
    return ct_cli_usage_error(cli, "%s is not valid UTF-8 text", opt);
}

int ct_cli_missing(cli_t *cli, const char *opt, const char *what)
{
    return ct_cli_usage_error(cli, "missing %s %s", opt, what);
}
