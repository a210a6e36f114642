/*
 * Helpers shared by the Criterion tests: temporary directories and leak checks.
 *
 * Leaks do not fail a Criterion test on their own, even under LeakSanitizer, and in Criterion
 * 2.4.1 nothing in a .fini can fail a test either (checked: a failed assert there still counts as
 * passing). Every test therefore ends its body with ct_test_leak_check(), after freeing what it
 * made, which fails the test when a sanitizer build finds leaked memory (and does nothing in a
 * normal build).
 */
#ifndef CT_TESTSUPPORT_H
#define CT_TESTSUPPORT_H

#include <stddef.h>

/* Fails the current test if LeakSanitizer finds leaked memory. Call last in each test body. */
void ct_test_leak_check(void);

/* Makes a fresh private directory under $TMPDIR (or /tmp). Returns a malloc'd path; the caller
 * removes it with ct_test_rmtree and frees the string. Aborts the test on failure. */
char *ct_test_tmpdir(const char *tag);

/* Removes path and everything below it. Returns 0 or -1. */
int ct_test_rmtree(const char *path);

/* Reads a whole file into a malloc'd NUL-terminated string (NULL on error); *len if not NULL. */
char *ct_test_read_file(const char *path, size_t *len);

#endif
