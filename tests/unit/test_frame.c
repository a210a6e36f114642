/*
 * The frame reader and the envelope writer: resumable reading, limits checked before payload
 * arrives, sticky errors, bounded memory, and an Envelope round trip through protobuf-c.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "careteam.pb-c.h"
#include "err.h"
#include "frame.h"
#include "testsupport.h"

/* Appends one frame (header + payload) to b. */
static void put_frame(ct_buf_t *b, const void *payload, uint32_t len)
{
    uint8_t hdr[CT_FRAME_HEADER];
    ct_frame_put_header(hdr, len);
    cr_assert_eq(ct_buf_append(b, hdr, sizeof hdr), 0);
    cr_assert_eq(ct_buf_append(b, payload, len), 0);
}

/* Takes the next frame and asserts that it equals want. */
static void expect_frame(ct_frame_reader_t *r, const void *want, size_t want_len)
{
    const uint8_t *p = NULL;
    size_t n = 0;
    cr_assert_eq(ct_frame_reader_next(r, &p, &n), 1);
    cr_assert_eq(n, want_len);
    cr_assert_eq(memcmp(p, want, n), 0);
}

static void expect_no_frame(ct_frame_reader_t *r)
{
    const uint8_t *p = NULL;
    size_t n = 0;
    cr_assert_eq(ct_frame_reader_next(r, &p, &n), 0);
    cr_assert_null(p, "nothing may be yielded");
}

TestSuite(frame, .fini = ct_test_leak_check);

Test(frame, header_is_big_endian)
{
    uint8_t h[CT_FRAME_HEADER];
    ct_frame_put_header(h, 0x01020304u);
    cr_assert_eq(memcmp(h, "\x01\x02\x03\x04", 4), 0);
    ct_frame_put_header(h, 1);
    cr_assert_eq(memcmp(h, "\x00\x00\x00\x01", 4), 0);
    ct_test_leak_check();
}

Test(frame, split_across_reads_byte_by_byte)
{
    static const char *payloads[] = {"a", "hello, world", "third frame, a little longer"};
    ct_buf_t wire = CT_BUF_INIT;
    for (size_t i = 0; i < 3; i++)
        put_frame(&wire, payloads[i], (uint32_t)strlen(payloads[i]));

    ct_frame_reader_t r;
    ct_frame_reader_init(&r, CT_FRAME_DEFAULT_MAX);
    size_t got = 0;
    for (size_t i = 0; i < wire.len; i++) {
        cr_assert_eq(ct_frame_reader_feed(&r, wire.data + i, 1), 0);
        const uint8_t *p;
        size_t n;
        int rc;
        while ((rc = ct_frame_reader_next(&r, &p, &n)) == 1) {
            cr_assert_lt(got, 3);
            cr_assert_eq(n, strlen(payloads[got]));
            cr_assert_eq(memcmp(p, payloads[got], n), 0);
            got++;
        }
        cr_assert_eq(rc, 0);
    }
    cr_assert_eq(got, 3);
    cr_assert_eq(ct_frame_reader_buffered(&r), 0);
    ct_frame_reader_free(&r);
    ct_buf_free(&wire);
    ct_test_leak_check();
}

Test(frame, several_frames_in_one_read)
{
    ct_buf_t wire = CT_BUF_INIT;
    put_frame(&wire, "one", 3);
    put_frame(&wire, "two", 3);
    put_frame(&wire, "three", 5);
    put_frame(&wire, "fo", 2); /* the start of a fourth frame: header plus two bytes */
    ct_frame_reader_t r;
    ct_frame_reader_init(&r, CT_FRAME_DEFAULT_MAX);
    cr_assert_eq(ct_frame_reader_feed(&r, wire.data, wire.len), 0);
    expect_frame(&r, "one", 3);
    expect_frame(&r, "two", 3);
    expect_frame(&r, "three", 5);
    expect_frame(&r, "fo", 2);
    expect_no_frame(&r);
    cr_assert_eq(ct_frame_reader_buffered(&r), 0);
    ct_frame_reader_free(&r);
    ct_buf_free(&wire);
    ct_test_leak_check();
}

Test(frame, keeps_bytes_of_the_next_frame)
{
    ct_buf_t wire = CT_BUF_INIT;
    put_frame(&wire, "first", 5);
    put_frame(&wire, "second", 6);
    ct_frame_reader_t r;
    ct_frame_reader_init(&r, CT_FRAME_DEFAULT_MAX);
    /* The first read ends three bytes into the second frame's payload. */
    size_t cut = 4 + 5 + 4 + 3;
    cr_assert_eq(ct_frame_reader_feed(&r, wire.data, cut), 0);
    expect_frame(&r, "first", 5);
    expect_no_frame(&r);
    cr_assert_eq(ct_frame_reader_buffered(&r), 7);
    cr_assert_eq(ct_frame_reader_feed(&r, wire.data + cut, wire.len - cut), 0);
    expect_frame(&r, "second", 6);
    expect_no_frame(&r);
    ct_frame_reader_free(&r);
    ct_buf_free(&wire);
    ct_test_leak_check();
}

Test(frame, zero_length_is_a_sticky_protocol_error)
{
    ct_frame_reader_t r;
    ct_frame_reader_init(&r, CT_FRAME_DEFAULT_MAX);
    ct_buf_t wire = CT_BUF_INIT;
    put_frame(&wire, "ok", 2);
    cr_assert_eq(ct_buf_append(&wire, "\0\0\0\0", 4), 0);
    put_frame(&wire, "after", 5);
    cr_assert_eq(ct_frame_reader_feed(&r, wire.data, wire.len), 0);
    expect_frame(&r, "ok", 2); /* frames before the bad one are still delivered */
    const uint8_t *p = NULL;
    size_t n = 0;
    cr_assert_eq(ct_frame_reader_next(&r, &p, &n), CT_EPROTO);
    cr_assert_eq(ct_frame_reader_next(&r, &p, &n), CT_EPROTO, "the error is sticky");
    size_t held = ct_frame_reader_buffered(&r);
    cr_assert_eq(ct_frame_reader_feed(&r, wire.data, wire.len), CT_EPROTO);
    cr_assert_eq(ct_frame_reader_buffered(&r), held, "no bytes stored after the error");
    cr_assert_eq(ct_frame_reader_next(&r, &p, &n), CT_EPROTO);
    cr_assert_null(p);
    ct_frame_reader_free(&r);
    ct_buf_free(&wire);
    ct_test_leak_check();
}

Test(frame, length_over_max_fails_before_the_payload_arrives)
{
    const size_t max = 1024;
    ct_frame_reader_t r;
    ct_frame_reader_init(&r, max);
    uint8_t hdr[CT_FRAME_HEADER];
    ct_frame_put_header(hdr, (uint32_t)max + 1);
    /* Only the header: no payload byte has arrived yet. */
    cr_assert_eq(ct_frame_reader_feed(&r, hdr, sizeof hdr), 0);
    const uint8_t *p = NULL;
    size_t n = 0;
    cr_assert_eq(ct_frame_reader_next(&r, &p, &n), CT_ETOOBIG);
    cr_assert_null(p);
    /* The peer keeps sending: nothing more is stored and the error stays. */
    uint8_t junk[4096];
    memset(junk, 'j', sizeof junk);
    for (int i = 0; i < 64; i++)
        cr_assert_eq(ct_frame_reader_feed(&r, junk, sizeof junk), CT_ETOOBIG);
    cr_assert_eq(ct_frame_reader_buffered(&r), sizeof hdr);
    cr_assert_leq(r.buf.cap, max + CT_FRAME_HEADER);
    cr_assert_eq(ct_frame_reader_next(&r, &p, &n), CT_ETOOBIG);
    ct_frame_reader_free(&r);
    ct_test_leak_check();
}

Test(frame, huge_length_prefix_reserves_nothing)
{
    ct_frame_reader_t r;
    ct_frame_reader_init(&r, CT_FRAME_DEFAULT_MAX);
    cr_assert_eq(ct_frame_reader_feed(&r, (const uint8_t *)"\xff\xff\xff", 3), 0);
    cr_assert_leq(r.buf.cap, 256, "a partial header must not reserve by its value");
    cr_assert_eq(ct_frame_reader_feed(&r, (const uint8_t *)"\xff", 1), 0);
    cr_assert_leq(r.buf.cap, 256, "a complete header must not reserve by its value");
    const uint8_t *p;
    size_t n;
    cr_assert_eq(ct_frame_reader_next(&r, &p, &n), CT_ETOOBIG);
    ct_frame_reader_free(&r);
    ct_test_leak_check();
}

Test(frame, memory_grows_only_with_bytes_received)
{
    const size_t max = 10000;
    ct_frame_reader_t r;
    ct_frame_reader_init(&r, max);
    uint8_t hdr[CT_FRAME_HEADER];
    ct_frame_put_header(hdr, (uint32_t)max);
    cr_assert_eq(ct_frame_reader_feed(&r, hdr, sizeof hdr), 0);
    expect_no_frame(&r);
    uint8_t chunk[7];
    memset(chunk, 'm', sizeof chunk);
    size_t sent = 0;
    while (sent < max) {
        size_t k = max - sent < sizeof chunk ? max - sent : sizeof chunk;
        cr_assert_eq(ct_frame_reader_feed(&r, chunk, k), 0);
        sent += k;
        /* Doubling would overshoot; the capacity is capped at one maximal frame. */
        cr_assert_leq(r.buf.cap, max + CT_FRAME_HEADER, "cap %zu after %zu bytes", r.buf.cap, sent);
        cr_assert_leq(r.buf.cap, 2 * (sent + CT_FRAME_HEADER) + 256, "cap %zu", r.buf.cap);
        if (sent < max)
            expect_no_frame(&r);
    }
    const uint8_t *p;
    size_t n;
    cr_assert_eq(ct_frame_reader_next(&r, &p, &n), 1);
    cr_assert_eq(n, max);
    ct_frame_reader_free(&r);
    ct_test_leak_check();
}

Test(frame, truncated_frame_yields_nothing)
{
    ct_frame_reader_t r;
    ct_frame_reader_init(&r, CT_FRAME_DEFAULT_MAX);
    cr_assert_eq(ct_frame_reader_feed(&r, (const uint8_t *)"\x00\x00", 2), 0);
    expect_no_frame(&r); /* half a header */
    cr_assert_eq(ct_frame_reader_feed(&r,
                                      (const uint8_t *)"\x00\x0a"
                                                       "12345",
                                      7),
                 0);
    expect_no_frame(&r); /* header for 10, five bytes of payload */
    expect_no_frame(&r);
    cr_assert_eq(ct_frame_reader_buffered(&r), 9);
    ct_frame_reader_free(&r);
    ct_test_leak_check();
}

Test(frame, exactly_max_frame_is_accepted)
{
    const size_t max = 4096;
    uint8_t payload[4096];
    for (size_t i = 0; i < max; i++)
        payload[i] = (uint8_t)(i * 7);
    ct_buf_t wire = CT_BUF_INIT;
    put_frame(&wire, payload, (uint32_t)max);
    ct_frame_reader_t r;
    ct_frame_reader_init(&r, max);
    cr_assert_eq(ct_frame_reader_feed(&r, wire.data, wire.len), 0);
    expect_frame(&r, payload, max);
    cr_assert_leq(r.buf.cap, max + CT_FRAME_HEADER);
    ct_frame_reader_free(&r);
    ct_buf_free(&wire);
    ct_test_leak_check();
}

Test(frame, releases_a_large_buffer_once_idle)
{
    static uint8_t big[200000];
    ct_buf_t wire = CT_BUF_INIT;
    put_frame(&wire, big, sizeof big);
    ct_frame_reader_t r;
    ct_frame_reader_init(&r, CT_FRAME_DEFAULT_MAX);
    cr_assert_eq(ct_frame_reader_feed(&r, wire.data, wire.len), 0);
    expect_frame(&r, big, sizeof big);
    cr_assert_eq(ct_frame_reader_feed(&r, (const uint8_t *)"\x00", 1), 0);
    cr_assert_lt(r.buf.cap, sizeof big, "an idle reader keeps no frame-sized buffer");
    ct_frame_reader_free(&r);
    ct_buf_free(&wire);
    ct_test_leak_check();
}

Test(frame, free_is_safe_on_an_unused_reader)
{
    ct_frame_reader_t r;
    ct_frame_reader_init(&r, CT_FRAME_DEFAULT_MAX);
    ct_frame_reader_free(&r);
    ct_frame_reader_free(&r);
    cr_assert_eq(ct_frame_reader_buffered(&r), 0);
    ct_test_leak_check();
}

/* ---- envelopes -------------------------------------------------------------------------- */

TestSuite(envelope, .fini = ct_test_leak_check);

Test(envelope, round_trip_through_the_reader)
{
    Careteam__V1__Error err = CARETEAM__V1__ERROR__INIT;
    err.code = CARETEAM__V1__ERROR_CODE__ERROR_CODE_NOT_FOUND;
    err.message = "no such member: bob";
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.request_id = 42;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_ERROR;
    env.error = &err;

    ct_buf_t out = CT_BUF_INIT;
    cr_assert_eq(ct_frame_append_envelope(&out, &env, CT_FRAME_DEFAULT_MAX), 0);
    size_t packed = careteam__v1__envelope__get_packed_size(&env);
    cr_assert_eq(out.len, CT_FRAME_HEADER + packed);
    uint8_t hdr[CT_FRAME_HEADER];
    ct_frame_put_header(hdr, (uint32_t)packed);
    cr_assert_eq(memcmp(out.data, hdr, sizeof hdr), 0);

    ct_frame_reader_t r;
    ct_frame_reader_init(&r, CT_FRAME_DEFAULT_MAX);
    cr_assert_eq(ct_frame_reader_feed(&r, out.data, out.len), 0);
    const uint8_t *p;
    size_t n;
    cr_assert_eq(ct_frame_reader_next(&r, &p, &n), 1);
    Careteam__V1__Envelope *back = careteam__v1__envelope__unpack(NULL, n, p);
    cr_assert_not_null(back);
    cr_assert_eq(back->request_id, 42);
    cr_assert_eq(back->body_case, CARETEAM__V1__ENVELOPE__BODY_ERROR);
    cr_assert_eq(back->error->code, CARETEAM__V1__ERROR_CODE__ERROR_CODE_NOT_FOUND);
    cr_assert_str_eq(back->error->message, "no such member: bob");
    careteam__v1__envelope__free_unpacked(back, NULL);

    ct_frame_reader_free(&r);
    ct_buf_free(&out);
    ct_test_leak_check();
}

Test(envelope, appends_after_existing_bytes)
{
    Careteam__V1__Ping ping = CARETEAM__V1__PING__INIT;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.request_id = 7;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_PING;
    env.ping = &ping;
    ct_buf_t out = CT_BUF_INIT;
    cr_assert_eq(ct_frame_append_envelope(&out, &env, CT_FRAME_DEFAULT_MAX), 0);
    size_t one = out.len;
    env.request_id = 8;
    cr_assert_eq(ct_frame_append_envelope(&out, &env, CT_FRAME_DEFAULT_MAX), 0);
    cr_assert_eq(out.len, 2 * one);

    ct_frame_reader_t r;
    ct_frame_reader_init(&r, CT_FRAME_DEFAULT_MAX);
    cr_assert_eq(ct_frame_reader_feed(&r, out.data, out.len), 0);
    for (uint64_t want = 7; want <= 8; want++) {
        const uint8_t *p;
        size_t n;
        cr_assert_eq(ct_frame_reader_next(&r, &p, &n), 1);
        Careteam__V1__Envelope *back = careteam__v1__envelope__unpack(NULL, n, p);
        cr_assert_not_null(back);
        cr_assert_eq(back->request_id, want);
        cr_assert_eq(back->body_case, CARETEAM__V1__ENVELOPE__BODY_PING);
        careteam__v1__envelope__free_unpacked(back, NULL);
    }
    ct_frame_reader_free(&r);
    ct_buf_free(&out);
    ct_test_leak_check();
}

Test(envelope, too_big_is_refused_and_leaves_the_buffer_unchanged)
{
    Careteam__V1__Error err = CARETEAM__V1__ERROR__INIT;
    err.code = CARETEAM__V1__ERROR_CODE__ERROR_CODE_INTERNAL;
    err.message = "a message longer than the tiny limit below";
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_ERROR;
    env.error = &err;
    size_t packed = careteam__v1__envelope__get_packed_size(&env);

    ct_buf_t out = CT_BUF_INIT;
    cr_assert_eq(ct_buf_append(&out, "xy", 2), 0);
    cr_assert_eq(ct_frame_append_envelope(&out, &env, packed - 1), CT_ETOOBIG);
    cr_assert_eq(out.len, 2);
    cr_assert_eq(ct_frame_append_envelope(&out, &env, packed), 0, "exactly max_frame fits");
    cr_assert_eq(out.len, 2 + CT_FRAME_HEADER + packed);
    ct_buf_free(&out);
    ct_test_leak_check();
}

Test(envelope, empty_envelope_is_refused)
{
    /* request_id 0 and no body pack to zero bytes: a zero-length frame the peer would reject. */
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    ct_buf_t out = CT_BUF_INIT;
    cr_assert_eq(ct_frame_append_envelope(&out, &env, CT_FRAME_DEFAULT_MAX), CT_EINVAL);
    cr_assert_eq(out.len, 0);
    ct_buf_free(&out);
    ct_test_leak_check();
}

Test(envelope, next_envelope_unpacks_and_survives_a_junk_frame)
{
    Careteam__V1__Ping ping = CARETEAM__V1__PING__INIT;
    Careteam__V1__Envelope env = CARETEAM__V1__ENVELOPE__INIT;
    env.request_id = 7;
    env.body_case = CARETEAM__V1__ENVELOPE__BODY_PING;
    env.ping = &ping;
    ct_buf_t in = CT_BUF_INIT;
    /* A field tag with wire type 7 does not exist: protobuf-c refuses the frame. */
    const uint8_t junk[] = {0x0f, 0xff, 0xff};
    put_frame(&in, junk, sizeof junk);
    cr_assert_eq(ct_frame_append_envelope(&in, &env, CT_FRAME_DEFAULT_MAX), 0);

    ct_frame_reader_t r;
    ct_frame_reader_init(&r, CT_FRAME_DEFAULT_MAX);
    cr_assert_eq(ct_frame_reader_feed(&r, in.data, in.len), 0);
    Careteam__V1__Envelope *got = NULL;
    cr_assert_eq(ct_frame_next_envelope(&r, &got, NULL), CT_EINVAL, "junk is not an Envelope");
    cr_assert_null(got);
    cr_assert_eq(ct_frame_next_envelope(&r, &got, NULL), 1, "the stream stays in sync after junk");
    cr_assert_eq(got->request_id, 7);
    cr_assert_eq(got->body_case, CARETEAM__V1__ENVELOPE__BODY_PING);
    careteam__v1__envelope__free_unpacked(got, NULL);
    cr_assert_eq(ct_frame_next_envelope(&r, &got, NULL), 0);

    ct_frame_reader_free(&r);
    ct_buf_free(&in);
    ct_test_leak_check();
}
