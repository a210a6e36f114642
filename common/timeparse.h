/*
 * Calendar dates and RFC 3339 times as people type them on a command line: one parser for the
 * daemon's commands (purge --before) and the CLI (--since, --until, summary --date).
 */
#ifndef CT_TIMEPARSE_H
#define CT_TIMEPARSE_H

#include <stdbool.h>
#include <stdint.h>

/* Days in month m (1-12) of year y, Gregorian. */
int ct_days_in_month(int y, int m);

/* Whether s is exactly YYYY-MM-DD naming a real calendar day, year 1900 or later. */
bool ct_date_valid(const char *s);

/*
 * Parses "YYYY-MM-DD" (midnight UTC; *date_only set true) or an RFC 3339 date-time
 * "YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)" (T, t or a space; digits past milliseconds are
 * dropped; second 60 reads as the next second) into Unix milliseconds, from 1970 on. date_only may
 * be NULL. Returns 0 or CT_EINVAL.
 */
int ct_time_parse(const char *s, int64_t *out_ms, bool *date_only);

#endif
