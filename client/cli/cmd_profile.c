/*
 * careteam profile add | list | show | remove | default: the named profiles of the profile
 * directory (settings.h), so that a clinician types `careteam inbox` rather than four paths.
 *
 * None of these connects. `add` checks what it can locally before writing anything: the name, the
 * server address, that each file can be read, that the certificates are certificates and not
 * expired, and that the private key is not open to others; it stores the paths absolute, so the
 * profile works from any directory. The files themselves are read and written only by settings.c,
 * which also checks their permissions; this file decides what to say.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "certinfo.h"
#include "cli.h"

enum {
    OPT_DEFAULT = CT_CLI_OPT_COMMAND,
    OPT_FORCE,
};

#define PROFILE_JSON_HELP                                                                          \
    "  {\"type\":\"profile\",\"name\":..,\"path\":..,\"default\":BOOL,\"server\":..,\"cert\":..,"  \
    "\"key\":..,\n"                                                                                \
    "   \"ca\":..,\"crl\":..,\"member_id\":..,\"cert_expires\":..,\"cert_expires_ms\":..,"         \
    "\"problem\":..}\n"

const char ct_cli_profile_help[] =
    "usage: careteam profile SUBCOMMAND [OPTIONS]\n"
    "\n"
    "Profiles keep your connection settings (server, certificate, key, CA, and optionally the\n"
    "CA's revocation list) under a name, in\n"
    "$XDG_CONFIG_HOME/careteam/NAME.conf (by default ~/.config/careteam/NAME.conf), so that\n"
    "`careteam --profile NAME COMMAND`, or with a default profile just `careteam COMMAND`,\n"
    "needs nothing else. The directory is made mode 0700 and each profile 0600; a profile,\n"
    "the directory or your private key that others may write is refused until fixed.\n"
    "\n"
    "examples:\n"
    "  $ careteam profile add clinic --server careteam.clinic.example:7443 \\\n"
    "        --cert ~/dr.ahmed.crt --key ~/dr.ahmed.key --ca ~/ca.crt --default\n"
    "  $ careteam profile list\n"
    "  $ careteam inbox                      # uses the default profile\n"
    "  $ careteam --profile home whoami      # or another one\n"
    "\n";

static const char profile_add_help[] =
    "usage: careteam profile add NAME --server HOST:PORT --cert FILE --key FILE --ca FILE\n"
    "                            [--crl FILE] [--default] [--force]\n"
    "\n"
    "Saves a profile called NAME (1-64 of A-Z a-z 0-9 . _ -). The files are checked first\n"
    "(readable, certificates not expired, the key not open to others) and stored as absolute\n"
    "paths. The first profile added becomes the default.\n"
    "\n"
    "options:\n"
    "  --server HOST:PORT  the careteam server\n"
    "  --cert FILE         your member certificate (PREFIX.crt from `careteamd enroll`)\n"
    "  --key FILE          your private key (PREFIX.key), mode 0600\n"
    "  --ca FILE           the server's CA certificate (ca.crt)\n"
    "  --crl FILE          the CA's revocation list (crl.pem, from where your administrator\n"
    "                      publishes it): a server whose certificate it revokes is refused.\n"
    "                      Optional; without it the server's certificate is not checked\n"
    "                      for revocation\n"
    "  --default           make it the default profile\n"
    "  --force             replace a profile of that name\n"
    "\n"
    "example:\n"
    "  $ careteam profile add clinic --server careteam.clinic.example:7443 \\\n"
    "        --cert dr.ahmed.crt --key dr.ahmed.key --ca ca.crt\n"
    "\n"
    "--json prints the profile saved, one line:\n" PROFILE_JSON_HELP;

static const char profile_list_help[] =
    "usage: careteam profile list [GLOBAL OPTIONS]\n"
    "\n"
    "Lists the profiles: name, whether it is the default (*), server, the member its\n"
    "certificate is for, when that certificate expires, and whether it can be used (ok,\n"
    "expired, error: the problems are spelt out below the table).\n"
    "\n"
    "--json prints one line per profile, by name:\n" PROFILE_JSON_HELP
    "  problem is \"\" when the profile can be used, else why not.\n";

static const char profile_show_help[] =
    "usage: careteam profile show NAME [GLOBAL OPTIONS]\n"
    "\n"
    "Shows one profile: its file, server, certificate (member and expiry), key, CA and\n"
    "revocation list.\n"
    "\n"
    "--json prints one line:\n" PROFILE_JSON_HELP;

static const char profile_remove_help[] =
    "usage: careteam profile remove NAME [GLOBAL OPTIONS]\n"
    "\n"
    "Removes the profile NAME (its file only: the certificate and key it names are kept).\n"
    "If it was the default, there is no default profile afterwards.\n";

static const char profile_default_help[] =
    "usage: careteam profile default [NAME] [GLOBAL OPTIONS]\n"
    "\n"
    "Makes NAME the default profile: the one used when no --profile or CARETEAM_PROFILE is\n"
    "given, for the settings that flags and environment leave unset. Without NAME, prints\n"
    "the default profile's name.\n"
    "\n"
    "--json (without NAME) prints the default profile as `profile show --json` does,\n"
    "nothing when there is none.\n";

/* ---- what a profile says --------------------------------------------------------------------- */

/* One profile read for list and show: the record printed and the storage its strings point to. */
typedef struct profile_view {
    ct_out_profile_t out;
    ct_cli_settings_t s;
    char name[80];
    char path[4200];
    char member[128];
    char problem[4400];
} profile_view_t;

/* Reads profile name (the default when is_default) into *v, with what is wrong with it in
 * v->problem rather than failing: a listing shows every profile. */
static void view_load(profile_view_t *v, const char *name, bool is_default)
{
    memset(v, 0, sizeof *v);
    char err[4400];
    snprintf(v->name, sizeof v->name, "%s", name);
    v->out = (ct_out_profile_t){.name = v->name,
                                .path = v->path,
                                .is_default = is_default,
                                .server = "",
                                .cert = "",
                                .key = "",
                                .ca = "",
                                .crl = "",
                                .member_id = v->member,
                                .problem = v->problem};
    if (ct_cli_profile_path(name, v->path, sizeof v->path, err, sizeof err) != 0) {
        snprintf(v->problem, sizeof v->problem, "%s", err);
        return;
    }
    if (ct_cli_profile_read(&v->s, v->path, err, sizeof err) != 0) {
        snprintf(v->problem, sizeof v->problem, "%s", err);
        return;
    }
    const char **slots[CT_CLI_NKEYS] = {&v->out.server, &v->out.cert, &v->out.key, &v->out.ca,
                                        &v->out.crl};
    for (int k = 0; k < CT_CLI_NKEYS; k++)
        if (v->s.v[k].value != NULL)
            *slots[k] = v->s.v[k].value;
    char warn[4400];
    if (ct_cli_settings_check(&v->s, err, sizeof err, warn, sizeof warn) != 0) {
        snprintf(v->problem, sizeof v->problem, "%s", err);
        return;
    }
    ct_cli_cert_info_t info;
    if (ct_cli_cert_read(v->out.cert, &info, err, sizeof err) != 0) {
        snprintf(v->problem, sizeof v->problem, "%s", err);
        return;
    }
    snprintf(v->member, sizeof v->member, "%s", info.subject_cn);
    v->out.cert_expires_ms = info.not_after_ms;
    if ((int64_t)time(NULL) * 1000 >= info.not_after_ms) {
        char t[CT_CLI_TIME_LEN];
        ct_cli_format_time(info.not_after_ms, t);
        snprintf(v->problem, sizeof v->problem,
                 "the certificate expired on %s: ask your careteam administrator to re-enroll "
                 "you, then `careteam profile add %s ... --force`",
                 t, name);
    }
}

static void view_free(profile_view_t *v)
{
    ct_cli_settings_free(&v->s);
}

/* The default profile's name into out ("" when none); reports a failure and returns its code. */
static int default_name(char *out, size_t len)
{
    char err[4400];
    int rc = ct_cli_profile_default_get(out, len, err, sizeof err);
    if (rc == CT_CLI_EXIT_USAGE) { /* no profile directory at all: no default either */
        out[0] = '\0';
        return 0;
    }
    if (rc != 0)
        ct_cli_errorf("%s", err);
    return rc;
}

/* Takes the one NAME operand of a subcommand without options of its own: 0 with *name (NULL when
 * absent and optional), or -1 when the command must return cli->exit_code. */
static int name_operand(cli_t *cli, int argc, char **argv, bool optional, const char **name)
{
    static const struct option opts[] = {CT_CLI_GLOBAL_OPTIONS, {0}};
    const char *arg;
    int c;
    *name = NULL;
    while ((c = ct_cli_next_arg(cli, argc, argv, opts, &arg)) == CT_CLI_ARG_OPERAND) {
        if (*name != NULL) {
            ct_cli_usage_error(cli, "unexpected argument '%s'", arg);
            return -1;
        }
        *name = arg;
    }
    if (c > 0) {
        ct_cli_usage_error(cli, "unhandled option");
        return -1;
    }
    if (c < 0)
        return -1;
    if (*name == NULL && !optional) {
        ct_cli_usage_error(cli, "missing the profile NAME (`careteam profile list` shows them)");
        return -1;
    }
    return 0;
}

/* ---- add ------------------------------------------------------------------------------------- */

/* path made absolute (relative to the working directory, symlinks kept), malloc'd; NULL when out
 * of memory or the working directory is unknown. */
static char *absolute(const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) == NULL)
        return NULL;
    while (path[0] == '.' && path[1] == '/')
        path += 2;
    char *out = NULL;
    if (asprintf(&out, "%s/%s", cwd, path) < 0)
        return NULL;
    return out;
}

/* Checks one file (setting k) of a profile being added: a path a profile line can hold,
 * readable; for a certificate, a certificate that has not expired; for the revocation list, a
 * revocation list and nothing else. Returns 0 or an exit code (reported). */
static int check_file(cli_t *cli, const char *opt, const char *path, int k)
{
    size_t n = strlen(path);
    if (strpbrk(path, "\r\n") != NULL || path[0] == ' ' || path[0] == '\t' || path[n - 1] == ' ' ||
        path[n - 1] == '\t')
        return ct_cli_usage_error(cli,
                                  "%s '%s': a profile cannot hold a path with a line break or "
                                  "leading or trailing blanks; rename the file",
                                  opt, path);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        ct_cli_errorf("%s %s: %s", opt, path, strerror(errno));
        return CT_CLI_EXIT_FILE;
    }
    fclose(f);
    char err[4400], t[CT_CLI_TIME_LEN];
    if (k == CT_CLI_CRL) {
        ct_cli_crl_info_t crl;
        if (ct_cli_crl_read(path, &crl, err, sizeof err) != 0) {
            ct_cli_errorf("%s: %s", opt, err);
            return CT_CLI_EXIT_FILE;
        }
        return 0;
    }
    if (k == CT_CLI_KEY)
        return 0;
    ct_cli_cert_info_t info;
    if (ct_cli_cert_read(path, &info, err, sizeof err) != 0) {
        ct_cli_errorf("%s: %s", opt, err);
        return CT_CLI_EXIT_FILE;
    }
    if ((int64_t)time(NULL) * 1000 >= info.not_after_ms) {
        ct_cli_format_time(info.not_after_ms, t);
        ct_cli_errorf("%s %s expired on %s; the server would refuse it: ask your careteam "
                      "administrator for a new one",
                      opt, path, t);
        return CT_CLI_EXIT_FILE;
    }
    return 0;
}

static int profile_add(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"default", no_argument, NULL, OPT_DEFAULT},
        {"force", no_argument, NULL, OPT_FORCE},
        CT_CLI_GLOBAL_OPTIONS,
        {0},
    };
    const char *name = NULL, *arg;
    bool make_default = false, force = false;
    int c;
    while ((c = ct_cli_next_arg(cli, argc, argv, opts, &arg)) > 0) {
        if (c == OPT_DEFAULT)
            make_default = true;
        else if (c == OPT_FORCE)
            force = true;
        else if (c == CT_CLI_ARG_OPERAND && name == NULL)
            name = arg;
        else if (c == CT_CLI_ARG_OPERAND)
            return ct_cli_usage_error(cli, "unexpected argument '%s'", arg);
        else
            return ct_cli_usage_error(cli, "unhandled option");
    }
    if (c < 0)
        return cli->exit_code;
    if (name == NULL)
        return ct_cli_usage_error(cli, "missing the profile NAME");
    if (!ct_cli_profile_name_valid(name))
        return ct_cli_usage_error(cli,
                                  "'%s' is not a profile name (1-64 characters of A-Z a-z 0-9 . _ "
                                  "-, not starting with . or -)",
                                  name);
    static const struct {
        const char *opt, *what;
    } need[CT_CLI_NKEYS] = {
        [CT_CLI_SERVER] = {"--server", "HOST:PORT (the careteam server)"},
        [CT_CLI_CERT] = {"--cert", "FILE (your member certificate)"},
        [CT_CLI_KEY] = {"--key", "FILE (your private key)"},
        [CT_CLI_CA] = {"--ca", "FILE (the server's CA certificate)"},
        [CT_CLI_CRL] = {"--crl", "FILE (the CA's revocation list)"},
    };
    for (int k = 0; k < CT_CLI_NKEYS; k++)
        if (cli->flags.v[k] == NULL && ct_cli_key_required((ct_cli_key_t)k))
            return ct_cli_missing(cli, need[k].opt, need[k].what);
    char host[256];
    int port;
    if (ct_addr_split(cli->flags.v[CT_CLI_SERVER], host, sizeof host, &port, 7443) != 0)
        return ct_cli_usage_error(cli, "--server '%s' is not HOST, HOST:PORT or [IPv6]:PORT",
                                  cli->flags.v[CT_CLI_SERVER]);

    int rc = 0;
    char *v[CT_CLI_NKEYS] = {NULL};
    v[CT_CLI_SERVER] = strdup(cli->flags.v[CT_CLI_SERVER]);
    for (int k = CT_CLI_CERT; k < CT_CLI_NKEYS; k++)
        v[k] = cli->flags.v[k] != NULL ? absolute(cli->flags.v[k]) : NULL;
    for (int k = 0; k < CT_CLI_NKEYS && rc == 0; k++)
        if (v[k] == NULL && cli->flags.v[k] != NULL)
            rc = ct_cli_out_of_memory(cli);
    for (int k = CT_CLI_CERT; k < CT_CLI_NKEYS && rc == 0; k++)
        if (v[k] != NULL)
            rc = check_file(cli, need[k].opt, v[k], k);
    char err[4400], warn[4400], path[4200], current[128] = "";
    if (rc == 0 && ct_cli_key_check(v[CT_CLI_KEY], err, sizeof err, warn, sizeof warn) != 0) {
        ct_cli_errorf("%s", err);
        rc = CT_CLI_EXIT_FILE;
    }
    if (rc == 0)
        rc = default_name(current, sizeof current);
    if (rc == 0) {
        rc = ct_cli_profile_write(name, (const char *const *)v, force, path, sizeof path, err,
                                  sizeof err);
        if (rc == CT_CLI_EXIT_USAGE)
            rc = ct_cli_usage_error(cli, "%s", err);
        else if (rc != 0)
            ct_cli_errorf("%s", err);
    }
    for (int k = 0; k < CT_CLI_NKEYS; k++)
        free(v[k]);
    if (rc != 0)
        return rc;
    if (warn[0] != '\0')
        ct_cli_errorf("warning: %s", warn);
    bool is_default = make_default || current[0] == '\0' || strcmp(current, name) == 0;
    if (is_default && strcmp(current, name) != 0 &&
        ct_cli_profile_default_set(name, err, sizeof err) != 0) {
        ct_cli_errorf("%s", err);
        return CT_CLI_EXIT_FILE;
    }
    profile_view_t *view = malloc(sizeof *view);
    if (view == NULL)
        return ct_cli_out_of_memory(cli);
    view_load(view, name, is_default);
    if (cli->out.format == CT_OUT_JSON) {
        ct_out_profile(&cli->out, &view->out);
    } else {
        fprintf(cli->out.f, "Saved profile %s in %s%s.\n", name, view->path,
                is_default ? "; it is the default profile" : "");
        if (!is_default)
            fprintf(cli->out.f,
                    "Use it with `careteam --profile %s COMMAND`, or make it the "
                    "default with `careteam profile default %s`.\n",
                    name, name);
    }
    view_free(view);
    free(view);
    return ct_cli_output_done(cli);
}

/* ---- list, show ------------------------------------------------------------------------------ */

static int profile_list(cli_t *cli, int argc, char **argv)
{
    if (ct_cli_plain_options(cli, argc, argv) != 0)
        return cli->exit_code;
    char err[4400], current[128];
    char **names;
    size_t n;
    int rc = ct_cli_profile_names(&names, &n, err, sizeof err);
    if (rc == CT_CLI_EXIT_USAGE) { /* no profile directory: no profiles */
        names = NULL;
        n = 0;
        rc = 0;
    }
    if (rc != 0) {
        ct_cli_errorf("%s", err);
        return rc;
    }
    rc = default_name(current, sizeof current);
    profile_view_t *views = n > 0 ? calloc(n, sizeof *views) : NULL;
    ct_out_profile_t *outs = n > 0 ? calloc(n, sizeof *outs) : NULL;
    if (rc == 0 && n > 0 && (views == NULL || outs == NULL))
        rc = ct_cli_out_of_memory(cli);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) {
            view_load(&views[i], names[i], strcmp(names[i], current) == 0);
            outs[i] = views[i].out;
        }
        ct_out_profiles(&cli->out, outs, n);
        rc = ct_cli_output_done(cli);
    }
    for (size_t i = 0; views != NULL && i < n; i++)
        view_free(&views[i]);
    free(views);
    free(outs);
    ct_cli_profile_names_free(names, n);
    return rc;
}

/* Prints profile name as `profile show` does. Returns 0, or CT_CLI_EXIT_USAGE when there is no
 * such profile (reported). */
static int show_one(cli_t *cli, const char *name, bool is_default)
{
    profile_view_t *view = malloc(sizeof *view);
    if (view == NULL)
        return ct_cli_out_of_memory(cli);
    view_load(view, name, is_default);
    int rc = 0;
    if (access(view->path, F_OK) != 0 && errno == ENOENT)
        rc = ct_cli_usage_error(cli, "no profile '%s' (%s); `careteam profile list` shows them",
                                name, view->path);
    else
        ct_out_profile(&cli->out, &view->out);
    view_free(view);
    free(view);
    return rc != 0 ? rc : ct_cli_output_done(cli);
}

static int profile_show(cli_t *cli, int argc, char **argv)
{
    const char *name;
    if (name_operand(cli, argc, argv, false, &name) != 0)
        return cli->exit_code;
    if (!ct_cli_profile_name_valid(name))
        return ct_cli_usage_error(cli, "'%s' is not a profile name", name);
    char current[128];
    int rc = default_name(current, sizeof current);
    if (rc != 0)
        return rc;
    return show_one(cli, name, strcmp(current, name) == 0);
}

/* ---- remove, default ------------------------------------------------------------------------- */

static int profile_remove(cli_t *cli, int argc, char **argv)
{
    const char *name;
    if (name_operand(cli, argc, argv, false, &name) != 0)
        return cli->exit_code;
    if (!ct_cli_profile_name_valid(name))
        return ct_cli_usage_error(cli, "'%s' is not a profile name", name);
    char err[4400], current[128] = "";
    /* An unreadable `default` file does not stop a removal; it is then left as it is. */
    ct_cli_profile_default_get(current, sizeof current, err, sizeof err);
    int rc = ct_cli_profile_remove(name, err, sizeof err);
    if (rc == CT_CLI_EXIT_USAGE)
        return ct_cli_usage_error(cli, "%s", err);
    if (rc != 0) {
        ct_cli_errorf("%s", err);
        return rc;
    }
    bool was_default = strcmp(current, name) == 0;
    if (was_default && ct_cli_profile_default_set(NULL, err, sizeof err) != 0) {
        ct_cli_errorf("%s", err);
        return CT_CLI_EXIT_FILE;
    }
    if (cli->out.format == CT_OUT_HUMAN)
        fprintf(cli->out.f,
                "Removed profile %s (the certificate and key files it named are kept).%s\n", name,
                was_default ? " There is no default profile now: choose one with `careteam "
                              "profile default NAME`."
                            : "");
    return ct_cli_output_done(cli);
}

static int profile_default(cli_t *cli, int argc, char **argv)
{
    const char *name;
    if (name_operand(cli, argc, argv, true, &name) != 0)
        return cli->exit_code;
    char err[4400], current[128];
    if (name == NULL) {
        int rc = default_name(current, sizeof current);
        if (rc != 0)
            return rc;
        if (current[0] != '\0' && cli->out.format == CT_OUT_JSON)
            return show_one(cli, current, true);
        if (current[0] != '\0')
            fprintf(cli->out.f, "%s\n", current);
        else if (cli->out.format == CT_OUT_HUMAN)
            fputs("No default profile: choose one with `careteam profile default NAME`.\n",
                  cli->out.f);
        return ct_cli_output_done(cli);
    }
    if (!ct_cli_profile_name_valid(name))
        return ct_cli_usage_error(cli, "'%s' is not a profile name", name);
    char path[4200];
    int rc = ct_cli_profile_path(name, path, sizeof path, err, sizeof err);
    if (rc != 0)
        return ct_cli_usage_error(cli, "%s", err);
    if (access(path, F_OK) != 0)
        return ct_cli_usage_error(cli, "no profile '%s' (%s); `careteam profile list` shows them",
                                  name, path);
    if (ct_cli_profile_default_set(name, err, sizeof err) != 0) {
        ct_cli_errorf("%s", err);
        return CT_CLI_EXIT_FILE;
    }
    if (cli->out.format == CT_OUT_HUMAN)
        fprintf(cli->out.f, "%s is now the default profile.\n", name);
    return ct_cli_output_done(cli);
}

const ct_cli_subcommand_t ct_cli_profile_subcommands[] = {
    {"add", "save a profile: server, certificate, key and CA under a name", profile_add_help,
     profile_add},
    {"list", "list the profiles, the default marked", profile_list_help, profile_list},
    {"show", "show one profile and its certificate's expiry", profile_show_help, profile_show},
    {"remove", "remove a profile (the files it names are kept)", profile_remove_help,
     profile_remove},
    {"default", "make a profile the default, or print which is", profile_default_help,
     profile_default},
    {NULL, NULL, NULL, NULL},
};
