/*
 * Connection settings of the careteam CLI: where each value comes from and how they combine.
 *
 * Each setting (server, cert, key, ca, crl) is taken from the first of:
 *   1. its command-line flag (--server, --cert, --key, --ca, --crl);
 *   2. its environment variable (CARETEAM_SERVER, CARETEAM_CERT, CARETEAM_KEY, CARETEAM_CA,
 *      CARETEAM_CRL);
 *   3. the profile named by --profile NAME, or else by CARETEAM_PROFILE, or else (only when
 *      flags and environment leave a setting unset) the default profile, named in the file
 *      `default` of the profile directory (`careteam profile default NAME`);
 *   4. a built-in default (server only: 127.0.0.1:7443).
 *
 * server, cert, key and ca are required; crl (the server CA's revocation list) is optional: left
 * unset, the server's certificate is not checked for revocation. The default profile is read
 * only when a required setting is still unset (an optional one alone never makes a command
 * depend on it).
 *
 * A profile NAME containing '/' is a path; any other NAME is
 * $XDG_CONFIG_HOME/careteam/NAME.conf (XDG_CONFIG_HOME defaults to ~/.config). A profile holds
 * `key = value` lines (keys as above); blank lines and lines whose first non-blank character is
 * '#' are ignored; a key given twice takes its last value; an unknown key is an error (with its
 * line). In a profile, a relative cert/key/ca/crl path is relative to the profile's directory and
 * "~/" means the home directory; on the command line and in the environment, relative paths are
 * relative to the working directory, as usual.
 *
 * The profile directory is $XDG_CONFIG_HOME/careteam (by default ~/.config/careteam): mode 0700,
 * one NAME.conf per profile (mode 0600) in the format above, written by `careteam profile add`
 * with absolute paths, and `default` holding the default profile's name. Because a profile
 * decides which server and which key are used, a profile file, the profile directory or the
 * `default` file that group or others may write, or that belongs to another user, is refused
 * with the chmod that fixes it; so is a private key that group or others may write, and a key
 * that they may read draws a warning.
 *
 * Settings are a table (ct_cli_key_t) so that a new one is one row in settings.c, and the
 * origin of every value is kept so that messages can say where a bad value came from.
 */
#ifndef CT_CLI_SETTINGS_H
#define CT_CLI_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#define CT_CLI_DEFAULT_SERVER "127.0.0.1:7443"

typedef enum ct_cli_key {
    CT_CLI_SERVER = 0,
    CT_CLI_CERT,
    CT_CLI_KEY,
    CT_CLI_CA,
    CT_CLI_CRL, /* optional */
    CT_CLI_NKEYS,
} ct_cli_key_t;

typedef enum ct_cli_origin {
    CT_CLI_UNSET = 0,
    CT_CLI_FROM_DEFAULT,
    CT_CLI_FROM_FLAG,
    CT_CLI_FROM_ENV,
    CT_CLI_FROM_PROFILE,
} ct_cli_origin_t;

typedef struct ct_cli_value {
    char *value; /* owned; NULL when unset */
    ct_cli_origin_t origin;
    unsigned line; /* the profile line it came from, for CT_CLI_FROM_PROFILE */
} ct_cli_value_t;

typedef struct ct_cli_settings {
    ct_cli_value_t v[CT_CLI_NKEYS];
    char *profile;        /* path of the profile that was read, or NULL; owned */
    bool profile_default; /* that profile was the default one (no profile was named) */
} ct_cli_settings_t;

/* Values given on the command line, NULL when not given (borrowed from argv). */
typedef struct ct_cli_flags {
    const char *v[CT_CLI_NKEYS];
    const char *profile;
} ct_cli_flags_t;

/*
 * Combines flags, environment and profile into *out (zeroed first; free with
 * ct_cli_settings_free even on failure). Returns 0, CT_CLI_EXIT_USAGE for an invalid profile name
 * or CT_CLI_EXIT_FILE for a profile that cannot be read or has a bad line, with err saying which
 * and where.
 */
int ct_cli_settings_load(const ct_cli_flags_t *flags, ct_cli_settings_t *out, char *err,
                         size_t errlen);

/*
 * Checks that the settings can make a connection: every required setting is given, the server
 * address parses, each file given can be opened, and the private key is not writable by others.
 * Returns 0, CT_CLI_EXIT_USAGE (a setting is missing or malformed; err names it and the three
 * ways to give it) or CT_CLI_EXIT_FILE (a file cannot be read, is unsafe, or a malformed value
 * came from the profile). On 0, warn holds a warning to show ("" when none): a key that others
 * may read.
 */
int ct_cli_settings_check(const ct_cli_settings_t *s, char *err, size_t errlen, char *warn,
                          size_t warnlen);

void ct_cli_settings_free(ct_cli_settings_t *s);

/* "server", "cert", "key", "ca", "crl": the profile key of a setting. */
const char *ct_cli_key_name(ct_cli_key_t k);

/* Whether setting k must be given (every one but crl). */
bool ct_cli_key_required(ct_cli_key_t k);

/* Where the value of k came from, for messages: "--cert", "CARETEAM_CERT",
 * "profile /home/x/.config/careteam/clinic.conf line 3", "the default", or "nowhere". */
void ct_cli_origin_describe(const ct_cli_settings_t *s, ct_cli_key_t k, char *buf, size_t len);

/*
 * The file of profile name (see above). Returns 0, or CT_CLI_EXIT_USAGE when name is empty, is
 * "." or "..", or the path does not fit; err says why.
 */
int ct_cli_profile_path(const char *name, char *out, size_t len, char *err, size_t errlen);

/* ---- the profile directory (careteam profile) ---- */

/* The profile directory. Returns 0, or CT_CLI_EXIT_USAGE when neither XDG_CONFIG_HOME nor HOME
 * tells where it is (err says so). */
int ct_cli_config_dir(char *out, size_t len, char *err, size_t errlen);

/* Whether name may name a profile made by `profile add`: 1-64 of A-Z a-z 0-9 . _ -, not
 * starting with '.' or '-'. */
bool ct_cli_profile_name_valid(const char *name);

/* Reads the profile at path into the settings of s still unset, after the permission checks.
 * Returns 0 or CT_CLI_EXIT_FILE with err naming the file (and line, or the chmod to run). */
int ct_cli_profile_read(ct_cli_settings_t *s, const char *path, char *err, size_t errlen);

/* The default profile's name into out ("" when none is set). Returns 0, or CT_CLI_EXIT_FILE (the
 * `default` file is unsafe or unreadable) or CT_CLI_EXIT_USAGE (no profile directory). */
int ct_cli_profile_default_get(char *out, size_t len, char *err, size_t errlen);

/* Makes name the default profile (NULL: none). Returns 0 or CT_CLI_EXIT_FILE with err. */
int ct_cli_profile_default_set(const char *name, char *err, size_t errlen);

/*
 * Writes profile name with the values v (server, cert, key, ca, and crl unless it is NULL; paths
 * absolute) as DIR/NAME.conf, mode 0600, creating DIR (0700) if needed, atomically: a reader sees
 * the old file or the new one. Refuses to replace an existing profile unless replace. The path
 * written goes in path_out. Returns 0, or CT_CLI_EXIT_FILE (or CT_CLI_EXIT_USAGE: it exists) with
 * err.
 */
int ct_cli_profile_write(const char *name, const char *const v[CT_CLI_NKEYS], bool replace,
                         char *path_out, size_t len, char *err, size_t errlen);

/* Removes profile name's file (never the credential files it names). Returns 0, or
 * CT_CLI_EXIT_USAGE (no such profile) or CT_CLI_EXIT_FILE with err. */
int ct_cli_profile_remove(const char *name, char *err, size_t errlen);

/* The names of the profiles in the profile directory, sorted, into *names (n of them; free with
 * ct_cli_profile_names_free). No directory means no profiles. Returns 0 or CT_CLI_EXIT_FILE. */
int ct_cli_profile_names(char ***names, size_t *n, char *err, size_t errlen);
void ct_cli_profile_names_free(char **names, size_t n);

/* Checks the permissions of the private key at path: returns CT_CLI_EXIT_FILE with err when group
 * or others may write it; 0 otherwise, with warn non-empty when they may read it. */
int ct_cli_key_check(const char *path, char *err, size_t errlen, char *warn, size_t warnlen);

#endif
