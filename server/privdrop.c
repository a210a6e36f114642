/*
 * Dropping root (see privdrop.h). The order matters and follows the usual rule: supplementary
 * groups first and the gid before the uid, since after setuid the process may no longer change
 * its groups; then a check that each id took and that setuid(0) fails, because a partial switch
 * (a saved uid still 0) would let any later bug take root back.
 */
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "datadir.h"
#include "err.h"
#include "log.h"
#include "text.h"

static void print_problem(const char *text, void *arg)
{
    (void)arg;
    fprintf(stderr, "careteamd: %s\n", text);
}

int ct_privdrop_plan(const char *user, bool allow_root, const char *dir, ct_privdrop_t *plan)
{
    memset(plan, 0, sizeof *plan);
    bool root = geteuid() == 0;
    if (user == NULL || user[0] == '\0') {
        if (!root)
            return 0;
        if (allow_root) {
            ct_log_warn("daemon.running_as_root",
                        "reason=\"--allow-root: a compromised daemon would own this host\"");
            return 0;
        }
        fprintf(stderr,
                "careteamd: refusing to run as root: a flaw in a network daemon running as root "
                "gives away the whole host. Run it as the account that owns %s (systemd: "
                "User=careteam in careteamd.service; by hand: `sudo -u careteam careteamd serve "
                "%s`), or tell it which account to switch to after binding its port: `--user "
                "NAME`, or `user = NAME` in %s/careteamd.conf.\n",
                dir, dir, dir);
        return CT_EINVAL;
    }
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        fprintf(stderr,
                "careteamd: no account named '%s' on this host%s%s; create it (e.g. `useradd "
                "--system --home %s %s`) or name another with --user\n",
                user, errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "", dir, user);
        return CT_EINVAL;
    }
    if (pw->pw_uid == 0) {
        fprintf(stderr,
                "careteamd: --user %s is root: name the unprivileged account that owns %s\n", user,
                dir);
        return CT_EINVAL;
    }
    if (!root) {
        if (pw->pw_uid == geteuid())
            return 0; /* already that account (e.g. systemd User= and the config's user) */
        fprintf(stderr,
                "careteamd: cannot switch to '%s': careteamd runs as uid %u, and only root can "
                "switch accounts. Run it as %s directly, or start it as root.\n",
                user, (unsigned)geteuid(), user);
        return CT_EINVAL;
    }
    int bad = ct_datadir_check(dir, CT_DATADIR_OWNER, pw->pw_uid, pw->pw_name, print_problem, NULL);
    if (bad > 0)
        return CT_EINVAL;
    plan->drop = true;
    plan->uid = pw->pw_uid;
    plan->gid = pw->pw_gid;
    ct_text_copy(plan->name, sizeof plan->name, pw->pw_name);
    return 0;
}

int ct_privdrop_apply(const ct_privdrop_t *plan)
{
    if (!plan->drop)
        return 0;
    const char *step = NULL;
    if (setgroups(1, &plan->gid) != 0)
        step = "setgroups";
    else if (setresgid(plan->gid, plan->gid, plan->gid) != 0)
        step = "setresgid";
    else if (setresuid(plan->uid, plan->uid, plan->uid) != 0)
        step = "setresuid";
    if (step != NULL) {
        fprintf(stderr, "careteamd: cannot switch to %s (uid %u): %s failed: %s\n", plan->name,
                (unsigned)plan->uid, step, strerror(errno));
        return CT_ESYS;
    }
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    if (getresuid(&ruid, &euid, &suid) != 0 || getresgid(&rgid, &egid, &sgid) != 0 ||
        ruid != plan->uid || euid != plan->uid || suid != plan->uid || rgid != plan->gid ||
        egid != plan->gid || sgid != plan->gid || setuid(0) == 0 || seteuid(0) == 0) {
        fprintf(stderr,
                "careteamd: switching to %s (uid %u) did not take hold: the process could still "
                "act as root; refusing to go on\n",
                plan->name, (unsigned)plan->uid);
        return CT_ESYS;
    }
    ct_log_info("daemon.user", "user=%s uid=%u gid=%u", plan->name, (unsigned)plan->uid,
                (unsigned)plan->gid);
    return 0;
}
