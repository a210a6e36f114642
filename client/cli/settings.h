/*
 * Connection settings of the careteam CLI: where each value comes from and how they combine.
 *
 * Each setting (server, cert, key, ca) is taken from the first of:
 *   1. its command-line flag (--server, --cert, --key, --ca);
 *   2. its environment variable (CARETEAM_SERVER, CARETEAM_CERT, CARETEAM_KEY, CARETEAM_CA);
 *   3. the profile named by --profile NAME, or else by CARETEAM_PROFILE;
 *   4. a built-in default (server only: 127.0.0.1:7443).
 *
 * A profile NAME containing '/' is a path; any other NAME is
 * $XDG_CONFIG_HOME/careteam/NAME.conf (XDG_CONFIG_HOME defaults to ~/.config). A profile holds
 * `key = value` lines (keys as above); blank lines and lines whose first non-blank character is
 * '#' are ignored; a key given twice takes its last value; an unknown key is an error (with its
 * line). In a profile, a relative cert/key/ca path is relative to the profile's directory and
 * "~/" means the home directory; on the command line and in the environment, relative paths are
 * relative to the working directory, as usual.
 *
 * Settings are a table (ct_cli_key_t) so that a new one is one row in settings.c, and the
 * origin of every value is kept so that messages can say where a bad value came from.
 */
#ifndef CT_CLI_SETTINGS_H
#define CT_CLI_SETTINGS_H

#include <stddef.h>

#define CT_CLI_DEFAULT_SERVER "127.0.0.1:7443"

typedef enum ct_cli_key {
    CT_CLI_SERVER = 0,
    CT_CLI_CERT,
    CT_CLI_KEY,
    CT_CLI_CA,
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
    char *profile; /* path of the profile that was read, or NULL; owned */
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
 * Checks that the settings can make a connection: every credential is given, the server address
 * parses, and each credential file can be opened. Returns 0, CT_CLI_EXIT_USAGE (a setting is
 * missing or malformed; err names it and the three ways to give it) or CT_CLI_EXIT_FILE (a file
 * cannot be read, or a malformed value came from the profile).
 */
int ct_cli_settings_check(const ct_cli_settings_t *s, char *err, size_t errlen);

void ct_cli_settings_free(ct_cli_settings_t *s);

/* "server", "cert", "key", "ca": the profile key of a setting. */
const char *ct_cli_key_name(ct_cli_key_t k);

/* Where the value of k came from, for messages: "--cert", "CARETEAM_CERT",
 * "profile /home/x/.config/careteam/clinic.conf line 3", "the default", or "nowhere". */
void ct_cli_origin_describe(const ct_cli_settings_t *s, ct_cli_key_t k, char *buf, size_t len);

/*
 * The file of profile name (see above). Returns 0, or CT_CLI_EXIT_USAGE when name is empty, is
 * "." or "..", or the path does not fit; err says why.
 */
int ct_cli_profile_path(const char *name, char *out, size_t len, char *err, size_t errlen);

#endif
