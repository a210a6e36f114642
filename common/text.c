/* Bounded text copies (see text.h). */
#include "text.h"

#include <string.h>

size_t ct_text_copy(char *dst, size_t cap, const char *src)
{
    if (src == NULL)
        src = "";
    size_t len = strlen(src);
    if (cap == 0)
        return len; /* no room even for the terminator: nothing written, as snprintf */
    size_t n = len < cap ? len : cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return len;
}
