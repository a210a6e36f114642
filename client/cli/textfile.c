/*
 * Reading a text file, or standard input, whole: a message body (send --body-file) or a summary's
 * text (summary post --file).
 *
 * The text ends up in a protobuf string, so it must be UTF-8 without NUL bytes; both are checked
 * here so the user hears about a wrong file (a binary, a Latin-1 export) before anything is sent.
 * The size cap is the caller's: it keeps a wrong file out of memory, and where the protocol's
 * limit is known (a summary's 64 KiB) it gives a clear message before connecting.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ids.h"

/* "64 KiB (65536 bytes)" or "64 MiB": a size limit for messages. */
static void size_text(size_t n, char *buf, size_t len)
{
    if (n >= (1u << 20) && n % (1u << 20) == 0)
        snprintf(buf, len, "%zu MiB", n >> 20);
    else if (n >= 1024 && n % 1024 == 0)
        snprintf(buf, len, "%zu KiB (%zu bytes)", n >> 10, n);
    else
        snprintf(buf, len, "%zu bytes", n);
}

int ct_cli_read_text_file(const char *path, const char *what, size_t max, char **out,
                          size_t *len_out)
{
    bool is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "standard input" : path;
    *out = NULL;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (f == NULL) {
        ct_cli_errorf("cannot read %s %s: %s", what, path, strerror(errno));
        return CT_CLI_EXIT_FILE;
    }
    if (is_stdin && isatty(STDIN_FILENO))
        fprintf(stderr, "Type the text, then Ctrl-D on a new line.\n");
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int rc = 0;
    while (buf != NULL) {
        if (cap - len < 2) {
            char *grown = realloc(buf, cap * 2);
            if (grown == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (len > max) {
            char limit[64];
            size_text(max, limit, sizeof limit);
            ct_cli_errorf("%s %s is larger than %s, the most it may hold", what, name, limit);
            rc = CT_CLI_EXIT_FILE;
            break;
        }
        if (got == 0) {
            if (ferror(f)) {
                ct_cli_errorf("cannot read %s %s: %s", what, name, strerror(errno));
                rc = CT_CLI_EXIT_FILE;
            }
            break;
        }
    }
    if (!is_stdin)
        fclose(f);
    if (buf == NULL) {
        ct_cli_errorf("out of memory reading %s %s", what, name);
        return CT_CLI_EXIT_FILE;
    }
    if (rc != 0) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    if (memchr(buf, '\0', len) != NULL) {
        ct_cli_errorf("%s %s contains a NUL byte: it must be UTF-8 text", what, name);
        free(buf);
        return CT_CLI_EXIT_FILE;
    }
    if (!ct_utf8_valid(buf, len)) {
        ct_cli_errorf("%s %s is not UTF-8 text", what, name);
        free(buf);
        return CT_CLI_EXIT_FILE;
    }
    *out = buf;
    *len_out = len;
    return 0;
}
