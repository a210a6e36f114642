/*
 * The error table (err.h) turned into lookups. Everything here is derived from CT_ERRNO_MAP so
 * that a new code is one line in err.h and nothing else.
 *
 * Invariant relied on by ct_err_from_wire: for each wire ErrorCode, the first row of the table
 * that maps to it is the code a client should see for it (CT_ENOTFOUND for NOT_FOUND, not a
 * later alias such as CT_EIO for UNAVAILABLE).
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "careteam.pb-c.h"

#define WIRE(suffix) CARETEAM__V1__ERROR_CODE__ERROR_CODE_##suffix

/* The prefix protoc-c keeps in the enum value names ("ERROR_CODE_NOT_FOUND"). */
#define WIRE_NAME_PREFIX "ERROR_CODE_"

const char *ct_strerror(int err)
{
    switch (err) {
#define CT_ERR_MSG(name, val, wire, msg)                                                           \
    case CT_E##name:                                                                               \
        return msg;
        CT_ERRNO_MAP(CT_ERR_MSG)
#undef CT_ERR_MSG
    default:
        return "unknown error";
    }
}

const char *ct_errname(int err)
{
    switch (err) {
#define CT_ERR_NAME(name, val, wire, msg)                                                          \
    case CT_E##name:                                                                               \
        return "CT_E" #name;
        CT_ERRNO_MAP(CT_ERR_NAME)
#undef CT_ERR_NAME
    default:
        return "CT_E?";
    }
}

int ct_err_to_wire(int err)
{
    switch (err) {
#define CT_ERR_WIRE(name, val, wire, msg)                                                          \
    case CT_E##name:                                                                               \
        return WIRE(wire);
        CT_ERRNO_MAP(CT_ERR_WIRE)
#undef CT_ERR_WIRE
    default:
        return WIRE(INTERNAL);
    }
}

int ct_err_from_wire(int wire_code)
{
    /* A linear scan in table order, so the first row for a wire code wins (see the invariant at
     * the top). The table is short and this runs once per error response. */
#define CT_ERR_FROM_WIRE(name, val, wire, msg)                                                     \
    if (wire_code == WIRE(wire))                                                                   \
        return CT_E##name;
    CT_ERRNO_MAP(CT_ERR_FROM_WIRE)
#undef CT_ERR_FROM_WIRE
    /* UNSPECIFIED, or a code appended to the protocol after this build: the server failed in a
     * way we cannot name more precisely. */
    return CT_EINTERNAL;
}

const char *ct_wire_code_name(int wire_code)
{
    /* The generated descriptor knows every code in the schema, including ones no CT_E* maps to
     * (UNSPECIFIED), so new wire codes get a name without touching this file. */
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&careteam__v1__error_code__descriptor, wire_code);
    if (v == NULL)
        return "UNKNOWN";
    size_t plen = strlen(WIRE_NAME_PREFIX);
    if (strncmp(v->name, WIRE_NAME_PREFIX, plen) == 0)
        return v->name + plen;
    return v->name;
}

int ct_errf(char *errbuf, size_t errlen, int err, const char *fmt, ...)
{
    if (errbuf != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return err;
}
