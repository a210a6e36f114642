/*
 * Fuzz target: the frame reader (common/frame.c) on untrusted bytes, the Envelope unpack and
 * exactness check that follow it, and the validators of common/ids.c on every decoded string.
 *
 * Input: byte 0 picks max_frame, byte 1 the chunk schedule, the rest is the byte stream a peer
 * sends. The stream is fed in chunks of pseudo-random size (one byte at a time, up to 256, or all
 * at once), and after every feed the harness takes every complete frame, as the connection code
 * does. Properties:
 *   1. Frames come out exactly as a straightforward parse of the whole stream says, each as soon
 *      as its last byte has been fed; a zero or oversize length prefix fails (CT_EPROTO,
 *      CT_ETOOBIG) as soon as the 4 prefix bytes are in, and the error is sticky.
 *   2. Memory: after each drain the reader holds less than max_frame + 4 bytes, and its buffer
 *      never exceeds max_frame + 4 plus the largest single feed (frame.c invariant 2).
 *   3. A frame with a NUL inside any string field on the wire is never valid text for
 *      ct_frame_text_valid (the guard dispatch relies on).
 *   4. ct_utf8_valid, ct_id_valid, ct_client_msg_id_valid, ct_uuid_valid agree with independent
 *      references (oracle.c) on every decoded string.
 *   5. A decoded envelope re-framed by ct_frame_append_envelope reads back as one frame, which
 *      decodes to an envelope the exactness check accepts: what our encoder sends, the server
 *      takes as exact.
 */
#include <stdlib.h>
#include <string.h>

#include "careteam.pb-c.h"
#include "err.h"
#include "frame.h"
#include "oracle.h"

/* One complete frame of the reference parse: payload at data[off, off + len). */
typedef struct ref_frame {
    size_t off, len;
} ref_frame_t;

/* What the whole stream holds, judged in one pass with no chunking. */
typedef struct ref_parse {
    ref_frame_t *frames; /* owned */
    size_t n_frames;
    int err;       /* CT_EPROTO / CT_ETOOBIG for the first bad prefix, or 0 */
    size_t err_at; /* bytes that must be fed before err is due: the end of that prefix */
    size_t used;   /* bytes in complete frames (the rest is a partial frame or the bad one) */
} ref_parse_t;

static void ref_parse(const uint8_t *data, size_t n, size_t max_frame, ref_parse_t *out)
{
    memset(out, 0, sizeof *out);
    out->frames = malloc((n / (CT_FRAME_HEADER + 1) + 1) * sizeof *out->frames);
    CT_FUZZ_CHECK(out->frames != NULL, "out of memory");
    size_t off = 0;
    while (n - off >= CT_FRAME_HEADER) {
        const uint8_t *h = data + off;
        size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
        if (len == 0 || len > max_frame) {
            out->err = len == 0 ? CT_EPROTO : CT_ETOOBIG;
            out->err_at = off + CT_FRAME_HEADER;
            break;
        }
        if (n - off - CT_FRAME_HEADER < len)
            break;
        out->frames[out->n_frames++] = (ref_frame_t){off + CT_FRAME_HEADER, len};
        off += CT_FRAME_HEADER + len;
    }
    out->used = off;
}

/* xorshift32: a fixed chunk schedule for a given input, so every crash reproduces. */
static uint32_t next_rand(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static void check_string(const char *s, void *arg)
{
    (void)arg;
    ct_fuzz_check_validators(s);
}

/*
 * Property 3. ct_frame_text_valid checks every string field on the wire: a frame with a NUL inside
 * any string (which protobuf-c would silently cut short) is never called valid text.
 */
static void check_text(const uint8_t *payload, size_t len)
{
    if (!ct_fuzz_wire_has_nul_string(&careteam__v1__envelope__descriptor, payload, len))
        return;
    CT_FUZZ_CHECK(!ct_frame_text_valid(payload, len),
                  "an envelope of %zu bytes with a NUL inside a string passes as valid text", len);
}

/* Property 5. */
static void check_reframe(const Careteam__V1__Envelope *env, size_t max_frame)
{
    size_t packed = careteam__v1__envelope__get_packed_size(env);
    ct_buf_t out = CT_BUF_INIT;
    int rc = ct_frame_append_envelope(&out, env, max_frame);
    if (packed == 0 || packed > max_frame) {
        CT_FUZZ_CHECK(rc == (packed == 0 ? CT_EINVAL : CT_ETOOBIG), "append: rc %d for %zu bytes",
                      rc, packed);
        CT_FUZZ_CHECK(out.len == 0, "a refused envelope left %zu bytes", out.len);
        ct_buf_free(&out);
        return;
    }
    CT_FUZZ_CHECK(rc == 0 && out.len == CT_FRAME_HEADER + packed, "append: rc %d, %zu bytes", rc,
                  out.len);
    ct_frame_reader_t r;
    ct_frame_reader_init(&r, max_frame);
    CT_FUZZ_CHECK(ct_frame_reader_feed(&r, out.data, out.len) == 0, "feed of a re-framed envelope");
    Careteam__V1__Envelope *again = NULL;
    rc = ct_frame_next_envelope(&r, &again, NULL);
    CT_FUZZ_CHECK(rc == 1 || rc == CT_EINVAL, "re-read: rc %d of %zu bytes", rc, packed);
    CT_FUZZ_CHECK(ct_frame_reader_buffered(&r) == 0, "bytes left after the only frame");
    /* protobuf-c 1.4.1 keeps a field numbered 0 as an unknown field when its tag is spelled in
     * more than one byte, then re-encodes the tag as a single 0x00, which it refuses to decode.
     * Only an envelope with unknown fields can fail here; the server never re-sends those. */
    CT_FUZZ_CHECK(rc == 1 || ct_fuzz_has_unknown_fields(&env->base),
                  "a re-framed envelope without unknown fields does not decode");
    careteam__v1__envelope__free_unpacked(again, NULL);
    ct_frame_reader_free(&r);
    ct_buf_free(&out);
}

/* Everything the harness does with one frame's payload once the reader has returned it. */
static void check_payload(const Careteam__V1__Envelope *env, const uint8_t *payload, size_t len,
                          size_t max_frame)
{
    if (env == NULL)
        return;
    ct_fuzz_each_string(&env->base, check_string, NULL);
    check_text(payload, len);
    check_reframe(env, max_frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    /* 0x00-0x7f: a tiny limit (1-128 bytes), so oversize prefixes are easy to reach; 0xff: no
     * limit at all (clamped to the 32-bit prefix); otherwise the default 1 MiB. */
    size_t max_frame = data[0] < 0x80    ? (size_t)data[0] + 1
                       : data[0] == 0xff ? SIZE_MAX
                                         : CT_FRAME_DEFAULT_MAX;
    /* Chunks of 1..2^(b % 9) bytes, or the whole stream in one feed for 0xff. */
    uint8_t sched = data[1];
    uint32_t seed = 0x9e3779b9u ^ sched;
    size_t chunk_cap = (size_t)1 << (sched % 9);
    const uint8_t *wire = data + 2;
    size_t n = size - 2;

    ref_parse_t ref;
    ref_parse(wire, n, max_frame > UINT32_MAX ? UINT32_MAX : max_frame, &ref);

    ct_frame_reader_t r;
    ct_frame_reader_init(&r, max_frame);
    size_t fed = 0, got = 0, largest_feed = 0, taken = 0;
    int err = 0;
    do {
        size_t c = sched == 0xff ? n - fed : 1 + next_rand(&seed) % chunk_cap;
        if (c > n - fed)
            c = n - fed;
        /* Now and then an empty feed, which must change nothing. */
        if ((next_rand(&seed) & 15) == 0)
            CT_FUZZ_CHECK(ct_frame_reader_feed(&r, NULL, 0) == err, "empty feed");
        int rc = ct_frame_reader_feed(&r, wire + fed, c);
        CT_FUZZ_CHECK(rc == err, "feed returned %d, expected %d", rc, err);
        fed += c;
        if (c > largest_feed)
            largest_feed = c;

        while (err == 0) {
            /* Alternate the two ways the code reads frames: raw frames (the payload bytes can be
             * compared) and ct_frame_next_envelope (what the connection code calls). */
            bool raw = next_rand(&seed) & 1;
            const uint8_t *payload = NULL;
            size_t len = 0;
            Careteam__V1__Envelope *env = NULL;
            if (raw) {
                rc = ct_frame_reader_next(&r, &payload, &len);
                if (rc == 1)
                    env = careteam__v1__envelope__unpack(NULL, len, payload);
            } else {
                bool text_ok = false;
                rc = ct_frame_next_envelope(&r, &env, &text_ok);
                if (rc == CT_EINVAL)
                    rc = 1; /* a frame that is not an Envelope: consumed, stream in sync */
                CT_FUZZ_CHECK(rc == 1 || env == NULL, "envelope set with rc %d", rc);
                if (rc == 1 && got < ref.n_frames) {
                    /* This path does not hand out the payload: take the reference's frame, and
                     * check that the verdict on its text is the one ct_frame_text_valid gives. */
                    len = ref.frames[got].len;
                    CT_FUZZ_CHECK(env == NULL || text_ok == ct_frame_text_valid(
                                                                wire + ref.frames[got].off, len),
                                  "text_ok disagrees with ct_frame_text_valid");
                }
            }
            if (rc == 0)
                break;
            if (rc < 0) {
                CT_FUZZ_CHECK(rc == ref.err && got == ref.n_frames && fed >= ref.err_at,
                              "error %d after %zu frames and %zu bytes; expected %d after %zu "
                              "frames and %zu bytes",
                              rc, got, fed, ref.err, ref.n_frames, ref.err_at);
                err = rc;
                CT_FUZZ_CHECK(ct_frame_reader_next(&r, &payload, &len) == err, "error not sticky");
                break;
            }
            CT_FUZZ_CHECK(got < ref.n_frames, "frame %zu is one too many", got + 1);
            const ref_frame_t *want = &ref.frames[got];
            CT_FUZZ_CHECK(len == want->len && fed >= want->off + want->len,
                          "frame %zu: %zu bytes after %zu fed; expected %zu", got + 1, len, fed,
                          want->len);
            if (raw)
                CT_FUZZ_CHECK(memcmp(payload, wire + want->off, len) == 0,
                              "frame %zu: bytes differ", got + 1);
            check_payload(env, wire + want->off, len, r.max_frame);
            careteam__v1__envelope__free_unpacked(env, NULL);
            taken = want->off + want->len;
            got++;
        }

        /* Property 1: nothing complete is left behind after a drain. */
        if (err == 0) {
            CT_FUZZ_CHECK(got == ref.n_frames || ref.frames[got].off + ref.frames[got].len > fed,
                          "frame %zu complete after %zu bytes but not returned", got + 1, fed);
            CT_FUZZ_CHECK(ref.err == 0 || got < ref.n_frames || fed < ref.err_at,
                          "prefix error %d due after %zu bytes, not reported at %zu", ref.err,
                          ref.err_at, fed);
            /* Property 2. */
            size_t held = ct_frame_reader_buffered(&r);
            CT_FUZZ_CHECK(held == fed - taken, "reader holds %zu bytes, expected %zu", held,
                          fed - taken);
            CT_FUZZ_CHECK(held < r.max_frame + CT_FRAME_HEADER, "holds %zu bytes, max_frame %zu",
                          held, r.max_frame);
            CT_FUZZ_CHECK(r.buf.cap <= r.max_frame + CT_FRAME_HEADER + largest_feed,
                          "capacity %zu for max_frame %zu and feeds of at most %zu", r.buf.cap,
                          r.max_frame, largest_feed);
        }
    } while (fed < n);

    CT_FUZZ_CHECK(got == ref.n_frames && err == ref.err, "%zu frames, error %d; expected %zu, %d",
                  got, err, ref.n_frames, ref.err);
    ct_frame_reader_free(&r);
    free(ref.frames);
    return 0;
}
