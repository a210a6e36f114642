/*
 * Writes the seed corpus of the fuzz harnesses (tests/fuzz/corpus/<harness>/): small valid inputs
 * of every kind and the edge cases each harness should start from. The files are checked in; run
 * this again only to change them:
 *
 *     cmake --build build --target fuzz_make_corpus && build/tests/fuzz_make_corpus
 * tests/fuzz/corpus
 *
 * It writes (and overwrites) only files named here, so crash reproducers added to the corpus by
 * hand (named crash-*) stay. Every input is described where it is made.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "careteam.pb-c.h"
#include "config.h"
#include "frame.h"

static const char *root;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("make_corpus: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void put(const char *harness, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, harness);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die("mkdir %s: %s", path, strerror(errno));
    snprintf(path, sizeof path, "%s/%s/%s", root, harness, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        die("cannot write %s", path);
}

static void put_text(const char *harness, const char *name, const char *text)
{
    put(harness, name, text, strlen(text));
}

static void append(ct_buf_t *b, const void *data, size_t len)
{
    if (ct_buf_append(b, data, len) != 0)
        die("out of memory");
}

/* ---- envelopes --------------------------------------------------------------------------------
 */

static const char *UUID1 = "0190a5c4-7b1e-7000-8000-000000000001";

/* Frames env onto b. */
static void frame_env(ct_buf_t *b, const Careteam__V1__Envelope *env)
{
    if (ct_frame_append_envelope(b, env, CT_FRAME_DEFAULT_MAX) != 0)
        die("cannot frame an envelope");
}

/* Frames raw payload bytes onto b, whatever they are. */
static void frame_raw(ct_buf_t *b, const void *payload, uint32_t len)
{
    uint8_t hdr[CT_FRAME_HEADER];
    ct_frame_put_header(hdr, len);
    append(b, hdr, sizeof hdr);
    append(b, payload, len);
}

/* A frame-harness input: max_frame selector, chunk schedule, then the stream. */
static void put_stream(const char *name, uint8_t max_sel, uint8_t sched, const ct_buf_t *stream)
{
    ct_buf_t in = CT_BUF_INIT;
    uint8_t head[2] = {max_sel, sched};
    append(&in, head, 2);
    if (stream->len > 0)
        append(&in, stream->data, stream->len);
    put("frame", name, in.data, in.len);
    ct_buf_free(&in);
}

/* Selectors of fuzz_frame.c: the default 1 MiB limit, and chunks of at most 16 bytes. */
#define MAX_DEFAULT 0x80
#define MAX_UNLIMITED 0xff
#define SCHED_BYTES 0x00
#define SCHED_16 0x04
#define SCHED_ONE_FEED 0xff

/* Builds one envelope of body case `which` into *env; strings point at static data. */
static void make_envelope(int which, Careteam__V1__Envelope *env)
{
    static Careteam__V1__Hello hello = CARETEAM__V1__HELLO__INIT;
    static Careteam__V1__Welcome welcome = CARETEAM__V1__WELCOME__INIT;
    static Careteam__V1__SendMessage send = CARETEAM__V1__SEND_MESSAGE__INIT;
    static Careteam__V1__Ack ack = CARETEAM__V1__ACK__INIT;
    static Careteam__V1__Message message = CARETEAM__V1__MESSAGE__INIT;
    static Careteam__V1__Deliver deliver = CARETEAM__V1__DELIVER__INIT;
    static Careteam__V1__DeliveryAck dack = CARETEAM__V1__DELIVERY_ACK__INIT;
    static Careteam__V1__Ok ok = CARETEAM__V1__OK__INIT;
    static Careteam__V1__Error error = CARETEAM__V1__ERROR__INIT;
    static Careteam__V1__Ping ping = CARETEAM__V1__PING__INIT;
    static Careteam__V1__Pong pong = CARETEAM__V1__PONG__INIT;
    static Careteam__V1__ReplayComplete replay = CARETEAM__V1__REPLAY_COMPLETE__INIT;
    static char *to[] = {"bob", "carol.r", "dr_x-1"};
    static char *ids[] = {"0190a5c4-7b1e-7000-8000-000000000001",
                          "0190A5C4-7B1E-7000-8000-000000000001", "not-a-uuid"};

    Careteam__V1__Envelope init = CARETEAM__V1__ENVELOPE__INIT;
    *env = init;
    env->request_id = (uint64_t)which + 1;
    env->body_case = (Careteam__V1__Envelope__BodyCase)which;
    switch (which) {
    case CARETEAM__V1__ENVELOPE__BODY_HELLO:
        hello.client_name = "careteam-cli/0.1";
        hello.protocol_version = CARETEAM__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
        env->hello = &hello;
        break;
    case CARETEAM__V1__ENVELOPE__BODY_WELCOME:
        welcome.member_id = "alice";
        welcome.display_name = "Alice Ärztin";
        welcome.role = CARETEAM__V1__ROLE__ROLE_THERAPIST;
        welcome.protocol_version = 1;
        welcome.server_name = "careteamd";
        env->request_id = 0;
        env->welcome = &welcome;
        break;
    case CARETEAM__V1__ENVELOPE__BODY_SEND_MESSAGE:
        send.client_msg_id = "c-0001";
        send.n_to = 3;
        send.to = to;
        send.participant_id = "p-17";
        send.subject = "Follow-up";
        send.body = "Seen today; stable. 🙂";
        send.priority = CARETEAM__V1__PRIORITY__PRIORITY_URGENT;
        env->send_message = &send;
        break;
    case CARETEAM__V1__ENVELOPE__BODY_ACK:
        ack.client_msg_id = "c-0001";
        ack.message_id = (char *)UUID1;
        ack.stored_at_ms = 1719835000000;
        ack.duplicate = 1;
        env->ack = &ack;
        break;
    case CARETEAM__V1__ENVELOPE__BODY_DELIVER:
        message.message_id = (char *)UUID1;
        message.sender_id = "alice";
        message.sender_role = CARETEAM__V1__ROLE__ROLE_PSYCHIATRIST;
        message.n_to = 2;
        message.to = to;
        message.participant_id = "p-17";
        message.subject = "Follow-up";
        message.body = "Seen today; stable.";
        message.priority = CARETEAM__V1__PRIORITY__PRIORITY_STAT;
        message.stored_at_ms = 1719835000000;
        deliver.message = &message;
        env->request_id = 0;
        env->deliver = &deliver;
        break;
    case CARETEAM__V1__ENVELOPE__BODY_DELIVERY_ACK:
        dack.n_message_ids = 3;
        dack.message_ids = ids;
        env->delivery_ack = &dack;
        break;
    case CARETEAM__V1__ENVELOPE__BODY_OK:
        env->ok = &ok;
        break;
    case CARETEAM__V1__ENVELOPE__BODY_ERROR:
        error.code = CARETEAM__V1__ERROR_CODE__ERROR_CODE_INVALID_ARGUMENT;
        error.message = "body is not valid UTF-8";
        env->error = &error;
        break;
    case CARETEAM__V1__ENVELOPE__BODY_PING:
        env->ping = &ping;
        break;
    case CARETEAM__V1__ENVELOPE__BODY_PONG:
        env->pong = &pong;
        break;
    case CARETEAM__V1__ENVELOPE__BODY_REPLAY_COMPLETE:
        replay.replayed = 3;
        env->request_id = 0;
        env->replay_complete = &replay;
        break;
    default:
        env->body_case = CARETEAM__V1__ENVELOPE__BODY__NOT_SET; /* request_id only */
        break;
    }
}

static const struct {
    int body;
    const char *name;
} BODIES[] = {
    {CARETEAM__V1__ENVELOPE__BODY_HELLO, "hello"},
    {CARETEAM__V1__ENVELOPE__BODY_WELCOME, "welcome"},
    {CARETEAM__V1__ENVELOPE__BODY_SEND_MESSAGE, "send_message"},
    {CARETEAM__V1__ENVELOPE__BODY_ACK, "ack"},
    {CARETEAM__V1__ENVELOPE__BODY_DELIVER, "deliver"},
    {CARETEAM__V1__ENVELOPE__BODY_DELIVERY_ACK, "delivery_ack"},
    {CARETEAM__V1__ENVELOPE__BODY_OK, "ok"},
    {CARETEAM__V1__ENVELOPE__BODY_ERROR, "error"},
    {CARETEAM__V1__ENVELOPE__BODY_PING, "ping"},
    {CARETEAM__V1__ENVELOPE__BODY_PONG, "pong"},
    {CARETEAM__V1__ENVELOPE__BODY_REPLAY_COMPLETE, "replay_complete"},
    {0, "no_body"},
};
#define N_BODIES (sizeof BODIES / sizeof BODIES[0])

/*
 * A SendMessage whose priority is -1 in a 5-byte varint (protobuf-c re-encodes it in 10) and whose
 * body hides 5 bytes behind a NUL: it re-encodes to exactly its own length, so
 * the old size comparison let through (docs/reliability.md, "Findings"). Returns its length.
 */
static size_t negative_enum_nul(uint8_t *out)
{
    static const uint8_t m[] = {
        0x0a, 0x02, 'm',  '1',                                             /* client_msg_id */
        0x12, 0x03, 'b',  'o',  'b',                                       /* to */
        0x2a, 0x0a, 'h',  'e',  'l',  'l',  'o', 0x00, 'X', 'X', 'X', 'X', /* body */
        0x30, 0xff, 0xff, 0xff, 0xff, 0x0f,                                /* priority -1 */
    };
    memcpy(out, m, sizeof m);
    return sizeof m;
}

static void frame_corpus(void)
{
    ct_buf_t all = CT_BUF_INIT;
    for (size_t i = 0; i < N_BODIES; i++) {
        Careteam__V1__Envelope env;
        make_envelope(BODIES[i].body, &env);
        ct_buf_t one = CT_BUF_INIT;
        frame_env(&one, &env);
        frame_env(&all, &env);
        char name[64];
        snprintf(name, sizeof name, "env-%s", BODIES[i].name);
        put_stream(name, MAX_DEFAULT, SCHED_16, &one);
        ct_buf_free(&one);
    }
    /* Every kind in one stream, fed one byte at a time, in random chunks, all at once. */
    put_stream("all-bytewise", MAX_DEFAULT, SCHED_BYTES, &all);
    put_stream("all-chunks-128", MAX_DEFAULT, 0x07, &all);
    put_stream("all-one-feed", MAX_DEFAULT, SCHED_ONE_FEED, &all);
    put_stream("all-unlimited", MAX_UNLIMITED, 0x05, &all);
    /* The same stream under a 64-byte limit: the first larger frame fails CT_ETOOBIG. */
    put_stream("all-max-64", 0x3f, 0x03, &all);

    ct_buf_t b = CT_BUF_INIT;
    Careteam__V1__Envelope ping;
    make_envelope(CARETEAM__V1__ENVELOPE__BODY_PING, &ping);

    static const uint8_t zero[4] = {0, 0, 0, 0};
    append(&b, zero, 4);
    put_stream("len-zero", MAX_DEFAULT, SCHED_16, &b);
    ct_buf_reset(&b);
    frame_env(&b, &ping);
    append(&b, zero, 4);
    frame_env(&b, &ping); /* never read: the stream is dead after the zero prefix */
    put_stream("len-zero-after-frame", MAX_DEFAULT, SCHED_BYTES, &b);

    static const uint8_t over[4] = {0x00, 0x10, 0x00, 0x01}; /* 1 MiB + 1 */
    ct_buf_reset(&b);
    append(&b, over, 4);
    append(&b, "xyz", 3);
    put_stream("len-over-default", MAX_DEFAULT, SCHED_16, &b);
    static const uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
    ct_buf_reset(&b);
    frame_env(&b, &ping);
    append(&b, huge, 4);
    put_stream("len-ffffffff", MAX_DEFAULT, SCHED_16, &b);
    /* Unlimited: the prefix is legal, so the reader waits, and must not reserve 4 GiB for it. */
    put_stream("len-ffffffff-unlimited", MAX_UNLIMITED, SCHED_16, &b);

    /* A 16-byte limit: a 16-byte frame passes, a 17-byte one fails. */
    uint8_t p16[17];
    memset(p16, 0x08, sizeof p16); /* field 1 varint 8, repeated: a valid Envelope */
    ct_buf_reset(&b);
    frame_raw(&b, p16, 16);
    put_stream("len-at-max-16", 0x0f, SCHED_16, &b);
    frame_raw(&b, p16, 17);
    put_stream("len-over-max-16", 0x0f, SCHED_16, &b);

    /* A frame larger than the 64 KiB the reader keeps for reuse, then a ping, byte by byte: the
     * feed after the big frame finds the reader empty and gives its memory back. */
    static char big_text[66000];
    memset(big_text, 'x', sizeof big_text - 1);
    Careteam__V1__Error big_error = CARETEAM__V1__ERROR__INIT;
    big_error.message = big_text;
    Careteam__V1__Envelope big = CARETEAM__V1__ENVELOPE__INIT;
    big.body_case = CARETEAM__V1__ENVELOPE__BODY_ERROR;
    big.error = &big_error;
    ct_buf_reset(&b);
    frame_env(&b, &big);
    frame_env(&b, &ping);
    put_stream("big-frame-bytewise", MAX_DEFAULT, SCHED_BYTES, &b);

    ct_buf_reset(&b);
    frame_env(&b, &ping);
    append(&b, zero, 2);
    put_stream("truncated-header", MAX_DEFAULT, SCHED_16, &b);
    static const uint8_t hundred[4] = {0, 0, 0, 100};
    ct_buf_reset(&b);
    append(&b, hundred, 4);
    append(&b, "0123456789", 10);
    put_stream("truncated-payload", MAX_DEFAULT, SCHED_16, &b);

    /* Two frames and most of a third, cut at odd places. */
    Careteam__V1__Envelope send;
    make_envelope(CARETEAM__V1__ENVELOPE__BODY_SEND_MESSAGE, &send);
    ct_buf_reset(&b);
    frame_env(&b, &send);
    frame_env(&b, &ping);
    frame_env(&b, &send);
    b.len -= 5;
    put_stream("split-frames", MAX_DEFAULT, 0x06, &b);

    /* Frames that are not Envelopes: junk, a group wire type, a truncated varint. */
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02};
    static const uint8_t group[] = {0x0b, 0x0c};
    static const uint8_t cut_varint[] = {0x08, 0x80};
    ct_buf_reset(&b);
    frame_raw(&b, junk, sizeof junk);
    frame_raw(&b, group, sizeof group);
    frame_raw(&b, cut_varint, sizeof cut_varint);
    frame_env(&b, &ping);
    put_stream("junk-frames", MAX_DEFAULT, SCHED_16, &b);

    /* Non-canonical but valid: request_id 0 spelled out (re-packs to nothing), an unknown field,
     * the body twice, a 10-byte varint for 1. */
    static const uint8_t rid0[] = {0x08, 0x00};
    static const uint8_t unknown[] = {0x08, 0x01, 0xf8, 0x06, 0x2a, 0x92, 0x01, 0x00};
    static const uint8_t twice[] = {0x92, 0x01, 0x00, 0x92, 0x01, 0x00};
    static const uint8_t long_varint[] = {0x08, 0x81, 0x80, 0x80, 0x80, 0x80,
                                          0x80, 0x80, 0x80, 0x80, 0x00};
    ct_buf_reset(&b);
    frame_raw(&b, rid0, sizeof rid0);
    frame_raw(&b, unknown, sizeof unknown);
    frame_raw(&b, twice, sizeof twice);
    frame_raw(&b, long_varint, sizeof long_varint);
    put_stream("non-canonical", MAX_DEFAULT, SCHED_16, &b);

    /* Found by fuzz_frame: a field numbered 0, its tag spelled in two bytes. protobuf-c keeps it
     * as an unknown field and re-encodes it as a one-byte tag 0x00, which it then refuses. */
    static const uint8_t tag0[] = {0x08, 0x13, 0x80, 0x00, 0x00};
    ct_buf_reset(&b);
    frame_raw(&b, tag0, sizeof tag0);
    put_stream("protobuf-c-field-0", MAX_UNLIMITED, SCHED_16, &b);

    /* A NUL inside Hello.client_name: the exactness check must refuse it. */
    static const uint8_t nul_hello[] = {0x08, 0x01, 0x52, 0x0c, 0x0a, 0x0a, 'c', 'l',
                                        'i',  0x00, 'h',  'i',  'd',  'd',  'e', 'n'};
    ct_buf_reset(&b);
    frame_raw(&b, nul_hello, sizeof nul_hello);
    put_stream("nul-in-string", MAX_DEFAULT, SCHED_16, &b);

    uint8_t inner[64], env[80];
    size_t n = negative_enum_nul(inner);
    env[0] = 0x08, env[1] = 0x01, env[2] = 0x62, env[3] = (uint8_t)n;
    memcpy(env + 4, inner, n);
    ct_buf_reset(&b);
    frame_raw(&b, env, (uint32_t)(n + 4));
    put_stream("negative-enum-nul", MAX_DEFAULT, SCHED_16, &b);

    /* Strings for the validators: overlongs, surrogates, past U+10FFFF, truncated sequences,
     * 4-byte characters, 64- and 65-character ids, wildcards, a UUID in capitals. */
    static char *odd[] = {
        "\xc0\x80",
        "\xe0\x80\x80",
        "\xed\xa0\x80",
        "\xf4\x90\x80\x80",
        "\xf0\x9f\x98",
        "\xf0\x9f\x98\x80",
        "caf\xc3\xa9",
        "\x7f",
        "a*",
        "a b",
        "%",
        "0190a5c4-7b1e-7000-8000-00000000000g",
        "0123456789012345678901234567890123456789012345678901234567890123",
        "01234567890123456789012345678901234567890123456789012345678901234",
    };
    Careteam__V1__DeliveryAck dack = CARETEAM__V1__DELIVERY_ACK__INIT;
    dack.n_message_ids = sizeof odd / sizeof odd[0];
    dack.message_ids = odd;
    Careteam__V1__Envelope e = CARETEAM__V1__ENVELOPE__INIT;
    e.request_id = 9;
    e.body_case = CARETEAM__V1__ENVELOPE__BODY_DELIVERY_ACK;
    e.delivery_ack = &dack;
    ct_buf_reset(&b);
    frame_env(&b, &e);
    put_stream("odd-strings", MAX_DEFAULT, SCHED_16, &b);

    ct_buf_free(&b);
    ct_buf_free(&all);
}

/* ---- config -----------------------------------------------------------------------------------
 */

static void config_corpus(void)
{
    /* The file `careteamd init` writes. */
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/config/defaults.conf", root);
    (void)unlink(path);
    put_text("config", "defaults.conf", ""); /* makes the directory */
    (void)unlink(path);
    ct_config_t cfg;
    ct_config_defaults(&cfg);
    if (ct_config_write(path, &cfg, err, sizeof err) != 0)
        die("%s", err);

    static const struct {
        const char *name, *text;
    } files[] = {
        {"empty.conf", ""},
        {"comments.conf", "# nothing set\n\n   # indented comment\n\t\n"},
        {"listen.conf", "listen = 0.0.0.0:7443\n"},
        {"listen-v6.conf",
         "listen = [::1]:0\nserver_name = care # team = one\nlog_level = debug\n"},
        {"sizes.conf", "max_frame = 64M\nmax_body = 1M\nmax_output = 4G\nmax_subject = 4k\n"},
        {"durations.conf", "handshake_timeout_ms = 10s\nidle_timeout_ms = 24h\n"
                           "handshake_timeout_ms = 1m\nidle_timeout_ms = 250 ms\n"},
        {"counts.conf", "max_recipients = 10000\nmax_connections = 1\nrate_limit = 1000000\n"
                        "member_cert_days = 3650\n"},
        {"repeated-key.conf", "log_level = error\nlog_level = warn\n"},
        {"crlf.conf", "listen = localhost:1\r\nlog_level = info\r\n"},
        {"no-final-newline.conf", "max_subject = 1"},
        {"bad-no-equals.conf", "listen\n"},
        {"bad-no-key.conf", " = 5\n"},
        {"bad-unknown-key.conf", "# fine\nmax_frames = 1M\n"},
        {"bad-empty-value.conf", "server_name =   \n"},
        {"bad-overflow.conf", "max_frame = 99999999999999999999999\n"},
        {"bad-overflow-suffix.conf", "max_output = 18014398509481984G\n"},
        {"bad-out-of-range.conf", "max_frame = 1K\n"},
        {"bad-size-suffix.conf", "max_frame = 1T\n"},
        {"bad-duration-suffix.conf", "idle_timeout_ms = 5d\n"},
        {"bad-count-suffix.conf", "max_recipients = 5K\n"},
        {"bad-negative.conf", "rate_limit = -1\n"},
        {"bad-body-vs-frame.conf", "max_frame = 8K\nmax_body = 8K\n"},
        {"bad-output-vs-frame.conf", "max_output = 1M\nmax_frame = 64M\nmax_body = 1K\n"},
        {"bad-listen.conf", "listen = host\n"},
        {"bad-listen-port.conf", "listen = h:65536\n"},
        {"bad-listen-colons.conf", "listen = ::1:80\n"},
        {"bad-listen-v6.conf", "listen = [zz]:1\n"},
        {"bad-server-name-control.conf", "server_name = a\x01z\n"},
        {"bad-log-level.conf", "log_level = verbose\n"},
        /* Not refused today: bytes that are not UTF-8 in server_name (see docs/reliability.md). */
        {"server-name-latin1.conf", "server_name = Caf\xe9\n"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        put_text("config", files[i].name, files[i].text);

    static const char nul[] = "listen = 1.2.3.4:5\0junk\nlog_level = info\n";
    put("config", "bad-nul-byte.conf", nul, sizeof nul - 1);

    char line[5000 + 32];
    memset(line, 'x', sizeof line);
    memcpy(line, "server_name = ", 14);
    line[sizeof line - 2] = '\n';
    line[sizeof line - 1] = '\0';
    put_text("config", "bad-long-line.conf", line);
    char name[200 + 32];
    snprintf(name, sizeof name, "server_name = %0200d\n", 7);
    put_text("config", "bad-server-name-too-long.conf", name);
}

/* ---- send_message -----------------------------------------------------------------------------
 */

/* Limits selector of fuzz_send_message.c: bit 0 chooses 3 recipients, 8-byte subject, 16-byte body
 * instead of the defaults. */
#define LIMITS_DEFAULT 0x00
#define LIMITS_TIGHT 0x01

static void put_send(const char *name, uint8_t limits, const Careteam__V1__SendMessage *m)
{
    size_t n = careteam__v1__send_message__get_packed_size(m);
    uint8_t *buf = malloc(n + 1);
    if (buf == NULL)
        die("out of memory");
    buf[0] = limits;
    careteam__v1__send_message__pack(m, buf + 1);
    put("send_message", name, buf, n + 1);
    free(buf);
}

static void send_message_corpus(void)
{
    static char *one[] = {"bob"};
    static char *three[] = {"bob", "carol.r", "dr_x-1"};
    static char *four[] = {"a", "b", "c", "d"};
    static char *dup[] = {"bob", "carol", "bob"};
    static char *bad_space[] = {"bo b"};
    static char *bad_wild[] = {"*"};
    static char *bad_empty[] = {""};
    static char *bad_long[] = {"01234567890123456789012345678901234567890123456789012345678901234"};
    static char *max_long[] = {"0123456789012345678901234567890123456789012345678901234567890123"};
    static char *many[100];
    static char names[100][8];
    for (int i = 0; i < 100; i++) {
        snprintf(names[i], sizeof names[i], "m%d", i);
        many[i] = names[i];
    }

    Careteam__V1__SendMessage base = CARETEAM__V1__SEND_MESSAGE__INIT;
    base.client_msg_id = "m1";
    base.n_to = 1;
    base.to = one;
    base.body = "hi";
    Careteam__V1__SendMessage m = base;
    put_send("ok-minimal", LIMITS_DEFAULT, &m);

    m.n_to = 3, m.to = three, m.participant_id = "p-17", m.subject = "Follow-up";
    m.body = "Seen today; stable. Next visit in two weeks.";
    m.priority = CARETEAM__V1__PRIORITY__PRIORITY_STAT;
    put_send("ok-full", LIMITS_DEFAULT, &m);

    /* Tight limits: exactly at each, then one over. */
    m = base;
    m.n_to = 3, m.to = three, m.subject = "12345678", m.body = "0123456789abcdef";
    put_send("tight-at-limits", LIMITS_TIGHT, &m);
    m.body = "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"; /* 16 bytes */
    put_send("tight-body-4-byte-chars", LIMITS_TIGHT, &m);
    m.n_to = 4, m.to = four;
    put_send("tight-too-many-recipients", LIMITS_TIGHT, &m);
    m = base;
    m.subject = "123456789";
    put_send("tight-subject-over", LIMITS_TIGHT, &m);
    m = base;
    m.body = "0123456789abcdefg";
    put_send("tight-body-over", LIMITS_TIGHT, &m);

    m = base;
    m.n_to = 100, m.to = many;
    put_send("too-many-recipients", LIMITS_DEFAULT, &m);
    m.n_to = 0, m.to = NULL;
    put_send("no-recipients", LIMITS_DEFAULT, &m);
    m = base;
    m.n_to = 3, m.to = dup;
    put_send("duplicate-recipient", LIMITS_DEFAULT, &m);
    m.n_to = 1;
    m.to = bad_space;
    put_send("recipient-space", LIMITS_DEFAULT, &m);
    m.to = bad_wild;
    put_send("recipient-wildcard", LIMITS_DEFAULT, &m);
    m.to = bad_empty;
    put_send("recipient-empty", LIMITS_DEFAULT, &m);
    m.to = bad_long;
    put_send("recipient-65-chars", LIMITS_DEFAULT, &m);
    m.to = max_long;
    put_send("recipient-64-chars", LIMITS_DEFAULT, &m);

    m = base;
    m.client_msg_id = "";
    put_send("client-msg-id-empty", LIMITS_DEFAULT, &m);
    m.client_msg_id = "a b";
    put_send("client-msg-id-space", LIMITS_DEFAULT, &m);
    m.client_msg_id = "~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./";
    put_send("client-msg-id-punctuation", LIMITS_DEFAULT, &m);
    m.client_msg_id = "01234567890123456789012345678901234567890123456789012345678901234";
    put_send("client-msg-id-65-chars", LIMITS_DEFAULT, &m);

    m = base;
    m.participant_id = "p 1";
    put_send("participant-bad", LIMITS_DEFAULT, &m);
    m = base;
    m.body = "";
    put_send("body-empty", LIMITS_DEFAULT, &m);
    static const struct {
        const char *name, *text;
    } utf8[] = {
        {"body-overlong", "a\xc0\xaf"},     {"body-overlong-3", "\xe0\x80\xaf"},
        {"body-surrogate", "\xed\xa0\x80"}, {"body-past-10ffff", "\xf4\x90\x80\x80"},
        {"body-truncated", "ok \xe2\x82"},  {"body-stray-continuation", "\x80"},
        {"body-f5", "\xf5\x80\x80\x80"},    {"body-max-code-point", "\xf4\x8f\xbf\xbf"},
        {"subject-latin1", NULL},
    };
    for (size_t i = 0; i < sizeof utf8 / sizeof utf8[0]; i++) {
        m = base;
        if (utf8[i].text != NULL)
            m.body = (char *)utf8[i].text;
        else
            m.subject = "Caf\xe9";
        put_send(utf8[i].name, LIMITS_DEFAULT, &m);
    }

    m = base;
    m.priority = (Careteam__V1__Priority)5;
    put_send("priority-5", LIMITS_DEFAULT, &m);
    m.priority = (Careteam__V1__Priority)-1;
    put_send("priority-negative", LIMITS_DEFAULT, &m);

    /* A NUL inside the body: not exact, and the property must not fire. */
    static const uint8_t nul_body[] = {
        LIMITS_DEFAULT, 0x0a, 0x02, 'm', '1',  0x12, 0x03, 'b', 'o', 'b',
        0x2a,           0x05, 'h',  'i', 0x00, 'y',  'o'};
    put("send_message", "body-nul", nul_body, sizeof nul_body);
    uint8_t buf[64];
    buf[0] = LIMITS_DEFAULT;
    size_t n = negative_enum_nul(buf + 1);
    put("send_message", "negative-enum-nul", buf, n + 1);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        die("usage: fuzz_make_corpus DIR (tests/fuzz/corpus)");
    root = argv[1];
    frame_corpus();
    config_corpus();
    send_message_corpus();
    printf("make_corpus: wrote the seed corpus under %s\n", root);
    return 0;
}
