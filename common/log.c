/*
 * Logging (see log.h). Each event becomes one line, formatted in a stack buffer and handed to
 * the kernel with one write(2) on fd 2. Lines are at most CT_LOG_LINE bytes, which is PIPE_BUF
 * on Linux, so a write to a pipe or journald's stream socket is not interleaved with another
 * thread's line. No lock and no stdio: stdio buffering would split or merge lines.
 *
 * The level is the one piece of process-wide state. It is set before threads start and only
 * read afterwards, so it needs no synchronisation.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

#define CT_LOG_LINE 4096

/* Appended when the formatted line did not fit, so a reader knows something is missing. */
#define CT_LOG_TRUNCATED " truncated=true"

static ct_log_level_t min_level = CT_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void ct_log_set_level(ct_log_level_t level)
{
    min_level = level;
}

int ct_log_parse_level(const char *s, ct_log_level_t *out)
{
    if (s == NULL)
        return CT_EINVAL;
    for (int i = CT_LOG_DEBUG; i <= CT_LOG_ERROR; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (ct_log_level_t)i;
            return 0;
        }
    }
    return CT_EINVAL;
}

/* Writes `ts=YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC) into dst. Returns the length written. */
static size_t format_ts(char *dst, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    memset(&ts, 0, sizeof ts);
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    if (gmtime_r(&ts.tv_sec, &tm) == NULL)
        memset(&tm, 0, sizeof tm);
    int n = snprintf(dst, cap, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)(ts.tv_nsec / 1000000));
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

/* Replaces control characters (newlines above all) with '?': values may come from the network
 * (a client name, a peer address), and a newline in one would forge a second log line. */
static void neutralise_controls(char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            s[i] = '?';
    }
}

/* write(2) until done or a real error; a log line that cannot be written is dropped. */
static void write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        len -= (size_t)w;
    }
}

void ct_log(ct_log_level_t level, const char *event, const char *fmt, ...)
{
    if (level < min_level || level > CT_LOG_ERROR)
        return;
    int saved_errno = errno; /* callers often log and then inspect errno */
    char line[CT_LOG_LINE];
    /* Everything but the newline and the truncation marker goes into `body`. */
    size_t body = sizeof line - sizeof CT_LOG_TRUNCATED - 1;
    size_t len = format_ts(line, body);
    bool truncated = false;

    int n = snprintf(line + len, body - len, " level=%s event=%s", level_names[level],
                     event != NULL ? event : "-");
    if (n < 0 || (size_t)n >= body - len) {
        truncated = true;
        len = body - 1;
    } else {
        len += (size_t)n;
    }

    if (!truncated && fmt != NULL && fmt[0] != '\0') {
        line[len++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        n = vsnprintf(line + len, body - len, fmt, ap);
        va_end(ap);
        if (n <= 0) {
            len--; /* drop the separator: nothing followed it, or the format was unusable */
        } else if ((size_t)n >= body - len) {
            truncated = true;
            len = body - 1;
        } else {
            len += (size_t)n;
        }
    }

    neutralise_controls(line, len);
    if (truncated) {
        memcpy(line + len, CT_LOG_TRUNCATED, sizeof CT_LOG_TRUNCATED - 1);
        len += sizeof CT_LOG_TRUNCATED - 1;
    }
    line[len++] = '\n';
    write_all(STDERR_FILENO, line, len);
    errno = saved_errno;
}
