/*
 * Integration tests of the care-team administration commands of careteamd (admin_care.c):
 * `participant add|list`, `team add|remove|show`, `lockbox add|remove|list`, `supervisor set`
 * and `enroll --supervisor`. Each runs the real binary on a data directory made by `careteamd
 * init` and the demo team of tests/support/daemon.h (no daemon serves: these are local commands),
 * and checks the exit status (0 done, 1 refused with a message, 2 usage), what was printed, and
 * the audit rows each change wrote: the action, the participant, the admin actor and peer, and
 * that no participant label or free-text reason reaches the trail. At the end of the busiest test
 * the audit chain still verifies.
 *
 * Each test frees what it made, removes its directory and ends with ct_test_leak_check(); the
 * suite's .fini only cleans up after a failed assertion.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "daemon.h"
#include "process.h"
#include "testsupport.h"

#define RUN_MS 30000 /* longest a careteamd command may take */
#define MAX_ARGS 24
#define LABEL "Q.X.Z" /* a participant label distinctive enough to search the trail for */

static ct_test_daemon_t g_d;
static char *g_out, *g_err; /* the last run's stdout and stderr, NUL-terminated; owned here */

static void free_output(void)
{
    free(g_out);
    free(g_err);
    g_out = g_err = NULL;
}

static void teardown(void)
{
    free_output();
    ct_test_daemon_cleanup(&g_d);
}

TestSuite(admin_care, .fini = teardown, .timeout = 90);

/* ---- running careteamd --------------------------------------------------------------------- */

/* Runs `careteamd ARGS...` (NULL-terminated) to completion with stdout and stderr captured into
 * g_out and g_err (replacing the last run's). Returns the exit status. */
static int run(const char *arg, ...)
{
    char *argv[MAX_ARGS + 2];
    size_t n = 0;
    argv[n++] = (char *)CT_TEST_CARETEAMD;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a != NULL; a = va_arg(ap, const char *)) {
        if (n == MAX_ARGS + 1) {
            va_end(ap);
            cr_assert_fail("run: more than %d arguments", MAX_ARGS);
        }
        argv[n++] = (char *)a;
    }
    va_end(ap);
    argv[n] = NULL;

    char out_path[4200], err_path[4200];
    snprintf(out_path, sizeof out_path, "%s/run.out", g_d.dir);
    snprintf(err_path, sizeof err_path, "%s/run.err", g_d.dir);
    int rc = ct_test_run_to_files(argv, NULL, out_path, err_path, RUN_MS);
    free_output();
    g_out = ct_test_read_file(out_path, NULL);
    g_err = ct_test_read_file(err_path, NULL);
    cr_assert(g_out != NULL && g_err != NULL, "cannot read the captured output");
    cr_log_info("careteamd %s %s -> %d\nstdout: %sstderr: %s", argv[1], n > 2 ? argv[2] : "", rc,
                g_out, g_err);
    return rc;
}

/* Asserts the last run printed `want` on stderr (a refusal names what was wrong). */
static void expect_err(const char *want)
{
    cr_expect(strstr(g_err, want) != NULL, "stderr lacks \"%s\": %s", want, g_err);
}

static void expect_out(const char *want)
{
    cr_expect(strstr(g_out, want) != NULL, "stdout lacks \"%s\": %s", want, g_out);
}

/* The demo team, and participant p-1 with the label LABEL. */
static void setup_participant(void)
{
    ct_test_daemon_init(&g_d, NULL);
    cr_assert_eq(run("participant", "add", g_d.data, "--id", "p-1", "--label", LABEL, NULL), 0);
}

/* Removes the directory and frees the captured output (before the leak check). */
static void done(void)
{
    free_output();
    ct_test_daemon_cleanup(&g_d);
}

/* ---- reading the trail --------------------------------------------------------------------- */

/* Runs a count query read-only against the data directory's database. */
static long db_count(const char *sql)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/careteam.db", g_d.data);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_stmt *st = NULL;
    long n = -1;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_finalize(st);
    sqlite3_close(db);
    cr_assert_geq(n, 0, "%s: %s", sql, msg);
    return n;
}

/* Counts audit rows of action about participant_id ("" for none) and object object_id, written
 * as local administration: role admin, peer "local", actor "local:<user>", outcome success. */
static long admin_rows(const char *action, const char *participant_id, const char *object_id)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM audit WHERE action = '%s' AND participant_id = '%s' AND "
             "object_id = '%s' AND peer_addr = 'local' AND actor_id LIKE 'local:%%' AND "
             "actor_role = 6 AND outcome = 0",
             action, participant_id, object_id);
    return db_count(sql);
}

/* Asserts that no audit row carries text (a label or a reason) in any text column. */
static void assert_not_in_trail(const char *text)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM audit WHERE instr(detail, '%s') OR instr(object_id, '%s') OR "
             "instr(participant_id, '%s') OR instr(actor_id, '%s')",
             text, text, text, text);
    cr_assert_eq(db_count(sql), 0, "\"%s\" is in the audit trail", text);
}

/* ---- participants -------------------------------------------------------------------------- */

Test(admin_care, participant_add_and_list)
{
    setup_participant();
    expect_out("Registered participant p-1");
    cr_assert_eq(admin_rows("participant.add", "p-1", "p-1"), 1);
    cr_assert_eq(db_count("SELECT count(*) FROM audit WHERE action = 'participant.add' AND "
                          "object_type = 'participant'"),
                 1);
    assert_not_in_trail(LABEL);
    cr_expect(strstr(g_out, LABEL) == NULL, "add echoed the label: %s", g_out);

    cr_assert_eq(run("participant", "add", g_d.data, "--id", "p-2", "--label", "MRN 0042", NULL),
                 0);
    cr_assert_eq(run("participant", "list", g_d.data, NULL), 0);
    expect_out("p-1");
    expect_out(LABEL);
    expect_out("MRN 0042");
    cr_assert_eq(run("participant", "list", g_d.data, "--json", NULL), 0);
    const char *first = "[{\"id\":\"p-1\",\"label\":\"" LABEL "\",\"created_at_ms\":";
    cr_expect(strncmp(g_out, first, strlen(first)) == 0, "json: %s", g_out);
    expect_out("{\"id\":\"p-2\",\"label\":\"MRN 0042\",");
    cr_expect(strcmp(g_out + strlen(g_out) - 3, "}]\n") == 0, "json: %s", g_out);
    cr_assert_eq(ct_test_audit_count(&g_d, "participant.add"), 2, "listing wrote audit rows");
    done();
    ct_test_leak_check();
}

Test(admin_care, participant_add_refusals)
{
    setup_participant();
    cr_assert_eq(run("participant", "add", g_d.data, "--id", "p-1", "--label", "A.B.", NULL), 1);
    expect_err("participant 'p-1' already exists");
    cr_assert_eq(run("participant", "add", g_d.data, "--id", "p 1", "--label", "A.B.", NULL), 1);
    expect_err("not a valid participant id");
    cr_assert_eq(run("participant", "add", g_d.data, "--id", "p-3", "--label", "", NULL), 1);
    expect_err("initials or a chart number, never a full name");
    char long_label[66];
    memset(long_label, 'A', 65);
    long_label[65] = '\0';
    cr_assert_eq(run("participant", "add", g_d.data, "--id", "p-3", "--label", long_label, NULL),
                 1);
    cr_assert_eq(run("participant", "add", g_d.data, "--id", "p-3", "--label", "A\nB", NULL), 1);
    cr_assert_eq(run("participant", "add", g_d.data, "--id", "p-3", "--label", "A\xff", NULL), 1);
    expect_err("--label must be 1-64 bytes");
    cr_assert_eq(run("participant", "add", g_d.data, "--id", "p-3", NULL), 2);
    expect_err("--label is required");
    cr_assert_eq(run("participant", "add", "--id", "p-3", "--label", "A.B.", NULL), 2);
    expect_err("missing the data directory");
    cr_assert_eq(run("participant", "add", g_d.data, "--id", "p-3", "--label", "A.B.", "--member",
                     "th.lee", NULL),
                 2);
    expect_err("--member does not apply");
    cr_assert_eq(
        run("participant", "add", "/nonexistent/careteam", "--id", "p-3", "--label", "A.B.", NULL),
        1);
    expect_err("careteamd init");
    cr_assert_eq(ct_test_audit_count(&g_d, "participant.add"), 1);
    done();
    ct_test_leak_check();
}

/* ---- care teams ---------------------------------------------------------------------------- */

Test(admin_care, team_add_show_remove)
{
    setup_participant();
    cr_assert_eq(run("team", "add", g_d.data, "--participant", "p-1", "--member", "dr.ahmed", NULL),
                 0);
    expect_out("dr.ahmed (psychiatrist) is on p-1's care team");
    cr_assert_eq(run("team", "add", g_d.data, "--participant", "p-1", "--member", "th.lee", NULL),
                 0);
    cr_assert_eq(admin_rows("team.add", "p-1", "dr.ahmed"), 1);
    cr_assert_eq(admin_rows("team.add", "p-1", "th.lee"), 1);

    /* Adding again changes nothing and writes no row. */
    cr_assert_eq(run("team", "add", g_d.data, "--participant", "p-1", "--member", "dr.ahmed", NULL),
                 0);
    expect_out("already on p-1's care team");
    cr_assert_eq(ct_test_audit_count(&g_d, "team.add"), 2);

    cr_assert_eq(run("team", "show", g_d.data, "--participant", "p-1", NULL), 0);
    expect_out("dr.ahmed");
    expect_out("Dr Amira Ahmed");
    expect_out("th.lee");
    expect_out("admin");
    cr_assert_eq(run("team", "show", g_d.data, "--participant", "p-1", "--json", NULL), 0);
    expect_out("{\"participant_id\":\"p-1\",\"team\":[{\"member_id\":\"dr.ahmed\",\"role\":"
               "\"psychiatrist\",\"display_name\":\"Dr Amira Ahmed\",\"active\":true,"
               "\"joined_at_ms\":");
    expect_out("\"via\":\"admin\"}");
    expect_out("],\"restrictions\":[]}\n");
    cr_expect(strstr(g_out, LABEL) == NULL, "team show printed the label: %s", g_out);

    cr_assert_eq(
        run("team", "remove", g_d.data, "--participant", "p-1", "--member", "dr.ahmed", NULL), 0);
    cr_assert_eq(admin_rows("team.remove", "p-1", "dr.ahmed"), 1);
    cr_assert_eq(
        run("team", "remove", g_d.data, "--participant", "p-1", "--member", "dr.ahmed", NULL), 1);
    expect_err("dr.ahmed is not on p-1's care team");
    cr_assert_eq(ct_test_audit_count(&g_d, "team.remove"), 1);
    cr_assert_eq(run("team", "show", g_d.data, "--participant", "p-1", "--json", NULL), 0);
    cr_expect(strstr(g_out, "dr.ahmed") == NULL, "removed member still shown: %s", g_out);
    expect_out("th.lee");
    assert_not_in_trail(LABEL);
    done();
    ct_test_leak_check();
}

Test(admin_care, team_add_refusals)
{
    setup_participant();
    cr_assert_eq(ct_test_daemon_enroll(&g_d, "ad.ops", "Ops Admin", "admin"), 0);
    cr_assert_eq(ct_test_careteamd(&g_d, "deactivate", g_d.data, "--id", "pw.kim", NULL), 0);

    cr_assert_eq(run("team", "add", g_d.data, "--participant", "p-9", "--member", "th.lee", NULL),
                 1);
    expect_err("no participant 'p-9'");
    expect_err("participant list");
    cr_assert_eq(run("team", "add", g_d.data, "--participant", "p-1", "--member", "nobody", NULL),
                 1);
    expect_err("no member 'nobody'");
    cr_assert_eq(run("team", "add", g_d.data, "--participant", "p-1", "--member", "co.jones", NULL),
                 1);
    expect_err("compliance and admin members cannot join a care team");
    cr_assert_eq(run("team", "add", g_d.data, "--participant", "p-1", "--member", "ad.ops", NULL),
                 1);
    expect_err("'ad.ops' has role admin");
    cr_assert_eq(run("team", "add", g_d.data, "--participant", "p-1", "--member", "pw.kim", NULL),
                 1);
    expect_err("'pw.kim' is deactivated");
    expect_err("careteamd activate");
    cr_assert_eq(run("team", "add", g_d.data, "--participant", "p-1", NULL), 2);
    expect_err("--member is required");
    cr_assert_eq(run("team", "add", g_d.data, "--member", "th.lee", NULL), 2);
    expect_err("--participant is required");
    cr_assert_eq(
        run("team", "remove", g_d.data, "--participant", "p-9", "--member", "th.lee", NULL), 1);
    expect_err("no participant 'p-9'");
    cr_assert_eq(run("team", "show", g_d.data, "--participant", "p-9", NULL), 1);
    expect_err("no participant 'p-9'");
    cr_assert_eq(run("team", "show", g_d.data, NULL), 2);
    cr_assert_eq(ct_test_audit_count(&g_d, "team.add"), 0);
    cr_assert_eq(ct_test_audit_count(&g_d, "team.remove"), 0);
    done();
    ct_test_leak_check();
}

/* ---- lockbox ------------------------------------------------------------------------------- */

Test(admin_care, lockbox_add_list_remove)
{
    setup_participant();
    cr_assert_eq(run("team", "add", g_d.data, "--participant", "p-1", "--member", "th.lee", NULL),
                 0);
    cr_assert_eq(run("lockbox", "add", g_d.data, "--participant", "p-1", "--member", "pw.kim",
                     "--reason", "Asked-in-session", NULL),
                 0);
    expect_out("pw.kim now receives nothing about p-1");
    cr_assert_eq(admin_rows("restriction.record", "p-1", "pw.kim"), 1);
    assert_not_in_trail("Asked-in-session");
    /* A team member can be restricted too; they stay on the team. */
    cr_assert_eq(
        run("lockbox", "add", g_d.data, "--participant", "p-1", "--member", "th.lee", NULL), 0);
    expect_out("They stay on the care team");
    cr_assert_eq(admin_rows("restriction.record", "p-1", "th.lee"), 1);

    /* Again: nothing changes, no row. */
    cr_assert_eq(
        run("lockbox", "add", g_d.data, "--participant", "p-1", "--member", "pw.kim", NULL), 0);
    expect_out("already restricted");
    cr_assert_eq(ct_test_audit_count(&g_d, "restriction.record"), 2);

    cr_assert_eq(run("lockbox", "list", g_d.data, "--participant", "p-1", "--json", NULL), 0);
    expect_out("[{\"member_id\":\"pw.kim\",\"reason\":\"Asked-in-session\",\"recorded_by\":"
               "\"admin\",\"recorded_at_ms\":");
    expect_out("{\"member_id\":\"th.lee\",\"reason\":\"\",\"recorded_by\":\"admin\"");
    cr_assert_eq(run("lockbox", "list", g_d.data, "--participant", "p-1", NULL), 0);
    expect_out("pw.kim");
    expect_out("Asked-in-session");
    cr_assert_eq(run("team", "show", g_d.data, "--participant", "p-1", "--json", NULL), 0);
    expect_out("\"restrictions\":[{\"member_id\":\"pw.kim\"");
    cr_assert_eq(run("team", "show", g_d.data, "--participant", "p-1", NULL), 0);
    expect_out("Lockbox restrictions of p-1");

    cr_assert_eq(
        run("lockbox", "remove", g_d.data, "--participant", "p-1", "--member", "pw.kim", NULL), 0);
    cr_assert_eq(admin_rows("restriction.lift", "p-1", "pw.kim"), 1);
    cr_assert_eq(
        run("lockbox", "remove", g_d.data, "--participant", "p-1", "--member", "pw.kim", NULL), 1);
    expect_err("pw.kim has no lockbox restriction for p-1");
    cr_assert_eq(ct_test_audit_count(&g_d, "restriction.lift"), 1);
    cr_assert_eq(
        run("lockbox", "remove", g_d.data, "--participant", "p-1", "--member", "th.lee", NULL), 0);
    cr_assert_eq(run("lockbox", "list", g_d.data, "--participant", "p-1", "--json", NULL), 0);
    cr_expect_str_eq(g_out, "[]\n");

    /* Every change above is chained into a log that still verifies. */
    cr_assert_eq(run("audit", "verify", g_d.data, NULL), 0);
    expect_out("audit log verified");
    done();
    ct_test_leak_check();
}

Test(admin_care, lockbox_refusals)
{
    setup_participant();
    cr_assert_eq(
        run("lockbox", "add", g_d.data, "--participant", "p-9", "--member", "pw.kim", NULL), 1);
    expect_err("no participant 'p-9'");
    cr_assert_eq(
        run("lockbox", "add", g_d.data, "--participant", "p-1", "--member", "nobody", NULL), 1);
    expect_err("no member 'nobody'");
    char *reason = malloc(1026);
    cr_assert_not_null(reason);
    memset(reason, 'r', 1025);
    reason[1025] = '\0';
    int rc = run("lockbox", "add", g_d.data, "--participant", "p-1", "--member", "pw.kim",
                 "--reason", reason, NULL);
    free(reason);
    cr_assert_eq(rc, 1);
    expect_err("--reason must be at most 1024 bytes");
    cr_assert_eq(
        run("lockbox", "remove", g_d.data, "--participant", "p-1", "--member", "nobody", NULL), 1);
    expect_err("no member 'nobody'");
    cr_assert_eq(run("lockbox", "list", g_d.data, "--participant", "p-9", NULL), 1);
    expect_err("no participant 'p-9'");
    cr_assert_eq(run("lockbox", "add", g_d.data, "--member", "pw.kim", NULL), 2);
    expect_err("--participant is required");
    cr_assert_eq(run("lockbox", "list", g_d.data, "--participant", "p-1", "--reason", "x", NULL),
                 2);
    cr_assert_eq(ct_test_audit_count(&g_d, "restriction.record"), 0);
    cr_assert_eq(ct_test_audit_count(&g_d, "restriction.lift"), 0);
    done();
    ct_test_leak_check();
}

/* ---- supervisors --------------------------------------------------------------------------- */

/* Runs `careteamd enroll` of one more member with an optional supervisor. */
static int enroll(const char *id, const char *role, const char *supervisor)
{
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s/%s", g_d.dir, id);
    if (supervisor == NULL)
        return run("enroll", g_d.data, "--id", id, "--name", "Test Member", "--role", role, "--out",
                   prefix, NULL);
    return run("enroll", g_d.data, "--id", id, "--name", "Test Member", "--role", role, "--out",
               prefix, "--supervisor", supervisor, NULL);
}

static bool cert_exists(const char *id)
{
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s.crt", g_d.dir, id);
    return stat(path, &sb) == 0;
}

Test(admin_care, enroll_with_supervisor)
{
    ct_test_daemon_init(&g_d, NULL);
    cr_assert_eq(enroll("ps.rivera", "peer_supervisor", NULL), 0);
    cr_assert_eq(enroll("pw.lou", "peer_worker", "ps.rivera"), 0);
    expect_out("supervisor   ps.rivera");
    cr_assert_eq(admin_rows("member.supervisor", "", "pw.lou"), 1);
    cr_assert_eq(db_count("SELECT count(*) FROM audit WHERE action = 'member.enroll' AND "
                          "object_id = 'pw.lou' AND detail LIKE '%supervisor=ps.rivera%'"),
                 1);
    cr_assert_eq(run("members", g_d.data, "--json", NULL), 0);
    expect_out("{\"id\":\"pw.lou\",\"display_name\":\"Test Member\",\"role\":\"peer_worker\","
               "\"active\":true,\"created_at_ms\":");
    expect_out("\"supervisor_id\":\"ps.rivera\"}");
    cr_assert_eq(run("members", g_d.data, NULL), 0);
    expect_out("(supervisor: ps.rivera)");
    done();
    ct_test_leak_check();
}

Test(admin_care, enroll_supervisor_refusals)
{
    ct_test_daemon_init(&g_d, NULL);
    cr_assert_eq(enroll("ps.rivera", "peer_supervisor", NULL), 0);
    cr_assert_eq(enroll("ps.old", "peer_supervisor", NULL), 0);
    cr_assert_eq(ct_test_careteamd(&g_d, "deactivate", g_d.data, "--id", "ps.old", NULL), 0);

    /* Only peer workers have a supervisor: a usage error, nothing written. */
    cr_assert_eq(enroll("th.new", "therapist", "ps.rivera"), 2);
    expect_err("--supervisor applies only to --role peer_worker");
    /* The supervisor must be an active peer_supervisor: refused, and the member is not enrolled
     * (no row, no certificate), so the id stays free. */
    cr_assert_eq(enroll("pw.new", "peer_worker", "th.lee"), 1);
    expect_err("'th.lee' is a therapist, not a peer_supervisor");
    cr_assert_eq(enroll("pw.new", "peer_worker", "nobody"), 1);
    expect_err("no member 'nobody'");
    cr_assert_eq(enroll("pw.new", "peer_worker", "ps.old"), 1);
    expect_err("supervisor 'ps.old' is deactivated");
    cr_assert_eq(enroll("pw.new", "peer_worker", "bad id"), 1);
    expect_err("not a valid member id");
    /* The daemon's own audit actor is not a member id anyone may take. */
    cr_assert_eq(enroll("careteamd", "therapist", NULL), 1);
    expect_err("--id careteamd is reserved");
    cr_assert(!cert_exists("pw.new") && !cert_exists("th.new"));
    cr_assert_eq(db_count("SELECT count(*) FROM members WHERE id IN ('pw.new', 'th.new')"), 0);
    cr_assert_eq(ct_test_audit_count(&g_d, "member.supervisor"), 0);
    cr_assert_eq(enroll("pw.new", "peer_worker", "ps.rivera"), 0);
    done();
    ct_test_leak_check();
}

Test(admin_care, supervisor_set_and_clear)
{
    ct_test_daemon_init(&g_d, NULL);
    cr_assert_eq(enroll("ps.rivera", "peer_supervisor", NULL), 0);
    cr_assert_eq(enroll("ps.ng", "peer_supervisor", NULL), 0);

    cr_assert_eq(
        run("supervisor", "set", g_d.data, "--member", "pw.sam", "--supervisor", "ps.rivera", NULL),
        0);
    expect_out("pw.sam is supervised by ps.rivera");
    cr_assert_eq(db_count("SELECT count(*) FROM audit WHERE action = 'member.supervisor' AND "
                          "object_id = 'pw.sam' AND detail = 'supervisor=ps.rivera previous='"),
                 1);
    /* The same again: nothing changes, no row. */
    cr_assert_eq(
        run("supervisor", "set", g_d.data, "--member", "pw.sam", "--supervisor", "ps.rivera", NULL),
        0);
    expect_out("already ps.rivera");
    cr_assert_eq(ct_test_audit_count(&g_d, "member.supervisor"), 1);
    cr_assert_eq(
        run("supervisor", "set", g_d.data, "--member", "pw.sam", "--supervisor", "ps.ng", NULL), 0);
    expect_out("(was ps.rivera)");
    cr_assert_eq(run("supervisor", "set", g_d.data, "--member", "pw.sam", "--none", NULL), 0);
    expect_out("pw.sam has no supervisor now (was ps.ng)");
    cr_assert_eq(admin_rows("member.supervisor", "", "pw.sam"), 3);
    cr_assert_eq(
        db_count("SELECT count(*) FROM members WHERE id = 'pw.sam' AND supervisor_id = ''"), 1);
    done();
    ct_test_leak_check();
}

Test(admin_care, supervisor_set_refusals)
{
    ct_test_daemon_init(&g_d, NULL);
    cr_assert_eq(enroll("ps.rivera", "peer_supervisor", NULL), 0);

    cr_assert_eq(
        run("supervisor", "set", g_d.data, "--member", "th.lee", "--supervisor", "ps.rivera", NULL),
        1);
    expect_err("'th.lee' is a therapist; only peer workers have a peer supervisor");
    cr_assert_eq(
        run("supervisor", "set", g_d.data, "--member", "pw.sam", "--supervisor", "dr.ahmed", NULL),
        1);
    expect_err("'dr.ahmed' is a psychiatrist, not a peer_supervisor");
    cr_assert_eq(
        run("supervisor", "set", g_d.data, "--member", "nobody", "--supervisor", "ps.rivera", NULL),
        1);
    expect_err("no member 'nobody'");
    cr_assert_eq(
        run("supervisor", "set", g_d.data, "--member", "pw.sam", "--supervisor", "nobody", NULL),
        1);
    expect_err("no member 'nobody' to be the supervisor");
    cr_assert_eq(run("supervisor", "set", g_d.data, "--member", "pw.sam", "--supervisor",
                     "ps.rivera", "--none", NULL),
                 2);
    expect_err("exactly one of --supervisor S or --none");
    cr_assert_eq(run("supervisor", "set", g_d.data, "--member", "pw.sam", NULL), 2);
    cr_assert_eq(run("supervisor", "set", g_d.data, "--supervisor", "ps.rivera", NULL), 2);
    expect_err("--member is required");
    cr_assert_eq(ct_test_audit_count(&g_d, "member.supervisor"), 0);
    done();
    ct_test_leak_check();
}

/* ---- the command line ---------------------------------------------------------------------- */

Test(admin_care, help_exits_0_and_usage_errors_exit_2)
{
    ct_test_daemon_init(&g_d, NULL);
    static const char *const cmds[][2] = {
        {"participant", "add"}, {"participant", "list"}, {"team", "add"},
        {"team", "remove"},     {"team", "show"},        {"lockbox", "add"},
        {"lockbox", "remove"},  {"lockbox", "list"},     {"supervisor", "set"},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        cr_assert_eq(run(cmds[i][0], cmds[i][1], "--help", NULL), 0, "%s %s --help", cmds[i][0],
                     cmds[i][1]);
        char want[64];
        snprintf(want, sizeof want, "usage: careteamd %s %s DIR", cmds[i][0], cmds[i][1]);
        expect_out(want);
        cr_assert_eq(run(cmds[i][0], cmds[i][1], NULL), 2, "%s %s without DIR", cmds[i][0],
                     cmds[i][1]);
        cr_assert_eq(run(cmds[i][0], cmds[i][1], g_d.data, "--bogus", NULL), 2);
        cr_assert_eq(run(cmds[i][0], "--help", NULL), 0);
        expect_out(cmds[i][1]);
    }
    cr_assert_eq(run("participant", "add", "--help", NULL), 0);
    expect_out("never a full name");
    cr_assert_eq(run("enroll", "--help", NULL), 0);
    expect_out("--supervisor ID");
    cr_assert_eq(run("--help", NULL), 0);
    expect_out("lockbox add|remove|list");
    cr_assert_eq(run("team", NULL), 2);
    cr_assert_eq(run("team", "rename", g_d.data, NULL), 2);
    expect_err("unknown subcommand 'rename'");
    done();
    ct_test_leak_check();
}
