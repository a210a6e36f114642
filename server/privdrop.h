/*
 * Who `careteamd serve` runs as. It refuses to run as root unless told which account to switch
 * to (`serve --user NAME`, or `user = NAME` in careteamd.conf); it then binds its port as root,
 * switches to that account for good, and only then opens the database, so that every file it
 * creates belongs to the account that owns the data directory. `--allow-root` is the explicit
 * exception for hosts where root is the only account (a container, a test rig).
 */
#ifndef CT_PRIVDROP_H
#define CT_PRIVDROP_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct ct_privdrop {
    bool drop;     /* true: switch to uid/gid with ct_privdrop_apply */
    uid_t uid;     /* the account to switch to (drop only) */
    gid_t gid;     /* its primary group, the only group kept */
    char name[64]; /* its name, for messages */
} ct_privdrop_t;

/*
 * Decides who serve runs as, given the account named by --user or the config (user: NULL or ""
 * for none), --allow-root, and the data directory. Refuses, printing why and what to do on stderr
 * (CT_EINVAL): root without an account to switch to; an unknown account, or root itself; an
 * account other than the current one when not started as root; a data directory or file in it
 * that the account does not own. Returns 0 with *plan (plan->drop false: stay who we are).
 */
int ct_privdrop_plan(const char *user, bool allow_root, const char *dir, ct_privdrop_t *plan);

/*
 * Switches to plan's account: supplementary groups reduced to its primary group, then real,
 * effective and saved gid and uid; then verifies that root cannot be regained. Does nothing when
 * plan->drop is false. Returns 0, or CT_ESYS after printing why (the caller must then exit: the
 * process may be half switched).
 */
int ct_privdrop_apply(const ct_privdrop_t *plan);

#endif
