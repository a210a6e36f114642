/* The checkpoint export file (see audit_export.h for the format). */
#include "audit_export.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* Longest line the reader accepts: a checkpoint line is about 260 bytes. */
#define LINE_MAX_LEN 1024
#define MAX_FIELDS 7

static void put_hex(FILE *f, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        fprintf(f, "%02x", p[i]);
}

int ct_audit_export_write(FILE *f, const char *comment, const ct_audit_pubkey_t *key,
                          const ct_audit_checkpoint_t *cps, size_t n)
{
    fprintf(f, "%s\n", CT_AUDIT_EXPORT_MAGIC);
    if (comment != NULL)
        fprintf(f, "# %s\n", comment);
    if (key != NULL) {
        uint8_t raw[CT_AUDIT_PUBKEY_LEN];
        ct_audit_pubkey_raw(key, raw);
        fprintf(f, "pubkey ed25519 %s ", ct_audit_pubkey_key_id(key));
        put_hex(f, raw, sizeof raw);
        fputc('\n', f);
    }
    for (size_t i = 0; i < n; i++) {
        const ct_audit_checkpoint_t *cp = &cps[i];
        fprintf(f, "checkpoint %" PRId64 " ", cp->seq);
        put_hex(f, cp->head, CT_AUDIT_HASH_LEN);
        fprintf(f, " %" PRId64 " ", cp->time_ms);
        put_hex(f, cp->sig, CT_AUDIT_SIG_LEN);
        fprintf(f, " %s\n", cp->key_id);
    }
    return fflush(f) == 0 && !ferror(f) ? 0 : CT_EIO;
}

/* Splits line at single spaces into at most MAX_FIELDS fields (in place). Returns the count,
 * or MAX_FIELDS + 1 if there are more. */
static size_t split(char *line, char *fields[MAX_FIELDS])
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        if (n == MAX_FIELDS)
            return MAX_FIELDS + 1;
        fields[n++] = p;
        char *sp = strchr(p, ' ');
        if (sp == NULL)
            return n;
        *sp = '\0';
        p = sp + 1;
    }
}

/* Parses a decimal int64 that is the whole of s. */
static bool parse_i64(const char *s, int64_t *out)
{
    if (*s == '\0' || (*s != '-' && (*s < '0' || *s > '9')))
        return false;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

static bool key_id_ok(const char *s)
{
    if (strlen(s) != CT_AUDIT_KEY_ID_LEN)
        return false;
    for (const char *p = s; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    }
    return true;
}

typedef struct reader {
    const char *path;
    long line_no;
    ct_audit_checkpoint_t *cps;
    size_t n, cap;
    ct_audit_pubkey_t *key;
    char *errbuf;
    size_t errlen;
} reader_t;

static int bad_line(reader_t *r, const char *what)
{
    return ct_errf(r->errbuf, r->errlen, CT_EINVAL, "%s:%ld: %s", r->path, r->line_no, what);
}

static int read_pubkey(reader_t *r, char **f, size_t nf)
{
    uint8_t raw[CT_AUDIT_PUBKEY_LEN];
    if (r->key != NULL)
        return bad_line(r, "a second pubkey line; an export holds one key");
    if (nf != 4 || strcmp(f[1], "ed25519") != 0 || !key_id_ok(f[2]) ||
        ct_audit_hex_decode(f[3], strlen(f[3]), raw, sizeof raw) != 0)
        return bad_line(r, "expected \"pubkey ed25519 KEY_ID HEX\" with a 16-digit key id and "
                           "64 hex digits of public key");
    if (ct_audit_pubkey_from_raw(raw, &r->key) != 0)
        return bad_line(r, "the public key is not a valid Ed25519 key");
    if (strcmp(ct_audit_pubkey_key_id(r->key), f[2]) != 0)
        return bad_line(r, "the key id does not match the public key on the line");
    return 0;
}

static int read_checkpoint(reader_t *r, char **f, size_t nf)
{
    ct_audit_checkpoint_t cp = {0};
    if (nf != 6 || !parse_i64(f[1], &cp.seq) || cp.seq < 1 ||
        ct_audit_hex_decode(f[2], strlen(f[2]), cp.head, sizeof cp.head) != 0 ||
        !parse_i64(f[3], &cp.time_ms) ||
        ct_audit_hex_decode(f[4], strlen(f[4]), cp.sig, sizeof cp.sig) != 0 || !key_id_ok(f[5]))
        return bad_line(r, "expected \"checkpoint SEQ HEAD TIME_MS SIGNATURE KEY_ID\": seq >= 1, "
                           "64 hex digits of head, 128 of signature, a 16-digit key id");
    memcpy(cp.key_id, f[5], CT_AUDIT_KEY_ID_LEN + 1);
    if (r->n == r->cap) {
        size_t cap = r->cap == 0 ? 16 : 2 * r->cap;
        ct_audit_checkpoint_t *v = realloc(r->cps, cap * sizeof *v);
        if (v == NULL)
            return ct_errf(r->errbuf, r->errlen, CT_ENOMEM, "%s: out of memory", r->path);
        r->cps = v;
        r->cap = cap;
    }
    r->cps[r->n++] = cp;
    return 0;
}

/* Parses one line (without its newline). */
static int read_line(reader_t *r, char *line)
{
    if (r->line_no == 1)
        return strcmp(line, CT_AUDIT_EXPORT_MAGIC) == 0
                   ? 0
                   : bad_line(r, "not a careteam checkpoint export (the first line must be "
                                 "\"" CT_AUDIT_EXPORT_MAGIC "\")");
    if (line[0] == '\0' || line[0] == '#')
        return 0;
    char *f[MAX_FIELDS];
    size_t nf = split(line, f);
    if (strcmp(f[0], "pubkey") == 0)
        return read_pubkey(r, f, nf);
    if (strcmp(f[0], "checkpoint") == 0)
        return read_checkpoint(r, f, nf);
    return bad_line(r, "expected a pubkey or checkpoint line");
}

int ct_audit_export_read(const char *path, ct_audit_checkpoint_t **cps, size_t *n,
                         ct_audit_pubkey_t **key, char *errbuf, size_t errlen)
{
    *cps = NULL;
    *n = 0;
    *key = NULL;
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        int e = errno;
        return ct_errf(errbuf, errlen, e == ENOENT ? CT_ENOTFOUND : CT_ESYS, "cannot read %s: %s",
                       path, strerror(e));
    }
    reader_t r = {.path = path, .errbuf = errbuf, .errlen = errlen};
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int rc = 0;
    /* getline, not fgets: a NUL byte inside a line must be seen (and refused), not end it. */
    while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
        r.line_no++;
        size_t len = (size_t)got;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0'; /* the file may have passed through a CRLF system */
        if (len > LINE_MAX_LEN)
            rc = bad_line(&r, "line too long");
        else if (memchr(line, '\0', len) != NULL)
            rc = bad_line(&r, "a NUL byte inside the line");
        else
            rc = read_line(&r, line);
    }
    free(line);
    if (rc == 0 && ferror(f))
        rc = ct_errf(errbuf, errlen, CT_ESYS, "cannot read %s", path);
    if (rc == 0 && r.line_no == 0)
        rc = ct_errf(errbuf, errlen, CT_EINVAL, "%s: empty file, not a checkpoint export", path);
    fclose(f);
    if (rc != 0) {
        free(r.cps);
        ct_audit_pubkey_free(r.key);
        return rc;
    }
    *cps = r.cps;
    *n = r.n;
    *key = r.key;
    return 0;
}
