/*
 * A growable byte buffer: the one type used for frames, ciphertext queues and encoded
 * envelopes on both sides.
 *
 * Invariants: len <= cap; data is NULL exactly when cap == 0. The buffer owns data; free it
 * with ct_buf_free. Pointers into data are invalidated by any call that may grow the buffer.
 */
#ifndef CT_BUF_H
#define CT_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct ct_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} ct_buf_t;

#define CT_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Makes room for at least `extra` more bytes. Returns 0 or CT_ENOMEM (buffer unchanged). */
int ct_buf_reserve(ct_buf_t *b, size_t extra);

/* Appends len bytes. Returns 0 or CT_ENOMEM (buffer unchanged). */
int ct_buf_append(ct_buf_t *b, const void *data, size_t len);

/* Drops the first n bytes (n <= len), moving the rest to the front. */
void ct_buf_consume(ct_buf_t *b, size_t n);

/* Empties the buffer but keeps its memory for reuse. */
void ct_buf_reset(ct_buf_t *b);

/* Releases the memory; the buffer is then empty and may be reused. */
void ct_buf_free(ct_buf_t *b);

#endif
