/*
 * Bounded copies of NUL-terminated text into fixed-size fields.
 */
#ifndef CT_TEXT_H
#define CT_TEXT_H

#include <stddef.h>

/* Copies src (NULL reads as "") into dst, a field of cap bytes: cut at cap - 1 bytes and
 * NUL-terminated (with cap 0 nothing is written), as snprintf(dst, cap, "%s", src) does but without
 * the format machinery, which costs more than the copy itself on the daemon's per-message paths.
 * Returns strlen(src), like snprintf, so that a result >= cap means the text was cut. */
size_t ct_text_copy(char *dst, size_t cap, const char *src);

#endif
