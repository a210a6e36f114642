/*
 * Connection settings of the careteam CLI (see settings.h for the rules).
 *
 * Invariants:
 *  - ct_cli_settings_load fills each setting at most once, in precedence order (flag, env,
 *    profile, default), so a value's origin is the source that won.
 *  - Every value is owned by the settings struct; flags and the environment are copied.
 *  - This file prints nothing: it returns an exit code and a message, and main.c reports it.
 */
#include "settings.h"

#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "cli.h"

/* A profile line longer than this is refused (paths are at most PATH_MAX = 4096). */
#define PROFILE_LINE_MAX 8192

typedef struct key_info {
    const char *name;   /* profile key */
    const char *flag;   /* command-line flag */
    const char *env;    /* environment variable */
    const char *what;   /* for messages */
    bool is_path;       /* relative values in a profile are relative to the profile */
    const char *sample; /* example value for messages */
} key_info_t;

static const key_info_t KEYS[CT_CLI_NKEYS] = {
    [CT_CLI_SERVER] = {"server", "--server", "CARETEAM_SERVER", "server address", false,
                       "HOST:PORT"},
    [CT_CLI_CERT] = {"cert", "--cert", "CARETEAM_CERT", "member certificate", true, "FILE"},
    [CT_CLI_KEY] = {"key", "--key", "CARETEAM_KEY", "member private key", true, "FILE"},
    [CT_CLI_CA] = {"ca", "--ca", "CARETEAM_CA", "careteam CA certificate", true, "FILE"},
};

const char *ct_cli_key_name(ct_cli_key_t k)
{
    return (unsigned)k < CT_CLI_NKEYS ? KEYS[k].name : "?";
}

static int set_value(ct_cli_value_t *v, const char *value, ct_cli_origin_t origin, unsigned line)
{
    char *copy = strdup(value);
    if (copy == NULL)
        return -1;
    free(v->value);
    v->value = copy;
    v->origin = origin;
    v->line = line;
    return 0;
}

void ct_cli_settings_free(ct_cli_settings_t *s)
{
    for (int k = 0; k < CT_CLI_NKEYS; k++) {
        free(s->v[k].value);
        s->v[k].value = NULL;
        s->v[k].origin = CT_CLI_UNSET;
    }
    free(s->profile);
    s->profile = NULL;
}

void ct_cli_origin_describe(const ct_cli_settings_t *s, ct_cli_key_t k, char *buf, size_t len)
{
    const ct_cli_value_t *v = &s->v[k];
    switch (v->origin) {
    case CT_CLI_FROM_FLAG:
        snprintf(buf, len, "%s", KEYS[k].flag);
        break;
    case CT_CLI_FROM_ENV:
        snprintf(buf, len, "%s", KEYS[k].env);
        break;
    case CT_CLI_FROM_PROFILE:
        snprintf(buf, len, "profile %s line %u", s->profile != NULL ? s->profile : "?", v->line);
        break;
    case CT_CLI_FROM_DEFAULT:
        snprintf(buf, len, "the default");
        break;
    default:
        snprintf(buf, len, "nowhere");
        break;
    }
}

/* ---- profile files --------------------------------------------------------------------------- */

/* The user's home directory: $HOME, else the password database; NULL if neither knows. */
static const char *home_dir(void)
{
    const char *h = getenv("HOME");
    if (h != NULL && h[0] != '\0')
        return h;
    struct passwd *pw = getpwuid(getuid());
    return pw != NULL ? pw->pw_dir : NULL;
}

int ct_cli_profile_path(const char *name, char *out, size_t len, char *err, size_t errlen)
{
    if (name == NULL || name[0] == '\0') {
        snprintf(err, errlen, "the profile name is empty");
        return CT_CLI_EXIT_USAGE;
    }
    int n;
    if (strchr(name, '/') != NULL) {
        n = snprintf(out, len, "%s", name);
    } else {
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
            snprintf(err, errlen, "'%s' is not a profile name", name);
            return CT_CLI_EXIT_USAGE;
        }
        /* The XDG base directory spec says to ignore a relative XDG_CONFIG_HOME. */
        const char *xdg = getenv("XDG_CONFIG_HOME");
        if (xdg != NULL && xdg[0] == '/') {
            n = snprintf(out, len, "%s/careteam/%s.conf", xdg, name);
        } else {
            const char *home = home_dir();
            if (home == NULL) {
                snprintf(err, errlen,
                         "cannot find profile '%s': neither XDG_CONFIG_HOME nor HOME is set; "
                         "give the profile as a path (--profile ./%s.conf)",
                         name, name);
                return CT_CLI_EXIT_USAGE;
            }
            n = snprintf(out, len, "%s/.config/careteam/%s.conf", home, name);
        }
    }
    if (n < 0 || (size_t)n >= len) {
        snprintf(err, errlen, "the path of profile '%.64s...' is too long", name);
        return CT_CLI_EXIT_USAGE;
    }
    return 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/*
 * Resolves a path found in the profile at profile_path: "~/x" is under the home directory, a
 * relative path is under the profile's directory, an absolute one stays. Returns a malloc'd
 * string or NULL (out of memory, or "~/" without a home directory).
 */
static char *resolve_profile_path(const char *profile_path, const char *value)
{
    char *out = NULL;
    if (value[0] == '/')
        return strdup(value);
    if (value[0] == '~' && value[1] == '/') {
        const char *home = home_dir();
        if (home == NULL)
            return NULL;
        if (asprintf(&out, "%s%s", home, value + 1) < 0)
            return NULL;
        return out;
    }
    const char *slash = strrchr(profile_path, '/');
    if (slash == NULL)
        return strdup(value); /* the profile is in the working directory */
    int dirlen = (int)(slash - profile_path);
    if (asprintf(&out, "%.*s/%s", dirlen, profile_path, value) < 0)
        return NULL;
    return out;
}

/*
 * Reads the profile at path and fills every setting still unset. Returns 0 or CT_CLI_EXIT_FILE
 * with err naming the file and line.
 */
static int read_profile(ct_cli_settings_t *s, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        int e = errno;
        snprintf(err, errlen, "cannot read profile %s: %s%s", path, strerror(e),
                 e == ENOENT ? " (a profile holds lines like `server = HOST:PORT`, "
                               "`cert = FILE`, `key = FILE`, `ca = FILE`)"
                             : "");
        return CT_CLI_EXIT_FILE;
    }
    /* Values from this file, collected before any is applied, so a bad line leaves nothing
     * half-read behind. */
    ct_cli_value_t found[CT_CLI_NKEYS] = {0};
    char *line = malloc(PROFILE_LINE_MAX);
    int rc = line != NULL ? 0 : CT_CLI_EXIT_FILE;
    if (line == NULL)
        snprintf(err, errlen, "out of memory reading profile %s", path);
    unsigned lineno = 0;
    while (rc == 0 && fgets(line, PROFILE_LINE_MAX, f) != NULL) {
        lineno++;
        size_t n = strlen(line);
        if (n == PROFILE_LINE_MAX - 1 && line[n - 1] != '\n' && !feof(f)) {
            snprintf(err, errlen, "profile %s line %u: line too long", path, lineno);
            rc = CT_CLI_EXIT_FILE;
            break;
        }
        char *p = trim(line);
        if (*p == '\0' || *p == '#')
            continue;
        char *eq = strchr(p, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "profile %s line %u: expected `key = value`", path, lineno);
            rc = CT_CLI_EXIT_FILE;
            break;
        }
        *eq = '\0';
        char *key = trim(p), *value = trim(eq + 1);
        int k = 0;
        while (k < CT_CLI_NKEYS && strcmp(KEYS[k].name, key) != 0)
            k++;
        if (k == CT_CLI_NKEYS) {
            snprintf(err, errlen,
                     "profile %s line %u: unknown key '%.64s' (known: server, cert, key, ca)", path,
                     lineno, key);
            rc = CT_CLI_EXIT_FILE;
            break;
        }
        if (*value == '\0') {
            snprintf(err, errlen, "profile %s line %u: '%s' has no value", path, lineno, key);
            rc = CT_CLI_EXIT_FILE;
            break;
        }
        char *resolved = KEYS[k].is_path ? resolve_profile_path(path, value) : strdup(value);
        if (resolved == NULL) {
            snprintf(err, errlen, "profile %s line %u: cannot resolve '%s'", path, lineno, value);
            rc = CT_CLI_EXIT_FILE;
            break;
        }
        free(found[k].value);
        found[k].value = resolved;
        found[k].origin = CT_CLI_FROM_PROFILE;
        found[k].line = lineno;
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "cannot read profile %s: %s", path, strerror(errno));
        rc = CT_CLI_EXIT_FILE;
    }
    fclose(f);
    free(line);
    for (int k = 0; k < CT_CLI_NKEYS; k++) {
        if (rc == 0 && s->v[k].origin == CT_CLI_UNSET && found[k].value != NULL) {
            s->v[k] = found[k]; /* ownership moves */
            continue;
        }
        free(found[k].value);
    }
    return rc;
}

int ct_cli_settings_load(const ct_cli_flags_t *flags, ct_cli_settings_t *out, char *err,
                         size_t errlen)
{
    memset(out, 0, sizeof *out);
    for (int k = 0; k < CT_CLI_NKEYS; k++) {
        const char *env = getenv(KEYS[k].env);
        int r = 0;
        if (flags->v[k] != NULL)
            r = set_value(&out->v[k], flags->v[k], CT_CLI_FROM_FLAG, 0);
        else if (env != NULL && env[0] != '\0')
            r = set_value(&out->v[k], env, CT_CLI_FROM_ENV, 0);
        if (r != 0) {
            snprintf(err, errlen, "out of memory");
            return CT_CLI_EXIT_FILE;
        }
    }
    const char *name = flags->profile;
    if (name == NULL) {
        name = getenv("CARETEAM_PROFILE");
        if (name != NULL && name[0] == '\0')
            name = NULL;
    }
    if (name != NULL) {
        char path[4096];
        int r = ct_cli_profile_path(name, path, sizeof path, err, errlen);
        if (r != 0)
            return r;
        out->profile = strdup(path);
        if (out->profile == NULL) {
            snprintf(err, errlen, "out of memory");
            return CT_CLI_EXIT_FILE;
        }
        r = read_profile(out, path, err, errlen);
        if (r != 0)
            return r;
    }
    if (out->v[CT_CLI_SERVER].origin == CT_CLI_UNSET &&
        set_value(&out->v[CT_CLI_SERVER], CT_CLI_DEFAULT_SERVER, CT_CLI_FROM_DEFAULT, 0) != 0) {
        snprintf(err, errlen, "out of memory");
        return CT_CLI_EXIT_FILE;
    }
    return 0;
}

int ct_cli_settings_check(const ct_cli_settings_t *s, char *err, size_t errlen)
{
    for (int k = 0; k < CT_CLI_NKEYS; k++) {
        const key_info_t *ki = &KEYS[k];
        if (s->v[k].value == NULL) {
            snprintf(err, errlen,
                     "no %s (setting '%s'): give %s %s, set %s, or put `%s = %s` in a profile "
                     "(--profile NAME or CARETEAM_PROFILE)",
                     ki->what, ki->name, ki->flag, ki->sample, ki->env, ki->name, ki->sample);
            return CT_CLI_EXIT_USAGE;
        }
    }
    char where[4200];
    const ct_cli_value_t *server = &s->v[CT_CLI_SERVER];
    char host[256];
    int port;
    if (ct_addr_split(server->value, host, sizeof host, &port, 7443) != 0) {
        ct_cli_origin_describe(s, CT_CLI_SERVER, where, sizeof where);
        snprintf(err, errlen, "server address '%s' (from %s) is not HOST, HOST:PORT or [IPv6]:PORT",
                 server->value, where);
        return server->origin == CT_CLI_FROM_PROFILE ? CT_CLI_EXIT_FILE : CT_CLI_EXIT_USAGE;
    }
    for (int k = 0; k < CT_CLI_NKEYS; k++) {
        if (!KEYS[k].is_path)
            continue;
        /* Opening (not access()) tells what the TLS library will meet, and a directory is
         * caught by the read. */
        FILE *f = fopen(s->v[k].value, "r");
        int e = errno;
        if (f != NULL) {
            char c;
            if (fread(&c, 1, 1, f) == 0 && ferror(f))
                e = errno;
            else
                e = 0;
            fclose(f);
        }
        if (f == NULL || e != 0) {
            ct_cli_origin_describe(s, (ct_cli_key_t)k, where, sizeof where);
            snprintf(err, errlen, "cannot read %s %s (from %s): %s", KEYS[k].what, s->v[k].value,
                     where, strerror(e));
            return CT_CLI_EXIT_FILE;
        }
    }
    return 0;
}
