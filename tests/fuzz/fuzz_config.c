/*
 * Fuzz target: the careteamd.conf parser (server/config.c, ct_config_load) on arbitrary file
 * contents, and the writer that `careteamd init` uses.
 *
 * ct_config_load reads a path, so the input goes into a memfd that is read back through
 * /proc/self/fd; config.c is used exactly as the daemon uses it. Properties:
 *   1. The result is 0 or CT_EINVAL; on CT_EINVAL the output config is untouched (config.c
 *      invariant 1) and the message starts "PATH:LINE: " with a line that exists in the input.
 *   2. A config that loads satisfies what the daemon relies on: NUL-terminated strings, a listen
 *      address that splits, a known log level, a server_name without control characters,
 *      max_body + 4K <= max_frame <= max_output, and non-zero limits.
 *   3. Round trip: ct_config_write of a loaded config, loaded again, gives the same settings.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "log.h"
#include "oracle.h"

/* The memfd the input is written to, and a private directory for round-trip files. Made once
 * per process; the process exit releases them (the directory is removed by an atexit hook). */
static int input_fd = -1;
static char input_path[64];
static char rt_dir[256];
static char rt_path[300];

static void remove_rt_dir(void)
{
    (void)unlink(rt_path);
    (void)rmdir(rt_dir);
}

static void setup_once(void)
{
    if (input_fd >= 0)
        return;
    input_fd = memfd_create("careteamd.conf", MFD_CLOEXEC);
    CT_FUZZ_CHECK(input_fd >= 0, "memfd_create: %s", strerror(errno));
    snprintf(input_path, sizeof input_path, "/proc/self/fd/%d", input_fd);
    /* Prefer tmpfs: the writer fsyncs every file. */
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(rt_dir, sizeof rt_dir, "%s/ct-fuzz-config-XXXXXX", tmp != NULL ? tmp : "/tmp");
    CT_FUZZ_CHECK(mkdtemp(rt_dir) != NULL, "mkdtemp %s: %s", rt_dir, strerror(errno));
    snprintf(rt_path, sizeof rt_path, "%s/careteamd.conf", rt_dir);
    atexit(remove_rt_dir);
}

static bool terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

/* Property 1: "PATH:LINE: " with 1 <= LINE <= lines. */
static void check_error(const char *err, const char *path, size_t lines)
{
    size_t n = strlen(path);
    CT_FUZZ_CHECK(strncmp(err, path, n) == 0 && err[n] == ':', "message \"%s\" names no path", err);
    char *end;
    unsigned long line = strtoul(err + n + 1, &end, 10);
    CT_FUZZ_CHECK(end != err + n + 1 && strncmp(end, ": ", 2) == 0, "no line in \"%s\"", err);
    CT_FUZZ_CHECK(line >= 1 && line <= lines, "line %lu of %zu in \"%s\"", line, lines, err);
}

/* Property 2. */
static void check_loaded(const ct_config_t *c)
{
    CT_FUZZ_CHECK(terminated(c->listen, sizeof c->listen) &&
                      terminated(c->server_name, sizeof c->server_name) &&
                      terminated(c->log_level, sizeof c->log_level),
                  "unterminated string");
    char host[128];
    int port = -1;
    CT_FUZZ_CHECK(ct_config_split_hostport(c->listen, host, sizeof host, &port) == 0 && port >= 0 &&
                      port <= 65535,
                  "listen \"%s\"", c->listen);
    ct_log_level_t level;
    CT_FUZZ_CHECK(ct_log_parse_level(c->log_level, &level) == 0, "log_level \"%s\"", c->log_level);
    for (const char *p = c->server_name; *p != '\0'; p++)
        CT_FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "control byte in server_name");
    CT_FUZZ_CHECK((uint64_t)c->max_body + 4096 <= c->max_frame && c->max_frame <= c->max_output,
                  "max_body %u, max_frame %u, max_output %llu", c->max_body, c->max_frame,
                  (unsigned long long)c->max_output);
    CT_FUZZ_CHECK(c->max_body > 0 && c->max_subject > 0 && c->max_recipients > 0 &&
                      c->max_connections > 0 && c->rate_limit > 0 && c->handshake_timeout_ms > 0 &&
                      c->idle_timeout_ms > 0 && c->member_cert_days > 0,
                  "a zero limit");
}

static bool same_settings(const ct_config_t *a, const ct_config_t *b)
{
    return strcmp(a->listen, b->listen) == 0 && strcmp(a->server_name, b->server_name) == 0 &&
           strcmp(a->log_level, b->log_level) == 0 && a->max_frame == b->max_frame &&
           a->max_body == b->max_body && a->max_subject == b->max_subject &&
           a->max_recipients == b->max_recipients && a->max_output == b->max_output &&
           a->max_connections == b->max_connections && a->rate_limit == b->rate_limit &&
           a->handshake_timeout_ms == b->handshake_timeout_ms &&
           a->idle_timeout_ms == b->idle_timeout_ms && a->member_cert_days == b->member_cert_days;
}

/* Property 3. */
static void check_round_trip(const ct_config_t *c)
{
    char err[512];
    (void)unlink(rt_path);
    int rc = ct_config_write(rt_path, c, err, sizeof err);
    CT_FUZZ_CHECK(rc == 0, "write: %s", err);
    ct_config_t again;
    rc = ct_config_load(rt_path, &again, err, sizeof err);
    CT_FUZZ_CHECK(rc == 0, "the written config does not load: %s", err);
    CT_FUZZ_CHECK(same_settings(c, &again), "settings changed in the round trip");
    (void)unlink(rt_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    CT_FUZZ_CHECK(ftruncate(input_fd, 0) == 0, "ftruncate: %s", strerror(errno));
    CT_FUZZ_CHECK(size == 0 || pwrite(input_fd, data, size, 0) == (ssize_t)size, "pwrite: %s",
                  strerror(errno));
    size_t lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    if (size > 0 && data[size - 1] != '\n')
        lines++;

    /* A sentinel pattern shows whether a failed load wrote anything. */
    ct_config_t cfg, sentinel;
    memset(&sentinel, 0xa5, sizeof sentinel);
    memcpy(&cfg, &sentinel, sizeof cfg);
    char err[512];
    memset(err, 0x5a, sizeof err);
    int rc = ct_config_load(input_path, &cfg, err, sizeof err);
    if (rc != 0) {
        CT_FUZZ_CHECK(rc == CT_EINVAL, "rc %d: %.*s", rc, (int)sizeof err, err);
        CT_FUZZ_CHECK(memcmp(&cfg, &sentinel, sizeof cfg) == 0, "a failed load changed cfg");
        CT_FUZZ_CHECK(terminated(err, sizeof err), "unterminated message");
        check_error(err, input_path, lines);
        return 0;
    }
    check_loaded(&cfg);
    check_round_trip(&cfg);
    return 0;
}
