/*
 * Care-team administration (admin.h): participants, care teams, lockbox restrictions and the
 * supervisors of peer workers, run as `careteamd participant|team|lockbox|supervisor ...` on the
 * server host. The rules that use this state (who may do what about a participant) live in the
 * daemon (authz.c, workflow.c); these commands only keep it, with the checks an administrator
 * needs to be told about at once.
 *
 * Invariants:
 *  1. Every change and its audit row are one transaction: both are stored or neither is. A
 *     command that finds nothing to change (already on the team, already restricted, the same
 *     supervisor) changes nothing and writes no audit row.
 *  2. A participant's label never reaches the audit trail or a log: audit rows name the
 *     participant by id, and their detail is metadata (role, via), never free text. The label is
 *     printed only by the listing commands, to the administrator's terminal.
 *  3. Listing commands write nothing.
 *
 * A running daemon needs no signal after these commands: it asks the store about team membership
 * and restrictions on every request.
 */
#include "admin.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "ids.h"
#include "store.h"
#include "text.h"

#define ERR_LEN 512

/* ---- helpers ------------------------------------------------------------------------------ */

/* Formats a Unix time in milliseconds as "YYYY-MM-DD HH:MM UTC" ("-" for 0). */
static void fmt_time(int64_t ms, char *out, size_t len)
{
    struct tm tm;
    time_t t = (time_t)(ms / 1000);
    if (ms <= 0 || gmtime_r(&t, &tm) == NULL || strftime(out, len, "%Y-%m-%d %H:%M UTC", &tm) == 0)
        snprintf(out, len, "-");
}

static const char *role_name(ct_role_t role)
{
    const char *n = ct_role_name(role);
    return n != NULL ? n : "?";
}

/* Checks the id-valued options of a command before anything is opened. Prints the problem and
 * returns false when one is malformed. what is the option ("--participant"), kind the thing it
 * names ("participant", "member"). */
static bool id_ok(const char *what, const char *kind, const char *id)
{
    if (ct_id_valid(id))
        return true;
    fprintf(stderr,
            "careteamd: %s '%s' is not a valid %s id: use 1-64 characters of A-Z a-z 0-9 . _ -\n",
            what, id, kind);
    return false;
}

/* Fails with a message naming the participant and how to find the registered ones. */
static int need_participant(ct_store_t *st, const char *dir, const char *id, ct_participant_t *p,
                            char *err, size_t errlen)
{
    int r = ct_store_participant_get(st, id, p);
    if (r == CT_ENOTFOUND)
        return ct_errf(err, errlen, r,
                       "no participant '%s'; `careteamd participant list %s` lists them, and "
                       "`careteamd participant add %s --id %s --label TEXT` registers one",
                       id, dir, dir, id);
    return r;
}

static int need_member(ct_store_t *st, const char *dir, const char *id, ct_member_t *m, char *err,
                       size_t errlen)
{
    int r = ct_store_member_get(st, id, m);
    if (r == CT_ENOTFOUND)
        return ct_errf(err, errlen, r,
                       "no member '%s'; `careteamd members %s` lists the enrolled ones", id, dir);
    return r;
}

/* Ends a change: commits if r is 0, else rolls back; closes the store. Returns r, or the commit's
 * error (CT_EIO: nothing of the change is stored). */
static int finish(ct_store_t *st, int r)
{
    r = ct_admin_end(st, r);
    ct_store_close(st);
    return r;
}

/* Prints the failure of a command: err when a check filled it, else what failed and the code's
 * own message. Returns r. */
static int report(int r, const char *err, const char *what)
{
    if (err[0] != '\0' && r != CT_EIO)
        fprintf(stderr, "careteamd: %s\n", err);
    else
        fprintf(stderr, "careteamd: cannot %s: %s\n", what, ct_strerror(r));
    return r;
}

/*
 * The start of a change about one participant and one member: checks both ids, opens DIR's store
 * read-write, begins a transaction and finds both (their absence explained in err). Returns 0 or
 * CT_E*. *st is NULL when nothing was opened (the error is printed); otherwise the caller ends
 * the change with finish(st, r), whatever r is.
 */
static int begin_on_pair(const char *dir, const char *participant_id, const char *member_id,
                         ct_store_t **st, ct_participant_t *p, ct_member_t *m, char *err,
                         size_t errlen)
{
    *st = NULL;
    if (!id_ok("--participant", "participant", participant_id) ||
        !id_ok("--member", "member", member_id))
        return CT_EINVAL;
    int r = ct_admin_open_store(dir, CT_STORE_READWRITE, st);
    if (r != 0) {
        *st = NULL;
        return r;
    }
    r = ct_store_begin(*st);
    if (r == 0)
        r = need_participant(*st, dir, participant_id, p, err, errlen);
    if (r == 0)
        r = need_member(*st, dir, member_id, m, err, errlen);
    return r;
}

int ct_admin_supervisor_check(ct_store_t *st, const char *dir, const char *id, char *err,
                              size_t errlen)
{
    ct_member_t s;
    int r = ct_store_member_get(st, id, &s);
    if (r == CT_ENOTFOUND)
        return ct_errf(err, errlen, r,
                       "no member '%s' to be the supervisor; `careteamd members %s` lists the "
                       "enrolled ones (a supervisor is enrolled with --role peer_supervisor)",
                       id, dir);
    if (r != 0)
        return r;
    if (s.role != CT_ROLE_PEER_SUPERVISOR)
        return ct_errf(err, errlen, CT_EPRECONDITION,
                       "'%s' is a %s, not a peer_supervisor; a peer worker's supervisor must be "
                       "an active member with role peer_supervisor",
                       id, role_name(s.role));
    if (!s.active)
        return ct_errf(err, errlen, CT_EPRECONDITION,
                       "supervisor '%s' is deactivated; reactivate them with `careteamd activate "
                       "%s --id %s`, or choose an active peer_supervisor",
                       id, dir, id);
    return 0;
}

/* ---- participants ------------------------------------------------------------------------- */

int ct_admin_participant_add(const char *dir, const char *id, const char *label)
{
    if (!id_ok("--id", "participant", id))
        return CT_EINVAL;
    if (!ct_admin_text_ok(label, 1, CT_LABEL_MAX)) {
        fprintf(stderr,
                "careteamd: --label must be 1-%d bytes of UTF-8 text without control "
                "characters: the participant's initials or a chart number, never a full name\n",
                CT_LABEL_MAX);
        return CT_EINVAL;
    }
    ct_store_t *st;
    int r = ct_admin_open_store(dir, CT_STORE_READWRITE, &st);
    if (r != 0)
        return r;
    char err[ERR_LEN] = "";
    ct_participant_t p = {.created_at_ms = ct_now_ms()};
    ct_text_copy(p.id, sizeof p.id, id);
    ct_text_copy(p.label, sizeof p.label, label);
    r = ct_store_begin(st);
    if (r == 0) {
        r = ct_store_participant_add(st, &p);
        if (r == CT_EEXISTS)
            snprintf(err, sizeof err,
                     "participant '%s' already exists; `careteamd participant list %s` lists "
                     "them. Choose another id (ids are never reused, so that the audit trail "
                     "stays unambiguous)",
                     id, dir);
    }
    /* Invariant 2: the label is not part of the row. */
    if (r == 0)
        r = ct_admin_audit(st, "participant.add", "participant", id, id, NULL);
    r = finish(st, r);
    if (r != 0)
        return report(r, err, "register the participant");
    printf("Registered participant %s.\n"
           "Next: put members on their care team with `careteamd team add %s --participant %s "
           "--member ID`.\n",
           id, dir, id);
    return 0;
}

typedef struct list_state {
    bool json;
    size_t n;
} list_state_t;

static int print_participant(const ct_participant_t *p, void *arg)
{
    list_state_t *ls = arg;
    if (ls->json) {
        printf("%s{\"id\":", ls->n ? "," : "");
        ct_admin_json_string(p->id);
        printf(",\"label\":");
        ct_admin_json_string(p->label);
        printf(",\"created_at_ms\":%lld}", (long long)p->created_at_ms);
    } else {
        char when[32];
        fmt_time(p->created_at_ms, when, sizeof when);
        printf("%-24s %-21s %s\n", p->id, when, p->label);
    }
    ls->n++;
    return 0;
}

int ct_admin_participant_list(const char *dir, bool json)
{
    ct_store_t *st;
    int r = ct_admin_open_store(dir, CT_STORE_READWRITE, &st);
    if (r != 0)
        return r;
    list_state_t ls = {.json = json};
    if (json)
        printf("[");
    else
        printf("%-24s %-21s %s\n", "ID", "REGISTERED", "LABEL");
    r = ct_store_participant_list(st, print_participant, &ls);
    if (json)
        printf("]\n");
    ct_store_close(st);
    if (r != 0)
        fprintf(stderr, "careteamd: cannot list participants: %s\n", ct_strerror(r));
    return r;
}

/* ---- care teams --------------------------------------------------------------------------- */

int ct_admin_team_add(const char *dir, const char *participant_id, const char *member_id)
{
    ct_store_t *st;
    char err[ERR_LEN] = "";
    ct_participant_t p;
    ct_member_t m;
    unsigned rel = 0;
    bool already = false;
    int r = begin_on_pair(dir, participant_id, member_id, &st, &p, &m, err, sizeof err);
    if (st == NULL)
        return r;
    if (r == 0 && (m.role == CT_ROLE_COMPLIANCE || m.role == CT_ROLE_ADMIN))
        r = ct_errf(err, sizeof err, CT_EFORBIDDEN,
                    "'%s' has role %s, and compliance and admin members cannot join a care "
                    "team (they oversee the service, not a participant's care); add a clinician, "
                    "a peer worker or a peer supervisor",
                    member_id, role_name(m.role));
    if (r == 0 && !m.active)
        r = ct_errf(err, sizeof err, CT_EPRECONDITION,
                    "'%s' is deactivated; reactivate them first with `careteamd activate %s --id "
                    "%s`",
                    member_id, dir, member_id);
    if (r == 0)
        r = ct_store_relation(st, participant_id, member_id, &rel);
    if (r == 0) {
        r = ct_store_team_add(st, participant_id, member_id, "admin", ct_now_ms());
        already = r == 1;
        if (r == 1)
            r = 0;
    }
    if (r == 0 && !already) {
        char detail[64];
        snprintf(detail, sizeof detail, "via=admin role=%s", role_name(m.role));
        r = ct_admin_audit(st, "team.add", "member", member_id, participant_id, detail);
    }
    r = finish(st, r);
    if (r != 0)
        return report(r, err, "add the member to the care team");
    if (already)
        printf("%s is already on %s's care team; nothing changed.\n", member_id, participant_id);
    else
        printf("%s (%s) is on %s's care team.\n", member_id, role_name(m.role), participant_id);
    if (rel & CT_STORE_REL_LOCKBOXED)
        printf("Note: %s has asked that %s receive nothing about them (lockbox): that holds "
               "until `careteamd lockbox remove %s --participant %s --member %s`.\n",
               participant_id, member_id, dir, participant_id, member_id);
    return 0;
}

/* Finds one member's team entry (to audit how they had joined). */
typedef struct find_entry {
    const char *member_id;
    bool found;
    char via[sizeof(((ct_team_entry_t *)0)->via)];
} find_entry_t;

static int match_entry(const ct_team_entry_t *e, void *arg)
{
    find_entry_t *f = arg;
    if (strcmp(e->member.id, f->member_id) != 0)
        return 0;
    f->found = true;
    ct_text_copy(f->via, sizeof f->via, e->via);
    return 1;
}

int ct_admin_team_remove(const char *dir, const char *participant_id, const char *member_id)
{
    ct_store_t *st;
    char err[ERR_LEN] = "";
    ct_participant_t p;
    ct_member_t m;
    find_entry_t f = {.member_id = member_id};
    int r = begin_on_pair(dir, participant_id, member_id, &st, &p, &m, err, sizeof err);
    if (st == NULL)
        return r;
    if (r == 0) {
        r = ct_store_team_list(st, participant_id, match_entry, &f);
        if (r == 1)
            r = 0;
    }
    if (r == 0)
        r = ct_store_team_remove(st, participant_id, member_id);
    if (r == CT_ENOTFOUND && err[0] == '\0')
        snprintf(err, sizeof err,
                 "%s is not on %s's care team; `careteamd team show %s --participant %s` lists "
                 "it",
                 member_id, participant_id, dir, participant_id);
    if (r == 0) {
        char detail[96];
        snprintf(detail, sizeof detail, "via=%s role=%s", f.found ? f.via : "", role_name(m.role));
        r = ct_admin_audit(st, "team.remove", "member", member_id, participant_id, detail);
    }
    r = finish(st, r);
    if (r != 0)
        return report(r, err, "remove the member from the care team");
    printf("%s is off %s's care team: their further requests about %s are refused. What they "
           "already received is kept.\n",
           member_id, participant_id, participant_id);
    return 0;
}

static int print_team_entry(const ct_team_entry_t *e, void *arg)
{
    list_state_t *ls = arg;
    const ct_member_t *m = &e->member;
    if (ls->json) {
        printf("%s{\"member_id\":", ls->n ? "," : "");
        ct_admin_json_string(m->id);
        printf(",\"role\":\"%s\",\"display_name\":", role_name(m->role));
        ct_admin_json_string(m->display_name);
        printf(",\"active\":%s,\"joined_at_ms\":%lld,\"via\":", m->active ? "true" : "false",
               (long long)e->joined_at_ms);
        ct_admin_json_string(e->via);
        printf("}");
    } else {
        char when[32];
        fmt_time(e->joined_at_ms, when, sizeof when);
        printf("%-24s %-16s %-9s %-21s %-20s %s\n", m->id, role_name(m->role),
               m->active ? "active" : "inactive", when, e->via, m->display_name);
    }
    ls->n++;
    return 0;
}

static int print_restriction(const ct_restriction_t *x, void *arg)
{
    list_state_t *ls = arg;
    if (ls->json) {
        printf("%s{\"member_id\":", ls->n ? "," : "");
        ct_admin_json_string(x->member_id);
        printf(",\"reason\":");
        ct_admin_json_string(x->reason);
        printf(",\"recorded_by\":");
        ct_admin_json_string(x->recorded_by);
        printf(",\"recorded_at_ms\":%lld}", (long long)x->recorded_at_ms);
    } else {
        char when[32];
        fmt_time(x->recorded_at_ms, when, sizeof when);
        printf("%-24s %-21s %-24s %s\n", x->member_id, when, x->recorded_by, x->reason);
    }
    ls->n++;
    return 0;
}

static void restriction_header(void)
{
    printf("%-24s %-21s %-24s %s\n", "MEMBER", "RECORDED", "BY", "REASON");
}

/* Opens the store and checks that the participant exists, for the listing commands. */
static int open_for_participant(const char *dir, const char *participant_id, ct_store_t **st)
{
    if (!id_ok("--participant", "participant", participant_id))
        return CT_EINVAL;
    int r = ct_admin_open_store(dir, CT_STORE_READWRITE, st);
    if (r != 0)
        return r;
    char err[ERR_LEN] = "";
    ct_participant_t p;
    r = need_participant(*st, dir, participant_id, &p, err, sizeof err);
    if (r != 0) {
        ct_store_close(*st);
        *st = NULL;
        return report(r, err, "read the participant");
    }
    return 0;
}

int ct_admin_team_show(const char *dir, const char *participant_id, bool json)
{
    ct_store_t *st;
    int r = open_for_participant(dir, participant_id, &st);
    if (r != 0)
        return r;
    list_state_t team = {.json = json}, lock = {.json = json};
    if (json) {
        printf("{\"participant_id\":");
        ct_admin_json_string(participant_id);
        printf(",\"team\":[");
    } else {
        printf("Care team of %s\n%-24s %-16s %-9s %-21s %-20s %s\n", participant_id, "MEMBER",
               "ROLE", "STATUS", "JOINED", "VIA", "NAME");
    }
    r = ct_store_team_list(st, participant_id, print_team_entry, &team);
    if (r == 0) {
        if (json) {
            printf("],\"restrictions\":[");
        } else {
            if (team.n == 0)
                printf("(nobody yet: `careteamd team add %s --participant %s --member ID`)\n", dir,
                       participant_id);
            printf("\nLockbox restrictions of %s (these members receive nothing about them)\n",
                   participant_id);
            restriction_header();
        }
        r = ct_store_restriction_list(st, participant_id, print_restriction, &lock);
        if (!json && r == 0 && lock.n == 0)
            printf("(none)\n");
    }
    if (json)
        printf("]}\n");
    ct_store_close(st);
    if (r != 0)
        fprintf(stderr, "careteamd: cannot list %s's care team: %s\n", participant_id,
                ct_strerror(r));
    return r;
}

/* ---- lockbox ------------------------------------------------------------------------------ */

int ct_admin_lockbox_add(const char *dir, const char *participant_id, const char *member_id,
                         const char *reason)
{
    if (reason == NULL)
        reason = "";
    if (!ct_admin_text_ok(reason, 0, CT_NOTE_MAX)) {
        fprintf(stderr,
                "careteamd: --reason must be at most %d bytes of UTF-8 text without control "
                "characters\n",
                CT_NOTE_MAX);
        return CT_EINVAL;
    }
    ct_store_t *st;
    char err[ERR_LEN] = "";
    ct_participant_t p;
    ct_member_t m;
    unsigned rel = 0;
    bool already = false;
    ct_restriction_t x = {.recorded_at_ms = ct_now_ms()};
    ct_text_copy(x.participant_id, sizeof x.participant_id, participant_id);
    ct_text_copy(x.member_id, sizeof x.member_id, member_id);
    ct_text_copy(x.reason, sizeof x.reason, reason);
    snprintf(x.recorded_by, sizeof x.recorded_by, "admin");
    int r = begin_on_pair(dir, participant_id, member_id, &st, &p, &m, err, sizeof err);
    if (st == NULL)
        return r;
    if (r == 0)
        r = ct_store_relation(st, participant_id, member_id, &rel);
    if (r == 0) {
        r = ct_store_restriction_add(st, &x);
        already = r == 1;
        if (r == 1)
            r = 0;
    }
    /* The reason stays with the restriction: the audit row is metadata only (invariant 2). */
    if (r == 0 && !already)
        r = ct_admin_audit(st, "restriction.record", "member", member_id, participant_id,
                           (rel & CT_STORE_REL_ON_TEAM) ? "by=admin on_team=1"
                                                        : "by=admin on_team=0");
    r = finish(st, r);
    if (r != 0)
        return report(r, err, "record the restriction");
    if (already) {
        printf("%s is already restricted from %s; nothing changed.\n", member_id, participant_id);
        return 0;
    }
    printf("%s now receives nothing about %s: messages about %s to them are withheld, and their "
           "requests about %s are refused.%s\n"
           "Lift it with `careteamd lockbox remove %s --participant %s --member %s`.\n",
           member_id, participant_id, participant_id, participant_id,
           (rel & CT_STORE_REL_ON_TEAM) ? " They stay on the care team." : "", dir, participant_id,
           member_id);
    return 0;
}

int ct_admin_lockbox_remove(const char *dir, const char *participant_id, const char *member_id)
{
    ct_store_t *st;
    char err[ERR_LEN] = "";
    ct_participant_t p;
    ct_member_t m;
    int r = begin_on_pair(dir, participant_id, member_id, &st, &p, &m, err, sizeof err);
    if (st == NULL)
        return r;
    if (r == 0)
        r = ct_store_restriction_remove(st, participant_id, member_id);
    if (r == CT_ENOTFOUND && err[0] == '\0')
        snprintf(err, sizeof err,
                 "%s has no lockbox restriction for %s; `careteamd lockbox list %s --participant "
                 "%s` lists them",
                 member_id, participant_id, dir, participant_id);
    if (r == 0)
        r = ct_admin_audit(st, "restriction.lift", "member", member_id, participant_id, "by=admin");
    r = finish(st, r);
    if (r != 0)
        return report(r, err, "lift the restriction");
    printf("The restriction is lifted: %s may receive messages about %s again (if on the care "
           "team).\n",
           member_id, participant_id);
    return 0;
}

int ct_admin_lockbox_list(const char *dir, const char *participant_id, bool json)
{
    ct_store_t *st;
    int r = open_for_participant(dir, participant_id, &st);
    if (r != 0)
        return r;
    list_state_t ls = {.json = json};
    if (json)
        printf("[");
    else
        restriction_header();
    r = ct_store_restriction_list(st, participant_id, print_restriction, &ls);
    if (json)
        printf("]\n");
    ct_store_close(st);
    if (r != 0)
        fprintf(stderr, "careteamd: cannot list %s's restrictions: %s\n", participant_id,
                ct_strerror(r));
    return r;
}

/* ---- supervisors -------------------------------------------------------------------------- */

int ct_admin_supervisor_set(const char *dir, const char *member_id, const char *supervisor_id)
{
    if (supervisor_id == NULL)
        supervisor_id = "";
    if (!id_ok("--member", "member", member_id) ||
        (supervisor_id[0] != '\0' && !id_ok("--supervisor", "member", supervisor_id)))
        return CT_EINVAL;
    ct_store_t *st;
    int r = ct_admin_open_store(dir, CT_STORE_READWRITE, &st);
    if (r != 0)
        return r;
    char err[ERR_LEN] = "";
    ct_member_t m;
    bool same = false;
    r = ct_store_begin(st);
    if (r == 0)
        r = need_member(st, dir, member_id, &m, err, sizeof err);
    if (r == 0 && m.role != CT_ROLE_PEER_WORKER)
        r = ct_errf(err, sizeof err, CT_EPRECONDITION,
                    "'%s' is a %s; only peer workers have a peer supervisor", member_id,
                    role_name(m.role));
    if (r == 0 && supervisor_id[0] != '\0')
        r = ct_admin_supervisor_check(st, dir, supervisor_id, err, sizeof err);
    if (r == 0) {
        same = strcmp(m.supervisor_id, supervisor_id) == 0;
        if (!same)
            r = ct_store_member_set_supervisor(st, member_id, supervisor_id);
    }
    if (r == 0 && !same) {
        char detail[160];
        snprintf(detail, sizeof detail, "supervisor=%s previous=%s", supervisor_id,
                 m.supervisor_id);
        r = ct_admin_audit(st, "member.supervisor", "member", member_id, NULL, detail);
    }
    r = finish(st, r);
    if (r != 0)
        return report(r, err, "set the supervisor");
    if (same)
        printf("%s's supervisor is already %s; nothing changed.\n", member_id,
               supervisor_id[0] ? supervisor_id : "nobody");
    else if (supervisor_id[0] != '\0')
        printf("%s is supervised by %s%s%s%s.\n", member_id, supervisor_id,
               m.supervisor_id[0] ? " (was " : "", m.supervisor_id, m.supervisor_id[0] ? ")" : "");
    else
        printf("%s has no supervisor now (was %s).\n", member_id, m.supervisor_id);
    return 0;
}
