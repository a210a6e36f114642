/*
 * The TLS transport under the daemon (common/tls.c): OpenSSL reads each socket read in place, and
 * whatever cut of the client's records a read brings (a byte of a record header, a record and a
 * half, many records), the daemon completes the handshake, reads every frame whole and answers
 * every request, in order.
 */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>

#include "careteam.h"
#include "daemon.h"
#include "envelope.h"
#include "rawtls.h"
#include "testsupport.h"

TestSuite(transport, .init = ct_test_ignore_sigpipe, .fini = ct_test_leak_check);

static ct_test_daemon_t g_d;

/* Connects in pieces, sends Hello and `pings` Pings in one write (cut into pieces as well), and
 * checks the Welcome and each Pong, in order. */
static void hello_and_pings_in_pieces(size_t piece, unsigned pause_us, uint64_t pings)
{
    ct_test_raw_t r;
    cr_assert(ct_test_raw_connect_in_pieces(&r, &g_d, "pw.sam", piece, pause_us), "%s", r.why);
    ct_buf_t b = CT_BUF_INIT;
    ct_test_append_hello(&b);
    for (uint64_t id = 2; id < 2 + pings; id++)
        ct_test_append_ping(&b, id);
    cr_assert(ct_test_raw_write(&r, b.data, b.len), "%s", r.why);
    ct_buf_free(&b);
    Careteam__V1__Envelope *e = ct_test_raw_read_response(&r);
    cr_assert_eq(e->body_case, CARETEAM__V1__ENVELOPE__BODY_WELCOME, "got %s",
                 ct_test_body_name(e));
    careteam__v1__envelope__free_unpacked(e, NULL);
    for (uint64_t id = 2; id < 2 + pings; id++) {
        e = ct_test_raw_read_response(&r);
        cr_assert_eq(e->body_case, CARETEAM__V1__ENVELOPE__BODY_PONG, "answer to %llu: %s",
                     (unsigned long long)id, ct_test_body_name(e));
        cr_assert_eq(e->request_id, id, "answers come in request order");
        careteam__v1__envelope__free_unpacked(e, NULL);
    }
    ct_test_raw_close(&r);
}

/* One byte per segment, the handshake's certificate flight included: every read the daemon makes
 * holds at most a few bytes of a record. */
Test(transport, records_arriving_a_byte_at_a_time_are_read_whole)
{
    ct_test_daemon_launch(&g_d, NULL);
    hello_and_pings_in_pieces(1, 50, 3);
    cr_assert_eq(ct_test_daemon_stop(&g_d), 0, "clean exit");
    cr_assert_eq(ct_test_audit_count(&g_d, "session.ping"), 3, "every ping is audited once");
    ct_test_daemon_finish(&g_d);
}

/* Pieces of 7 bytes without pauses: reads that end inside a record header, inside a body, or
 * hold several records and part of the next. */
Test(transport, records_cut_at_odd_offsets_are_read_whole)
{
    enum { PINGS = 300 };
    ct_test_daemon_launch(&g_d, "rate_limit = 1000000\n");
    hello_and_pings_in_pieces(7, 0, PINGS);
    cr_assert_eq(ct_test_daemon_stop(&g_d), 0, "clean exit");
    cr_assert_eq(ct_test_audit_count(&g_d, "session.ping"), PINGS, "every ping is audited once");
    ct_test_daemon_finish(&g_d);
}

/* Key updates sent by the client between requests, each asking the daemon to update its own keys
 * too, all cut into pieces: TLS messages without application data in the middle of the stream,
 * after which every request is still read and answered. */
Test(transport, key_updates_between_requests_leave_the_session_working)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_raw_t r;
    cr_assert(ct_test_raw_connect_in_pieces(&r, &g_d, "pw.sam", 7, 0), "%s", r.why);
    cr_assert(ct_test_raw_send_hello(&r), "%s", r.why);
    Careteam__V1__Envelope *e = ct_test_raw_read_response(&r);
    cr_assert_eq(e->body_case, CARETEAM__V1__ENVELOPE__BODY_WELCOME);
    careteam__v1__envelope__free_unpacked(e, NULL);
    for (uint64_t id = 2; id < 12; id++) {
        cr_assert(ct_test_raw_key_update(&r), "%s", r.why);
        ct_buf_t b = CT_BUF_INIT;
        ct_test_append_ping(&b, id);
        cr_assert(ct_test_raw_write(&r, b.data, b.len), "%s", r.why);
        ct_buf_free(&b);
        e = ct_test_raw_read_response(&r);
        cr_assert_eq(e->body_case, CARETEAM__V1__ENVELOPE__BODY_PONG, "answer to %llu: %s",
                     (unsigned long long)id, ct_test_body_name(e));
        cr_assert_eq(e->request_id, id);
        careteam__v1__envelope__free_unpacked(e, NULL);
    }
    ct_test_raw_close(&r);
    cr_assert_eq(ct_test_daemon_stop(&g_d), 0, "clean exit");
    cr_assert_eq(ct_test_audit_count(&g_d, "session.ping"), 10, "every ping is audited once");
    ct_test_daemon_finish(&g_d);
}
