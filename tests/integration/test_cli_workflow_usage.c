/*
 * The command line of the careteam CLI's care-team workflow commands (consent, lockbox, refer,
 * referrals, referral, summary, summaries, concern, alerts, alert), checked without a server: the
 * built binary (CT_TEST_CARETEAM_CLI) runs as a subprocess and its exit code, stdout and stderr
 * are captured.
 *
 * Every command and subcommand has --help (exit 0, a usage line); a missing required option, a
 * bad enum value, a malformed date or id, and --text with --file are usage errors (exit 2) whose
 * message names the option, the bad value and what is allowed. Those are found before
 * connecting. To tell "refused before connecting" from "got as far as connecting", the CLI runs
 * with settings that name credential files that do not exist: a command line that passes every
 * check ends with exit 4 (cannot read the certificate), never 2, and never reaches a network.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "testsupport.h"

#define RUN_MS 20000 /* longest a CLI run may take (it never connects) */

/* A referral, consent, alert or summary id in the form the server makes them (UUIDv7). */
#define UUID "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"

static char *g_dir; /* this test's private directory: HOME, and files it writes */

static void setup(void)
{
    g_dir = ct_test_tmpdir("cliwf");
}

static void teardown(void)
{
    if (g_dir != NULL) {
        ct_test_rmtree(g_dir);
        free(g_dir);
        g_dir = NULL;
    }
}

TestSuite(cli_workflow_usage, .init = setup, .fini = teardown, .timeout = 120);

/* ---- running the CLI ------------------------------------------------------------------------- */

/*
 * Runs the CLI with args to completion, with stdin from the file stdin_path (NULL: /dev/null), in
 * a fresh environment (ct_test_cli_env_init, HOME the test's directory) with settings naming
 * files that do not exist (see the top). The caller frees r with ct_test_cli_free.
 */
static void run_cli(ct_test_cli_t *r, const char *stdin_path, const char *const *args)
{
    char path[4200];
    ct_test_cli_env_t env;
    ct_test_cli_env_init(&env, g_dir);
    ct_test_cli_env_set(&env, "CARETEAM_SERVER", "127.0.0.1:9");
    snprintf(path, sizeof path, "%s/absent/member.crt", g_dir);
    ct_test_cli_env_set(&env, "CARETEAM_CERT", path);
    snprintf(path, sizeof path, "%s/absent/member.key", g_dir);
    ct_test_cli_env_set(&env, "CARETEAM_KEY", path);
    snprintf(path, sizeof path, "%s/absent/ca.crt", g_dir);
    ct_test_cli_env_set(&env, "CARETEAM_CA", path);
    ct_test_cli_opts_t o = {.env = &env, .stdin_path = stdin_path, .run_ms = RUN_MS};
    ct_test_cli_run_with(r, &o, args);
    ct_test_cli_env_free(&env);
}

/* "consent record --participant p-1": args joined, for failure messages. */
static const char *joined(const char *const *args, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; args[i] != NULL && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? " " : "", args[i]);
    return buf;
}

#define assert_has(hay, needle, args)                                                              \
    do {                                                                                           \
        char cmd_[1024];                                                                           \
        cr_assert_not_null(strstr((hay), (needle)), "careteam %s: expected [%s] in:\n%s",          \
                           joined((args), cmd_, sizeof cmd_), (needle), (hay));                    \
    } while (0)

/* Runs args and checks a usage error: exit 2, nothing on stdout, and stderr holding each of
 * needles (NULL-terminated) and the pointer to the command's help. */
static void expect_usage_error(const char *const *args, const char *const *needles)
{
    ct_test_cli_t r;
    run_cli(&r, NULL, args);
    ct_test_assert_exit(&r, 2);
    cr_assert_eq(r.out[0], '\0', "a usage error printed on stdout: %s", r.out);
    for (size_t i = 0; needles[i] != NULL; i++)
        assert_has(r.err, needles[i], args);
    assert_has(r.err, "--help` for usage", args);
    ct_test_cli_free(&r);
}

#define USAGE_ERROR(needles, ...) expect_usage_error(CT_TEST_ARGS(__VA_ARGS__), needles)
#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- help ------------------------------------------------------------------------------------ */

/* Every command, and every subcommand of those that have them ("" for the command itself). */
static const char *const HELP_CASES[][2] = {
    {"consent", ""},          {"consent", "record"},  {"consent", "withdraw"},
    {"consent", "list"},      {"lockbox", ""},        {"lockbox", "add"},
    {"lockbox", "remove"},    {"refer", ""},          {"referrals", ""},
    {"referral", ""},         {"referral", "accept"}, {"referral", "decline"},
    {"referral", "start"},    {"referral", "hold"},   {"referral", "resume"},
    {"referral", "complete"}, {"referral", "cancel"}, {"referral", "reassign"},
    {"summary", ""},          {"summary", "post"},    {"summaries", ""},
    {"concern", ""},          {"alerts", ""},         {"alert", ""},
    {"alert", "ack"},
};
#define N_HELP_CASES (sizeof HELP_CASES / sizeof HELP_CASES[0])

Test(cli_workflow_usage, help_exits_0_with_a_usage_line_for_every_command_and_subcommand)
{
    for (size_t i = 0; i < N_HELP_CASES; i++) {
        const char *cmd = HELP_CASES[i][0], *sub = HELP_CASES[i][1];
        bool has_sub = sub[0] != '\0';
        char usage[128];
        snprintf(usage, sizeof usage, "usage: careteam %s%s%s", cmd, has_sub ? " " : "", sub);
        const char *const *forms[] = {
            has_sub ? CT_TEST_ARGS(cmd, sub, "--help") : CT_TEST_ARGS(cmd, "--help"),
            has_sub ? CT_TEST_ARGS("help", cmd, sub) : CT_TEST_ARGS("help", cmd),
            has_sub ? CT_TEST_ARGS(cmd, sub, "-h") : CT_TEST_ARGS(cmd, "-h"),
        };
        for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
            ct_test_cli_t r;
            run_cli(&r, NULL, forms[f]);
            ct_test_assert_exit(&r, 0);
            assert_has(r.out, usage, forms[f]);
            assert_has(r.out, "global options", forms[f]);
            if (has_sub || strcmp(cmd, "refer") == 0 || strcmp(cmd, "summaries") == 0)
                assert_has(r.out, "example", forms[f]);
            cr_assert_eq(r.err[0], '\0', "stderr: %s", r.err);
            ct_test_cli_free(&r);
        }
    }
    ct_test_leak_check();
}

Test(cli_workflow_usage, main_help_lists_the_workflow_commands)
{
    static const char *const cmds[] = {"consent", "lockbox",   "refer",   "referrals", "referral",
                                       "summary", "summaries", "concern", "alerts",    "alert"};
    ct_test_cli_t r;
    run_cli(&r, NULL, CT_TEST_ARGS("--help"));
    ct_test_assert_exit(&r, 0);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "\n  %s ", cmds[i]);
        assert_has(r.out, line, CT_TEST_ARGS("--help"));
    }
    ct_test_cli_free(&r);
    /* A command with subcommands lists them in its help. */
    run_cli(&r, NULL, CT_TEST_ARGS("referral", "--help"));
    ct_test_assert_exit(&r, 0);
    static const char *const moves[] = {"accept", "decline",  "start",  "hold",
                                        "resume", "complete", "cancel", "reassign"};
    for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "\n  %s ", moves[i]);
        assert_has(r.out, line, CT_TEST_ARGS("referral", "--help"));
    }
    ct_test_cli_free(&r);
    ct_test_leak_check();
}

/* ---- missing or unknown subcommands ---------------------------------------------------------- */

Test(cli_workflow_usage, missing_or_unknown_subcommand_exits_2_listing_them)
{
    USAGE_ERROR(NEEDLES("no subcommand", "record, withdraw, list"), "consent");
    USAGE_ERROR(NEEDLES("no subcommand", "add, remove"), "lockbox");
    USAGE_ERROR(NEEDLES("unknown subcommand 'approve'", "accept, decline, start, hold, resume, "
                                                        "complete, cancel, reassign"),
                "referral", "approve", UUID);
    USAGE_ERROR(NEEDLES("unknown subcommand 'edit'", "post"), "summary", "edit");
    USAGE_ERROR(NEEDLES("no subcommand", "ack"), "alert");
    ct_test_leak_check();
}

/* ---- missing required options ---------------------------------------------------------------- */

Test(cli_workflow_usage, consent_and_lockbox_missing_options_exit_2_naming_them)
{
    USAGE_ERROR(NEEDLES("missing --participant"), "consent", "record", "--scope", "peer-support",
                "--method", "verbal");
    USAGE_ERROR(NEEDLES("missing --scope"), "consent", "record", "--participant", "p-1001",
                "--method", "verbal");
    USAGE_ERROR(NEEDLES("missing --method"), "consent", "record", "--participant", "p-1001",
                "--scope", "peer-support");
    USAGE_ERROR(NEEDLES("missing CONSENT_ID"), "consent", "withdraw", "--reason", "asked");
    USAGE_ERROR(NEEDLES("missing --participant"), "consent", "list");
    USAGE_ERROR(NEEDLES("missing --participant"), "lockbox", "add", "--member", "pw.kim");
    USAGE_ERROR(NEEDLES("missing --member"), "lockbox", "add", "--participant", "p-1001");
    USAGE_ERROR(NEEDLES("missing --participant"), "lockbox", "remove", "--member", "pw.kim");
    USAGE_ERROR(NEEDLES("missing --member"), "lockbox", "remove", "--participant", "p-1001");
    /* remove takes no --reason: the restriction's reason belongs to add. */
    USAGE_ERROR(NEEDLES("unknown option '--reason'"), "lockbox", "remove", "--participant",
                "p-1001", "--member", "pw.kim", "--reason", "x");
    ct_test_leak_check();
}

Test(cli_workflow_usage, referral_missing_options_exit_2_naming_them)
{
    USAGE_ERROR(NEEDLES("missing --participant"), "refer", "--to", "pw.sam", "--reason", "x");
    USAGE_ERROR(NEEDLES("--to", "--queue"), "refer", "--participant", "p-1001", "--reason", "x");
    USAGE_ERROR(NEEDLES("--to", "--queue"), "refer", "--participant", "p-1001", "--to", "pw.sam",
                "--queue", "--reason", "x");
    USAGE_ERROR(NEEDLES("missing --reason"), "refer", "--participant", "p-1001", "--queue");
    static const char *const moves[] = {"accept", "decline",  "start",  "hold",
                                        "resume", "complete", "cancel", "reassign"};
    for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++)
        USAGE_ERROR(NEEDLES("missing REFERRAL_ID"), "referral", moves[i]);
    USAGE_ERROR(NEEDLES("missing --reason"), "referral", "decline", UUID);
    USAGE_ERROR(NEEDLES("missing --reason"), "referral", "cancel", UUID);
    USAGE_ERROR(NEEDLES("missing --reason"), "referral", "cancel", UUID, "--reason", "");
    USAGE_ERROR(NEEDLES("missing --to"), "referral", "reassign", UUID, "--reason", "leave");
    /* Only reassign takes --to. */
    USAGE_ERROR(NEEDLES("unknown option '--to'"), "referral", "accept", UUID, "--to", "pw.kim");
    /* Options may follow the id; one that lacks its value is named. */
    USAGE_ERROR(NEEDLES("'--reason' needs a value"), "referral", "cancel", UUID, "--reason");
    USAGE_ERROR(NEEDLES("unexpected argument '" UUID "'"), "referral", "accept", UUID, UUID);
    ct_test_leak_check();
}

Test(cli_workflow_usage, summary_and_alert_missing_options_exit_2_naming_them)
{
    USAGE_ERROR(NEEDLES("missing --referral"), "summary", "post", "--date", "2026-01-31",
                "--duration", "45", "--format", "group", "--text", "x");
    USAGE_ERROR(NEEDLES("missing --date"), "summary", "post", "--referral", UUID, "--duration",
                "45", "--format", "group", "--text", "x");
    USAGE_ERROR(NEEDLES("missing --duration"), "summary", "post", "--referral", UUID, "--date",
                "2026-01-31", "--format", "group", "--text", "x");
    USAGE_ERROR(NEEDLES("missing --format"), "summary", "post", "--referral", UUID, "--date",
                "2026-01-31", "--duration", "45", "--text", "x");
    USAGE_ERROR(NEEDLES("missing --text", "--file"), "summary", "post", "--referral", UUID,
                "--date", "2026-01-31", "--duration", "45", "--format", "group");
    USAGE_ERROR(NEEDLES("missing --participant", "--referral"), "summaries");
    USAGE_ERROR(NEEDLES("--participant", "--referral", "not both"), "summaries", "--participant",
                "p-1001", "--referral", UUID);
    USAGE_ERROR(NEEDLES("missing --participant"), "concern", "--text", "worried");
    USAGE_ERROR(NEEDLES("missing --text"), "concern", "--participant", "p-1001", "--urgent");
    USAGE_ERROR(NEEDLES("missing ALERT_ID"), "alert", "ack", "--note", "called");
    ct_test_leak_check();
}

/* ---- bad values ------------------------------------------------------------------------------ */

Test(cli_workflow_usage, bad_enum_values_exit_2_naming_the_value_and_the_allowed_ones)
{
    USAGE_ERROR(NEEDLES("--scope 'peer'", "peer-support, information-sharing"), "consent", "record",
                "--participant", "p-1001", "--scope", "peer", "--method", "verbal");
    USAGE_ERROR(NEEDLES("--method 'email'", "verbal, written"), "consent", "record",
                "--participant", "p-1001", "--scope", "peer-support", "--method", "email");
    USAGE_ERROR(NEEDLES("--priority 'high'", "routine, urgent, asap, stat"), "refer",
                "--participant", "p-1001", "--queue", "--reason", "x", "--priority", "high");
    USAGE_ERROR(NEEDLES("--status 'active'",
                        "requested, accepted, rejected, in-progress, on-hold, completed, "
                        "cancelled"),
                "referrals", "--status", "active");
    /* The FHIR code, not the protocol's enum name. */
    USAGE_ERROR(NEEDLES("--status 'in_progress'", "in-progress"), "referrals", "--status",
                "in_progress");
    USAGE_ERROR(NEEDLES("--format 'zoom'", "one-to-one, group, phone, video, outreach"), "summary",
                "post", "--referral", UUID, "--date", "2026-01-31", "--duration", "45", "--format",
                "zoom", "--text", "x");
    USAGE_ERROR(NEEDLES("--risk 'high'", "none, concern, urgent"), "summary", "post", "--referral",
                UUID, "--date", "2026-01-31", "--duration", "45", "--format", "group", "--risk",
                "high", "--text", "x");
    ct_test_leak_check();
}

Test(cli_workflow_usage, bad_dates_exit_2_naming_the_value_and_the_format)
{
    static const char *const dates[] = {
        "31/01/2026", "2026-1-31",        "2026-02-30", "2026-13-01",
        "2025-02-29", "2026-01-31T10:00", "yesterday",  ""};
    for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "--date '%s'", dates[i]);
        USAGE_ERROR(NEEDLES(needle, "YYYY-MM-DD"), "summary", "post", "--referral", UUID, "--date",
                    dates[i], "--duration", "45", "--format", "group", "--text", "x");
    }
    ct_test_leak_check();
}

Test(cli_workflow_usage, bad_numbers_and_ids_exit_2_naming_the_value)
{
    USAGE_ERROR(NEEDLES("--duration '0'", "1 to 1440"), "summary", "post", "--referral", UUID,
                "--date", "2026-01-31", "--duration", "0", "--format", "group", "--text", "x");
    USAGE_ERROR(NEEDLES("--duration '1441'", "1 to 1440"), "summary", "post", "--referral", UUID,
                "--date", "2026-01-31", "--duration", "1441", "--format", "group", "--text", "x");
    USAGE_ERROR(NEEDLES("--duration '45m'"), "summary", "post", "--referral", UUID, "--date",
                "2026-01-31", "--duration", "45m", "--format", "group", "--text", "x");
    USAGE_ERROR(NEEDLES("--limit '0'", "1 to 1000"), "referrals", "--limit", "0");
    USAGE_ERROR(NEEDLES("--limit '-5'", "1 to 1000"), "alerts", "--limit", "-5");
    USAGE_ERROR(NEEDLES("--limit '1001'", "1 to 1000"), "summaries", "--participant", "p-1001",
                "--limit", "1001");
    /* A participant id where a referral id belongs. */
    USAGE_ERROR(NEEDLES("REFERRAL_ID 'p-1001'", "referral id"), "referral", "accept", "p-1001");
    USAGE_ERROR(NEEDLES("--referral 'p-1001'"), "summaries", "--referral", "p-1001");
    USAGE_ERROR(NEEDLES("ALERT_ID 'abc'"), "alert", "ack", "abc");
    USAGE_ERROR(NEEDLES("CONSENT_ID 'abc'"), "consent", "withdraw", "abc");
    USAGE_ERROR(NEEDLES("--amends 'abc'"), "summary", "post", "--referral", UUID, "--date",
                "2026-01-31", "--duration", "45", "--format", "group", "--amends", "abc", "--text",
                "x");
    USAGE_ERROR(NEEDLES("--participant 'p 1001'", "participant id"), "consent", "list",
                "--participant", "p 1001");
    USAGE_ERROR(NEEDLES("--member 'pw/kim'", "member id"), "lockbox", "add", "--participant",
                "p-1001", "--member", "pw/kim");
    ct_test_leak_check();
}

/* ---- summary text ---------------------------------------------------------------------------- */

Test(cli_workflow_usage, text_with_file_exits_2)
{
    USAGE_ERROR(NEEDLES("--text", "--file", "not both"), "summary", "post", "--referral", UUID,
                "--date", "2026-01-31", "--duration", "45", "--format", "group", "--text", "x",
                "--file", "notes.txt");
    /* Whatever else is missing, the conflict is what is reported. */
    USAGE_ERROR(NEEDLES("--text", "--file", "not both"), "summary", "post", "--file", "-", "--text",
                "x");
    ct_test_leak_check();
}

/* Writes n bytes of 'a' to path. */
static void write_text_file(const char *path, size_t n)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot create %s: %s", path, strerror(errno));
    for (size_t i = 0; i < n; i++)
        putc('a', f);
    cr_assert_eq(fclose(f), 0);
}

Test(cli_workflow_usage, summary_text_over_64_kib_is_refused_before_connecting)
{
    char path[4096], exact[4096];
    snprintf(path, sizeof path, "%s/long.txt", g_dir);
    snprintf(exact, sizeof exact, "%s/exact.txt", g_dir);
    write_text_file(path, 64 * 1024 + 1);
    write_text_file(exact, 64 * 1024);
    const char *const *from_file =
        CT_TEST_ARGS("summary", "post", "--referral", UUID, "--date", "2026-01-31", "--duration",
                     "45", "--format", "phone", "--file", path);
    const char *const *from_stdin =
        CT_TEST_ARGS("summary", "post", "--referral", UUID, "--date", "2026-01-31", "--duration",
                     "45", "--format", "phone", "--file", "-");
    const char *const *at_limit =
        CT_TEST_ARGS("summary", "post", "--referral", UUID, "--date", "2026-01-31", "--duration",
                     "45", "--format", "phone", "--file", exact);
    ct_test_cli_t r;
    /* A file too long: a local file problem (exit 4), with the limit. */
    run_cli(&r, NULL, from_file);
    ct_test_assert_exit(&r, 4);
    assert_has(r.err, "64 KiB", from_file);
    assert_has(r.err, "long.txt", from_file);
    ct_test_cli_free(&r);
    run_cli(&r, path, from_stdin);
    ct_test_assert_exit(&r, 4);
    assert_has(r.err, "64 KiB", from_stdin);
    assert_has(r.err, "standard input", from_stdin);
    ct_test_cli_free(&r);
    /* Exactly 64 KiB is accepted and the CLI goes on to its settings (absent files: exit 4
     * naming the certificate, not the text). */
    run_cli(&r, NULL, at_limit);
    ct_test_assert_exit(&r, 4);
    assert_has(r.err, "certificate", at_limit);
    ct_test_cli_free(&r);
    /* --text too long: a usage error naming the limit. */
    char *big = malloc(64 * 1024 + 2);
    cr_assert_not_null(big);
    memset(big, 'a', 64 * 1024 + 1);
    big[64 * 1024 + 1] = '\0';
    const char *const *long_text =
        CT_TEST_ARGS("summary", "post", "--referral", UUID, "--date", "2026-01-31", "--duration",
                     "45", "--format", "phone", "--text", big);
    run_cli(&r, NULL, long_text);
    cr_assert_eq(r.status, 2, "exit %d; stderr: %s", r.status, r.err);
    cr_assert_not_null(strstr(r.err, "64 KiB"), "stderr: %s", r.err);
    ct_test_cli_free(&r);
    free(big);
    ct_test_leak_check();
}

/* ---- the premise: a valid command line passes every check ------------------------------------ */

Test(cli_workflow_usage, valid_command_lines_get_past_the_checks)
{
    const char *const *valid[] = {
        CT_TEST_ARGS("consent", "record", "--participant", "p-1001", "--scope",
                     "information-sharing", "--method", "written", "--note", "form scanned"),
        CT_TEST_ARGS("consent", "withdraw", UUID, "--reason", "asked"),
        CT_TEST_ARGS("--json", "consent", "list", "--participant", "p-1001"),
        CT_TEST_ARGS("lockbox", "add", "--participant", "p-1001", "--member", "pw.kim", "--reason",
                     "x"),
        CT_TEST_ARGS("lockbox", "remove", "--participant", "p-1001", "--member", "pw.kim"),
        CT_TEST_ARGS("refer", "--participant", "p-1001", "--to", "pw.sam", "--reason", "isolation",
                     "--goal", "walk", "--goal", "family", "--priority", "urgent"),
        CT_TEST_ARGS("refer", "--participant", "p-1001", "--queue", "--reason", "housing"),
        CT_TEST_ARGS("referrals", "--assigned", "--created", "--queue", "--status", "on-hold",
                     "--participant", "p-1001", "--limit", "1000"),
        CT_TEST_ARGS("referral", "accept", UUID),
        CT_TEST_ARGS("referral", "decline", "--reason", "caseload full", UUID),
        CT_TEST_ARGS("referral", "cancel", UUID, "--reason", "moved", "--json"),
        CT_TEST_ARGS("referral", "reassign", UUID, "--to", "pw.kim"),
        CT_TEST_ARGS("referral", "hold", "--", UUID),
        CT_TEST_ARGS("summary", "post", "--referral", UUID, "--date", "2024-02-29", "--duration",
                     "1440", "--format", "outreach", "--theme", "housing", "--progress", "p",
                     "--next-steps", "n", "--reviewed", "--risk", "urgent", "--amends", UUID,
                     "--text", "Met."),
        CT_TEST_ARGS("summaries", "--referral", UUID, "--limit", "1", "--full"),
        CT_TEST_ARGS("concern", "--participant", "p-1001", "--urgent", "--text", "worried"),
        CT_TEST_ARGS("alerts", "--participant", "p-1001", "--open", "--limit", "5"),
        CT_TEST_ARGS("alert", "ack", UUID, "--note", "called"),
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        ct_test_cli_t r;
        run_cli(&r, NULL, valid[i]);
        ct_test_assert_exit(&r, 4);
        assert_has(r.err, "cannot read member certificate", valid[i]);
        ct_test_cli_free(&r);
    }
    ct_test_leak_check();
}
