/*
 * What the fuzz harnesses share: the libFuzzer entry point each harness defines, the check that
 * turns a broken property into a crash, and reference implementations the harnesses compare the
 * production code against.
 *
 * The references are written from the specifications (RFC 3629 for UTF-8, ids.h for identifiers,
 * the protobuf wire format), not from the code they check, and favour being obviously right over
 * being fast: a harness that only re-runs the same algorithm finds nothing.
 */
#ifndef CT_FUZZ_ORACLE_H
#define CT_FUZZ_ORACLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Defined by each harness; called by libFuzzer, or by the plain driver (replay.c) per file. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with a message naming the harness line when cond is false, which libFuzzer (and the
 * replay test) reports as a crash. Used for every property, so one grep finds them all. */
#define CT_FUZZ_CHECK(cond, ...)                                                                   \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ct_fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                  \
    } while (0)

_Noreturn void ct_fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reference validators: the same contracts as ids.h, implemented independently. */
bool ct_fuzz_utf8_ref(const char *s, size_t len); /* decodes code points, then judges them */
bool ct_fuzz_id_ref(const char *s);
bool ct_fuzz_client_msg_id_ref(const char *s);
bool ct_fuzz_uuid_ref(const char *s);

/* Runs every validator of ids.h on s and aborts when one disagrees with its reference. */
void ct_fuzz_check_validators(const char *s);

/* Calls fn for every string field present in a decoded message and its sub-messages (each
 * element of a repeated field, only the set member of a oneof). */
void ct_fuzz_each_string(const ProtobufCMessage *m, void (*fn)(const char *s, void *arg),
                         void *arg);

/* True if a decoded message or one of its sub-messages holds a negative enum value. */
bool ct_fuzz_has_negative_enum(const ProtobufCMessage *m);

/* True if a decoded message or one of its sub-messages kept fields the schema does not know. */
bool ct_fuzz_has_unknown_fields(const ProtobufCMessage *m);

/*
 * True if the wire bytes p[0..len) of a message of type desc carry a NUL byte inside any string
 * field, at any depth and in any occurrence (also one a later occurrence overrides). Bytes the
 * walker cannot parse stop the walk; call it only on bytes the decoder accepted.
 */
bool ct_fuzz_wire_has_nul_string(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                                 size_t len);

#endif
