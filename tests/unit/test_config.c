/*
 * careteamd.conf: defaults, the self-documenting file written by init, and an error that names
 * the line for every kind of mistake an operator can make.
 */
#include <criterion/criterion.h>

#include "err.h"
#include "testsupport.h"
/* The test target compiles server/config.c but does not put server/ on the include path. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

TestSuite(config, .fini = ct_test_leak_check);

struct fixture {
    char *dir;
    char path[512];
    char err[512];
    char want[600];
};

static void setup(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->dir = ct_test_tmpdir("config");
    snprintf(f->path, sizeof(f->path), "%s/careteamd.conf", f->dir);
}

/*
 * Ends every test that uses a fixture. The leak check runs here as well as in the suite's .fini
 * because Criterion 2.4.1 does not fail a test for an assertion made in .fini (testsupport.c).
 */
static void teardown(struct fixture *f)
{
    ct_test_rmtree(f->dir);
    free(f->dir);
    ct_test_leak_check();
}

/* Replaces the fixture's config file with text. */
static void put(struct fixture *f, const char *text)
{
    (void)remove(f->path);
    FILE *fp = fopen(f->path, "w");
    cr_assert_not_null(fp);
    fputs(text, fp);
    cr_assert_eq(fclose(fp), 0);
}

/*
 * Loads text and expects CT_EINVAL with an error that starts "PATH:LINE: " and contains each of
 * the given fragments (NULL-terminated).
 */
static void expect_error(struct fixture *f, const char *text, unsigned line, ...)
{
    put(f, text);
    ct_config_t cfg;
    ct_config_defaults(&cfg);
    int rc = ct_config_load(f->path, &cfg, f->err, sizeof(f->err));
    cr_assert_eq(rc, CT_EINVAL, "rc %d for:\n%s", rc, text);
    snprintf(f->want, sizeof(f->want), "%s:%u: ", f->path, line);
    cr_assert(strncmp(f->err, f->want, strlen(f->want)) == 0, "want prefix \"%s\", got \"%s\"",
              f->want, f->err);
    va_list ap;
    va_start(ap, line);
    for (const char *frag = va_arg(ap, const char *); frag != NULL; frag = va_arg(ap, const char *))
        cr_assert(strstr(f->err, frag) != NULL, "want \"%s\" in \"%s\"", frag, f->err);
    va_end(ap);
}

static ct_config_t load_ok(struct fixture *f, const char *text)
{
    put(f, text);
    ct_config_t cfg;
    int rc = ct_config_load(f->path, &cfg, f->err, sizeof(f->err));
    cr_assert_eq(rc, 0, "%s", f->err);
    return cfg;
}

Test(config, defaults)
{
    ct_config_t c;
    memset(&c, 0xa5, sizeof(c));
    ct_config_defaults(&c);
    cr_assert_str_eq(c.listen, "127.0.0.1:7443");
    cr_assert_str_eq(c.server_name, "careteamd");
    cr_assert_str_eq(c.log_level, "info");
    cr_assert_eq(c.max_frame, 1024 * 1024);
    cr_assert_eq(c.max_body, 64 * 1024);
    cr_assert_eq(c.max_subject, 256);
    cr_assert_eq(c.max_recipients, 64);
    cr_assert_eq(c.max_output, 8 * 1024 * 1024);
    cr_assert_eq(c.max_connections, 10000);
    cr_assert_eq(c.rate_limit, 1000);
    cr_assert_eq(c.handshake_timeout_ms, 10000);
    cr_assert_eq(c.idle_timeout_ms, 300000);
    cr_assert_eq(c.member_cert_days, 365);
    ct_test_leak_check();
}

Test(config, empty_file_gives_defaults)
{
    struct fixture f;
    setup(&f);
    ct_config_t got = load_ok(&f, ""), want;
    ct_config_defaults(&want);
    cr_assert_eq(memcmp(&got, &want, sizeof(want)), 0);
    teardown(&f);
}

Test(config, written_defaults_load_back_equal)
{
    struct fixture f;
    setup(&f);
    ct_config_t def, got;
    ct_config_defaults(&def);
    cr_assert_eq(ct_config_write(f.path, &def, f.err, sizeof(f.err)), 0, "%s", f.err);
    memset(&got, 0, sizeof(got));
    cr_assert_eq(ct_config_load(f.path, &got, f.err, sizeof(f.err)), 0, "%s", f.err);
    cr_assert_eq(memcmp(&got, &def, sizeof(def)), 0);
    teardown(&f);
}

Test(config, written_values_load_back_equal)
{
    struct fixture f;
    setup(&f);
    ct_config_t c;
    ct_config_defaults(&c);
    snprintf(c.listen, sizeof(c.listen), "[::1]:0");
    snprintf(c.server_name, sizeof(c.server_name), "North Clinic #2");
    snprintf(c.log_level, sizeof(c.log_level), "debug");
    c.max_frame = 2 * 1024 * 1024 + 123; /* not a whole K: written as plain bytes */
    c.max_body = 100000;
    c.max_subject = 1000;
    c.max_recipients = 7;
    c.max_output = 3ull * 1024 * 1024 * 1024;
    c.max_connections = 12;
    c.rate_limit = 5;
    c.handshake_timeout_ms = 1500;
    c.idle_timeout_ms = 2 * 3600 * 1000;
    c.member_cert_days = 90;
    cr_assert_eq(ct_config_write(f.path, &c, f.err, sizeof(f.err)), 0, "%s", f.err);
    ct_config_t got;
    cr_assert_eq(ct_config_load(f.path, &got, f.err, sizeof(f.err)), 0, "%s", f.err);
    cr_assert_eq(memcmp(&got, &c, sizeof(c)), 0);
    teardown(&f);
}

Test(config, written_file_comments_every_key)
{
    struct fixture f;
    setup(&f);
    ct_config_t def;
    ct_config_defaults(&def);
    cr_assert_eq(ct_config_write(f.path, &def, f.err, sizeof(f.err)), 0, "%s", f.err);
    char *text = ct_test_read_file(f.path, NULL);
    cr_assert_not_null(text);

    static const char *const names[] = {"listen",
                                        "server_name",
                                        "log_level",
                                        "max_frame",
                                        "max_body",
                                        "max_subject",
                                        "max_recipients",
                                        "max_output",
                                        "max_connections",
                                        "rate_limit",
                                        "handshake_timeout_ms",
                                        "idle_timeout_ms",
                                        "member_cert_days",
                                        "alert_urgent_deadline_ms",
                                        "alert_concern_deadline_ms",
                                        "audit_checkpoint_rows",
                                        "audit_checkpoint_interval_ms",
                                        "syslog_app_name",
                                        "syslog_facility"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char needle[64];
        snprintf(needle, sizeof(needle), "\n%s = ", names[i]);
        cr_assert(strstr(text, needle) != NULL, "key %s is written", names[i]);
    }
    /* Every setting line directly follows a comment line. */
    const char *prev = NULL;
    size_t settings = 0;
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (line[0] != '#') {
            cr_assert_not_null(prev, "first line is a comment");
            cr_assert_eq(prev[0], '#', "\"%s\" has a comment above it", line);
            settings++;
        }
        prev = line;
    }
    cr_assert_eq(settings, sizeof(names) / sizeof(names[0]));
    free(text);
    teardown(&f);
}

Test(config, write_makes_0644_whatever_the_umask)
{
    struct fixture f;
    setup(&f);
    umask(077);
    ct_config_t def;
    ct_config_defaults(&def);
    cr_assert_eq(ct_config_write(f.path, &def, f.err, sizeof(f.err)), 0, "%s", f.err);
    struct stat st;
    cr_assert_eq(stat(f.path, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0644);
    teardown(&f);
}

Test(config, write_refuses_to_overwrite)
{
    struct fixture f;
    setup(&f);
    put(&f, "# mine\n");
    ct_config_t def;
    ct_config_defaults(&def);
    cr_assert_eq(ct_config_write(f.path, &def, f.err, sizeof(f.err)), CT_EEXISTS);
    cr_assert(strstr(f.err, f.path) != NULL, "%s", f.err);
    char *text = ct_test_read_file(f.path, NULL);
    cr_assert_not_null(text);
    cr_assert_str_eq(text, "# mine\n");
    free(text);
    teardown(&f);
}

Test(config, missing_file_is_notfound)
{
    struct fixture f;
    setup(&f);
    ct_config_t c;
    cr_assert_eq(ct_config_load(f.path, &c, f.err, sizeof(f.err)), CT_ENOTFOUND);
    cr_assert(strstr(f.err, f.path) != NULL, "%s", f.err);
    teardown(&f);
}

Test(config, comments_blank_lines_and_whitespace)
{
    struct fixture f;
    setup(&f);
    ct_config_t c = load_ok(&f, "\n"
                                "# a comment\n"
                                "   # an indented comment\n"
                                "\t \n"
                                "  server_name\t=   Clinic # 2  \r\n"
                                "log_level=warn\n"
                                "max_recipients = 9"); /* no final newline */
    cr_assert_str_eq(c.server_name, "Clinic # 2");
    cr_assert_str_eq(c.log_level, "warn");
    cr_assert_eq(c.max_recipients, 9);
    teardown(&f);
}

Test(config, last_value_of_a_repeated_key_wins)
{
    struct fixture f;
    setup(&f);
    ct_config_t c = load_ok(&f, "listen = 127.0.0.1:7443\nlisten = 127.0.0.1:0\n");
    cr_assert_str_eq(c.listen, "127.0.0.1:0");
    teardown(&f);
}

Test(config, size_suffixes)
{
    struct fixture f;
    setup(&f);
    ct_config_t c = load_ok(&f, "max_frame = 2M\n"
                                "max_body = 512k\n"
                                "max_subject = 300\n"
                                "max_output = 1G\n");
    cr_assert_eq(c.max_frame, 2u * 1024 * 1024);
    cr_assert_eq(c.max_body, 512u * 1024);
    cr_assert_eq(c.max_subject, 300);
    cr_assert_eq(c.max_output, 1024ull * 1024 * 1024);
    teardown(&f);
}

Test(config, duration_suffixes)
{
    struct fixture f;
    setup(&f);
    ct_config_t c = load_ok(&f, "handshake_timeout_ms = 250\nidle_timeout_ms = 2h\n");
    cr_assert_eq(c.handshake_timeout_ms, 250);
    cr_assert_eq(c.idle_timeout_ms, 2u * 3600 * 1000);
    c = load_ok(&f, "handshake_timeout_ms = 1500ms\nidle_timeout_ms = 45s\n");
    cr_assert_eq(c.handshake_timeout_ms, 1500);
    cr_assert_eq(c.idle_timeout_ms, 45000);
    c = load_ok(&f, "idle_timeout_ms = 3m\n");
    cr_assert_eq(c.idle_timeout_ms, 180000);
    teardown(&f);
}

Test(config, missing_equals_names_the_line)
{
    struct fixture f;
    setup(&f);
    expect_error(&f, "# header\n\nmax_frame 1M\n", 3, "'='", NULL);
    teardown(&f);
}

Test(config, empty_value_names_the_line_and_key)
{
    struct fixture f;
    setup(&f);
    expect_error(&f, "log_level = info\nserver_name =   \n", 2, "empty value", "server_name", NULL);
    teardown(&f);
}

Test(config, missing_key_names_the_line)
{
    struct fixture f;
    setup(&f);
    expect_error(&f, "= 5\n", 1, "missing key", NULL);
    teardown(&f);
}

Test(config, unknown_key_names_the_line_and_key)
{
    struct fixture f;
    setup(&f);
    expect_error(&f, "max_frame = 1M\n# x\nmax_fram = 2M\n", 3, "unknown key", "max_fram", NULL);
    teardown(&f);
}

Test(config, bad_number_names_the_line_and_key)
{
    struct fixture f;
    setup(&f);
    expect_error(&f, "\nmax_connections = lots\n", 2, "max_connections", "whole number", NULL);
    expect_error(&f, "max_connections = -5\n", 1, "max_connections", NULL);
    expect_error(&f, "max_connections = 1e3\n", 1, "max_connections", NULL);
    expect_error(&f, "max_connections = 99999999999999999999999\n", 1, "too large", NULL);
    expect_error(&f, "rate_limit = 10K\n", 1, "rate_limit", "whole number", NULL);
    /* (2^34 + 1) G is 2^64 + 1G: it must not wrap around to an in-range 1G. */
    expect_error(&f, "max_output = 17179869185G\n", 1, "max_output", "too large", NULL);
    teardown(&f);
}

Test(config, bad_suffix_names_the_line_and_what_is_allowed)
{
    struct fixture f;
    setup(&f);
    expect_error(&f, "max_frame = 1T\n", 1, "max_frame", "K, M or G", NULL);
    expect_error(&f, "max_frame = 1M # bigger\n", 1, "max_frame", NULL);
    expect_error(&f, "x = 1\n", 1, "unknown key", NULL);
    expect_error(&f, "idle_timeout_ms = 5d\n", 1, "idle_timeout_ms", "ms, s, m or h", NULL);
    expect_error(&f, "idle_timeout_ms = 1.5s\n", 1, "idle_timeout_ms", NULL);
    teardown(&f);
}

Test(config, out_of_range_names_the_line_key_and_range)
{
    struct fixture f;
    setup(&f);
    expect_error(&f, "max_frame = 1K\n", 1, "max_frame", "out of range", "8K to 64M", NULL);
    expect_error(&f, "# a\nmax_frame = 65M\n", 2, "max_frame", "out of range", NULL);
    expect_error(&f, "max_recipients = 0\n", 1, "max_recipients", "1 to 10000", NULL);
    expect_error(&f, "handshake_timeout_ms = 11m\n", 1, "handshake_timeout_ms", "10m", NULL);
    expect_error(&f, "member_cert_days = 3651\n", 1, "member_cert_days", "1 to 3650", NULL);
    /* Bigger than 32 bits: must not wrap into range. */
    expect_error(&f, "max_connections = 4294967297\n", 1, "max_connections", NULL);
    teardown(&f);
}

Test(config, bad_log_level_names_the_choices)
{
    struct fixture f;
    setup(&f);
    expect_error(&f, "log_level = verbose\n", 1, "log_level", "debug, info, warn, error", NULL);
    teardown(&f);
}

Test(config, bad_listen_names_the_line)
{
    struct fixture f;
    setup(&f);
    expect_error(&f, "listen = 127.0.0.1\n", 1, "listen", "HOST:PORT", NULL);
    expect_error(&f, "listen = 127.0.0.1:70000\n", 1, "listen", NULL);
    expect_error(&f, "listen = ::1:7443\n", 1, "listen", NULL);
    teardown(&f);
}

Test(config, too_long_string_names_the_line)
{
    struct fixture f;
    setup(&f);
    char text[400];
    snprintf(text, sizeof(text), "server_name = %0200d\n", 0);
    expect_error(&f, text, 1, "server_name", "too long", NULL);
    teardown(&f);
}

Test(config, body_must_leave_room_in_the_frame)
{
    struct fixture f;
    setup(&f);
    /* Both values are in range on their own; the error names the later of the two lines. */
    expect_error(&f, "max_body = 64K\n\nmax_frame = 64K\n", 3, "max_body", "max_frame", NULL);
    expect_error(&f, "max_frame = 64K\nmax_body = 61K\n", 2, "max_body", "max_frame - 4K", NULL);
    ct_config_t c = load_ok(&f, "max_frame = 64K\nmax_body = 60K\n");
    cr_assert_eq(c.max_body, 60u * 1024);
    teardown(&f);
}

Test(config, output_must_hold_one_frame)
{
    struct fixture f;
    setup(&f);
    expect_error(&f, "max_frame = 16M\n", 1, "max_output", "max_frame", NULL);
    teardown(&f);
}

Test(config, failed_load_leaves_config_untouched)
{
    struct fixture f;
    setup(&f);
    put(&f, "server_name = changed\nmax_frame = nope\n");
    ct_config_t c, before;
    memset(&c, 0x5a, sizeof(c));
    before = c;
    cr_assert_eq(ct_config_load(f.path, &c, f.err, sizeof(f.err)), CT_EINVAL);
    cr_assert_eq(memcmp(&c, &before, sizeof(c)), 0);
    teardown(&f);
}

Test(config, nul_byte_in_line_is_an_error)
{
    struct fixture f;
    setup(&f);
    FILE *fp = fopen(f.path, "w");
    cr_assert_not_null(fp);
    fwrite("# ok\nlog_level = info\0junk\n", 1, 27, fp);
    fclose(fp);
    ct_config_t c;
    cr_assert_eq(ct_config_load(f.path, &c, f.err, sizeof(f.err)), CT_EINVAL);
    snprintf(f.want, sizeof(f.want), "%s:2: ", f.path);
    cr_assert(strncmp(f.err, f.want, strlen(f.want)) == 0, "%s", f.err);
    teardown(&f);
}

Test(config, split_hostport_accepts)
{
    char host[64];
    int port = -1;
    cr_assert_eq(ct_config_split_hostport("127.0.0.1:7443", host, sizeof(host), &port), 0);
    cr_assert_str_eq(host, "127.0.0.1");
    cr_assert_eq(port, 7443);
    cr_assert_eq(ct_config_split_hostport("[::1]:0", host, sizeof(host), &port), 0);
    cr_assert_str_eq(host, "::1");
    cr_assert_eq(port, 0);
    cr_assert_eq(ct_config_split_hostport("[fd00::5]:65535", host, sizeof(host), &port), 0);
    cr_assert_str_eq(host, "fd00::5");
    cr_assert_eq(port, 65535);
    cr_assert_eq(ct_config_split_hostport("clinic.example.org:443", host, sizeof(host), &port), 0);
    cr_assert_str_eq(host, "clinic.example.org");
    cr_assert_eq(port, 443);
    cr_assert_eq(ct_config_split_hostport("localhost:00080", host, sizeof(host), &port), 0);
    cr_assert_eq(port, 80);
    ct_test_leak_check();
}

Test(config, split_hostport_refuses)
{
    static const char *const bad[] = {
        "",         "127.0.0.1", "127.0.0.1:", ":7443",        "127.0.0.1:65536",
        "host:-1",  "host:+1",   "host:1x",    "host:123456",  "::1:7443",
        "[::1]",    "[::1]7443", "[::1:7443",  "[]:7443",      "[127.0.0.1]:7443",
        "[zz::]:1", "a b:1",     "host:1 ",    "[::1]:7443:1",
    };
    char host[64];
    int port;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(ct_config_split_hostport(bad[i], host, sizeof(host), &port), CT_EINVAL,
                     "\"%s\"", bad[i]);
    cr_assert_eq(ct_config_split_hostport(NULL, host, sizeof(host), &port), CT_EINVAL);
    ct_test_leak_check();
}

Test(config, split_hostport_refuses_small_host_buffer)
{
    char host[4];
    int port;
    cr_assert_eq(ct_config_split_hostport("abcd:1", host, sizeof(host), &port), CT_EINVAL);
    cr_assert_eq(ct_config_split_hostport("abc:1", host, sizeof(host), &port), 0);
    cr_assert_str_eq(host, "abc");
    ct_test_leak_check();
}

/* ---- ct_config_check: every problem, in order (careteamd check-config) ---------------------- */

#define MAX_SEEN 16

struct seen {
    size_t n;
    unsigned line[MAX_SEEN];
    bool warning[MAX_SEEN];
    char text[MAX_SEEN][640];
};

static void collect(const ct_config_problem_t *p, void *arg)
{
    struct seen *s = arg;
    cr_assert_lt(s->n, MAX_SEEN, "more problems than expected: %s", p->text);
    s->line[s->n] = p->line;
    s->warning[s->n] = p->warning;
    snprintf(s->text[s->n], sizeof s->text[s->n], "%s", p->text);
    s->n++;
}

/* Asserts problem i is on `line`, an error (or warning) whose text has "PATH:LINE: " and frag. */
static void expect_problem(const struct fixture *f, const struct seen *s, size_t i, unsigned line,
                           bool warning, const char *frag)
{
    cr_assert_lt(i, s->n, "problem %zu of %zu", i, s->n);
    char want[600];
    snprintf(want, sizeof want, "%s:%u: %s", f->path, line, warning ? "warning: " : "");
    cr_expect_eq(s->line[i], line, "problem %zu: line %u, want %u (%s)", i, s->line[i], line,
                 s->text[i]);
    cr_expect_eq(s->warning[i], warning, "problem %zu: %s", i, s->text[i]);
    cr_expect(strncmp(s->text[i], want, strlen(want)) == 0, "want prefix \"%s\" in \"%s\"", want,
              s->text[i]);
    cr_expect(strstr(s->text[i], frag) != NULL, "want \"%s\" in \"%s\"", frag, s->text[i]);
}

Test(config, check_reports_every_problem_in_line_order)
{
    struct fixture f;
    setup(&f);
    put(&f, "# a broken file\n"
            "max_fram = 2M\n"      /* 2: a typo */
            "listen = 127.0.0.1\n" /* 3: no port */
            "max_recipients = 0\n" /* 4: out of range */
            "log_level verbose\n"  /* 5: no '=' */
            "server_name =\n"      /* 6: empty */
            "max_subject = 2X\n"   /* 7: bad suffix */
            "max_frame = 64K\n"    /* 8 */
            "max_body = 64K\n"     /* 9: no room in the frame (reported after the lines) */
            "rate_limit = 5\n");   /* 10: fine */
    struct seen s = {0};
    ct_config_t c;
    cr_assert_eq(ct_config_check(f.path, &c, collect, &s), CT_EINVAL);
    cr_assert_eq(s.n, 7, "7 problems, got %zu (first: %s)", s.n, s.n ? s.text[0] : "");
    expect_problem(&f, &s, 0, 2, false, "did you mean max_frame?");
    expect_problem(&f, &s, 1, 3, false, "invalid listen");
    expect_problem(&f, &s, 2, 4, false, "max_recipients = 0 is out of range");
    expect_problem(&f, &s, 3, 5, false, "found no '='");
    expect_problem(&f, &s, 4, 6, false, "empty value for server_name");
    expect_problem(&f, &s, 5, 7, false, "K, M or G");
    expect_problem(&f, &s, 6, 9, false, "max_body");
    /* The valid lines were applied; ct_config_load returns the first problem and changes
     * nothing. */
    cr_expect_eq(c.rate_limit, 5);
    ct_config_t before, after;
    memset(&after, 0x5a, sizeof after);
    before = after;
    cr_assert_eq(ct_config_load(f.path, &after, f.err, sizeof f.err), CT_EINVAL);
    cr_expect_str_eq(f.err, s.text[0]);
    cr_expect_eq(memcmp(&after, &before, sizeof after), 0);
    teardown(&f);
}

Test(config, check_of_a_good_file_reports_nothing)
{
    struct fixture f;
    setup(&f);
    ct_config_t def;
    ct_config_defaults(&def);
    cr_assert_eq(ct_config_write(f.path, &def, f.err, sizeof(f.err)), 0, "%s", f.err);
    struct seen s = {0};
    ct_config_t c;
    cr_assert_eq(ct_config_check(f.path, &c, collect, &s), 0);
    cr_expect_eq(s.n, 0, "%s", s.n ? s.text[0] : "");
    cr_expect_eq(memcmp(&c, &def, sizeof c), 0);
    teardown(&f);
}

Test(config, a_repeated_key_is_a_warning_and_still_loads)
{
    struct fixture f;
    setup(&f);
    put(&f, "max_frame = 2M\n\nmax_frame = 4M\nmax_frame = 8M\n");
    struct seen s = {0};
    ct_config_t c;
    cr_assert_eq(ct_config_check(f.path, &c, collect, &s), 0);
    cr_assert_eq(s.n, 2);
    expect_problem(&f, &s, 0, 3, true, "max_frame is set again (first on line 1)");
    expect_problem(&f, &s, 1, 4, true, "max_frame is set again (first on line 1)");
    cr_expect_eq(c.max_frame, 8u * 1024 * 1024);
    c = load_ok(&f, "max_frame = 2M\nmax_frame = 4M\n");
    cr_expect_eq(c.max_frame, 4u * 1024 * 1024);
    teardown(&f);
}

Test(config, unknown_key_suggests_the_nearest_known_one)
{
    struct fixture f;
    setup(&f);
    expect_error(&f, "idle_timeout = 5s\n", 1, "did you mean idle_timeout_ms?", NULL);
    expect_error(&f, "Max_Body = 5K\n", 1, "did you mean max_body?", NULL);
    expect_error(&f, "colour = blue\n", 1, "unknown key \"colour\"", "careteamd init", NULL);
    cr_expect(strstr(f.err, "did you mean") == NULL, "%s", f.err);
    teardown(&f);
}

Test(config, a_rule_between_keys_is_skipped_when_one_of_them_is_bad)
{
    struct fixture f;
    setup(&f);
    /* max_frame is malformed: "max_body must be at most max_frame - 4K" would be about a value
     * the file never meant, so only the malformed line is reported. */
    struct seen s = {0};
    ct_config_t c;
    put(&f, "max_frame = big\nmax_body = 2M\n");
    cr_assert_eq(ct_config_check(f.path, &c, collect, &s), CT_EINVAL);
    cr_assert_eq(s.n, 1, "%s", s.n > 1 ? s.text[1] : "");
    expect_problem(&f, &s, 0, 1, false, "invalid max_frame");
    teardown(&f);
}

Test(config, unreadable_file_is_one_problem_without_a_line)
{
    struct fixture f;
    setup(&f);
    struct seen s = {0};
    ct_config_t c;
    cr_assert_eq(ct_config_check(f.path, &c, collect, &s), CT_ENOTFOUND);
    cr_assert_eq(s.n, 1);
    cr_expect_eq(s.line[0], 0);
    cr_expect(strstr(s.text[0], f.path) != NULL, "%s", s.text[0]);
    teardown(&f);
}

Test(config, user_key)
{
    struct fixture f;
    setup(&f);
    ct_config_t c = load_ok(&f, "user = careteam\n");
    cr_expect_str_eq(c.user, "careteam");
    expect_error(&f, "user = -rf\n", 1, "invalid user", NULL);
    expect_error(&f, "user = care team\n", 1, "invalid user", NULL);
    expect_error(&f, "user = abcdefghijklmnopqrstuvwxyz0123456789\n", 1, "too long", NULL);
    /* Off by default: init writes it commented out, and the file loads back without it. */
    ct_config_t def;
    ct_config_defaults(&def);
    cr_expect_str_eq(def.user, "");
    (void)remove(f.path);
    cr_assert_eq(ct_config_write(f.path, &def, f.err, sizeof(f.err)), 0, "%s", f.err);
    char *text = ct_test_read_file(f.path, NULL);
    cr_assert_not_null(text);
    cr_expect(strstr(text, "\n# user = \n") != NULL, "%s", text);
    free(text);
    cr_assert_eq(ct_config_load(f.path, &c, f.err, sizeof(f.err)), 0, "%s", f.err);
    cr_expect_eq(memcmp(&c, &def, sizeof c), 0);
    snprintf(def.user, sizeof def.user, "careteam");
    (void)remove(f.path);
    cr_assert_eq(ct_config_write(f.path, &def, f.err, sizeof(f.err)), 0, "%s", f.err);
    cr_assert_eq(ct_config_load(f.path, &c, f.err, sizeof(f.err)), 0, "%s", f.err);
    cr_expect_str_eq(c.user, "careteam");
    teardown(&f);
}

Test(config, crl_url_key)
{
    struct fixture f;
    setup(&f);
    ct_config_t c = load_ok(&f, "crl_url = https://ca.clinic.example/careteam/crl.pem\n");
    cr_expect_str_eq(c.crl_url, "https://ca.clinic.example/careteam/crl.pem");
    static const char *const good[] = {
        "http://ca.example/crl.pem",
        "HTTPS://CA.EXAMPLE/crl.pem",
        "https://ca.example:8443/a/b.crl",
        "file:///var/lib/careteamd/crl.pem",
        "file://localhost/srv/crl.pem",
        "file:///tmp/my%20dir/crl.pem",
        "http://10.0.0.5",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_expect_null(ct_config_crl_url_check(good[i]), "%s refused", good[i]);
    static const char *const bad[] = {
        "",
        "ftp://ca.example/crl.pem",
        "ldap://ca.example/cn=ca",
        "/var/lib/careteamd/crl.pem",
        "crl.pem",
        "https:///crl.pem",
        "https://",
        "file://",
        "file:///",
        "file://host",
        "file:///x?y",
        "https://ca.example/my crl.pem",
        "https://ca.example/\x01",
        "https://ca.example/\xc3\xa9",
        "https://ca.example/\"x\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = ct_config_crl_url_check(bad[i]);
        cr_expect_not_null(why, "\"%s\" accepted", bad[i]);
        if (why != NULL)
            cr_expect(strstr(why, "https://") != NULL, "%s", why);
    }
    char longest[CT_CONFIG_CRL_URL_MAX + 2];
    memset(longest, 'a', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    memcpy(longest, "https://x/", 10);
    cr_expect_not_null(ct_config_crl_url_check(longest), "a URL over the limit was accepted");
    longest[CT_CONFIG_CRL_URL_MAX] = '\0';
    cr_expect_null(ct_config_crl_url_check(longest));

    expect_error(&f, "crl_url = ftp://ca.example/crl.pem\n", 1, "invalid crl_url",
                 "ftp://ca.example/crl.pem", "https://", NULL);
    expect_error(&f, "# published\ncrl_url = crl.pem\n", 2, "invalid crl_url", NULL);

    /* Unset by default (written commented out); a URL of the longest length is written whole
     * and loads back. */
    ct_config_t def;
    ct_config_defaults(&def);
    cr_expect_str_eq(def.crl_url, "");
    snprintf(def.crl_url, sizeof def.crl_url, "%s", longest);
    (void)remove(f.path);
    cr_assert_eq(ct_config_write(f.path, &def, f.err, sizeof(f.err)), 0, "%s", f.err);
    cr_assert_eq(ct_config_load(f.path, &c, f.err, sizeof(f.err)), 0, "%s", f.err);
    cr_expect_eq(memcmp(&c, &def, sizeof c), 0);
    teardown(&f);
}
