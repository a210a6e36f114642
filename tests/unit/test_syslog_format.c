/*
 * The syslog forwarder's pure parts (server/syslog_fwd.h, store.h "forwarding"): the RFC 5424
 * message and RFC 5425 frame of one audit row, and the forwarding cursor in the store.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "store.h"
#include "syslog_fwd.h"
#include "testsupport.h"

TestSuite(syslog_format);

static const ct_syslog_fmt_t fmt = {
    .facility = 10, .hostname = "host.example", .app_name = "careteamd", .procid = "42"};

/* Formats row (with the chain value 0x00 0x01 ... 0x1f) and returns the framed text. */
static char *format(ct_audit_row_t *row)
{
    uint8_t chain[CT_AUDIT_HASH_LEN];
    for (int i = 0; i < CT_AUDIT_HASH_LEN; i++)
        chain[i] = (uint8_t)i;
    ct_audit_stored_t s = {.row = *row, .chain = chain, .chain_len = sizeof chain};
    ct_buf_t out = {0};
    cr_assert_eq(ct_syslog_format(&fmt, &s, &out), 0);
    char *text = malloc(out.len + 1);
    memcpy(text, out.data, out.len);
    text[out.len] = '\0';
    ct_buf_free(&out);
    return text;
}

Test(syslog_format, frame_header_structured_data_and_msg)
{
    ct_audit_row_t row = {.version = 2,
                          .seq = 7,
                          .time_ms = 1714564800123, /* 2024-05-01T12:00:00.123Z */
                          .actor_id = ct_audit_text("dr.ahmed"),
                          .actor_role = 1,
                          .cert_fp = ct_audit_text("ab"),
                          .peer_addr = ct_audit_text("127.0.0.1:5000"),
                          .action = ct_audit_text("message.send"),
                          .object_type = ct_audit_text("message"),
                          .object_id = ct_audit_text("m-1"),
                          .participant_id = ct_audit_text("p1"),
                          .outcome = 4,
                          .detail = ct_audit_text("code=FORBIDDEN")};
    char *text = format(&row);
    const char *msg =
        "<84>1 2024-05-01T12:00:00.123Z host.example careteamd 42 message.send [careteam@32473 "
        "seq=\"7\" action=\"message.send\" actor=\"dr.ahmed\" role=\"psychiatrist\" "
        "cert_fp=\"ab\" peer=\"127.0.0.1:5000\" object_type=\"message\" object_id=\"m-1\" "
        "participant=\"p1\" outcome=\"4\" "
        "chain=\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"] "
        "code=FORBIDDEN";
    char want[1024];
    snprintf(want, sizeof want, "%zu %s", strlen(msg), msg);
    cr_assert_str_eq(text, want);
    free(text);
    ct_test_leak_check();
}

Test(syslog_format, param_values_are_escaped_and_empty_detail_has_no_msg)
{
    ct_audit_row_t row = {.version = 2,
                          .seq = 1,
                          .time_ms = 0,
                          .action = ct_audit_text("a.very.long.action.code.beyond.thirty.two"),
                          .object_id = ct_audit_text("x\"y\\z]w"),
                          .outcome = 0};
    char *text = format(&row);
    cr_assert_not_null(strstr(text, " object_id=\"x\\\"y\\\\z\\]w\""), "%s", text);
    cr_assert_not_null(strstr(text, "<86>1 1970-01-01T00:00:00.000Z "), "%s", text);
    cr_assert_not_null(strstr(text, " a.very.long.action.code.beyond.t ["), "MSGID: %s", text);
    cr_assert_eq(text[strlen(text) - 1], ']', "no MSG after the structured data: %s", text);
    free(text);
    ct_test_leak_check();
}

/* Encodes the seqs it sees as digits of n: rows 2 then 3 give 23. */
static int collect(const ct_audit_stored_t *row, void *arg)
{
    int *n = arg;
    *n = *n * 10 + (int)row->row.seq;
    cr_assert_eq(row->chain_len, CT_AUDIT_HASH_LEN);
    return 0;
}

Test(syslog_format, store_cursor_only_moves_forward_and_rows_come_after_it)
{
    char *dir = ct_test_tmpdir("syslogcur");
    char path[4200];
    snprintf(path, sizeof path, "%s/t.db", dir);
    ct_store_t *st = NULL;
    cr_assert_eq(ct_store_open(path, CT_STORE_READWRITE, &st, NULL, 0), 0);
    int64_t seq = -1;
    cr_assert_eq(ct_store_forward_cursor_get(st, "syslog", &seq), 0);
    cr_assert_eq(seq, 0);
    cr_assert_eq(ct_store_forward_cursor_set(st, "syslog", 5, 1), 0);
    cr_assert_eq(ct_store_forward_cursor_set(st, "syslog", 3, 2), 0);
    cr_assert_eq(ct_store_forward_cursor_get(st, "syslog", &seq), 0);
    cr_assert_eq(seq, 5, "a smaller value does not move the cursor back");
    for (int i = 0; i < 4; i++) {
        ct_audit_t a = {.time_ms = i, .action = "test.row", .outcome = CT_AUDIT_SUCCESS};
        cr_assert_eq(ct_store_audit_append(st, &a), i + 1);
    }
    int n = 0;
    cr_assert_eq(ct_store_audit_after(st, 1, 2, collect, &n), 0);
    cr_assert_eq(n, 2 * 10 + 3, "rows 2 and 3, in order");
    ct_store_close(st);
    ct_test_rmtree(dir);
    free(dir);
    ct_test_leak_check();
}
