/*
 * Test helpers (see testsupport.h): leak checks, temporary directories, reading and writing
 * files, growing strings, time, SIGPIPE.
 *
 * About the leak check: Criterion 2.4.1 ignores what happens in a suite's or test's .fini. An
 * assertion that fails there is printed but the test is still counted as passing, and so is a
 * .fini that calls abort() or _exit(1) (checked with a throwaway test under ASan). The same
 * assertion made in the test body does fail the test. So ct_test_leak_check() works as a .fini
 * only as a report; to fail the test, call it as the last statement of the test body too.
 */
#include "testsupport.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#ifdef CT_SANITIZE
/* From LeakSanitizer (part of ASan): returns nonzero, after printing a report, when memory is
 * unreachable. Unlike the check at exit it does not end the process. */
int __lsan_do_recoverable_leak_check(void);
#endif

void ct_test_leak_check(void)
{
#ifdef CT_SANITIZE
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,
                 "memory leaked (LeakSanitizer report above)");
#endif
}

char *ct_test_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    if (tag == NULL || tag[0] == '\0')
        tag = "test";
    /* Keep the tag to path-safe characters so a test name cannot escape the base directory. */
    char safe[64];
    size_t n = 0;
    for (; tag[n] != '\0' && n < sizeof safe - 1; n++) {
        char c = tag[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        safe[n] = ok ? c : '_';
    }
    safe[n] = '\0';

    size_t len = strlen(base) + strlen(safe) + sizeof "/careteam--XXXXXX";
    char *path = malloc(len);
    cr_assert_not_null(path, "out of memory");
    snprintf(path, len, "%s/careteam-%s-XXXXXX", base, safe);
    if (mkdtemp(path) == NULL) {
        int e = errno;
        free(path);
        cr_assert_fail("mkdtemp under %s: %s", base, strerror(e));
    }
    return path;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

int ct_test_rmtree(const char *path)
{
    /* Depth first so directories are empty when removed; FTW_PHYS so a symlink is removed, not
     * followed out of the tree. */
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

char *ct_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    /* Read in chunks rather than trust the size from stat: /proc files report 0. */
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (cap - used < 2) {
            char *p = realloc(buf, cap * 2);
            if (p == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap *= 2;
        }
        size_t got = fread(buf + used, 1, cap - used - 1, f);
        used += got;
        if (got == 0) {
            if (ferror(f)) {
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    fclose(f);
    if (buf == NULL)
        return NULL;
    buf[used] = '\0';
    if (len != NULL)
        *len = used;
    return buf;
}

void ct_test_write_file(const char *path, const char *text, mode_t mode)
{
    size_t len = strlen(text);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    cr_assert_geq(fd, 0, "cannot create %s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, text, len), (ssize_t)len, "writing %s: %s", path, strerror(errno));
    cr_assert_eq(fchmod(fd, mode), 0); /* open's mode is masked by the umask; this is not */
    cr_assert_eq(close(fd), 0);
}

void ct_test_copy_file(const char *from, const char *to, mode_t mode)
{
    char *data = ct_test_read_file(from, NULL);
    cr_assert_not_null(data, "cannot read %s", from);
    ct_test_write_file(to, data, mode);
    free(data);
}

void ct_test_append(char **buf, size_t *len, const char *data, size_t n)
{
    char *grown = realloc(*buf, *len + n + 1);
    cr_assert_not_null(grown, "out of memory");
    memcpy(grown + *len, data, n);
    *len += n;
    grown[*len] = '\0';
    *buf = grown;
}

int64_t ct_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ct_test_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void ct_test_ignore_sigpipe(void)
{
    signal(SIGPIPE, SIG_IGN);
}

long long ct_test_sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
    long long v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}
