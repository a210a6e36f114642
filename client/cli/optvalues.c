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
#include "timeparse.h"

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

int ct_cli_check_date(cli_t *cli, const char *opt, const char *arg)
{
    if (ct_date_valid(arg))
        return 0;
    return ct_cli_usage_error(cli, "%s '%s' is not a date YYYY-MM-DD (for example 2026-01-31)", opt,
                              arg);
}

int ct_cli_check_time(cli_t *cli, const char *opt, const char *arg, bool end_of_day, int64_t *ms)
{
    bool date_only = false;
    if (ct_time_parse(arg, ms, &date_only) == 0) {
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
