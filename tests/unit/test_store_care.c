/*
 * Unit tests of the care-team workflow of the SQLite store (store.h, "care-team workflow"):
 * supervisors, participants, care teams, consents, lockbox restrictions, referrals, session
 * summaries, safety alerts, the new message fields, the inbox's circle of care, and migration 3
 * from a version 2 database.
 *
 * Each test gets a fresh temporary directory with a database file at g_path, and ends with
 * finish(), whose last call is ct_test_leak_check (see test_store.c for why).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "err.h"
#include "store.h"
#include "testsupport.h"

TestSuite(store_care, .fini = ct_test_leak_check);

static char *g_dir;       /* owned: the test's temporary directory */
static char g_path[4096]; /* the database file inside it */
static ct_store_t *g_st;  /* the read-write handle */

static void make_dir(void)
{
    g_dir = ct_test_tmpdir("store_care");
    cr_assert_not_null(g_dir);
    snprintf(g_path, sizeof g_path, "%s/careteam.db", g_dir);
}

static void open_rw(void)
{
    make_dir();
    char err[256];
    int rc = ct_store_open(g_path, CT_STORE_READWRITE, &g_st, err, sizeof err);
    cr_assert_eq(rc, 0, "open: %d %s", rc, err);
}

static void cleanup(void)
{
    ct_store_close(g_st);
    g_st = NULL;
    if (g_dir != NULL) {
        ct_test_rmtree(g_dir);
        free(g_dir);
        g_dir = NULL;
    }
}

/* Ends a test: releases the fixture, then fails the test if a sanitizer build finds a leak. */
static void finish(void)
{
    cleanup();
    ct_test_leak_check();
}

/* ---- helpers ----------------------------------------------------------------------------- */

#define T0 1700000000000LL

static ct_member_t member(const char *id, ct_role_t role)
{
    ct_member_t m;
    memset(&m, 0, sizeof m);
    snprintf(m.id, sizeof m.id, "%s", id);
    snprintf(m.display_name, sizeof m.display_name, "Name of %s", id);
    m.role = role;
    m.active = true;
    m.created_at_ms = T0;
    return m;
}

static void add_member(const char *id, ct_role_t role)
{
    ct_member_t m = member(id, role);
    cr_assert_eq(ct_store_member_add(g_st, &m), 0, "member_add %s", id);
}

static void add_participant(const char *id)
{
    ct_participant_t p;
    memset(&p, 0, sizeof p);
    snprintf(p.id, sizeof p.id, "%s", id);
    snprintf(p.label, sizeof p.label, "L-%s", id);
    p.created_at_ms = T0;
    cr_assert_eq(ct_store_participant_add(g_st, &p), 0, "participant_add %s", id);
}

/* A UUID-shaped id whose text order is n's order. */
static void uuid(char out[CT_UUID_STRLEN + 1], unsigned n)
{
    snprintf(out, CT_UUID_STRLEN + 1, "01900000-0000-7000-8000-%012u", n);
}

/* The usual cast: a therapist and a psychiatrist (clinicians), two peer workers, their
 * supervisor, and participants p-1 and p-2. */
static void add_cast(void)
{
    add_member("dr.ahmed", CT_ROLE_PSYCHIATRIST);
    add_member("tess", CT_ROLE_THERAPIST);
    add_member("pete", CT_ROLE_PEER_WORKER);
    add_member("paula", CT_ROLE_PEER_WORKER);
    add_member("sam", CT_ROLE_PEER_SUPERVISOR);
    add_participant("p-1");
    add_participant("p-2");
}

/* Collects ids (of whatever a list returns) in call order. */
typedef struct ids {
    char v[16][CT_ID_MAX + 1];
    int n;
    int stop_after; /* 0: never stop; k: return 7 after k rows */
} ids_t;

static int ids_push(ids_t *acc, const char *id)
{
    cr_assert_lt(acc->n, 16);
    snprintf(acc->v[acc->n], sizeof acc->v[0], "%s", id);
    acc->n++;
    return acc->stop_after != 0 && acc->n == acc->stop_after ? 7 : 0;
}

/* The last 4 characters of an id: the n of uuid() in the tests' assertions. */
static const char *tail(const char *id)
{
    size_t n = strlen(id);
    return n > 4 ? id + n - 4 : id;
}

/* Opens g_path with sqlite3 directly, to look under the interface. */
static sqlite3 *raw_open(int flags)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(g_path, &db, SQLITE_OPEN_READWRITE | flags, NULL);
    cr_assert_eq(rc, SQLITE_OK, "sqlite3_open_v2: %s", sqlite3_errstr(rc));
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* ---- supervisors ------------------------------------------------------------------------- */

static int collect_member(const ct_member_t *m, void *arg)
{
    ids_t *acc = arg;
    char both[CT_ID_MAX + 1];
    snprintf(both, sizeof both, "%s>%s", m->id, m->supervisor_id);
    return ids_push(acc, both);
}

Test(store_care, member_supervisor_round_trip, .fini = cleanup)
{
    open_rw();
    add_member("sam", CT_ROLE_PEER_SUPERVISOR);
    ct_member_t m = member("pete", CT_ROLE_PEER_WORKER);
    snprintf(m.supervisor_id, sizeof m.supervisor_id, "sam");
    cr_assert_eq(ct_store_member_add(g_st, &m), 0);

    ct_member_t got;
    cr_assert_eq(ct_store_member_get(g_st, "pete", &got), 0);
    cr_assert_str_eq(got.supervisor_id, "sam", "member_add stores the supervisor");
    cr_assert_eq(ct_store_member_get(g_st, "sam", &got), 0);
    cr_assert_str_eq(got.supervisor_id, "");

    add_member("sue", CT_ROLE_PEER_SUPERVISOR);
    cr_assert_eq(ct_store_member_set_supervisor(g_st, "pete", "sue"), 0);
    cr_assert_eq(ct_store_member_get(g_st, "pete", &got), 0);
    cr_assert_str_eq(got.supervisor_id, "sue");
    cr_assert_eq(ct_store_member_set_supervisor(g_st, "pete", "sue"), 0, "unchanged is fine");

    ids_t acc = {.n = 0};
    cr_assert_eq(ct_store_member_list(g_st, collect_member, &acc), 0);
    cr_assert_eq(acc.n, 3);
    cr_assert_str_eq(acc.v[0], "pete>sue", "member_list reads the supervisor");
    cr_assert_str_eq(acc.v[1], "sam>");

    cr_assert_eq(ct_store_member_set_supervisor(g_st, "pete", ""), 0, "cleared with \"\"");
    cr_assert_eq(ct_store_member_get(g_st, "pete", &got), 0);
    cr_assert_str_eq(got.supervisor_id, "");
    cr_assert_eq(ct_store_member_set_supervisor(g_st, "nobody", "sam"), CT_ENOTFOUND);
    finish();
}

/* ---- participants ------------------------------------------------------------------------ */

static int collect_participant(const ct_participant_t *p, void *arg)
{
    return ids_push(arg, p->id);
}

Test(store_care, participant_add_get_list, .fini = cleanup)
{
    open_rw();
    const char *ids[] = {"p-3", "p-1", "p-2"};
    for (int i = 0; i < 3; i++)
        add_participant(ids[i]);
    ct_participant_t p;
    cr_assert_eq(ct_store_participant_get(g_st, "p-3", &p), 0);
    cr_assert_str_eq(p.id, "p-3");
    cr_assert_str_eq(p.label, "L-p-3");
    cr_assert_eq(p.created_at_ms, T0);
    cr_assert_eq(ct_store_participant_get(g_st, "p-9", &p), CT_ENOTFOUND);

    snprintf(p.label, sizeof p.label, "other");
    cr_assert_eq(ct_store_participant_add(g_st, &p), CT_EEXISTS);
    cr_assert_eq(ct_store_participant_get(g_st, "p-3", &p), 0);
    cr_assert_str_eq(p.label, "L-p-3", "the first registration stands");

    ids_t acc = {.n = 0};
    cr_assert_eq(ct_store_participant_list(g_st, collect_participant, &acc), 0);
    cr_assert_eq(acc.n, 3);
    cr_assert_str_eq(acc.v[0], "p-1", "in id order");
    cr_assert_str_eq(acc.v[1], "p-2");
    cr_assert_str_eq(acc.v[2], "p-3");

    acc = (ids_t){.stop_after = 2};
    cr_assert_eq(ct_store_participant_list(g_st, collect_participant, &acc), 7,
                 "the callback's value stops the walk");
    cr_assert_eq(acc.n, 2);
    acc = (ids_t){.n = 0};
    cr_assert_eq(ct_store_participant_list(g_st, collect_participant, &acc), 0);
    cr_assert_eq(acc.n, 3, "the statement was reset");
    finish();
}

/* ---- care teams and relations ------------------------------------------------------------ */

static int collect_team(const ct_team_entry_t *e, void *arg)
{
    cr_assert_str_eq(e->participant_id, "p-1");
    cr_assert_str_eq(e->member.display_name + 8, e->member.id, "the member row is joined");
    char line[CT_ID_MAX + 1];
    snprintf(line, sizeof line, "%s@%lld:%s", e->member.id, (long long)(e->joined_at_ms - T0),
             e->via);
    return ids_push(arg, line);
}

Test(store_care, team_add_remove_list_relation, .fini = cleanup)
{
    open_rw();
    add_cast();
    cr_assert_eq(ct_store_team_add(g_st, "p-1", "tess", "admin", T0 + 20), 0);
    cr_assert_eq(ct_store_team_add(g_st, "p-1", "dr.ahmed", "admin", T0 + 10), 0);
    cr_assert_eq(ct_store_team_add(g_st, "p-1", "pete", "referral:r-1", T0 + 20), 0);
    cr_assert_eq(ct_store_team_add(g_st, "p-1", "pete", "admin", T0 + 30), 1,
                 "already on the team");
    cr_assert_eq(ct_store_team_add(g_st, "p-9", "pete", "admin", T0), CT_ENOTFOUND,
                 "unknown participant");
    cr_assert_eq(ct_store_team_add(g_st, "p-1", "nobody", "admin", T0), CT_ENOTFOUND,
                 "unknown member");

    ids_t acc = {.n = 0};
    cr_assert_eq(ct_store_team_list(g_st, "p-1", collect_team, &acc), 0);
    cr_assert_eq(acc.n, 3);
    cr_assert_str_eq(acc.v[0], "dr.ahmed@10:admin", "join order");
    cr_assert_str_eq(acc.v[1], "tess@20:admin", "same time: the order they were added");
    cr_assert_str_eq(acc.v[2], "pete@20:referral:r-1", "a second add changes nothing");

    unsigned rel = 99;
    cr_assert_eq(ct_store_relation(g_st, "p-1", "pete", &rel), 0);
    cr_assert_eq(rel, CT_STORE_REL_ON_TEAM);
    cr_assert_eq(ct_store_relation(g_st, "p-2", "pete", &rel), 0);
    cr_assert_eq(rel, 0);
    cr_assert_eq(ct_store_relation(g_st, "p-9", "pete", &rel), 0);
    cr_assert_eq(rel, 0, "an unknown participant is no relation");

    cr_assert_eq(ct_store_team_remove(g_st, "p-1", "tess"), 0);
    cr_assert_eq(ct_store_team_remove(g_st, "p-1", "tess"), CT_ENOTFOUND);
    cr_assert_eq(ct_store_team_remove(g_st, "p-2", "pete"), CT_ENOTFOUND);
    acc = (ids_t){.n = 0};
    cr_assert_eq(ct_store_team_list(g_st, "p-1", collect_team, &acc), 0);
    cr_assert_eq(acc.n, 2);
    cr_assert_eq(ct_store_relation(g_st, "p-1", "tess", &rel), 0);
    cr_assert_eq(rel, 0);
    acc = (ids_t){.n = 0};
    cr_assert_eq(ct_store_team_list(g_st, "p-2", collect_team, &acc), 0);
    cr_assert_eq(acc.n, 0);
    finish();
}

/* ---- consents ---------------------------------------------------------------------------- */

static ct_consent_t consent(unsigned n, const char *participant, int scope, int64_t at)
{
    ct_consent_t c;
    memset(&c, 0, sizeof c);
    uuid(c.consent_id, n);
    snprintf(c.participant_id, sizeof c.participant_id, "%s", participant);
    c.scope = scope;
    c.method = 2;
    snprintf(c.note, sizeof c.note, "signed form %u", n);
    snprintf(c.recorded_by, sizeof c.recorded_by, "tess");
    c.recorded_at_ms = at;
    return c;
}

static int collect_consent(const ct_consent_t *c, void *arg)
{
    return ids_push(arg, tail(c->consent_id));
}

Test(store_care, consent_add_get_withdraw_active_list, .fini = cleanup)
{
    open_rw();
    add_cast();
    ct_consent_t c1 = consent(1, "p-1", 1, T0 + 10);
    ct_consent_t c2 = consent(2, "p-1", 2, T0 + 20);
    ct_consent_t c3 = consent(3, "p-1", 1, T0 + 20);
    cr_assert_eq(ct_store_consent_add(g_st, &c1), 0);
    cr_assert_eq(ct_store_consent_add(g_st, &c2), 0);
    cr_assert_eq(ct_store_consent_add(g_st, &c3), 0);
    cr_assert_eq(ct_store_consent_add(g_st, &c1), CT_EEXISTS);
    ct_consent_t orphan = consent(4, "p-9", 1, T0);
    cr_assert_eq(ct_store_consent_add(g_st, &orphan), CT_ENOTFOUND);

    ct_consent_t got;
    cr_assert_eq(ct_store_consent_get(g_st, c1.consent_id, &got), 0);
    cr_assert_str_eq(got.consent_id, c1.consent_id);
    cr_assert_str_eq(got.participant_id, "p-1");
    cr_assert_eq(got.scope, 1);
    cr_assert_eq(got.method, 2);
    cr_assert_str_eq(got.note, "signed form 1");
    cr_assert_str_eq(got.recorded_by, "tess");
    cr_assert_eq(got.recorded_at_ms, T0 + 10);
    cr_assert_str_eq(got.withdrawn_by, "");
    cr_assert_eq(got.withdrawn_at_ms, 0);
    cr_assert_eq(ct_store_consent_get(g_st, orphan.consent_id, &got), CT_ENOTFOUND);

    bool active = false;
    cr_assert_eq(ct_store_consent_active(g_st, "p-1", 1, &active), 0);
    cr_assert(active);
    cr_assert_eq(ct_store_consent_active(g_st, "p-2", 1, &active), 0);
    cr_assert_not(active);

    cr_assert_eq(ct_store_consent_withdraw(g_st, c1.consent_id, "dr.ahmed", "asked", T0 + 30), 0);
    cr_assert_eq(ct_store_consent_active(g_st, "p-1", 1, &active), 0);
    cr_assert(active, "c3 still covers the scope");
    cr_assert_eq(ct_store_consent_withdraw(g_st, c3.consent_id, "tess", "", T0 + 40), 0);
    cr_assert_eq(ct_store_consent_active(g_st, "p-1", 1, &active), 0);
    cr_assert_not(active, "every peer-support consent is withdrawn");
    cr_assert_eq(ct_store_consent_active(g_st, "p-1", 2, &active), 0);
    cr_assert(active, "scopes are separate");

    cr_assert_eq(ct_store_consent_withdraw(g_st, c1.consent_id, "tess", "again", T0 + 50),
                 CT_ECONFLICT);
    cr_assert_eq(ct_store_consent_withdraw(g_st, orphan.consent_id, "tess", "", T0), CT_ENOTFOUND);
    cr_assert_eq(ct_store_consent_get(g_st, c1.consent_id, &got), 0);
    cr_assert_str_eq(got.withdrawn_by, "dr.ahmed", "the first withdrawal stands");
    cr_assert_eq(got.withdrawn_at_ms, T0 + 30);
    cr_assert_str_eq(got.withdraw_reason, "asked");

    ids_t acc = {.n = 0};
    cr_assert_eq(ct_store_consent_list(g_st, "p-1", collect_consent, &acc), 0);
    cr_assert_eq(acc.n, 3);
    cr_assert_str_eq(acc.v[0], "0003", "newest first; same time: the later id first");
    cr_assert_str_eq(acc.v[1], "0002");
    cr_assert_str_eq(acc.v[2], "0001");
    acc = (ids_t){.n = 0};
    cr_assert_eq(ct_store_consent_list(g_st, "p-2", collect_consent, &acc), 0);
    cr_assert_eq(acc.n, 0);
    finish();
}

/* A withdrawal at time 0 by "" still counts: the store keeps its own flag. */
Test(store_care, consent_withdrawn_at_time_zero_is_withdrawn, .fini = cleanup)
{
    open_rw();
    add_cast();
    ct_consent_t c = consent(1, "p-1", 1, 0);
    cr_assert_eq(ct_store_consent_add(g_st, &c), 0);
    cr_assert_eq(ct_store_consent_withdraw(g_st, c.consent_id, "", "", 0), 0);
    bool active = true;
    cr_assert_eq(ct_store_consent_active(g_st, "p-1", 1, &active), 0);
    cr_assert_not(active);
    cr_assert_eq(ct_store_consent_withdraw(g_st, c.consent_id, "", "", 0), CT_ECONFLICT);
    finish();
}

/* ---- lockbox restrictions ---------------------------------------------------------------- */

static ct_restriction_t restriction(const char *participant, const char *member_id, int64_t at)
{
    ct_restriction_t r;
    memset(&r, 0, sizeof r);
    snprintf(r.participant_id, sizeof r.participant_id, "%s", participant);
    snprintf(r.member_id, sizeof r.member_id, "%s", member_id);
    snprintf(r.reason, sizeof r.reason, "participant's request");
    snprintf(r.recorded_by, sizeof r.recorded_by, "admin");
    r.recorded_at_ms = at;
    return r;
}

static int collect_restriction(const ct_restriction_t *r, void *arg)
{
    cr_assert_str_eq(r->reason, "participant's request");
    cr_assert_str_eq(r->recorded_by, "admin");
    return ids_push(arg, r->member_id);
}

Test(store_care, restriction_add_remove_list_relation, .fini = cleanup)
{
    open_rw();
    add_cast();
    ct_restriction_t r1 = restriction("p-1", "tess", T0 + 20);
    ct_restriction_t r2 = restriction("p-1", "pete", T0 + 10);
    ct_restriction_t r3 = restriction("p-1", "dr.ahmed", T0 + 20);
    cr_assert_eq(ct_store_restriction_add(g_st, &r1), 0);
    cr_assert_eq(ct_store_restriction_add(g_st, &r2), 0);
    cr_assert_eq(ct_store_restriction_add(g_st, &r3), 0);
    ct_restriction_t again = restriction("p-1", "tess", T0 + 99);
    snprintf(again.reason, sizeof again.reason, "changed");
    cr_assert_eq(ct_store_restriction_add(g_st, &again), 1, "already restricted");
    ct_restriction_t bad = restriction("p-9", "tess", T0);
    cr_assert_eq(ct_store_restriction_add(g_st, &bad), CT_ENOTFOUND, "unknown participant");
    bad = restriction("p-1", "nobody", T0);
    cr_assert_eq(ct_store_restriction_add(g_st, &bad), CT_ENOTFOUND, "unknown member");

    ids_t acc = {.n = 0};
    cr_assert_eq(ct_store_restriction_list(g_st, "p-1", collect_restriction, &acc), 0,
                 "the existing restriction is unchanged (reason checked in the callback)");
    cr_assert_eq(acc.n, 3);
    cr_assert_str_eq(acc.v[0], "pete", "oldest first");
    cr_assert_str_eq(acc.v[1], "tess", "same time: the order they were recorded");
    cr_assert_str_eq(acc.v[2], "dr.ahmed");

    cr_assert_eq(ct_store_team_add(g_st, "p-1", "tess", "admin", T0), 0);
    unsigned rel = 0;
    cr_assert_eq(ct_store_relation(g_st, "p-1", "tess", &rel), 0);
    cr_assert_eq(rel, CT_STORE_REL_ON_TEAM | CT_STORE_REL_LOCKBOXED);
    cr_assert_eq(ct_store_relation(g_st, "p-1", "pete", &rel), 0);
    cr_assert_eq(rel, CT_STORE_REL_LOCKBOXED);
    cr_assert_eq(ct_store_relation(g_st, "p-2", "pete", &rel), 0);
    cr_assert_eq(rel, 0);

    cr_assert_eq(ct_store_restriction_remove(g_st, "p-1", "tess"), 0);
    cr_assert_eq(ct_store_restriction_remove(g_st, "p-1", "tess"), CT_ENOTFOUND);
    cr_assert_eq(ct_store_restriction_remove(g_st, "p-2", "pete"), CT_ENOTFOUND);
    cr_assert_eq(ct_store_relation(g_st, "p-1", "tess", &rel), 0);
    cr_assert_eq(rel, CT_STORE_REL_ON_TEAM);
    acc = (ids_t){.n = 0};
    cr_assert_eq(ct_store_restriction_list(g_st, "p-1", collect_restriction, &acc), 0);
    cr_assert_eq(acc.n, 2);
    finish();
}

/* ---- referrals --------------------------------------------------------------------------- */

static ct_referral_t referral(unsigned n, const char *participant, const char *referrer,
                              const char *addressee, int64_t at)
{
    ct_referral_t r;
    memset(&r, 0, sizeof r);
    uuid(r.referral_id, n);
    snprintf(r.participant_id, sizeof r.participant_id, "%s", participant);
    snprintf(r.referrer_id, sizeof r.referrer_id, "%s", referrer);
    snprintf(r.addressee_id, sizeof r.addressee_id, "%s", addressee);
    r.status = CT_REFERRAL_REQUESTED;
    r.priority = 1;
    snprintf(r.reason, sizeof r.reason, "isolation after discharge");
    snprintf(r.goals, sizeof r.goals, "weekly walk\nreconnect with family");
    r.created_at_ms = at;
    r.updated_at_ms = at;
    return r;
}

static int collect_referral(const ct_referral_t *r, void *arg)
{
    return ids_push(arg, tail(r->referral_id));
}

/* Lists referrals with f and returns the ids' tails joined by commas in *out. */
static void list_referrals(const ct_referral_filter_t *f, char *out, size_t len)
{
    ids_t acc = {.n = 0};
    cr_assert_eq(ct_store_referral_list(g_st, f, collect_referral, &acc), 0);
    out[0] = '\0';
    for (int i = 0; i < acc.n; i++)
        snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? "," : "", acc.v[i]);
}

Test(store_care, referral_insert_get_update, .fini = cleanup)
{
    open_rw();
    add_cast();
    ct_referral_t r = referral(1, "p-1", "tess", "pete", T0);
    r.priority = 3;
    cr_assert_eq(ct_store_referral_insert(g_st, &r), 0);
    cr_assert_eq(ct_store_referral_insert(g_st, &r), CT_EEXISTS);
    ct_referral_t orphan = referral(2, "p-9", "tess", "pete", T0);
    cr_assert_eq(ct_store_referral_insert(g_st, &orphan), CT_ENOTFOUND);

    ct_referral_t got;
    cr_assert_eq(ct_store_referral_get(g_st, r.referral_id, &got), 0);
    cr_assert_str_eq(got.referral_id, r.referral_id);
    cr_assert_str_eq(got.participant_id, "p-1");
    cr_assert_str_eq(got.referrer_id, "tess");
    cr_assert_str_eq(got.addressee_id, "pete");
    cr_assert_str_eq(got.assignee_id, "");
    cr_assert_eq(got.status, CT_REFERRAL_REQUESTED);
    cr_assert_eq(got.held_from, 0);
    cr_assert_eq(got.priority, 3);
    cr_assert_str_eq(got.reason, "isolation after discharge");
    cr_assert_str_eq(got.goals, "weekly walk\nreconnect with family", "goals stored as given");
    cr_assert_str_eq(got.status_reason, "");
    cr_assert_eq(got.created_at_ms, T0);
    cr_assert_eq(got.updated_at_ms, T0);
    cr_assert_eq(ct_store_referral_get(g_st, orphan.referral_id, &got), CT_ENOTFOUND);

    /* Every mutable field is written; the others are not. */
    ct_referral_t u = r;
    snprintf(u.addressee_id, sizeof u.addressee_id, "paula");
    snprintf(u.assignee_id, sizeof u.assignee_id, "paula");
    u.status = CT_REFERRAL_ON_HOLD;
    u.held_from = CT_REFERRAL_IN_PROGRESS;
    snprintf(u.status_reason, sizeof u.status_reason, "in hospital");
    u.updated_at_ms = T0 + 500;
    snprintf(u.reason, sizeof u.reason, "not written");
    u.priority = 1;
    cr_assert_eq(ct_store_referral_update(g_st, &u), 0);
    cr_assert_eq(ct_store_referral_get(g_st, r.referral_id, &got), 0);
    cr_assert_str_eq(got.addressee_id, "paula");
    cr_assert_str_eq(got.assignee_id, "paula");
    cr_assert_eq(got.status, CT_REFERRAL_ON_HOLD);
    cr_assert_eq(got.held_from, CT_REFERRAL_IN_PROGRESS);
    cr_assert_str_eq(got.status_reason, "in hospital");
    cr_assert_eq(got.updated_at_ms, T0 + 500);
    cr_assert_str_eq(got.reason, "isolation after discharge");
    cr_assert_eq(got.priority, 3);
    cr_assert_eq(got.created_at_ms, T0);

    cr_assert_eq(ct_store_referral_update(g_st, &orphan), CT_ENOTFOUND);
    finish();
}

/*
 * Referrals 1..6:
 *   1 p-1 tess->pete   requested           T0+10
 *   2 p-1 tess->queue  requested           T0+20
 *   3 p-2 dr.ahmed->queue accepted by paula T0+30
 *   4 p-2 tess->queue  requested           T0+30 (same time as 3: id breaks the tie)
 *   5 p-1 dr.ahmed->pete in progress, pete T0+40
 *   6 p-2 tess->paula  cancelled           T0+50
 */
static void add_referrals(void)
{
    ct_referral_t r[6] = {
        referral(1, "p-1", "tess", "pete", T0 + 10),
        referral(2, "p-1", "tess", "", T0 + 20),
        referral(3, "p-2", "dr.ahmed", "", T0 + 30),
        referral(4, "p-2", "tess", "", T0 + 30),
        referral(5, "p-1", "dr.ahmed", "pete", T0 + 40),
        referral(6, "p-2", "tess", "paula", T0 + 50),
    };
    r[2].status = CT_REFERRAL_ACCEPTED;
    snprintf(r[2].assignee_id, sizeof r[2].assignee_id, "paula");
    r[4].status = CT_REFERRAL_IN_PROGRESS;
    snprintf(r[4].assignee_id, sizeof r[4].assignee_id, "pete");
    r[5].status = CT_REFERRAL_CANCELLED;
    /* Inserted out of time order: the lists sort. */
    const int order[6] = {3, 0, 5, 2, 1, 4};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(ct_store_referral_insert(g_st, &r[order[i]]), 0);
}

Test(store_care, referral_list_filters, .fini = cleanup)
{
    open_rw();
    add_cast();
    add_referrals();
    char got[256];

    list_referrals(NULL, got, sizeof got);
    cr_assert_str_eq(got, "0006,0005,0004,0003,0002,0001", "no filter: all, newest first");
    list_referrals(&(ct_referral_filter_t){0}, got, sizeof got);
    cr_assert_str_eq(got, "0006,0005,0004,0003,0002,0001", "an empty filter: all");
    list_referrals(&(ct_referral_filter_t){.queue_only = true}, got, sizeof got);
    cr_assert_str_eq(got, "0004,0002", "the queue: requested, no addressee");
    list_referrals(&(ct_referral_filter_t){.assignee_id = "pete"}, got, sizeof got);
    cr_assert_str_eq(got, "0005");
    list_referrals(&(ct_referral_filter_t){.assignee_id = "paula"}, got, sizeof got);
    cr_assert_str_eq(got, "0003");
    list_referrals(&(ct_referral_filter_t){.referrer_id = "dr.ahmed"}, got, sizeof got);
    cr_assert_str_eq(got, "0005,0003");
    list_referrals(&(ct_referral_filter_t){.status = CT_REFERRAL_REQUESTED}, got, sizeof got);
    cr_assert_str_eq(got, "0004,0002,0001");
    list_referrals(&(ct_referral_filter_t){.status = CT_REFERRAL_COMPLETED}, got, sizeof got);
    cr_assert_str_eq(got, "");
    list_referrals(&(ct_referral_filter_t){.participant_id = "p-1"}, got, sizeof got);
    cr_assert_str_eq(got, "0005,0002,0001");
    list_referrals(&(ct_referral_filter_t){.participant_id = "p-9"}, got, sizeof got);
    cr_assert_str_eq(got, "");
    list_referrals(&(ct_referral_filter_t){.limit = 2}, got, sizeof got);
    cr_assert_str_eq(got, "0006,0005", "limit keeps the newest");

    /* Every field set must match, whichever leads. */
    list_referrals(&(ct_referral_filter_t){.participant_id = "p-2", .queue_only = true}, got,
                   sizeof got);
    cr_assert_str_eq(got, "0004");
    list_referrals(&(ct_referral_filter_t){.participant_id = "p-1",
                                           .referrer_id = "tess",
                                           .status = CT_REFERRAL_REQUESTED,
                                           .limit = 1},
                   got, sizeof got);
    cr_assert_str_eq(got, "0002");
    list_referrals(&(ct_referral_filter_t){.referrer_id = "tess", .queue_only = true}, got,
                   sizeof got);
    cr_assert_str_eq(got, "0004,0002");
    list_referrals(&(ct_referral_filter_t){.assignee_id = "pete", .participant_id = "p-2"}, got,
                   sizeof got);
    cr_assert_str_eq(got, "");
    list_referrals(&(ct_referral_filter_t){.queue_only = true, .status = CT_REFERRAL_ACCEPTED}, got,
                   sizeof got);
    cr_assert_str_eq(got, "", "the queue holds requested referrals only");
    list_referrals(
        &(ct_referral_filter_t){
            .participant_id = "", .assignee_id = "", .referrer_id = "", .limit = 3},
        got, sizeof got);
    cr_assert_str_eq(got, "0006,0005,0004", "\"\" is \"any\"");

    ids_t acc = {.stop_after = 2};
    cr_assert_eq(ct_store_referral_list(g_st, NULL, collect_referral, &acc), 7);
    cr_assert_eq(acc.n, 2);
    finish();
}

/* Each referral list is a walk of its index, in its order (no sort). */
Test(store_care, referral_lists_use_their_indexes, .fini = cleanup)
{
    open_rw();
    ct_store_close(g_st);
    g_st = NULL;
    sqlite3 *db = raw_open(0);
    static const struct {
        const char *where;
        const char *index;
    } cases[] = {
        {"participant_id = 'p-1'", "referrals_participant"},
        {"assignee_id = 'pete'", "referrals_assignee"},
        {"referrer_id = 'tess'", "referrals_referrer"},
        {"status = 1 AND addressee_id = ''", "referrals_"},
        {"status = 4", "referrals_status"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "EXPLAIN QUERY PLAN SELECT * FROM referrals WHERE %s"
                 " ORDER BY created_at_ms DESC, referral_id DESC LIMIT 10",
                 cases[i].where);
        sqlite3_stmt *s;
        cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s",
                     sqlite3_errmsg(db));
        bool uses = false, sorts = false;
        while (sqlite3_step(s) == SQLITE_ROW) {
            const char *detail = (const char *)sqlite3_column_text(s, 3);
            uses = uses || strstr(detail, cases[i].index) != NULL;
            sorts = sorts || strstr(detail, "TEMP B-TREE") != NULL;
        }
        sqlite3_finalize(s);
        cr_assert(uses, "%s uses %s", cases[i].where, cases[i].index);
        cr_assert_not(sorts, "%s needs no sort", cases[i].where);
    }
    sqlite3_close(db);
    finish();
}

/* ---- session summaries ------------------------------------------------------------------- */

static ct_summary_t summary(unsigned n, unsigned referral_n, const char *participant, int64_t at)
{
    ct_summary_t s;
    memset(&s, 0, sizeof s);
    uuid(s.summary_id, n);
    uuid(s.referral_id, referral_n);
    snprintf(s.participant_id, sizeof s.participant_id, "%s", participant);
    snprintf(s.author_id, sizeof s.author_id, "pete");
    snprintf(s.session_date, sizeof s.session_date, "2024-03-0%u", n % 10);
    s.duration_minutes = 45 + n;
    s.format = 2;
    snprintf(s.themes, sizeof s.themes, "housing\nsleep");
    snprintf(s.goals_progress, sizeof s.goals_progress, "walked twice");
    snprintf(s.next_steps, sizeof s.next_steps, "call the council");
    s.participant_reviewed = true;
    s.risk = 1;
    s.text = (char *)"We met at the library and talked about the week.";
    s.created_at_ms = at;
    return s;
}

static int collect_summary(const ct_summary_t *s, void *arg)
{
    cr_assert_not_null(s->text);
    return ids_push(arg, tail(s->summary_id));
}

Test(store_care, summary_insert_get_list, .fini = cleanup)
{
    open_rw();
    add_cast();
    ct_summary_t s1 = summary(1, 1, "p-1", T0 + 10);
    uuid(s1.alert_id, 77);
    s1.risk = 2;
    cr_assert_eq(ct_store_summary_insert(g_st, &s1), 0);
    cr_assert_eq(ct_store_summary_insert(g_st, &s1), CT_EEXISTS);
    ct_summary_t orphan = summary(9, 1, "p-9", T0);
    cr_assert_eq(ct_store_summary_insert(g_st, &orphan), CT_ENOTFOUND);

    ct_summary_t got;
    cr_assert_eq(ct_store_summary_get(g_st, s1.summary_id, &got), 0);
    cr_assert_str_eq(got.summary_id, s1.summary_id);
    cr_assert_str_eq(got.referral_id, s1.referral_id);
    cr_assert_str_eq(got.participant_id, "p-1");
    cr_assert_str_eq(got.author_id, "pete");
    cr_assert_str_eq(got.session_date, "2024-03-01");
    cr_assert_eq(got.duration_minutes, 46);
    cr_assert_eq(got.format, 2);
    cr_assert_str_eq(got.themes, "housing\nsleep");
    cr_assert_str_eq(got.goals_progress, "walked twice");
    cr_assert_str_eq(got.next_steps, "call the council");
    cr_assert(got.participant_reviewed);
    cr_assert_eq(got.risk, 2);
    cr_assert_not_null(got.text);
    cr_assert_neq(got.text, s1.text, "the text is the caller's own copy");
    cr_assert_str_eq(got.text, s1.text);
    cr_assert_str_eq(got.amends_summary_id, "");
    cr_assert_str_eq(got.alert_id, s1.alert_id);
    cr_assert_eq(got.created_at_ms, T0 + 10);
    ct_summary_clear(&got);
    cr_assert_null(got.text);
    ct_summary_clear(&got); /* twice is harmless */
    memset(&got, 0, sizeof got);
    cr_assert_eq(ct_store_summary_get(g_st, orphan.summary_id, &got), CT_ENOTFOUND);
    cr_assert_null(got.text, "nothing to free after an error");

    /* 2 amends 1; 3 and 4 are another referral's; 5 is p-2's. */
    ct_summary_t more[4] = {summary(2, 1, "p-1", T0 + 20), summary(3, 2, "p-1", T0 + 20),
                            summary(4, 2, "p-1", T0 + 5), summary(5, 3, "p-2", T0 + 30)};
    uuid(more[0].amends_summary_id, 1);
    more[0].text = NULL; /* stored as "" */
    for (int i = 0; i < 4; i++)
        cr_assert_eq(ct_store_summary_insert(g_st, &more[i]), 0);
    cr_assert_eq(ct_store_summary_get(g_st, more[0].summary_id, &got), 0);
    cr_assert_str_eq(got.text, "");
    cr_assert_str_eq(got.amends_summary_id, s1.summary_id);
    ct_summary_clear(&got);

    ids_t acc = {.n = 0};
    cr_assert_eq(ct_store_summary_list(g_st, "p-1", NULL, 0, collect_summary, &acc), 0);
    cr_assert_eq(acc.n, 4);
    cr_assert_str_eq(acc.v[0], "0003", "newest first; same time: the later id first");
    cr_assert_str_eq(acc.v[1], "0002");
    cr_assert_str_eq(acc.v[2], "0001");
    cr_assert_str_eq(acc.v[3], "0004");
    acc = (ids_t){.n = 0};
    cr_assert_eq(ct_store_summary_list(g_st, "", s1.referral_id, 10, collect_summary, &acc), 0);
    cr_assert_eq(acc.n, 2);
    cr_assert_str_eq(acc.v[0], "0002");
    cr_assert_str_eq(acc.v[1], "0001");
    acc = (ids_t){.n = 0};
    cr_assert_eq(ct_store_summary_list(g_st, "p-1", NULL, 2, collect_summary, &acc), 0);
    cr_assert_eq(acc.n, 2, "at most limit");
    cr_assert_str_eq(acc.v[1], "0002");
    acc = (ids_t){.n = 0};
    cr_assert_eq(ct_store_summary_list(g_st, "p-2", NULL, 0, collect_summary, &acc), 0);
    cr_assert_eq(acc.n, 1);
    cr_assert_str_eq(acc.v[0], "0005");
    acc = (ids_t){.n = 0};
    cr_assert_eq(ct_store_summary_list(g_st, "p-2", s1.referral_id, 0, collect_summary, &acc), 0);
    cr_assert_eq(acc.n, 0, "both given: both must match");
    cr_assert_eq(ct_store_summary_list(g_st, NULL, "", 0, collect_summary, &acc), CT_EINVAL);
    acc = (ids_t){.stop_after = 1};
    cr_assert_eq(ct_store_summary_list(g_st, "p-1", NULL, 0, collect_summary, &acc), 7,
                 "the callback's value stops the walk (and the row's text is freed)");
    finish();
}

/* ---- safety alerts ----------------------------------------------------------------------- */

static ct_alert_t alert(unsigned n, const char *participant, int64_t created, int64_t deadline)
{
    ct_alert_t a;
    memset(&a, 0, sizeof a);
    uuid(a.alert_id, n);
    snprintf(a.participant_id, sizeof a.participant_id, "%s", participant);
    snprintf(a.raised_by, sizeof a.raised_by, "pete");
    a.source = 2;
    a.risk = 3;
    snprintf(a.text, sizeof a.text, "said they have stopped eating");
    a.status = 1;
    a.deadline_ms = deadline;
    a.created_at_ms = created;
    return a;
}

static int collect_alert(const ct_alert_t *a, void *arg)
{
    return ids_push(arg, tail(a->alert_id));
}

Test(store_care, alert_insert_get_update, .fini = cleanup)
{
    open_rw();
    add_cast();
    ct_alert_t a = alert(1, "p-1", T0, T0 + 900000);
    a.source = 1;
    uuid(a.summary_id, 5);
    uuid(a.referral_id, 6);
    cr_assert_eq(ct_store_alert_insert(g_st, &a), 0);
    cr_assert_eq(ct_store_alert_insert(g_st, &a), CT_EEXISTS);
    ct_alert_t orphan = alert(2, "p-9", T0, 0);
    cr_assert_eq(ct_store_alert_insert(g_st, &orphan), CT_ENOTFOUND);

    ct_alert_t got;
    cr_assert_eq(ct_store_alert_get(g_st, a.alert_id, &got), 0);
    cr_assert_str_eq(got.alert_id, a.alert_id);
    cr_assert_str_eq(got.participant_id, "p-1");
    cr_assert_str_eq(got.raised_by, "pete");
    cr_assert_eq(got.source, 1);
    cr_assert_str_eq(got.summary_id, a.summary_id);
    cr_assert_str_eq(got.referral_id, a.referral_id);
    cr_assert_eq(got.risk, 3);
    cr_assert_str_eq(got.text, a.text);
    cr_assert_eq(got.status, 1);
    cr_assert_eq(got.escalations, 0);
    cr_assert_eq(got.deadline_ms, T0 + 900000);
    cr_assert_eq(got.created_at_ms, T0);
    cr_assert_str_eq(got.acknowledged_by, "");
    cr_assert_eq(got.acknowledged_at_ms, 0);
    cr_assert_str_eq(got.note, "");
    cr_assert_eq(ct_store_alert_get(g_st, orphan.alert_id, &got), CT_ENOTFOUND);

    ct_alert_t u = a;
    u.status = 3;
    u.escalations = 2;
    u.deadline_ms = 0;
    snprintf(u.acknowledged_by, sizeof u.acknowledged_by, "dr.ahmed");
    u.acknowledged_at_ms = T0 + 1000;
    snprintf(u.note, sizeof u.note, "called them");
    snprintf(u.text, sizeof u.text, "not written");
    cr_assert_eq(ct_store_alert_update(g_st, &u), 0);
    cr_assert_eq(ct_store_alert_get(g_st, a.alert_id, &got), 0);
    cr_assert_eq(got.status, 3);
    cr_assert_eq(got.escalations, 2);
    cr_assert_eq(got.deadline_ms, 0);
    cr_assert_str_eq(got.acknowledged_by, "dr.ahmed");
    cr_assert_eq(got.acknowledged_at_ms, T0 + 1000);
    cr_assert_str_eq(got.note, "called them");
    cr_assert_str_eq(got.text, a.text, "the text is not a mutable field");
    cr_assert_eq(ct_store_alert_update(g_st, &orphan), CT_ENOTFOUND);
    finish();
}

Test(store_care, alert_list_filters, .fini = cleanup)
{
    open_rw();
    add_cast();
    ct_alert_t a[4] = {alert(1, "p-1", T0 + 10, 0), alert(2, "p-2", T0 + 20, 0),
                       alert(3, "p-1", T0 + 30, 0), alert(4, "p-1", T0 + 30, 0)};
    a[2].status = 3; /* acknowledged */
    a[1].status = 2; /* escalated: still open */
    for (int i = 3; i >= 0; i--)
        cr_assert_eq(ct_store_alert_insert(g_st, &a[i]), 0);

    ids_t acc = {.n = 0};
    cr_assert_eq(ct_store_alert_list(g_st, NULL, false, 0, collect_alert, &acc), 0);
    cr_assert_eq(acc.n, 4);
    cr_assert_str_eq(acc.v[0], "0004", "newest first; same time: the later id first");
    cr_assert_str_eq(acc.v[1], "0003");
    cr_assert_str_eq(acc.v[2], "0002");
    cr_assert_str_eq(acc.v[3], "0001");
    acc = (ids_t){.n = 0};
    cr_assert_eq(ct_store_alert_list(g_st, "", true, 0, collect_alert, &acc), 0);
    cr_assert_eq(acc.n, 3, "open: not acknowledged");
    cr_assert_str_eq(acc.v[0], "0004");
    cr_assert_str_eq(acc.v[1], "0002");
    acc = (ids_t){.n = 0};
    cr_assert_eq(ct_store_alert_list(g_st, "p-1", false, 0, collect_alert, &acc), 0);
    cr_assert_eq(acc.n, 3);
    acc = (ids_t){.n = 0};
    cr_assert_eq(ct_store_alert_list(g_st, "p-1", true, 0, collect_alert, &acc), 0);
    cr_assert_eq(acc.n, 2);
    cr_assert_str_eq(acc.v[0], "0004");
    cr_assert_str_eq(acc.v[1], "0001");
    acc = (ids_t){.n = 0};
    cr_assert_eq(ct_store_alert_list(g_st, "p-1", false, 1, collect_alert, &acc), 0);
    cr_assert_eq(acc.n, 1, "at most limit");
    cr_assert_str_eq(acc.v[0], "0004");
    acc = (ids_t){.n = 0};
    cr_assert_eq(ct_store_alert_list(g_st, "p-9", false, 0, collect_alert, &acc), 0);
    cr_assert_eq(acc.n, 0);
    finish();
}

/* Re-arms each due alert from the callback, as the escalation timer does. */
static int rearm(const ct_alert_t *a, void *arg)
{
    ids_t *acc = arg;
    ct_alert_t u = *a;
    u.escalations++;
    u.deadline_ms = u.escalations >= 2 ? 0 : a->deadline_ms + 1000000;
    cr_assert_eq(ct_store_alert_update(g_st, &u), 0);
    return ids_push(acc, tail(a->alert_id));
}

Test(store_care, alert_due_and_next_deadline, .fini = cleanup)
{
    open_rw();
    add_cast();
    int64_t next = -1;
    cr_assert_eq(ct_store_alert_next_deadline(g_st, &next), 0);
    cr_assert_eq(next, 0, "no alert: no deadline");

    ct_alert_t a[5] = {alert(1, "p-1", T0, T0 + 300), alert(2, "p-1", T0, T0 + 100),
                       alert(3, "p-2", T0, 0), alert(4, "p-2", T0, T0 + 200),
                       alert(5, "p-2", T0, T0 + 100)};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(ct_store_alert_insert(g_st, &a[i]), 0);
    cr_assert_eq(ct_store_alert_next_deadline(g_st, &next), 0);
    cr_assert_eq(next, T0 + 100, "the earliest pending deadline");

    ids_t acc = {.n = 0};
    cr_assert_eq(ct_store_alert_due(g_st, T0 + 99, collect_alert, &acc), 0);
    cr_assert_eq(acc.n, 0, "nothing due yet");
    cr_assert_eq(ct_store_alert_due(g_st, T0 + 200, collect_alert, &acc), 0);
    cr_assert_eq(acc.n, 3, "deadline <= now is due; no deadline never is");
    cr_assert_str_eq(acc.v[0], "0002", "oldest deadline first; same deadline: by id");
    cr_assert_str_eq(acc.v[1], "0005");
    cr_assert_str_eq(acc.v[2], "0004");

    /* The callback may update the alerts it is handed. */
    acc = (ids_t){.n = 0};
    cr_assert_eq(ct_store_alert_due(g_st, T0 + 300, rearm, &acc), 0);
    cr_assert_eq(acc.n, 4, "each due alert is handed over once");
    cr_assert_eq(ct_store_alert_next_deadline(g_st, &next), 0);
    cr_assert_eq(next, T0 + 1000100);
    acc = (ids_t){.n = 0};
    cr_assert_eq(ct_store_alert_due(g_st, T0 + 300, collect_alert, &acc), 0);
    cr_assert_eq(acc.n, 0, "re-armed alerts are no longer due");

    acc = (ids_t){.n = 0};
    cr_assert_eq(ct_store_alert_due(g_st, T0 + 2000000, rearm, &acc), 0);
    cr_assert_eq(acc.n, 4);
    cr_assert_eq(ct_store_alert_next_deadline(g_st, &next), 0);
    cr_assert_eq(next, 0, "after the second escalation no deadline is left");

    acc = (ids_t){.stop_after = 1};
    ct_alert_t late = alert(6, "p-1", T0, T0 + 5);
    ct_alert_t later = alert(7, "p-1", T0, T0 + 6);
    cr_assert_eq(ct_store_alert_insert(g_st, &late), 0);
    cr_assert_eq(ct_store_alert_insert(g_st, &later), 0);
    cr_assert_eq(ct_store_alert_due(g_st, T0 + 10, collect_alert, &acc), 7,
                 "the callback's value stops the walk");
    cr_assert_eq(acc.n, 1);
    finish();
}

/* The escalation timer's queries are served by the partial deadline index. */
Test(store_care, alert_deadlines_use_their_index, .fini = cleanup)
{
    open_rw();
    ct_store_close(g_st);
    g_st = NULL;
    sqlite3 *db = raw_open(0);
    const char *sqls[] = {
        "EXPLAIN QUERY PLAN SELECT * FROM alerts WHERE deadline_ms > 0 AND deadline_ms <= 5"
        " ORDER BY deadline_ms, alert_id",
        "EXPLAIN QUERY PLAN SELECT min(deadline_ms) FROM alerts WHERE deadline_ms > 0",
    };
    for (size_t i = 0; i < 2; i++) {
        sqlite3_stmt *s;
        cr_assert_eq(sqlite3_prepare_v2(db, sqls[i], -1, &s, NULL), SQLITE_OK, "%s",
                     sqlite3_errmsg(db));
        bool uses = false, sorts = false;
        while (sqlite3_step(s) == SQLITE_ROW) {
            const char *detail = (const char *)sqlite3_column_text(s, 3);
            uses = uses || strstr(detail, "alerts_deadline") != NULL;
            sorts = sorts || strstr(detail, "TEMP B-TREE") != NULL;
        }
        sqlite3_finalize(s);
        cr_assert(uses, "%s", sqls[i]);
        cr_assert_not(sorts, "%s", sqls[i]);
    }
    sqlite3_close(db);
    finish();
}

/* ---- messages: the workflow fields ------------------------------------------------------- */

/* A message from tess (client_msg_id cmid, about participant) to the recipients in `to`. */
static ct_message_t message(const char *cmid, const char *participant, char (*to)[CT_ID_MAX + 1],
                            size_t n)
{
    static unsigned counter;
    ct_message_t m;
    memset(&m, 0, sizeof m);
    uuid(m.message_id, ++counter);
    snprintf(m.sender_id, sizeof m.sender_id, "tess");
    m.sender_role = CT_ROLE_THERAPIST;
    snprintf(m.client_msg_id, sizeof m.client_msg_id, "%s", cmid);
    snprintf(m.participant_id, sizeof m.participant_id, "%s", participant);
    m.subject = (char *)"";
    m.body = (char *)"hello";
    m.body_len = 5;
    m.priority = 1;
    m.stored_at_ms = T0;
    m.to = to;
    m.n_to = n;
    return m;
}

static ct_message_receipt_t insert(const ct_message_t *m)
{
    uint8_t h[32];
    memset(h, 0xab, sizeof h);
    ct_message_receipt_t r;
    int rc = ct_store_message_insert(g_st, m, h, &r);
    cr_assert_eq(rc, 0, "insert %s: %d", m->client_msg_id, rc);
    return r;
}

/* Reads member_id's inbox from the start and returns the messages' client_msg_ids joined by
 * commas in out. */
static void inbox(const char *member_id, char *out, size_t len)
{
    ct_message_t page[16];
    int n = ct_store_inbox_page(g_st, member_id, 0, page, 16);
    cr_assert_geq(n, 0, "inbox_page: %d", n);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? "," : "", page[i].client_msg_id);
        ct_message_clear(&page[i]);
    }
}

Test(store_care, message_workflow_fields_round_trip, .fini = cleanup)
{
    open_rw();
    add_cast();
    cr_assert_eq(ct_store_team_add(g_st, "p-1", "pete", "admin", T0), 0);
    char to[1][CT_ID_MAX + 1] = {"pete"};
    static const uint8_t payload[] = {0x0a, 0x00, 0xff, 0x12, 0x00, 0x34};

    ct_message_t m = message("c-event", "p-1", to, 1);
    m.kind = CT_MSG_SUMMARY;
    snprintf(m.event, sizeof m.event, "summary.post");
    m.payload = (uint8_t *)payload;
    m.payload_len = sizeof payload;
    m.withheld = (char *)"paula\nsam";
    ct_message_receipt_t r = insert(&m);
    cr_assert_str_eq(r.withheld, "paula\nsam", "the Ack lists the withheld members");
    ct_message_receipt_clear(&r);
    cr_assert_null(r.withheld);

    ct_message_t plain = message("c-plain", "p-1", to, 1); /* kind 0: an old caller */
    ct_message_receipt_t rp = insert(&plain);
    cr_assert_null(rp.withheld, "no withheld list");

    ct_message_t page[4];
    cr_assert_eq(ct_store_inbox_page(g_st, "pete", 0, page, 4), 2);
    cr_assert_eq(page[0].kind, CT_MSG_SUMMARY);
    cr_assert_str_eq(page[0].event, "summary.post");
    cr_assert_eq(page[0].payload_len, sizeof payload);
    cr_assert_not_null(page[0].payload);
    cr_assert_neq(page[0].payload, payload, "an owned copy");
    cr_assert_eq(memcmp(page[0].payload, payload, sizeof payload), 0, "bytes with NULs intact");
    cr_assert_not_null(page[0].withheld);
    cr_assert_str_eq(page[0].withheld, "paula\nsam");
    cr_assert_eq(page[1].kind, CT_MSG_TEXT, "kind 0 is stored as TEXT");
    cr_assert_str_eq(page[1].event, "");
    cr_assert_null(page[1].payload, "no payload reads as NULL");
    cr_assert_eq(page[1].payload_len, 0);
    cr_assert_str_eq(page[1].withheld, "");
    for (int i = 0; i < 2; i++) {
        ct_message_clear(&page[i]);
        cr_assert_null(page[i].payload);
        cr_assert_eq(page[i].payload_len, 0);
        cr_assert_null(page[i].withheld);
    }

    uint8_t h[32];
    memset(h, 0xab, sizeof h);
    ct_message_receipt_t f;
    bool match = false;
    cr_assert_eq(ct_store_message_find(g_st, "tess", "c-event", h, &f, &match), 0);
    cr_assert(match);
    cr_assert_eq(f.seq, r.seq);
    cr_assert_str_eq(f.withheld, "paula\nsam", "a resend's Ack lists them again");
    ct_message_receipt_clear(&f);
    cr_assert_eq(ct_store_message_find(g_st, "tess", "c-plain", h, &f, &match), 0);
    cr_assert_null(f.withheld, "no withheld list");
    finish();
}

Test(store_care, message_with_malformed_workflow_fields_is_invalid, .fini = cleanup)
{
    open_rw();
    char to[1][CT_ID_MAX + 1] = {"pete"};
    uint8_t h[32];
    memset(h, 0xab, sizeof h);
    ct_message_receipt_t r;

    ct_message_t m = message("c-1", "", to, 1);
    m.payload_len = 3; /* and no payload */
    cr_assert_eq(ct_store_message_insert(g_st, &m, h, &r), CT_EINVAL);

    m = message("c-2", "", to, 1);
    memset(m.event, 'e', sizeof m.event); /* unterminated */
    cr_assert_eq(ct_store_message_insert(g_st, &m, h, &r), CT_EINVAL);

    char *long_list = malloc(CT_WITHHELD_MAX + 1);
    cr_assert_not_null(long_list);
    memset(long_list, 'w', CT_WITHHELD_MAX);
    long_list[CT_WITHHELD_MAX] = '\0';
    m = message("c-3", "", to, 1);
    m.withheld = long_list; /* longer than a withheld list may be */
    int rc = ct_store_message_insert(g_st, &m, h, &r);
    free(long_list);
    cr_assert_eq(rc, CT_EINVAL);

    char out[256];
    inbox("pete", out, sizeof out);
    cr_assert_str_eq(out, "", "nothing was stored");
    finish();
}

/* ---- the inbox's circle of care ---------------------------------------------------------- */

Test(store_care, inbox_skips_messages_for_a_restricted_member, .fini = cleanup)
{
    open_rw();
    add_cast();
    cr_assert_eq(ct_store_team_add(g_st, "p-1", "pete", "admin", T0), 0);
    ct_restriction_t r = restriction("p-1", "pete", T0);
    cr_assert_eq(ct_store_restriction_add(g_st, &r), 0);
    char to[2][CT_ID_MAX + 1] = {"pete", "dr.ahmed"};
    cr_assert_eq(ct_store_team_add(g_st, "p-1", "dr.ahmed", "admin", T0), 0);

    ct_message_t text = message("c-text", "p-1", to, 2);
    insert(&text);
    ct_message_t ref = message("c-ref", "p-1", to, 2);
    ref.kind = CT_MSG_REFERRAL;
    insert(&ref);
    ct_message_t none = message("c-none", "", to, 2);
    insert(&none);

    char out[256];
    inbox("pete", out, sizeof out);
    cr_assert_str_eq(out, "c-none", "restricted: nothing about p-1, referral events included");
    inbox("dr.ahmed", out, sizeof out);
    cr_assert_str_eq(out, "c-text,c-ref,c-none", "other recipients get everything");

    cr_assert_eq(ct_store_restriction_remove(g_st, "p-1", "pete"), 0);
    inbox("pete", out, sizeof out);
    cr_assert_str_eq(out, "c-text,c-ref,c-none", "skipped messages stayed pending");
    finish();
}

Test(store_care, inbox_skips_participant_messages_for_a_member_off_the_team, .fini = cleanup)
{
    open_rw();
    add_cast();
    char to[1][CT_ID_MAX + 1] = {"paula"};
    ct_message_t text = message("c-text", "p-1", to, 1);
    insert(&text);
    ct_message_t ref = message("c-ref", "p-1", to, 1);
    ref.kind = CT_MSG_REFERRAL;
    insert(&ref);
    ct_message_t alrt = message("c-alert", "p-1", to, 1);
    alrt.kind = CT_MSG_ALERT;
    insert(&alrt);
    ct_message_t none = message("c-none", "", to, 1);
    insert(&none);
    ct_message_t other = message("c-other", "p-2", to, 1);
    insert(&other);

    char out[256];
    inbox("paula", out, sizeof out);
    cr_assert_str_eq(out, "c-ref,c-none",
                     "off the team: referral events and messages about no participant only");

    cr_assert_eq(ct_store_team_add(g_st, "p-1", "paula", "referral:x", T0), 0);
    inbox("paula", out, sizeof out);
    cr_assert_str_eq(out, "c-text,c-ref,c-alert,c-none", "joining the team shows the rest");

    cr_assert_eq(ct_store_team_remove(g_st, "p-1", "paula"), 0);
    inbox("paula", out, sizeof out);
    cr_assert_str_eq(out, "c-ref,c-none", "leaving hides them again");

    /* Paging: skipped rows do not count against the limit. */
    cr_assert_eq(ct_store_team_add(g_st, "p-2", "paula", "admin", T0), 0);
    ct_message_t page[2];
    cr_assert_eq(ct_store_inbox_page(g_st, "paula", 0, page, 2), 2);
    cr_assert_str_eq(page[0].client_msg_id, "c-ref");
    cr_assert_str_eq(page[1].client_msg_id, "c-none");
    int64_t after = page[1].seq;
    ct_message_clear(&page[0]);
    ct_message_clear(&page[1]);
    cr_assert_eq(ct_store_inbox_page(g_st, "paula", after, page, 2), 1);
    cr_assert_str_eq(page[0].client_msg_id, "c-other");
    ct_message_clear(&page[0]);
    finish();
}

/* The filtered inbox query is still one range scan of the partial index, in seq order, with the
 * filters as primary-key lookups (the SQL is INBOX_PAGE's, copied). */
Test(store_care, filtered_inbox_query_keeps_the_pending_index, .fini = cleanup)
{
    open_rw();
    ct_store_close(g_st);
    g_st = NULL;
    sqlite3 *db = raw_open(0);
    const char *sql =
        "EXPLAIN QUERY PLAN SELECT m.seq FROM message_recipients AS r JOIN messages AS m"
        " ON m.seq = r.message_seq WHERE r.member_id = ?1 AND r.delivered_at_ms IS NULL"
        " AND r.message_seq > ?2 AND (m.participant_id = ''"
        " OR (NOT EXISTS (SELECT 1 FROM restrictions AS x"
        "                 WHERE x.participant_id = m.participant_id AND x.member_id = ?1)"
        "     AND (m.kind = 2 OR EXISTS (SELECT 1 FROM care_team AS t"
        "          WHERE t.participant_id = m.participant_id AND t.member_id = ?1))))"
        " ORDER BY r.message_seq LIMIT ?3";
    sqlite3_stmt *s;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    bool pending = false, sorts = false, scans = false;
    int autoindex = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(s, 3);
        pending = pending || strstr(detail, "message_recipients_pending") != NULL;
        sorts = sorts || strstr(detail, "TEMP B-TREE") != NULL;
        scans = scans || (strncmp(detail, "SCAN", 4) == 0 && strstr(detail, "INDEX") == NULL);
        if (strstr(detail, "sqlite_autoindex_restrictions_1") != NULL ||
            strstr(detail, "sqlite_autoindex_care_team_1") != NULL)
            autoindex++;
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    cr_assert(pending, "the range scan of message_recipients_pending");
    cr_assert_not(sorts, "seq order without a sort");
    cr_assert_not(scans, "no table scan");
    cr_assert_eq(autoindex, 2, "both filters look up a primary key");
    finish();
}

/* ---- migration from version 2 ------------------------------------------------------------ */

/*
 * Version 2 fixture: the schema of migrations 1 and 2 as they shipped (frozen here; never
 * edit), with a member, a message about no participant and one about p-9, both to bob. Opening
 * it read-write runs migration 3.
 */
static const char V2_SCHEMA[] =
    "CREATE TABLE members ("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  display_name TEXT NOT NULL,"
    "  role INTEGER NOT NULL,"
    "  active INTEGER NOT NULL CHECK (active IN (0, 1)),"
    "  created_at_ms INTEGER NOT NULL"
    ");"
    "CREATE TABLE messages ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  message_id TEXT NOT NULL UNIQUE,"
    "  sender_id TEXT NOT NULL,"
    "  sender_role INTEGER NOT NULL,"
    "  client_msg_id TEXT NOT NULL,"
    "  request_hash BLOB NOT NULL CHECK (length(request_hash) = 32),"
    "  participant_id TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  priority INTEGER NOT NULL,"
    "  stored_at_ms INTEGER NOT NULL,"
    "  UNIQUE (sender_id, client_msg_id)"
    ");"
    "CREATE TABLE message_recipients ("
    "  message_seq INTEGER NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,"
    "  member_id TEXT NOT NULL,"
    "  position INTEGER NOT NULL,"
    "  delivered_at_ms INTEGER,"
    "  PRIMARY KEY (message_seq, member_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX message_recipients_pending ON message_recipients (member_id, message_seq)"
    "  WHERE delivered_at_ms IS NULL;"
    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY CHECK (seq >= 1),"
    "  time_ms INTEGER NOT NULL,"
    "  actor_id TEXT NOT NULL,"
    "  actor_role INTEGER NOT NULL,"
    "  peer_addr TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  object_type TEXT NOT NULL,"
    "  object_id TEXT NOT NULL,"
    "  participant_id TEXT NOT NULL,"
    "  outcome INTEGER NOT NULL,"
    "  detail TEXT NOT NULL,"
    "  leaf BLOB NOT NULL CHECK (length(leaf) = 32),"
    "  chain BLOB NOT NULL CHECK (length(chain) = 32)"
    ") STRICT;"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
    "INSERT INTO members VALUES ('dr.ahmed', 'Dr Amira Ahmed', 1, 1, 1700000000000);"
    "INSERT INTO members VALUES ('bob', 'Bob', 3, 1, 1700000000000);"
    "INSERT INTO messages (message_id, sender_id, sender_role, client_msg_id, request_hash,"
    "  participant_id, subject, body, priority, stored_at_ms) VALUES"
    "  ('01900000-0000-7000-8000-000000000001', 'dr.ahmed', 1, 'old-1', zeroblob(32), '',"
    "   'hi', 'old text', 1, 1700000000001),"
    "  ('01900000-0000-7000-8000-000000000002', 'dr.ahmed', 1, 'old-2', zeroblob(32), 'p-9',"
    "   '', 'about p-9', 2, 1700000000002);"
    "INSERT INTO message_recipients VALUES (1, 'bob', 0, NULL), (2, 'bob', 0, NULL);"
    "PRAGMA user_version = 2;";

Test(store_care, fixture_version2_is_migrated_and_old_messages_read_as_text, .fini = cleanup)
{
    make_dir();
    sqlite3 *db = raw_open(SQLITE_OPEN_CREATE);
    cr_assert_eq(sqlite3_exec(db, V2_SCHEMA, NULL, NULL, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(db));
    sqlite3_close(db);

    char err[256];
    ct_store_t *ro = NULL;
    cr_assert_eq(ct_store_open(g_path, CT_STORE_READONLY, &ro, err, sizeof err), CT_EPRECONDITION);
    cr_assert_not_null(strstr(err, "older"), "read-only names the old version: %s", err);
    cr_assert_eq(ct_store_open(g_path, CT_STORE_READWRITE, &g_st, err, sizeof err), 0, "%s", err);
    cr_assert_geq(ct_store_schema_version(), 3);
    cr_assert_eq(ct_store_db_version(g_st), ct_store_schema_version(), "on to the newest");

    ct_member_t m;
    cr_assert_eq(ct_store_member_get(g_st, "bob", &m), 0);
    cr_assert_str_eq(m.supervisor_id, "", "existing members have no supervisor");

    ct_message_t page[4];
    cr_assert_eq(ct_store_inbox_page(g_st, "bob", 0, page, 4), 1,
                 "the message about p-9 waits for bob to join p-9's team");
    cr_assert_str_eq(page[0].client_msg_id, "old-1");
    cr_assert_str_eq(page[0].body, "old text");
    cr_assert_eq(page[0].kind, CT_MSG_TEXT, "old messages read as TEXT");
    cr_assert_str_eq(page[0].event, "");
    cr_assert_null(page[0].payload);
    cr_assert_str_eq(page[0].withheld, "");
    ct_message_clear(&page[0]);

    add_participant("p-9");
    cr_assert_eq(ct_store_team_add(g_st, "p-9", "bob", "admin", T0), 0);
    cr_assert_eq(ct_store_inbox_page(g_st, "bob", 0, page, 4), 2);
    cr_assert_str_eq(page[1].client_msg_id, "old-2");
    cr_assert_eq(page[1].kind, CT_MSG_TEXT);
    ct_message_clear(&page[0]);
    ct_message_clear(&page[1]);

    uint8_t h[32];
    memset(h, 0, sizeof h);
    ct_message_receipt_t f;
    bool match = false;
    cr_assert_eq(ct_store_message_find(g_st, "dr.ahmed", "old-2", h, &f, &match), 0);
    cr_assert(match);
    cr_assert_null(f.withheld, "no withheld list");

    /* The new schema takes new rows, and reopening changes nothing. */
    ct_store_close(g_st);
    g_st = NULL;
    cr_assert_eq(ct_store_open(g_path, CT_STORE_READWRITE, &g_st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ct_store_db_version(g_st), ct_store_schema_version());
    ct_restriction_t r = restriction("p-9", "bob", T0);
    cr_assert_eq(ct_store_restriction_add(g_st, &r), 0);
    cr_assert_eq(ct_store_inbox_page(g_st, "bob", 0, page, 4), 1);
    ct_message_clear(&page[0]);
    db = raw_open(0);
    sqlite3_stmt *s;
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &s, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(s), SQLITE_DONE, "no dangling reference");
    sqlite3_finalize(s);
    sqlite3_close(db);
    finish();
}
