/*
 * Dates and RFC 3339 times (see timeparse.h).
 */
#include "timeparse.h"

#include <string.h>
#include <time.h>

#include "err.h"

int ct_days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* Reads exactly n decimal digits at *p into *v and advances *p. */
static bool digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        x = x * 10 + (c - '0');
    }
    *p += n;
    *v = x;
    return true;
}

bool ct_date_valid(const char *s)
{
    const char *p = s;
    int y, m, d;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &m) || *p++ != '-' ||
        !digits(&p, 2, &d) || *p != '\0')
        return false;
    return y >= 1900 && m >= 1 && m <= 12 && d >= 1 && d <= ct_days_in_month(y, m);
}

int ct_time_parse(const char *s, int64_t *out_ms, bool *date_only)
{
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0, off_min = 0;
    int64_t frac_ms = 0;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d))
        return CT_EINVAL;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > ct_days_in_month(y, mo))
        return CT_EINVAL;
    if (date_only != NULL)
        *date_only = *p == '\0';
    if (*p != '\0') {
        /* RFC 3339 date-time: T (or t, or a space, as its section 5.6 allows), a time, and a
         * mandatory offset. */
        if (*p != 'T' && *p != 't' && *p != ' ')
            return CT_EINVAL;
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' ||
            !digits(&p, 2, &sec))
            return CT_EINVAL;
        if (h > 23 || mi > 59 || sec > 60) /* 60: a leap second, read as the next second */
            return CT_EINVAL;
        if (*p == '.') {
            p++;
            int64_t scale = 100;
            if (*p < '0' || *p > '9')
                return CT_EINVAL;
            for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
                frac_ms += (*p - '0') * scale; /* digits past milliseconds add 0 */
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1, oh, om;
            if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
                return CT_EINVAL;
            off_min = sign * (oh * 60 + om);
        } else {
            return CT_EINVAL;
        }
        if (*p != '\0')
            return CT_EINVAL;
    }
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return CT_EINVAL;
    *out_ms = ((int64_t)t - (int64_t)off_min * 60) * 1000 + frac_ms;
    return *out_ms >= 0 ? 0 : CT_EINVAL;
}
