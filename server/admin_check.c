/*
 * `careteamd check-config` (see admin_ops.h): the settings parser's every problem
 * (ct_config_check), then the data directory checks `serve` makes (datadir.h), so that an admin
 * can fix everything in one go before a restart rather than one refusal at a time.
 */
#include "admin_ops.h"

#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "admin.h"
#include "config.h"
#include "datadir.h"
#include "err.h"
#include "text.h"

typedef struct tally {
    unsigned errors, warnings;
} tally_t;

static void print_config_problem(const ct_config_problem_t *p, void *arg)
{
    tally_t *t = arg;
    if (p->warning)
        t->warnings++;
    else
        t->errors++;
    fprintf(stderr, "%s\n", p->text);
}

static void print_dir_problem(const char *text, void *arg)
{
    tally_t *t = arg;
    t->errors++;
    fprintf(stderr, "%s\n", text);
}

/* The data directory checks: what serve refuses, and who must own DIR when the config names a
 * `user` (an account that does not exist is a problem of its own). */
static void check_dir(const char *dir, const char *conf, const ct_config_t *cfg, tally_t *t)
{
    uid_t owner = 0;
    unsigned what = CT_DATADIR_FILES | CT_DATADIR_MODES;
    struct passwd *pw = NULL;
    if (cfg->user[0] != '\0') {
        pw = getpwnam(cfg->user);
        if (pw == NULL) {
            fprintf(stderr,
                    "%s: user = %s: no such account on this host; create it (e.g. `useradd "
                    "--system --home %s %s`)\n",
                    conf, cfg->user, dir, cfg->user);
            t->errors++;
        } else if (pw->pw_uid == 0) {
            fprintf(stderr, "%s: user = %s is root: name the unprivileged account that owns %s\n",
                    conf, cfg->user, dir);
            t->errors++;
        } else {
            what |= CT_DATADIR_OWNER;
            owner = pw->pw_uid;
        }
    }
    ct_datadir_check(dir, what, owner, pw != NULL ? pw->pw_name : "", print_dir_problem, t);
}

int ct_admin_check_config(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "careteamd: cannot check %s: %s\n", path, strerror(errno));
        return CT_EINVAL;
    }
    bool is_dir = S_ISDIR(sb.st_mode);
    char conf[4096];
    if (is_dir)
        ct_dir_path(conf, sizeof conf, path, CT_DIR_CONF);
    else
        ct_text_copy(conf, sizeof conf, path);

    tally_t t = {0};
    ct_config_t cfg;
    ct_config_defaults(&cfg);
    int r = ct_config_check(conf, &cfg, print_config_problem, &t);
    if (r == CT_ENOTFOUND && is_dir)
        fprintf(stderr, "  (is %s a data directory? `careteamd init %s` makes one)\n", path, path);
    /* A broken config still leaves the directory to check, with the `user` of the valid lines. */
    if (is_dir)
        check_dir(path, conf, &cfg, &t);
    if (t.errors > 0 || r != 0) {
        fprintf(stderr, "%s: %u problem%s found%s\n", path, t.errors, t.errors == 1 ? "" : "s",
                t.warnings > 0 ? " (and warnings)" : "");
        return CT_EINVAL;
    }
    printf("%s: OK (listen %s%s%s%s)\n", path, cfg.listen, cfg.user[0] ? ", user " : "", cfg.user,
           t.warnings > 0 ? "; see the warnings above" : "");
    return 0;
}
