/*
 * Framing: a 4-byte big-endian length N (1 <= N <= max_frame) followed by N payload bytes.
 *
 * The reader is resumable: feed it bytes exactly as they arrive (one byte at a time or many
 * frames at once) and take complete frames out. It never allocates according to the length
 * prefix: its buffer grows only with bytes that actually arrived, and never beyond
 * max_frame + 4, so a peer cannot make us reserve memory it has not sent.
 */
#ifndef CT_FRAME_H
#define CT_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "careteam.pb-c.h"

#define CT_FRAME_HEADER 4u
#define CT_FRAME_DEFAULT_MAX (1024u * 1024u)

typedef struct ct_frame_reader {
    ct_buf_t buf;     /* bytes received and not yet consumed; owned */
    size_t start;     /* offset of the first unconsumed byte in buf */
    size_t max_frame; /* largest payload accepted */
    int failed;       /* sticky: the first error returned by next(), 0 while healthy */
} ct_frame_reader_t;

void ct_frame_reader_init(ct_frame_reader_t *r, size_t max_frame);
void ct_frame_reader_free(ct_frame_reader_t *r);

/*
 * Appends received bytes. Returns 0, CT_ENOMEM, or the reader's sticky error.
 * Bytes beyond the current frame are kept for later calls to next().
 */
int ct_frame_reader_feed(ct_frame_reader_t *r, const uint8_t *data, size_t len);

/*
 * Takes the next complete frame. Returns 1 with *payload and *len set (valid until the next call
 * to feed or next), 0 when no complete frame is buffered yet, CT_ETOOBIG when the length prefix
 * exceeds max_frame, or CT_EPROTO for a zero length. Errors are sticky: the stream cannot be
 * resynchronised, so the caller must close the connection.
 */
int ct_frame_reader_next(ct_frame_reader_t *r, const uint8_t **payload, size_t *len);

/* Bytes held by the reader (received but not yet returned as frames). */
size_t ct_frame_reader_buffered(const ct_frame_reader_t *r);

/* Writes the 4-byte header for a payload of len bytes. */
void ct_frame_put_header(uint8_t hdr[CT_FRAME_HEADER], uint32_t len);

/*
 * Appends one frame holding a serialized Envelope (header + packed bytes) to out.
 * Returns 0, CT_ENOMEM, CT_ETOOBIG if the packed envelope exceeds max_frame, or CT_EINVAL for an
 * envelope that packs to zero bytes (request_id 0 and no body), which no peer would accept.
 */
int ct_frame_append_envelope(ct_buf_t *out, const Careteam__V1__Envelope *env, size_t max_frame);

/*
 * Takes the next complete frame and unpacks it. Returns 1 with *env (the caller frees it with
 * careteam__v1__envelope__free_unpacked) and, if text_ok is not NULL, whether every string field
 * of the frame is valid text (ct_frame_text_valid); 0 when no complete frame is buffered; the
 * reader's framing errors (CT_ETOOBIG, CT_EPROTO; sticky); or CT_EINVAL when the frame is not a
 * valid Envelope (the frame is consumed; the stream stays in sync).
 */
int ct_frame_next_envelope(ct_frame_reader_t *r, Careteam__V1__Envelope **env, bool *text_ok);

/*
 * True when every string field in a serialized Envelope, at every depth, is UTF-8 without NUL,
 * checked on the wire bytes. protobuf-c neither checks UTF-8 nor keeps a string's length (it
 * hands strings over as C strings, so text after a NUL would silently vanish): this is the one
 * place that checks every text field a peer sends, whatever its message type.
 */
bool ct_frame_text_valid(const uint8_t *payload, size_t len);

#endif
