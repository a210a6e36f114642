/*
 * Helpers shared by the Criterion tests: temporary directories, leak checks, reading and writing
 * small files, growing strings, time, and the SIGPIPE disposition of tests that write to sockets.
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
#include <stdint.h>
#include <sys/types.h>

/* Fails the current test if LeakSanitizer finds leaked memory. Call last in each test body. */
void ct_test_leak_check(void);

/* Makes a fresh private directory under $TMPDIR (or /tmp). Returns a malloc'd path; the caller
 * removes it with ct_test_rmtree and frees the string. Aborts the test on failure. */
char *ct_test_tmpdir(const char *tag);

/* Removes path and everything below it. Returns 0 or -1. */
int ct_test_rmtree(const char *path);

/* Milliseconds on the monotonic clock, for measuring how long something took. */
int64_t ct_test_now_ms(void);

/* Sleeps ms milliseconds (resumed after a signal, so never shorter). */
void ct_test_sleep_ms(int ms);

/*
 * Ignores SIGPIPE in the test process; a suite's .init. libcareteam 0.1 (and the raw TLS client of
 * rawtls.h) can write to a socket the server has just closed, e.g. Hello or close_notify after a
 * refusal; with SIGPIPE at its default that kills the test process ("CRASH") instead of returning
 * CT_ECLOSED. Real clients must ignore SIGPIPE too (the careteam CLI does); reported as a
 * libcareteam issue.
 */
void ct_test_ignore_sigpipe(void);

/* Reads a whole file into a malloc'd NUL-terminated string (NULL on error); *len if not NULL. */
char *ct_test_read_file(const char *path, size_t *len);

/* Writes text to path (created or truncated) with exactly mode, whatever the umask. Asserts on
 * failure. */
void ct_test_write_file(const char *path, const char *text, mode_t mode);

/* Copies the text file from to the file to, with exactly mode. Asserts on failure. */
void ct_test_copy_file(const char *from, const char *to, mode_t mode);

/* Appends n bytes of data to the malloc'd string *buf of length *len (NULL and 0 to start one),
 * keeping it NUL-terminated; the caller frees *buf. Asserts on allocation failure. */
void ct_test_append(char **buf, size_t *len, const char *data, size_t n);

/* Runs sql on db, which must return a row whose first column is an integer, and returns that
 * integer. Asserts on any failure, naming the SQL and SQLite's message. */
typedef struct sqlite3 sqlite3;
long long ct_test_sql_int(sqlite3 *db, const char *sql);

/* SQL that puts a current database's messages table back into the shape of schema version 9
 * (seq AUTOINCREMENT, no messages_no_delete trigger) and sets user_version 9, so that opening it
 * read-write runs migration 10 again (server/store_sqlite.c). Run it with foreign keys off (a
 * plain sqlite3_open). */
#define CT_TEST_MESSAGES_TO_VERSION9_SQL                                                           \
    "BEGIN;"                                                                                       \
    "CREATE TABLE m9 (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE,"     \
    "  sender_id TEXT NOT NULL, sender_role INTEGER NOT NULL, client_msg_id TEXT NOT NULL,"        \
    "  request_hash BLOB NOT NULL CHECK (length(request_hash) = 32),"                              \
    "  participant_id TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL,"                   \
    "  priority INTEGER NOT NULL, stored_at_ms INTEGER NOT NULL,"                                  \
    "  kind INTEGER NOT NULL DEFAULT 1, event TEXT NOT NULL DEFAULT '', payload BLOB,"             \
    "  withheld TEXT NOT NULL DEFAULT '', UNIQUE (sender_id, client_msg_id));"                     \
    "INSERT INTO m9 SELECT * FROM messages;"                                                       \
    "DROP TRIGGER messages_no_delete;"                                                             \
    "DROP TABLE messages;"                                                                         \
    "ALTER TABLE m9 RENAME TO messages;"                                                           \
    "PRAGMA user_version = 9;"                                                                     \
    "COMMIT;"

#endif
