/*
 * Connection settings of the careteam CLI (see settings.h for the rules).
 *
 * Invariants:
 *  - ct_cli_settings_load fills each setting at most once, in precedence order (flag, env,
 *    profile, default), so a value's origin is the source that won.
 *  - Every value is owned by the settings struct; flags and the environment are copied.
 *  - This file prints nothing: it returns an exit code and a message, and main.c reports it.
 *  - Every profile, `default` file and profile directory is checked (owner, group/other write)
 *    before a byte of it is trusted; the file is checked through the descriptor it is read from
 *    (fstat), so it cannot be swapped between the check and the read.
 *  - The profile files are written only here (ct_cli_profile_write), in the format read here.
 */
#include "settings.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "cli.h"

/* A profile line longer than this is refused (paths are at most PATH_MAX = 4096). */
#define PROFILE_LINE_MAX 8192

/* The file in the profile directory that names the default profile. */
#define DEFAULT_FILE "default"

typedef struct key_info {
    const char *name;   /* profile key */
    const char *flag;   /* command-line flag */
    const char *env;    /* environment variable */
    const char *what;   /* for messages */
    bool is_path;       /* relative values in a profile are relative to the profile */
    const char *sample; /* example value for messages */
    bool required;      /* a connection needs it; false: unset means "not used" */
} key_info_t;

static const key_info_t KEYS[CT_CLI_NKEYS] = {
    [CT_CLI_SERVER] = {"server", "--server", "CARETEAM_SERVER", "server address", false,
                       "HOST:PORT", true},
    [CT_CLI_CERT] = {"cert", "--cert", "CARETEAM_CERT", "member certificate", true, "FILE", true},
    [CT_CLI_KEY] = {"key", "--key", "CARETEAM_KEY", "member private key", true, "FILE", true},
    [CT_CLI_CA] = {"ca", "--ca", "CARETEAM_CA", "careteam CA certificate", true, "FILE", true},
    [CT_CLI_CRL] = {"crl", "--crl", "CARETEAM_CRL", "revocation list", true, "FILE", false},
};

const char *ct_cli_key_name(ct_cli_key_t k)
{
    return (unsigned)k < CT_CLI_NKEYS ? KEYS[k].name : "?";
}

bool ct_cli_key_required(ct_cli_key_t k)
{
    return (unsigned)k < CT_CLI_NKEYS && KEYS[k].required;
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

int ct_cli_config_dir(char *out, size_t len, char *err, size_t errlen)
{
    int n;
    /* The XDG base directory spec says to ignore a relative XDG_CONFIG_HOME. */
    const char *xdg = getenv("XDG_CONFIG_HOME");
    if (xdg != NULL && xdg[0] == '/') {
        n = snprintf(out, len, "%s/careteam", xdg);
    } else {
        const char *home = home_dir();
        if (home == NULL) {
            snprintf(err, errlen,
                     "cannot find the profile directory: neither XDG_CONFIG_HOME nor HOME is "
                     "set; give a profile as a path (--profile ./NAME.conf)");
            return CT_CLI_EXIT_USAGE;
        }
        n = snprintf(out, len, "%s/.config/careteam", home);
    }
    if (n < 0 || (size_t)n >= len) {
        snprintf(err, errlen, "the path of the profile directory is too long");
        return CT_CLI_EXIT_USAGE;
    }
    return 0;
}

bool ct_cli_profile_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || name[0] == '.' || name[0] == '-')
        return false;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
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
        char dir[4096];
        int r = ct_cli_config_dir(dir, sizeof dir, err, errlen);
        if (r != 0)
            return r;
        n = snprintf(out, len, "%s/%s.conf", dir, name);
    }
    if (n < 0 || (size_t)n >= len) {
        snprintf(err, errlen, "the path of profile '%.64s...' is too long", name);
        return CT_CLI_EXIT_USAGE;
    }
    return 0;
}

/* ---- permissions ----------------------------------------------------------------------------- */

/* path quoted for a shell command in a message, when it needs quoting (a path with a ' in it is
 * shown as it is: rare, and the user can see what to type). */
static const char *shell_word(const char *path, char *buf, size_t len)
{
    if (strspn(path, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._-+:@,~") ==
            strlen(path) ||
        strchr(path, '\'') != NULL)
        return path;
    snprintf(buf, len, "'%s'", path);
    return buf;
}

/*
 * Checks st, the status of the file or directory at path (what: "profile", "profile directory",
 * ...), before it is trusted: it must belong to this user (or root) and group and others must not
 * be able to write it. Returns 0, or CT_CLI_EXIT_FILE with err saying what is wrong and what to
 * run. mode: the mode to suggest (0600 for files, 0700 for directories).
 */
static int check_owner_and_mode(const struct stat *st, const char *path, const char *what,
                                unsigned mode, char *err, size_t errlen)
{
    char q[4200];
    if (st->st_uid != geteuid() && st->st_uid != 0) {
        snprintf(err, errlen,
                 "%s %s belongs to another user (uid %u), so careteam does not trust it: use a "
                 "%s of your own",
                 what, path, (unsigned)st->st_uid, what);
        return CT_CLI_EXIT_FILE;
    }
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        snprintf(err, errlen,
                 "%s %s is writable by %s (mode %04o), so anyone there could point careteam at "
                 "another server or key; it is refused until you run: chmod %o %s",
                 what, path,
                 (st->st_mode & S_IWGRP) && (st->st_mode & S_IWOTH) ? "group and others"
                 : (st->st_mode & S_IWGRP)                          ? "its group"
                                                                    : "others",
                 (unsigned)(st->st_mode & 07777), mode, shell_word(path, q, sizeof q));
        return CT_CLI_EXIT_FILE;
    }
    return 0;
}

/* Checks the directory at dir as check_owner_and_mode does. A directory that does not exist is
 * fine (nothing in it will be read). */
static int check_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return 0;
    return check_owner_and_mode(&st, dir, "profile directory", 0700, err, errlen);
}

/* The directory part of path, into out ("." when it has none). */
static void dir_of(const char *path, char *out, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(out, len, ".");
    else if (slash == path)
        snprintf(out, len, "/");
    else
        snprintf(out, len, "%.*s", (int)(slash - path), path);
}

/* Whether path is in the profile directory (a named profile, not one given as a path). */
static bool in_config_dir(const char *path)
{
    char dir[4096], mine[4096], e[8];
    if (ct_cli_config_dir(mine, sizeof mine, e, sizeof e) != 0)
        return false;
    dir_of(path, dir, sizeof dir);
    return strcmp(dir, mine) == 0;
}

int ct_cli_key_check(const char *path, char *err, size_t errlen, char *warn, size_t warnlen)
{
    struct stat st;
    char q[4200];
    warn[0] = '\0';
    if (stat(path, &st) != 0)
        return 0; /* reading it reports the problem */
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        snprintf(err, errlen,
                 "your private key %s is writable by group or others (mode %04o); it is refused "
                 "until you run: chmod 600 %s",
                 path, (unsigned)(st.st_mode & 07777), shell_word(path, q, sizeof q));
        return CT_CLI_EXIT_FILE;
    }
    if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0)
        snprintf(warn, warnlen,
                 "your private key %s is readable by group or others (mode %04o): whoever reads "
                 "it can act as you; run: chmod 600 %s",
                 path, (unsigned)(st.st_mode & 07777), shell_word(path, q, sizeof q));
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
    if (in_config_dir(path)) {
        char dir[4096];
        dir_of(path, dir, sizeof dir);
        int r = check_dir(dir, err, errlen);
        if (r != 0)
            return r;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        int e = errno;
        snprintf(err, errlen, "cannot read profile %s: %s%s", path, strerror(e),
                 e != ENOENT           ? ""
                 : in_config_dir(path) ? " (`careteam profile list` shows the profiles; "
                                         "`careteam profile add` makes one)"
                                       : " (a profile holds lines like `server = HOST:PORT`, "
                                         "`cert = FILE`, `key = FILE`, `ca = FILE` and "
                                         "optionally `crl = FILE`)");
        return CT_CLI_EXIT_FILE;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "profile %s is not a regular file", path);
        fclose(f);
        return CT_CLI_EXIT_FILE;
    }
    int checked = check_owner_and_mode(&st, path, "profile", 0600, err, errlen);
    if (checked != 0) {
        fclose(f);
        return checked;
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
                     "profile %s line %u: unknown key '%.64s' (known: server, cert, key, ca, crl)",
                     path, lineno, key);
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

int ct_cli_profile_read(ct_cli_settings_t *s, const char *path, char *err, size_t errlen)
{
    return read_profile(s, path, err, errlen);
}

/* Whether a required setting is still unset after flags and environment: the default profile is
 * consulted only then, so that a command given all its required settings never depends on it
 * (an optional one, crl, is then simply not used unless given). */
static bool needs_profile(const ct_cli_settings_t *s)
{
    for (int k = 0; k < CT_CLI_NKEYS; k++)
        if (KEYS[k].required && s->v[k].origin == CT_CLI_UNSET)
            return true;
    return false;
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
    char default_name[128] = "";
    if (name == NULL && needs_profile(out)) {
        char e[512];
        int r = ct_cli_profile_default_get(default_name, sizeof default_name, e, sizeof e);
        if (r == CT_CLI_EXIT_FILE) {
            snprintf(err, errlen, "%s", e);
            return r;
        }
        if (r == 0 && default_name[0] != '\0') {
            name = default_name;
            out->profile_default = true;
        }
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
        if (r != 0) {
            if (out->profile_default) {
                size_t used = strlen(err);
                snprintf(err + used, errlen - used,
                         " (it is the default profile: choose another with `careteam profile "
                         "default NAME`, or name one with --profile)");
            }
            return r;
        }
    }
    if (out->v[CT_CLI_SERVER].origin == CT_CLI_UNSET &&
        set_value(&out->v[CT_CLI_SERVER], CT_CLI_DEFAULT_SERVER, CT_CLI_FROM_DEFAULT, 0) != 0) {
        snprintf(err, errlen, "out of memory");
        return CT_CLI_EXIT_FILE;
    }
    return 0;
}

int ct_cli_settings_check(const ct_cli_settings_t *s, char *err, size_t errlen, char *warn,
                          size_t warnlen)
{
    warn[0] = '\0';
    for (int k = 0; k < CT_CLI_NKEYS; k++) {
        const key_info_t *ki = &KEYS[k];
        if (s->v[k].value == NULL && ki->required) {
            snprintf(err, errlen,
                     "no %s (setting '%s'): give %s %s, set %s, or put `%s = %s` in a profile "
                     "(`careteam profile add NAME ...`, then --profile NAME, CARETEAM_PROFILE or "
                     "`careteam profile default NAME`)",
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
        if (!KEYS[k].is_path || s->v[k].value == NULL)
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
    return ct_cli_key_check(s->v[CT_CLI_KEY].value, err, errlen, warn, warnlen);
}

/* ---- the profile directory: default, write, remove, list ----------------------------------- */

int ct_cli_profile_default_get(char *out, size_t len, char *err, size_t errlen)
{
    char dir[4096], path[4200];
    out[0] = '\0';
    int r = ct_cli_config_dir(dir, sizeof dir, err, errlen);
    if (r != 0)
        return r;
    snprintf(path, sizeof path, "%s/" DEFAULT_FILE, dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return CT_CLI_EXIT_FILE;
    }
    struct stat st;
    r = check_dir(dir, err, errlen);
    if (r == 0 && fstat(fileno(f), &st) != 0)
        r = CT_CLI_EXIT_FILE;
    if (r == 0)
        r = check_owner_and_mode(&st, path, "default profile file", 0600, err, errlen);
    char line[256] = "";
    if (r == 0 && fgets(line, sizeof line, f) == NULL && ferror(f)) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        r = CT_CLI_EXIT_FILE;
    }
    fclose(f);
    if (r != 0)
        return r;
    char *name = trim(line);
    if (name[0] != '\0' && !ct_cli_profile_name_valid(name)) {
        snprintf(err, errlen,
                 "%s does not hold a profile name; set one with `careteam profile default NAME`",
                 path);
        return CT_CLI_EXIT_FILE;
    }
    snprintf(out, len, "%s", name);
    return 0;
}

/* Creates dir (and its parent, e.g. ~/.config) with mode 0700 when missing, then checks it.
 * Returns 0 or CT_CLI_EXIT_FILE with err. */
static int make_config_dir(const char *dir, char *err, size_t errlen)
{
    char parent[4096];
    dir_of(dir, parent, sizeof parent);
    if (mkdir(parent, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", parent, strerror(errno));
        return CT_CLI_EXIT_FILE;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create the profile directory %s: %s", dir, strerror(errno));
        return CT_CLI_EXIT_FILE;
    }
    return check_dir(dir, err, errlen);
}

/*
 * Writes text to path atomically with mode 0600: a new temporary file beside it, synced, then
 * renamed over path (replace) or linked to it (not replace: fails if path exists). Returns 0, or
 * CT_CLI_EXIT_FILE with err; EEXIST is left in *exists.
 */
static int write_private_file(const char *path, const char *text, bool replace, bool *exists,
                              char *err, size_t errlen)
{
    char tmp[4300];
    *exists = false;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return CT_CLI_EXIT_FILE;
    }
    size_t len = strlen(text), done = 0;
    int e = 0;
    while (done < len && e == 0) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno != EINTR)
            e = errno;
        else if (w > 0)
            done += (size_t)w;
    }
    if (e == 0 && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && e == 0)
        e = errno;
    if (e == 0) {
        if (replace) {
            if (rename(tmp, path) != 0)
                e = errno;
        } else if (link(tmp, path) != 0) {
            e = errno;
        }
    }
    if (e != 0 || !replace)
        unlink(tmp);
    if (e == EEXIST) {
        *exists = true;
        snprintf(err, errlen, "%s exists", path);
        return CT_CLI_EXIT_FILE;
    }
    if (e != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(e));
        return CT_CLI_EXIT_FILE;
    }
    return 0;
}

int ct_cli_profile_default_set(const char *name, char *err, size_t errlen)
{
    char dir[4096], path[4200];
    int r = ct_cli_config_dir(dir, sizeof dir, err, errlen);
    if (r != 0)
        return CT_CLI_EXIT_FILE;
    snprintf(path, sizeof path, "%s/" DEFAULT_FILE, dir);
    if (name == NULL) {
        if (unlink(path) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
            return CT_CLI_EXIT_FILE;
        }
        return 0;
    }
    r = make_config_dir(dir, err, errlen);
    if (r != 0)
        return r;
    char text[128];
    snprintf(text, sizeof text, "%s\n", name);
    bool exists;
    return write_private_file(path, text, true, &exists, err, errlen);
}

int ct_cli_profile_write(const char *name, const char *const v[CT_CLI_NKEYS], bool replace,
                         char *path_out, size_t len, char *err, size_t errlen)
{
    char dir[4096];
    int r = ct_cli_config_dir(dir, sizeof dir, err, errlen);
    if (r == 0)
        r = make_config_dir(dir, err, errlen);
    if (r != 0)
        return CT_CLI_EXIT_FILE;
    snprintf(path_out, len, "%s/%s.conf", dir, name);
    char when[CT_CLI_TIME_LEN];
    ct_cli_format_time((int64_t)time(NULL) * 1000, when);
    char *text = NULL;
    const char *crl = v[CT_CLI_CRL];
    if (asprintf(&text,
                 "# careteam profile '%s', written by `careteam profile add` on %s.\n"
                 "# Keys: server, cert, key, ca, crl (see `careteam --help`).\n"
                 "server = %s\ncert = %s\nkey = %s\nca = %s\n%s%s%s",
                 name, when, v[CT_CLI_SERVER], v[CT_CLI_CERT], v[CT_CLI_KEY], v[CT_CLI_CA],
                 crl != NULL ? "crl = " : "", crl != NULL ? crl : "",
                 crl != NULL ? "\n" : "") < 0) {
        snprintf(err, errlen, "out of memory");
        return CT_CLI_EXIT_FILE;
    }
    bool exists;
    r = write_private_file(path_out, text, replace, &exists, err, errlen);
    free(text);
    if (exists) {
        snprintf(err, errlen,
                 "profile '%s' exists (%s): add --force to replace it, or `careteam profile "
                 "remove %s` first",
                 name, path_out, name);
        return CT_CLI_EXIT_USAGE;
    }
    return r;
}

int ct_cli_profile_remove(const char *name, char *err, size_t errlen)
{
    char path[4200];
    int r = ct_cli_profile_path(name, path, sizeof path, err, errlen);
    if (r != 0)
        return r;
    if (unlink(path) != 0) {
        if (errno == ENOENT) {
            snprintf(err, errlen, "no profile '%s' (%s); `careteam profile list` shows them", name,
                     path);
            return CT_CLI_EXIT_USAGE;
        }
        snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
        return CT_CLI_EXIT_FILE;
    }
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void ct_cli_profile_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int ct_cli_profile_names(char ***names, size_t *n, char *err, size_t errlen)
{
    char dir[4096];
    *names = NULL;
    *n = 0;
    int r = ct_cli_config_dir(dir, sizeof dir, err, errlen);
    if (r != 0)
        return r;
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot read the profile directory %s: %s", dir, strerror(errno));
        return CT_CLI_EXIT_FILE;
    }
    char **v = NULL;
    size_t count = 0;
    struct dirent *de;
    r = 0;
    while (r == 0 && (de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len <= 5 || strcmp(de->d_name + len - 5, ".conf") != 0)
            continue;
        char **grown = realloc(v, (count + 1) * sizeof *v);
        char *name = grown != NULL ? strndup(de->d_name, len - 5) : NULL;
        if (grown != NULL)
            v = grown;
        if (name == NULL) {
            snprintf(err, errlen, "out of memory");
            r = CT_CLI_EXIT_FILE;
            break;
        }
        v[count++] = name;
    }
    closedir(d);
    if (r != 0) {
        ct_cli_profile_names_free(v, count);
        return r;
    }
    if (count > 1)
        qsort(v, count, sizeof *v, compare_names);
    *names = v;
    *n = count;
    return 0;
}
