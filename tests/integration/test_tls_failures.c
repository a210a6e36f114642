/*
 * common/tls.c when memory runs out: a write that cannot be queued fails its connection, which
 * then closes and reports why (on_error, on_close), instead of staying open with a stream that
 * lost bytes. Both ends are ct_tls connections on one libuv loop over 127.0.0.1, with the
 * certificates of a `careteamd init` data directory (no daemon runs).
 *
 * The binary is linked with -Wl,--wrap=ct_buf_append (tests/CMakeLists.txt): while
 * g_fail_appends is set, every append, tls.c's output and plaintext queues included, fails as an
 * allocation would.
 */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "buf.h"
#include "daemon.h"
#include "err.h"
#include "testsupport.h"
#include "tls.h"

int __real_ct_buf_append(ct_buf_t *b, const void *data, size_t len);
int __wrap_ct_buf_append(ct_buf_t *b, const void *data, size_t len);

static bool g_fail_appends;

int __wrap_ct_buf_append(ct_buf_t *b, const void *data, size_t len)
{
    return g_fail_appends ? CT_ENOMEM : __real_ct_buf_append(b, data, len);
}

TestSuite(tls_failures, .fini = ct_test_leak_check);

/* One end of the connection; `tls` first, so the callbacks recover the end by a cast. */
typedef struct end {
    ct_tls_t tls;
    bool open, closed;
    int err;
    char why[CT_TLS_WHY_MAX];
} end_t;

static end_t g_server, g_client;
static uv_loop_t g_loop;
static uv_tcp_t g_listener;
static uv_timer_t g_tick; /* keeps each UV_RUN_ONCE of run_until short */
static ct_tls_ctx_t *g_server_ctx, *g_client_ctx;
static ct_test_daemon_t g_d;

static void on_handshake(ct_tls_t *t)
{
    ((end_t *)t)->open = true;
}

static void on_read(ct_tls_t *t, const uint8_t *data, size_t len)
{
    (void)t;
    (void)data;
    (void)len;
}

static void on_error(ct_tls_t *t, int err, const char *why)
{
    end_t *e = (end_t *)t;
    e->err = err;
    snprintf(e->why, sizeof e->why, "%s", why);
}

static void on_close(ct_tls_t *t)
{
    ((end_t *)t)->closed = true;
}

static const ct_tls_callbacks_t CALLBACKS = {
    .on_handshake = on_handshake,
    .on_read = on_read,
    .on_error = on_error,
    .on_close = on_close,
};

static void on_connection(uv_stream_t *listener, int status)
{
    cr_assert_eq(status, 0);
    cr_assert_eq(ct_tls_init(&g_server.tls, &g_loop, g_server_ctx, true, &CALLBACKS), 0);
    cr_assert_eq(uv_accept(listener, (uv_stream_t *)&g_server.tls.tcp), 0);
    cr_assert_eq(ct_tls_start(&g_server.tls), 0);
}

static void on_connected(uv_connect_t *req, int status)
{
    (void)req;
    cr_assert_eq(status, 0, "connect: %s", uv_strerror(status));
    cr_assert_eq(ct_tls_start(&g_client.tls), 0);
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until *flag is set, at most 5 s (g_tick wakes it every 10 ms to look). */
static bool run_until(const bool *flag)
{
    uint64_t deadline = uv_hrtime() + 5000000000ull;
    while (!*flag && uv_hrtime() < deadline)
        uv_run(&g_loop, UV_RUN_ONCE);
    return *flag;
}

/* Both ends open: the server listens on a port the kernel picks, the client connects to it. */
static void open_pair(void)
{
    memset(&g_server, 0, sizeof g_server);
    memset(&g_client, 0, sizeof g_client);
    ct_test_daemon_init(&g_d, NULL);
    char crt[4200], key[4200], ca[4200], err[256] = "";
    snprintf(crt, sizeof crt, "%s/server.crt", g_d.data);
    snprintf(key, sizeof key, "%s/server.key", g_d.data);
    ct_test_daemon_ca_path(&g_d, ca, sizeof ca);
    cr_assert_eq(ct_tls_ctx_new(true, crt, key, ca, &g_server_ctx, err, sizeof err), 0, "%s", err);
    ct_test_daemon_cert_path(&g_d, "pw.sam", crt, sizeof crt);
    ct_test_daemon_key_path(&g_d, "pw.sam", key, sizeof key);
    cr_assert_eq(ct_tls_ctx_new(false, crt, key, ca, &g_client_ctx, err, sizeof err), 0, "%s", err);

    cr_assert_eq(uv_loop_init(&g_loop), 0);
    cr_assert_eq(uv_timer_init(&g_loop, &g_tick), 0);
    cr_assert_eq(uv_timer_start(&g_tick, on_tick, 10, 10), 0);
    cr_assert_eq(uv_tcp_init(&g_loop, &g_listener), 0);
    struct sockaddr_in any;
    cr_assert_eq(uv_ip4_addr("127.0.0.1", 0, &any), 0);
    cr_assert_eq(uv_tcp_bind(&g_listener, (const struct sockaddr *)&any, 0), 0);
    cr_assert_eq(uv_listen((uv_stream_t *)&g_listener, 4, on_connection), 0);
    struct sockaddr_storage bound;
    int bound_len = sizeof bound;
    cr_assert_eq(uv_tcp_getsockname(&g_listener, (struct sockaddr *)&bound, &bound_len), 0);

    cr_assert_eq(ct_tls_init(&g_client.tls, &g_loop, g_client_ctx, false, &CALLBACKS), 0);
    static uv_connect_t req;
    cr_assert_eq(
        uv_tcp_connect(&req, &g_client.tls.tcp, (const struct sockaddr *)&bound, on_connected), 0);
    cr_assert(run_until(&g_client.open) && run_until(&g_server.open), "handshake");
}

/* Closes what is left, lets the loop finish every close, frees the rest. */
static void close_pair(void)
{
    ct_tls_close(&g_client.tls, false);
    ct_tls_close(&g_server.tls, false);
    uv_close((uv_handle_t *)&g_listener, NULL);
    cr_assert(run_until(&g_client.closed) && run_until(&g_server.closed));
    uv_close((uv_handle_t *)&g_tick, NULL);
    uv_run(&g_loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&g_loop), 0);
    ct_tls_ctx_free(g_server_ctx);
    ct_tls_ctx_free(g_client_ctx);
    ct_test_daemon_cleanup(&g_d);
}

/* Writes text from the client while every append fails, then checks that the write was refused
 * with CT_ENOMEM, that the connection failed for memory and closed, that its peer saw the end,
 * and that nothing leaked (the failure's reason is allocated: freed after on_error). */
static void write_fails_for_memory_and_closes(const char *text)
{
    g_fail_appends = true;
    int r = ct_tls_write(&g_client.tls, (const uint8_t *)text, strlen(text));
    g_fail_appends = false;
    cr_assert_eq(r, CT_ENOMEM);
    cr_assert(run_until(&g_client.closed), "the connection closed instead of staying open");
    cr_assert_eq(g_client.err, CT_ENOMEM, "on_error: %s (%s)", ct_errname(g_client.err),
                 g_client.why);
    cr_assert(strstr(g_client.why, "out of memory") != NULL, "why: %s", g_client.why);
    cr_assert(run_until(&g_server.closed), "the peer saw the connection end");
    close_pair();
    ct_test_leak_check();
}

/* No write in flight: the bytes are sealed at once, and the output queue cannot take them. */
Test(tls_failures, a_write_whose_records_cannot_be_queued_closes_the_connection)
{
    open_pair();
    cr_assert(!g_client.tls.writing, "no write in flight: the bytes are sealed at once");
    write_fails_for_memory_and_closes("hello");
}

/* A write in flight: later bytes wait as plaintext, and that queue cannot take them. */
Test(tls_failures, a_write_that_cannot_wait_for_the_one_in_flight_closes_the_connection)
{
    open_pair();
    cr_assert_eq(ct_tls_write(&g_client.tls, (const uint8_t *)"first", 5), 0);
    cr_assert(g_client.tls.writing, "the first write is in flight");
    write_fails_for_memory_and_closes("second");
}
