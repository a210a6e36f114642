/*
 * Reference checks for the fuzz harnesses (see oracle.h).
 */
#include "oracle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"

void ct_fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    fprintf(stderr, "%s:%d: property violated: %s\n  ", file, line, cond);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

/* ---- validators ------------------------------------------------------------------------------ */

/*
 * Decodes one code point at a time from its bit pattern, then judges the value: the shortest form
 * (no overlongs), not a surrogate, at most U+10FFFF, and not NUL (ids.h refuses NUL because the
 * strings end up in C strings and SQLite text).
 */
bool ct_fuzz_utf8_ref(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        uint32_t cp, min;
        if ((c & 0x80) == 0) {
            n = 1, cp = c, min = 0;
        } else if ((c & 0xe0) == 0xc0) {
            n = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n > len - i)
            return false;
        for (size_t k = 1; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp == 0 || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n;
    }
    return true;
}

bool ct_fuzz_id_ref(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 64 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

bool ct_fuzz_client_msg_id_ref(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!(s[i] > ' ' && s[i] <= '~'))
            return false;
    }
    return true;
}

/* 8-4-4-4-12 groups of lowercase hex digits. */
bool ct_fuzz_uuid_ref(const char *s)
{
    static const size_t groups[] = {8, 4, 4, 4, 12};
    const char *p = s;
    for (size_t g = 0; g < 5; g++) {
        if (g > 0 && *p++ != '-')
            return false;
        size_t n = strspn(p, "0123456789abcdef");
        if (n < groups[g])
            return false;
        p += groups[g];
    }
    return *p == '\0';
}

void ct_fuzz_check_validators(const char *s)
{
    size_t n = strlen(s);
    CT_FUZZ_CHECK(ct_utf8_valid(s, n) == ct_fuzz_utf8_ref(s, n), "ct_utf8_valid on %zu bytes", n);
    CT_FUZZ_CHECK(ct_id_valid(s) == ct_fuzz_id_ref(s), "ct_id_valid(\"%s\")", s);
    CT_FUZZ_CHECK(ct_client_msg_id_valid(s) == ct_fuzz_client_msg_id_ref(s),
                  "ct_client_msg_id_valid(\"%s\")", s);
    CT_FUZZ_CHECK(ct_uuid_valid(s) == ct_fuzz_uuid_ref(s), "ct_uuid_valid(\"%s\")", s);
}

/* ---- decoded messages ------------------------------------------------------------------------ */

/* The number of values field f holds in message base (0 for an unset oneof member), and where
 * they are: *values points at the value itself, or for a repeated field at its array. */
static size_t field_values(const char *base, const ProtobufCFieldDescriptor *f, const void **values)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t which;
        memcpy(&which, base + f->quantifier_offset, sizeof which);
        if (which != f->id)
            return 0;
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t n;
        memcpy(&n, base + f->quantifier_offset, sizeof n);
        memcpy(values, base + f->offset, sizeof *values);
        return n;
    }
    *values = base + f->offset;
    return 1;
}

/* The i-th value of a field whose values are pointers (strings, messages). */
static const void *pointer_value(const ProtobufCFieldDescriptor *f, const void *values, size_t i)
{
    const void *v;
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        memcpy(&v, (const char *)values + i * sizeof v, sizeof v);
    else
        memcpy(&v, values, sizeof v);
    return v;
}

void ct_fuzz_each_string(const ProtobufCMessage *m, void (*fn)(const char *s, void *arg), void *arg)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned k = 0; k < d->n_fields; k++) {
        const ProtobufCFieldDescriptor *f = &d->fields[k];
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const void *values;
        size_t n = field_values((const char *)m, f, &values);
        for (size_t i = 0; i < n; i++) {
            const void *v = pointer_value(f, values, i);
            if (v == NULL)
                continue;
            if (f->type == PROTOBUF_C_TYPE_STRING)
                fn(v, arg);
            else
                ct_fuzz_each_string(v, fn, arg);
        }
    }
}

bool ct_fuzz_has_negative_enum(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned k = 0; k < d->n_fields; k++) {
        const ProtobufCFieldDescriptor *f = &d->fields[k];
        const void *values;
        size_t n;
        if (f->type == PROTOBUF_C_TYPE_ENUM) {
            n = field_values((const char *)m, f, &values);
            for (size_t i = 0; i < n; i++) {
                int32_t e;
                memcpy(&e, (const char *)values + i * sizeof e, sizeof e);
                if (e < 0)
                    return true;
            }
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            n = field_values((const char *)m, f, &values);
            for (size_t i = 0; i < n; i++) {
                const ProtobufCMessage *sub = pointer_value(f, values, i);
                if (sub != NULL && ct_fuzz_has_negative_enum(sub))
                    return true;
            }
        }
    }
    return false;
}

bool ct_fuzz_has_unknown_fields(const ProtobufCMessage *m)
{
    if (m->n_unknown_fields > 0)
        return true;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned k = 0; k < d->n_fields; k++) {
        const ProtobufCFieldDescriptor *f = &d->fields[k];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const void *values;
        size_t n = field_values((const char *)m, f, &values);
        for (size_t i = 0; i < n; i++) {
            const ProtobufCMessage *sub = pointer_value(f, values, i);
            if (sub != NULL && ct_fuzz_has_unknown_fields(sub))
                return true;
        }
    }
    return false;
}

/* ---- wire bytes ------------------------------------------------------------------------------ */

/* Reads a base-128 varint of at most 10 bytes. Returns false if it runs past end. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

bool ct_fuzz_wire_has_nul_string(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                                 size_t len)
{
    const uint8_t *end = p + len;
    while (p < end) {
        uint64_t tag, v;
        if (!read_varint(&p, end, &tag))
            return false;
        switch (tag & 7) {
        case 0: /* varint */
            if (!read_varint(&p, end, &v))
                return false;
            break;
        case 1: /* 64-bit */
            if (end - p < 8)
                return false;
            p += 8;
            break;
        case 5: /* 32-bit */
            if (end - p < 4)
                return false;
            p += 4;
            break;
        case 2: { /* length-delimited */
            if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p))
                return false;
            const ProtobufCFieldDescriptor *f =
                tag >> 3 <= UINT32_MAX
                    ? protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3))
                    : NULL;
            if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING && memchr(p, 0, (size_t)v) != NULL)
                return true;
            if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                ct_fuzz_wire_has_nul_string(f->descriptor, p, (size_t)v))
                return true;
            p += v;
            break;
        }
        default: /* groups: protobuf-c refuses them, so the bytes were not accepted */
            return false;
        }
    }
    return false;
}
