/*
 * Integration tests of the careteam CLI: the built binary (CT_TEST_CARETEAM_CLI) run as a
 * subprocess against a real careteamd (tests/support/daemon.h), with its stdout, stderr and exit
 * code captured.
 *
 * Each test starts its own daemon with the demo team (dr.ahmed psychiatrist, th.lee therapist,
 * pw.sam and pw.kim peer workers, co.jones compliance). The CLI runs with a fresh environment
 * (never the test's own: a developer's CARETEAM_* or ~/.config must not leak in), HOME inside the
 * test's directory and the working directory "/", so relative paths only work when the CLI
 * resolves them itself. A sanitizer build of the CLI exits non-zero on a leak or error, which
 * fails the exit-code assertions. Tests end by stopping the daemon (status 0 expected) and with
 * ct_test_leak_check(); the suite's .fini only cleans up after a failed assertion.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "careteam.h"
#include "cli_run.h"
#include "daemon.h"
#include "testsupport.h"

#define PUSH_MS 5000 /* longest wait for an expected push or output line */
#define CALL_MS 5000 /* longest wait for a response */

static ct_test_daemon_t g_d;

static void teardown(void)
{
    ct_test_daemon_cleanup(&g_d);
}

TestSuite(cli, .fini = teardown, .timeout = 90);

/* ---- checking output ------------------------------------------------------------------------ */

/* True when s starts with "YYYY-MM-DDTHH:MM:SS.mmmZ". */
static bool is_iso_time(const char *s)
{
    static const char pattern[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; pattern[i] != '\0'; i++) {
        if (pattern[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pattern[i])
            return false;
    }
    return true;
}

/* Checks that out is exactly `lines` lines, each one JSON object of the given type. */
static void assert_json_lines(const char *out, size_t lines, const char *type)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "{\"type\":\"%s\",", type);
    cr_assert_eq(ct_test_count_lines(out), lines, "expected %zu JSON lines in:\n%s", lines, out);
    for (const char *line = out; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        cr_assert_not_null(nl);
        cr_assert(strncmp(line, prefix, strlen(prefix)) == 0, "line does not start %s: %.*s",
                  prefix, (int)(nl - line), line);
        cr_assert_eq(nl[-1], '}', "line does not end with }: %.*s", (int)(nl - line), line);
        line = nl + 1;
    }
}

/* ---- other clients --------------------------------------------------------------------------- */

/* Sends body from `from` to `to` through libcareteam and asserts the Ack. */
static void lib_send(const char *from, const char *to, const char *client_msg_id, const char *body)
{
    ct_sync_t *s = ct_test_connect(&g_d, from);
    const char *rcpt[] = {to};
    ct_send_args_t a = {.client_msg_id = client_msg_id, .to = rcpt, .n_to = 1, .body = body};
    Careteam__V1__Envelope *resp = NULL;
    int r = ct_sync_send_message(s, &a, CALL_MS, &resp);
    cr_assert_eq(r, 0, "send: %s", ct_errname(r));
    cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ACK, "send refused: %s",
                 ct_response_message(resp));
    ct_envelope_free(resp);
    ct_sync_close(s);
}

/* ---- whoami ---------------------------------------------------------------------------------- */

Test(cli, whoami_human)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_cli_t p;
    ct_test_cli_as(&p, &g_d, "dr.ahmed", CT_TEST_ARGS("whoami"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "dr.ahmed");
    ct_test_assert_has(p.out, "Dr Amira Ahmed");
    ct_test_assert_has(p.out, "psychiatrist");
    ct_test_assert_has(p.out, g_d.addr);
    cr_assert_eq(p.err[0], '\0', "stderr: %s", p.err);
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, whoami_json)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_cli_t p;
    ct_test_cli_as(&p, &g_d, "pw.sam", CT_TEST_ARGS("whoami", "--json"));
    ct_test_assert_exit(&p, 0);
    assert_json_lines(p.out, 1, "whoami");
    ct_test_assert_has(p.out, "\"member_id\":\"pw.sam\"");
    ct_test_assert_has(p.out, "\"display_name\":\"Sam Rivera\"");
    ct_test_assert_has(p.out, "\"role\":\"peer_worker\"");
    char server[200];
    snprintf(server, sizeof server, "\"server\":\"%s\"", g_d.addr);
    ct_test_assert_has(p.out, server);
    ct_test_assert_has(p.out, "\"protocol_version\":1");
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

/* ---- send and inbox -------------------------------------------------------------------------- */

Test(cli, send_then_inbox_human)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_daemon_care_team(&g_d, "p-001", "dr.ahmed", "pw.sam", NULL);
    ct_test_cli_t p;
    ct_test_cli_as(&p, &g_d, "dr.ahmed",
                   CT_TEST_ARGS("send", "--to", "pw.sam", "--subject", "Check-in", "--participant",
                                "p-001", "--priority", "urgent", "--body",
                                "Please call Jo today.\nThanks."));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "sent ");
    ct_test_assert_has(p.out, " to pw.sam (stored ");
    const char *t = strstr(p.out, "(stored ");
    cr_assert(t != NULL && is_iso_time(t + 8), "no stored time in: %s", p.out);
    ct_test_cli_free(&p);

    ct_test_cli_as(&p, &g_d, "pw.sam", CT_TEST_ARGS("inbox"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "Please call Jo today.");
    ct_test_assert_has(p.out, "Thanks.");
    ct_test_assert_has(p.out, "dr.ahmed (psychiatrist)");
    ct_test_assert_has(p.out, "Check-in");
    ct_test_assert_has(p.out, "p-001");
    ct_test_assert_has(p.out, "urgent");
    ct_test_assert_has(p.out, "1 message, marked as received.");
    ct_test_cli_free(&p);

    /* Acknowledged: the next inbox is empty. */
    ct_test_cli_as(&p, &g_d, "pw.sam", CT_TEST_ARGS("inbox"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_lacks(p.out, "Please call Jo");
    ct_test_assert_has(p.out, "No pending messages.");
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, send_then_inbox_json_escapes_body)
{
    ct_test_daemon_launch(&g_d, NULL);
    /* Quotes, backslash, newline, tab, C0 controls, DEL, multi-byte UTF-8 and U+2028. */
    const char *body = "say \"hi\" \\ now\n\ttab \x01\x1b[31m \x7f caf\xc3\xa9 \xe2\x98\x95 "
                       "\xf0\x9f\x98\x80 sep\xe2\x80\xa8.";
    const char *json = "\"body\":\"say \\\"hi\\\" \\\\ now\\n\\ttab \\u0001\\u001b[31m \\u007f "
                       "caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80 sep\\u2028.\"";
    ct_test_cli_t p;
    ct_test_cli_as(&p, &g_d, "th.lee",
                   CT_TEST_ARGS("send", "--json", "--to", "pw.kim,pw.sam", "--body", body));
    ct_test_assert_exit(&p, 0);
    assert_json_lines(p.out, 1, "sent");
    ct_test_assert_has(p.out, "\"to\":[\"pw.kim\",\"pw.sam\"]");
    ct_test_assert_has(p.out, "\"duplicate\":false");
    ct_test_assert_has(p.out, "\"client_msg_id\":\"cli-");
    ct_test_cli_free(&p);

    ct_test_cli_as(&p, &g_d, "pw.kim", CT_TEST_ARGS("--json", "inbox"));
    ct_test_assert_exit(&p, 0);
    assert_json_lines(p.out, 1, "message");
    ct_test_assert_has(p.out, json);
    ct_test_assert_has(p.out, "\"sender_id\":\"th.lee\"");
    ct_test_assert_has(p.out, "\"sender_role\":\"therapist\"");
    ct_test_assert_has(p.out, "\"priority\":\"routine\"");
    ct_test_assert_has(p.out, "\"participant_id\":\"\"");
    const char *t = strstr(p.out, "\"stored_at\":\"");
    cr_assert(t != NULL && is_iso_time(t + 13), "no stored_at in: %s", p.out);
    ct_test_cli_free(&p);

    ct_test_cli_as(&p, &g_d, "pw.kim", CT_TEST_ARGS("inbox", "--json"));
    ct_test_assert_exit(&p, 0);
    cr_assert_eq(p.out[0], '\0', "second inbox not empty: %s", p.out);
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, inbox_no_ack_leaves_messages_pending)
{
    ct_test_daemon_launch(&g_d, NULL);
    lib_send("dr.ahmed", "pw.sam", "m1", "first");
    lib_send("dr.ahmed", "pw.sam", "m2", "second");
    ct_test_cli_t p;
    for (int round = 0; round < 2; round++) {
        ct_test_cli_as(&p, &g_d, "pw.sam", CT_TEST_ARGS("inbox", "--no-ack", "--json"));
        ct_test_assert_exit(&p, 0);
        assert_json_lines(p.out, 2, "message");
        /* Oldest first. */
        const char *a = strstr(p.out, "\"body\":\"first\""),
                   *b = strstr(p.out, "\"body\":\"second\"");
        cr_assert(a != NULL && b != NULL && a < b, "round %d: %s", round, p.out);
        ct_test_cli_free(&p);
    }
    ct_test_cli_as(&p, &g_d, "pw.sam", CT_TEST_ARGS("inbox", "--json"));
    ct_test_assert_exit(&p, 0);
    assert_json_lines(p.out, 2, "message");
    ct_test_cli_free(&p);
    ct_test_cli_as(&p, &g_d, "pw.sam", CT_TEST_ARGS("inbox", "--json"));
    ct_test_assert_exit(&p, 0);
    cr_assert_eq(p.out[0], '\0', "acknowledged messages came back: %s", p.out);
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, send_body_from_stdin)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_cli_env_t env;
    ct_test_cli_env_member(&env, &g_d, "dr.ahmed");
    ct_test_cli_t p;
    ct_test_cli_opts_t o = {.env = &env, .stdin_data = "typed on stdin\nsecond line\n"};
    ct_test_cli_run_with(&p, &o, CT_TEST_ARGS("send", "--to", "pw.sam", "--body-file", "-"));
    ct_test_cli_env_free(&env);
    ct_test_assert_exit(&p, 0);
    ct_test_cli_free(&p);

    ct_test_cli_as(&p, &g_d, "pw.sam", CT_TEST_ARGS("inbox", "--json"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "\"body\":\"typed on stdin\\nsecond line\\n\"");
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, send_same_client_msg_id_twice_reports_duplicate)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_cli_t p;
    ct_test_cli_as(
        &p, &g_d, "dr.ahmed",
        CT_TEST_ARGS("send", "--to", "pw.sam", "--client-msg-id", "note-7", "--body", "x"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_lacks(p.out, "already sent");
    ct_test_cli_free(&p);
    ct_test_cli_as(
        &p, &g_d, "dr.ahmed",
        CT_TEST_ARGS("send", "--to", "pw.sam", "--client-msg-id", "note-7", "--body", "x"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "(already sent earlier: same client_msg_id)");
    ct_test_cli_free(&p);
    ct_test_cli_as(&p, &g_d, "pw.sam", CT_TEST_ARGS("inbox", "--json"));
    ct_test_assert_exit(&p, 0);
    assert_json_lines(p.out, 1, "message");
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, send_to_unknown_member_exits_1_with_server_message)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_cli_t p;
    ct_test_cli_as(&p, &g_d, "dr.ahmed",
                   CT_TEST_ARGS("send", "--to", "nobody.here", "--body", "hello"));
    ct_test_assert_exit(&p, 1);
    ct_test_assert_has(p.err, "careteam: NOT_FOUND: ");
    ct_test_assert_has(p.err, "nobody.here");
    cr_assert_eq(p.out[0], '\0', "stdout: %s", p.out);
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, unreadable_body_file_exits_4)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_cli_t p;
    ct_test_cli_as(&p, &g_d, "dr.ahmed",
                   CT_TEST_ARGS("send", "--to", "pw.sam", "--body-file", "/nonexistent/body.txt"));
    ct_test_assert_exit(&p, 4);
    ct_test_assert_has(p.err, "/nonexistent/body.txt");
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

/* ---- settings -------------------------------------------------------------------------------- */

Test(cli, missing_cert_names_the_setting)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_cli_env_t env;
    ct_test_cli_env_member(&env, &g_d, "dr.ahmed");
    ct_test_cli_env_unset(&env, "CARETEAM_CERT");
    ct_test_cli_t p;
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami"));
    ct_test_cli_env_free(&env);
    ct_test_assert_exit(&p, 2);
    ct_test_assert_has(p.err, "'cert'");
    ct_test_assert_has(p.err, "--cert");
    ct_test_assert_has(p.err, "CARETEAM_CERT");
    ct_test_assert_has(p.err, "profile");
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, wrong_ca_exits_3_with_hint)
{
    ct_test_daemon_launch(&g_d, NULL);
    char other[4200], ca[4300];
    snprintf(other, sizeof other, "%s/other", g_d.dir);
    cr_assert_eq(ct_test_careteamd(&g_d, "init", other, NULL), 0);
    snprintf(ca, sizeof ca, "%s/ca.crt", other);
    ct_test_cli_env_t env;
    ct_test_cli_env_member(&env, &g_d, "dr.ahmed");
    ct_test_cli_env_set(&env, "CARETEAM_CA", ca);
    ct_test_cli_t p;
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami"));
    ct_test_cli_env_free(&env);
    ct_test_assert_exit(&p, 3);
    ct_test_assert_has(p.err, "cannot connect to");
    ct_test_assert_has(p.err, "hint:");
    ct_test_assert_has(p.err, ca);
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

/* --crl (or CARETEAM_CRL) checks the server's certificate against the CA's list: with the empty
 * list init writes, the CLI connects; once the list revokes the server's certificate it exits 3
 * saying so, which list said it, and what to do; without --crl it does not check. */
Test(cli, crl_refuses_a_revoked_server_saying_so)
{
    ct_test_daemon_launch(&g_d, NULL);
    char crl[4200];
    snprintf(crl, sizeof crl, "%s/crl.pem", g_d.data);
    ct_test_cli_env_t env;
    ct_test_cli_env_member(&env, &g_d, "dr.ahmed");
    ct_test_cli_env_set(&env, "CARETEAM_CRL", crl);
    ct_test_cli_t p;
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "dr.ahmed");
    ct_test_cli_free(&p);

    cr_assert_eq(ct_test_careteamd(&g_d, "revoke", g_d.data, "--server", NULL), 0);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami"));
    ct_test_assert_exit(&p, 3);
    cr_log_info("what the user sees:\n%s", p.err);
    ct_test_assert_has(p.err, "the server's certificate is revoked by");
    ct_test_assert_has(p.err, crl);
    ct_test_assert_has(p.err, "CARETEAM_CRL");
    ct_test_assert_has(p.err, "hint:");
    ct_test_assert_has(p.err, "ask your careteam administrator");
    ct_test_assert_lacks(p.err, "not signed by your CA");
    ct_test_assert_lacks(p.out, "dr.ahmed");
    ct_test_cli_free(&p);

    /* The flag names itself as the origin; without any list nothing is checked. */
    ct_test_cli_env_unset(&env, "CARETEAM_CRL");
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("--crl", crl, "whoami"));
    ct_test_assert_exit(&p, 3);
    ct_test_assert_has(p.err, "(from --crl)");
    ct_test_cli_free(&p);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami"));
    ct_test_assert_exit(&p, 0);
    ct_test_cli_free(&p);

    /* A file that is not a revocation list is refused before connecting: a certificate in it
     * would be trusted. */
    char ca[4200];
    ct_test_daemon_ca_path(&g_d, ca, sizeof ca);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("--crl", ca, "whoami"));
    ct_test_assert_exit(&p, 4);
    ct_test_assert_has(p.err, "not only a revocation list");
    ct_test_cli_free(&p);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("--crl", "/nonexistent/crl.pem", "whoami"));
    ct_test_assert_exit(&p, 4);
    ct_test_assert_has(p.err, "/nonexistent/crl.pem");
    ct_test_cli_free(&p);
    ct_test_cli_env_free(&env);
    ct_test_daemon_finish(&g_d);
}

Test(cli, deactivated_member_exits_3)
{
    ct_test_daemon_launch(&g_d, NULL);
    cr_assert_eq(ct_test_careteamd(&g_d, "deactivate", g_d.data, "--id", "pw.kim", NULL), 0);
    ct_test_cli_t p;
    ct_test_cli_as(&p, &g_d, "pw.kim", CT_TEST_ARGS("inbox"));
    ct_test_assert_exit(&p, 3);
    ct_test_assert_has(p.err, "not an active member");
    ct_test_assert_has(p.err, "hint:");
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, profile_path_with_relative_paths)
{
    ct_test_daemon_launch(&g_d, NULL);
    char dir[4200], creds[4300], profile[4300], text[8192];
    snprintf(dir, sizeof dir, "%s/prof", g_d.dir);
    cr_assert_eq(mkdir(dir, 0700), 0);
    snprintf(creds, sizeof creds, "%s/creds", dir);
    ct_test_daemon_copy_creds(&g_d, "pw.sam", creds);
    snprintf(profile, sizeof profile, "%s/clinic.conf", dir);
    snprintf(text, sizeof text,
             "# the clinic's server\n"
             "server = %s\n"
             "\n"
             "  cert = creds/pw.sam.crt\n"
             "key=creds/pw.sam.key\n"
             "ca = creds/ca.crt\n",
             g_d.addr);
    ct_test_write_file(profile, text, 0600);
    ct_test_cli_env_t env;
    ct_test_cli_env_init(&env, g_d.dir); /* nothing but the profile; the CLI runs in "/" */
    ct_test_cli_t p;
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("--profile", profile, "whoami", "--json"));
    ct_test_cli_env_free(&env);
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "\"member_id\":\"pw.sam\"");
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, profile_name_from_env_under_xdg_config_home)
{
    ct_test_daemon_launch(&g_d, NULL);
    char xdg[4200], dir[4300], profile[4400], text[8192];
    snprintf(xdg, sizeof xdg, "%s/xdg", g_d.dir);
    cr_assert_eq(mkdir(xdg, 0700), 0);
    snprintf(dir, sizeof dir, "%s/careteam", xdg);
    ct_test_daemon_copy_creds(&g_d, "co.jones", dir);
    snprintf(profile, sizeof profile, "%s/audit.conf", dir);
    snprintf(text, sizeof text,
             "server = %s\ncert = co.jones.crt\nkey = co.jones.key\nca = ca.crt\n", g_d.addr);
    ct_test_write_file(profile, text, 0600);
    ct_test_cli_env_t env;
    ct_test_cli_env_init(&env, g_d.dir);
    ct_test_cli_env_set(&env, "XDG_CONFIG_HOME", xdg);
    ct_test_cli_env_set(&env, "CARETEAM_PROFILE", "audit");
    ct_test_cli_t p;
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami"));
    ct_test_cli_env_free(&env);
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "co.jones");
    ct_test_assert_has(p.out, "compliance");
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, flag_beats_env_beats_profile)
{
    ct_test_daemon_launch(&g_d, NULL);
    char dir[4200], profile[4300], text[8192];
    snprintf(dir, sizeof dir, "%s/prof", g_d.dir);
    ct_test_daemon_copy_creds(&g_d, "th.lee", dir);
    snprintf(profile, sizeof profile, "%s/p.conf", dir);
    /* Nothing listens on port 1: the profile's server must lose. */
    snprintf(text, sizeof text,
             "server = 127.0.0.1:1\ncert = th.lee.crt\nkey = th.lee.key\nca = ca.crt\n");
    ct_test_write_file(profile, text, 0600);
    ct_test_cli_env_t env;
    ct_test_cli_env_init(&env, g_d.dir);
    ct_test_cli_env_set(&env, "CARETEAM_PROFILE", profile);
    ct_test_cli_env_set(&env, "CARETEAM_SERVER", g_d.addr);
    ct_test_cli_t p;
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "th.lee");
    ct_test_cli_free(&p);

    ct_test_cli_env_set(&env, "CARETEAM_SERVER", "127.0.0.1:1");
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami", "--server", g_d.addr));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "th.lee");
    ct_test_cli_free(&p);

    /* And the profile's own value is used when nothing overrides it. */
    ct_test_cli_env_unset(&env, "CARETEAM_SERVER");
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("whoami"));
    ct_test_assert_exit(&p, 3);
    ct_test_assert_has(p.err, "127.0.0.1:1");
    ct_test_cli_free(&p);
    ct_test_cli_env_free(&env);
    ct_test_daemon_finish(&g_d);
}

Test(cli, missing_profile_exits_4)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_cli_env_t env;
    ct_test_cli_env_init(&env, g_d.dir);
    ct_test_cli_t p;
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("--profile", "nosuch", "whoami"));
    ct_test_cli_env_free(&env);
    ct_test_assert_exit(&p, 4);
    ct_test_assert_has(p.err, "/.config/careteam/nosuch.conf");
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, profile_with_unknown_key_exits_4_naming_the_line)
{
    ct_test_daemon_launch(&g_d, NULL);
    char profile[4200];
    snprintf(profile, sizeof profile, "%s/bad.conf", g_d.dir);
    ct_test_write_file(profile, "server = 127.0.0.1:7443\n# comment\nsevrer = x\n", 0600);
    ct_test_cli_env_t env;
    ct_test_cli_env_init(&env, g_d.dir);
    ct_test_cli_t p;
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("--profile", profile, "whoami"));
    ct_test_cli_env_free(&env);
    ct_test_assert_exit(&p, 4);
    ct_test_assert_has(p.err, "line 3");
    ct_test_assert_has(p.err, "sevrer");
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

/* ---- command line ---------------------------------------------------------------------------- */

Test(cli, help_exits_0_for_every_command)
{
    ct_test_daemon_launch(&g_d, NULL);
    static const char *const cmds[] = {"whoami", "send", "inbox", "watch", "help"};
    ct_test_cli_env_t env;
    ct_test_cli_env_init(&env, g_d.dir); /* no settings: help needs none */
    ct_test_cli_t p;
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("--help"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "usage: careteam");
    ct_test_assert_has(p.out, "exit codes:");
    ct_test_cli_free(&p);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char usage[64];
        snprintf(usage, sizeof usage, "usage: careteam %s", cmds[i]);
        ct_test_cli_run(&p, &env, CT_TEST_ARGS(cmds[i], "--help"));
        ct_test_assert_exit(&p, 0);
        ct_test_assert_has(p.out, usage);
        ct_test_cli_free(&p);
        ct_test_cli_run(&p, &env, CT_TEST_ARGS("help", cmds[i]));
        ct_test_assert_exit(&p, 0);
        ct_test_assert_has(p.out, usage);
        ct_test_cli_free(&p);
    }
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("--version"));
    ct_test_assert_exit(&p, 0);
    ct_test_assert_has(p.out, "careteam ");
    ct_test_cli_free(&p);
    ct_test_cli_env_free(&env);
    ct_test_daemon_finish(&g_d);
}

Test(cli, unknown_option_or_command_exits_2)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_cli_env_t env;
    ct_test_cli_env_member(&env, &g_d, "dr.ahmed");
    ct_test_cli_t p;
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("send", "--to", "pw.sam", "--body", "x", "--bogus"));
    ct_test_assert_exit(&p, 2);
    ct_test_assert_has(p.err, "unknown option '--bogus'");
    ct_test_assert_has(p.err, "careteam send --help");
    ct_test_cli_free(&p);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("--bogus", "whoami"));
    ct_test_assert_exit(&p, 2);
    ct_test_cli_free(&p);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("frobnicate"));
    ct_test_assert_exit(&p, 2);
    ct_test_assert_has(p.err, "unknown command 'frobnicate'");
    ct_test_cli_free(&p);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("send", "--to", "pw.sam"));
    ct_test_assert_exit(&p, 2);
    ct_test_assert_has(p.err, "--body");
    ct_test_cli_free(&p);
    ct_test_cli_run(&p, &env, CT_TEST_ARGS("watch", "--count", "zero"));
    ct_test_assert_exit(&p, 2);
    ct_test_cli_free(&p);
    ct_test_cli_run(&p, &env, (const char *const[]){NULL});
    ct_test_assert_exit(&p, 2);
    ct_test_cli_free(&p);
    ct_test_cli_env_free(&env);
    /* Nothing was sent. */
    ct_test_cli_as(&p, &g_d, "pw.sam", CT_TEST_ARGS("inbox", "--json"));
    ct_test_assert_exit(&p, 0);
    cr_assert_eq(p.out[0], '\0', "%s", p.out);
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

/* ---- watch ----------------------------------------------------------------------------------- */

Test(cli, watch_count_receives_messages_sent_while_running)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_cli_env_t env;
    ct_test_cli_env_member(&env, &g_d, "pw.kim");
    ct_test_cli_t p;
    ct_test_cli_start(&p, &(ct_test_cli_opts_t){.env = &env},
                      CT_TEST_ARGS("watch", "--count", "2", "--json"));
    ct_test_cli_env_free(&env);
    lib_send("dr.ahmed", "pw.kim", "w1", "first while watching");
    ct_test_cli_wait_lines(&p, 1, PUSH_MS);
    /* The watcher has printed the first: the second is certainly sent while it runs. */
    lib_send("th.lee", "pw.kim", "w2", "second while watching");
    ct_test_cli_finish(&p);
    ct_test_assert_exit(&p, 0);
    assert_json_lines(p.out, 2, "message");
    ct_test_assert_has(p.out, "\"body\":\"first while watching\"");
    ct_test_assert_has(p.out, "\"body\":\"second while watching\",");
    ct_test_assert_has(p.out, "\"sender_id\":\"th.lee\"");
    ct_test_cli_free(&p);

    /* watch acknowledged both. */
    ct_test_cli_as(&p, &g_d, "pw.kim", CT_TEST_ARGS("inbox", "--json"));
    ct_test_assert_exit(&p, 0);
    cr_assert_eq(p.out[0], '\0', "%s", p.out);
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

Test(cli, watch_reports_server_closing_the_connection)
{
    ct_test_daemon_launch(&g_d, NULL);
    lib_send("dr.ahmed", "pw.sam", "before", "waiting for you");
    ct_test_cli_env_t env;
    ct_test_cli_env_member(&env, &g_d, "pw.sam");
    ct_test_cli_t p;
    ct_test_cli_start(&p, &(ct_test_cli_opts_t){.env = &env}, CT_TEST_ARGS("watch"));
    ct_test_cli_env_free(&env);
    ct_test_cli_wait_lines(&p, 1, PUSH_MS);
    /* The replayed message is out; give the ack a moment, then take the server away. */
    int64_t until = ct_test_now_ms() + 300;
    while (ct_test_now_ms() < until)
        ct_test_cli_pump(&p, 50);
    int status = ct_test_daemon_stop(&g_d);
    cr_assert_eq(status, 0);
    ct_test_cli_finish(&p);
    ct_test_assert_exit(&p, 3);
    ct_test_assert_has(p.out, "waiting for you");
    ct_test_assert_has(p.err, "closed the connection");
    ct_test_cli_free(&p);
    ct_test_daemon_cleanup(&g_d);
    ct_test_leak_check();
}

Test(cli, watch_stops_on_sigint_with_exit_0)
{
    ct_test_daemon_launch(&g_d, NULL);
    ct_test_cli_env_t env;
    ct_test_cli_env_member(&env, &g_d, "th.lee");
    ct_test_cli_t p;
    ct_test_cli_start(&p, &(ct_test_cli_opts_t){.env = &env}, CT_TEST_ARGS("watch", "--json"));
    ct_test_cli_env_free(&env);
    lib_send("dr.ahmed", "th.lee", "s1", "hello");
    ct_test_cli_wait_lines(&p, 1, PUSH_MS);
    cr_assert_eq(kill(p.pid, SIGINT), 0);
    ct_test_cli_finish(&p);
    ct_test_assert_exit(&p, 0);
    assert_json_lines(p.out, 1, "message");
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}

/* More pending messages than one DeliveryAck may carry (1024): inbox acknowledges them all. */
Test(cli, inbox_acks_in_batches)
{
    ct_test_daemon_launch(&g_d, NULL);
    enum { N = 1030 };
    ct_sync_t *s = ct_test_connect(&g_d, "dr.ahmed");
    const char *rcpt[] = {"pw.sam"};
    for (int i = 0; i < N; i++) {
        char id[32], body[32];
        snprintf(id, sizeof id, "bulk-%d", i);
        snprintf(body, sizeof body, "bulk message %d", i);
        ct_send_args_t a = {.client_msg_id = id, .to = rcpt, .n_to = 1, .body = body};
        Careteam__V1__Envelope *resp = NULL;
        cr_assert_eq(ct_sync_send_message(s, &a, CALL_MS, &resp), 0);
        cr_assert_eq(resp->body_case, CARETEAM__V1__ENVELOPE__BODY_ACK, "%s",
                     ct_response_message(resp));
        ct_envelope_free(resp);
    }
    ct_sync_close(s);
    ct_test_cli_t p;
    ct_test_cli_as(&p, &g_d, "pw.sam", CT_TEST_ARGS("inbox", "--json"));
    ct_test_assert_exit(&p, 0);
    cr_assert_eq(ct_test_count_lines(p.out), (size_t)N);
    ct_test_assert_has(p.out, "\"body\":\"bulk message 0\"");
    ct_test_assert_has(p.out, "\"body\":\"bulk message 1029\"");
    ct_test_cli_free(&p);
    ct_test_cli_as(&p, &g_d, "pw.sam", CT_TEST_ARGS("inbox", "--json"));
    ct_test_assert_exit(&p, 0);
    cr_assert_eq(p.out[0], '\0', "%zu messages came back", ct_test_count_lines(p.out));
    ct_test_cli_free(&p);
    ct_test_daemon_finish(&g_d);
}
