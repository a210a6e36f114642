/*
 * Logging: one line per event on stderr, `key=value` pairs after a timestamp and level, so that
 * journald and grep both read it. Values with spaces or quotes are quoted by the caller's format.
 *
 * Never pass message bodies, subjects, participant labels or key material to these functions.
 */
#ifndef CT_LOG_H
#define CT_LOG_H

typedef enum ct_log_level {
    CT_LOG_DEBUG = 0,
    CT_LOG_INFO = 1,
    CT_LOG_WARN = 2,
    CT_LOG_ERROR = 3,
} ct_log_level_t;

/* Sets the lowest level that is printed (default CT_LOG_INFO). Call before starting threads. */
void ct_log_set_level(ct_log_level_t level);

/* Parses "debug", "info", "warn" or "error". Returns 0 or CT_EINVAL. */
int ct_log_parse_level(const char *s, ct_log_level_t *out);

/* Prints `ts=... level=... event=<event> <fmt...>` as one line (one write(2), thread-safe). */
void ct_log(ct_log_level_t level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define ct_log_debug(ev, ...) ct_log(CT_LOG_DEBUG, ev, __VA_ARGS__)
#define ct_log_info(ev, ...) ct_log(CT_LOG_INFO, ev, __VA_ARGS__)
#define ct_log_warn(ev, ...) ct_log(CT_LOG_WARN, ev, __VA_ARGS__)
#define ct_log_error(ev, ...) ct_log(CT_LOG_ERROR, ev, __VA_ARGS__)

#endif
