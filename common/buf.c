/*
 * Growable byte buffer (see buf.h).
 *
 * Invariants, checked by every function that changes the buffer:
 *   1. len <= cap.
 *   2. data == NULL exactly when cap == 0.
 * Growth doubles the capacity (at least CT_BUF_MIN) so that appending n bytes one at a time costs
 * O(n) copies in total. A failed allocation leaves the buffer as it was.
 */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

/* Smallest allocation: most frames and envelopes are small, so one allocation usually serves. */
#define CT_BUF_MIN 64u

int ct_buf_reserve(ct_buf_t *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    if (extra > SIZE_MAX - b->len)
        return CT_ENOMEM;
    size_t need = b->len + extra;
    size_t cap = b->cap < CT_BUF_MIN ? CT_BUF_MIN : b->cap;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = realloc(b->data, cap);
    if (p == NULL)
        return CT_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int ct_buf_append(ct_buf_t *b, const void *data, size_t len)
{
    if (len == 0)
        return 0; /* data may be NULL then; memcpy would not allow it */
    int r = ct_buf_reserve(b, len);
    if (r != 0)
        return r;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

void ct_buf_consume(ct_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void ct_buf_reset(ct_buf_t *b)
{
    b->len = 0;
}

void ct_buf_free(ct_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
