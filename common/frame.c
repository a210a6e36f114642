/*
 * Length-prefixed framing (see frame.h): the resumable reader and the envelope writer.
 *
 * Reader invariants:
 *   1. start <= buf.len; bytes [start, buf.len) are received and not yet returned as frames.
 *   2. The buffer grows only to hold bytes that arrived, and its growth policy never takes the
 *      capacity beyond max(max_frame + 4, bytes held): a length prefix alone never reserves
 *      memory. When the caller takes every complete frame after each feed (as the connection
 *      code does), a partial frame needs at most max_frame + 3 bytes, so what the reader holds
 *      stays below max_frame + 4 plus the size of the latest feed.
 *   3. Once failed != 0 it never changes and every call returns it; no more bytes are stored.
 *   4. A payload returned by next() lies in [start_before, start) and nothing moves bytes
 *      before the next call to feed() or next(), which is what keeps the pointer valid.
 */
#include "frame.h"
#include "ids.h"

#include <stdlib.h>
#include <string.h>

#include "careteam.pb-c.h"
#include "err.h"

/* An idle reader that once held a large frame gives the memory back rather than keep up to
 * max_frame per connection for its lifetime. Below this size the allocation is kept for reuse. */
#define CT_FRAME_KEEP (64u * 1024u)

/* First allocation for a reader: room for a typical small frame. */
#define CT_FRAME_MIN_CAP 256u

static uint32_t get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

void ct_frame_put_header(uint8_t hdr[CT_FRAME_HEADER], uint32_t len)
{
    hdr[0] = (uint8_t)(len >> 24);
    hdr[1] = (uint8_t)(len >> 16);
    hdr[2] = (uint8_t)(len >> 8);
    hdr[3] = (uint8_t)len;
}

void ct_frame_reader_init(ct_frame_reader_t *r, size_t max_frame)
{
    memset(r, 0, sizeof *r);
    /* The prefix is 32 bits, so no larger frame can be expressed; clamping keeps max_frame + 4
     * from overflowing below. */
    r->max_frame = max_frame > UINT32_MAX ? UINT32_MAX : max_frame;
}

void ct_frame_reader_free(ct_frame_reader_t *r)
{
    ct_buf_free(&r->buf);
    r->start = 0;
}

size_t ct_frame_reader_buffered(const ct_frame_reader_t *r)
{
    return r->buf.len - r->start;
}

/* Moves unconsumed bytes to the front, or releases a large allocation that holds none. Called
 * only at the start of feed(), when no returned payload may still be in use (invariant 4). */
static void compact(ct_frame_reader_t *r)
{
    if (r->start == r->buf.len && r->buf.cap > CT_FRAME_KEEP) {
        ct_buf_free(&r->buf);
        r->start = 0;
        return;
    }
    if (r->start > 0) {
        ct_buf_consume(&r->buf, r->start);
        r->start = 0;
    }
}

/* Makes room for `extra` more bytes, doubling up to the cap of invariant 2 but never past it
 * unless the bytes themselves need it. Returns 0 or CT_ENOMEM (buffer unchanged). */
static int grow(ct_frame_reader_t *r, size_t extra)
{
    ct_buf_t *b = &r->buf;
    if (b->cap - b->len >= extra)
        return 0;
    if (extra > SIZE_MAX - b->len)
        return CT_ENOMEM;
    size_t need = b->len + extra;
    size_t limit = r->max_frame + CT_FRAME_HEADER;
    size_t cap = b->cap < CT_FRAME_MIN_CAP ? CT_FRAME_MIN_CAP : b->cap * 2;
    if (cap > limit)
        cap = limit;
    if (cap < need)
        cap = need;
    uint8_t *p = realloc(b->data, cap);
    if (p == NULL)
        return CT_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int ct_frame_reader_feed(ct_frame_reader_t *r, const uint8_t *data, size_t len)
{
    if (r->failed != 0)
        return r->failed;
    if (len == 0)
        return 0;
    compact(r);
    int err = grow(r, len);
    if (err != 0)
        return err;
    memcpy(r->buf.data + r->buf.len, data, len);
    r->buf.len += len;
    return 0;
}

int ct_frame_reader_next(ct_frame_reader_t *r, const uint8_t **payload, size_t *len)
{
    if (r->failed != 0)
        return r->failed;
    size_t avail = r->buf.len - r->start;
    if (avail < CT_FRAME_HEADER)
        return 0;
    const uint8_t *p = r->buf.data + r->start;
    uint32_t n = get_be32(p);
    /* Judge the prefix as soon as it is complete, before any payload arrives, so an oversized
     * frame is refused without waiting for (or storing) its bytes. */
    if (n == 0) {
        r->failed = CT_EPROTO;
        return r->failed;
    }
    if (n > r->max_frame) {
        r->failed = CT_ETOOBIG;
        return r->failed;
    }
    if (avail - CT_FRAME_HEADER < n)
        return 0;
    *payload = p + CT_FRAME_HEADER;
    *len = n;
    r->start += CT_FRAME_HEADER + n;
    return 1;
}

int ct_frame_append_envelope(ct_buf_t *out, const Careteam__V1__Envelope *e, size_t max_frame)
{
    size_t n = careteam__v1__envelope__get_packed_size(e);
    if (n > max_frame || n > UINT32_MAX)
        return CT_ETOOBIG;
    /* An envelope with request_id 0 and no body packs to zero bytes, which the reader refuses
     * as a protocol violation; refuse to send it rather than make the peer close on us. */
    if (n == 0)
        return CT_EINVAL;
    int err = ct_buf_reserve(out, CT_FRAME_HEADER + n);
    if (err != 0)
        return err;
    uint8_t *dst = out->data + out->len;
    ct_frame_put_header(dst, (uint32_t)n);
    size_t packed = careteam__v1__envelope__pack(e, dst + CT_FRAME_HEADER);
    if (packed != n)
        return CT_EINTERNAL; /* out->len unchanged: the partial bytes are not part of the buffer */
    out->len += CT_FRAME_HEADER + n;
    return 0;
}

int ct_frame_next_envelope(ct_frame_reader_t *r, Careteam__V1__Envelope **env, bool *text_ok)
{
    const uint8_t *payload;
    size_t len;
    *env = NULL;
    int n = ct_frame_reader_next(r, &payload, &len);
    if (n <= 0)
        return n;
    *env = careteam__v1__envelope__unpack(NULL, len, payload);
    if (*env == NULL)
        return CT_EINVAL;
    if (text_ok != NULL)
        *text_ok = ct_frame_text_valid(payload, len);
    return 1;
}

/* Reads a base-128 varint at *p (< end). Returns false if it is truncated or longer than 10
 * bytes. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << (shift < 64 ? shift : 63);
        if ((b & 0x80) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* Message nesting we follow; the schema nests two deep (Envelope > Deliver > Message). */
#define TEXT_WALK_DEPTH 8

/* Walks the fields of one message of type desc in data[0..len): every string field, at any depth
 * of known sub-messages, must be UTF-8 without NUL. Unknown fields and other types are skipped;
 * malformed wire data is the decoder's business (it refused it already). */
static bool text_walk(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
                      int depth)
{
    const uint8_t *p = data, *end = data + len;
    while (p < end) {
        uint64_t key, n;
        if (!read_varint(&p, end, &key))
            return false;
        const ProtobufCFieldDescriptor *f =
            key >> 3 <= UINT32_MAX
                ? protobuf_c_message_descriptor_get_field(desc, (unsigned)(key >> 3))
                : NULL;
        switch (key & 7) {
        case 0:
            if (!read_varint(&p, end, &n))
                return false;
            break;
        case 1:
            if (end - p < 8)
                return false;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return false;
            p += 4;
            break;
        case 2:
            if (!read_varint(&p, end, &n) || n > (uint64_t)(end - p))
                return false;
            if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING &&
                !ct_utf8_valid((const char *)p, (size_t)n))
                return false;
            if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                (depth >= TEXT_WALK_DEPTH || !text_walk(f->descriptor, p, (size_t)n, depth + 1)))
                return false;
            p += n;
            break;
        default:
            return false; /* groups: not proto3 */
        }
    }
    return true;
}

bool ct_frame_text_valid(const uint8_t *payload, size_t len)
{
    return text_walk(&careteam__v1__envelope__descriptor, payload, len, 0);
}
