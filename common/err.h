/*
 * The one error table of careteam.
 *
 * Every function that can fail returns 0 (or a non-negative count) on success and a negative
 * CT_E* code on failure. Each code maps to exactly one wire ErrorCode (proto/careteam.proto) and
 * has a default message a person can act on. Handlers may give a more specific message, but the
 * mapping from code to wire code lives only here.
 */
#ifndef CT_ERR_H
#define CT_ERR_H

#include <stddef.h>

/* X(name, value, wire ErrorCode suffix, default message) */
#define CT_ERRNO_MAP(X)                                                                            \
    X(UNAUTHENTICATED, -1, UNAUTHENTICATED,                                                        \
      "the client certificate does not name an active member")                                     \
    X(FORBIDDEN, -2, FORBIDDEN, "your role does not allow this request")                           \
    X(NOTFOUND, -3, NOT_FOUND, "no such object")                                                   \
    X(INVAL, -4, INVALID_ARGUMENT, "invalid argument")                                             \
    X(CONFLICT, -5, CONFLICT, "the request conflicts with an earlier one")                         \
    X(PRECONDITION, -6, FAILED_PRECONDITION, "the request is not allowed in this state")           \
    X(TOOBIG, -7, TOO_LARGE, "too large")                                                          \
    X(RATELIMIT, -8, RATE_LIMITED, "too many requests; slow down and retry")                       \
    X(UNAVAIL, -9, UNAVAILABLE, "the server cannot take this request now; retry later")            \
    X(INTERNAL, -10, INTERNAL, "internal server error")                                            \
    X(NOMEM, -11, INTERNAL, "out of memory")                                                       \
    X(IO, -12, UNAVAILABLE, "storage is unavailable (disk full or I/O error); retry later")        \
    X(PROTO, -13, INVALID_ARGUMENT, "protocol violation")                                          \
    X(TLS, -14, UNAUTHENTICATED, "TLS failure")                                                    \
    X(CLOSED, -15, UNAVAILABLE, "the connection is closed")                                        \
    X(EXISTS, -16, CONFLICT, "already exists")                                                     \
    X(TIMEDOUT, -17, UNAVAILABLE, "timed out")                                                     \
    X(SYS, -18, INTERNAL, "system call failed")

enum ct_err {
#define CT_ERR_ENUM(name, val, wire, msg) CT_E##name = (val),
    CT_ERRNO_MAP(CT_ERR_ENUM)
#undef CT_ERR_ENUM
};

/* The default human message for a code; "unknown error" for anything outside the table. */
const char *ct_strerror(int err);

/* The symbolic name ("CT_ENOTFOUND"), for logs and tests; "CT_E?" for unknown codes. */
const char *ct_errname(int err);

/* The wire ErrorCode (a Careteam__V1__ErrorCode value) for a code; INTERNAL for unknown ones. */
int ct_err_to_wire(int err);

/* The best CT_E* code for a wire ErrorCode received from the server (used by the client). */
int ct_err_from_wire(int wire_code);

/*
 * Writes a formatted message into errbuf (if not NULL) and returns err: the one way functions
 * that report "code + message for a person" fill their caller's buffer.
 *     return ct_errf(errbuf, errlen, CT_EEXISTS, "%s already exists", path);
 */
int ct_errf(char *errbuf, size_t errlen, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The wire code's short name without prefix ("NOT_FOUND"), for CLI output and logs. */
const char *ct_wire_code_name(int wire_code);

#endif
