/*
 * Local administration (see admin.h). These run as separate processes beside a serving daemon;
 * SQLite's locking (WAL, busy timeout) lets both write the same database safely.
 */
#include "admin.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_export.h"
#include "audit_sign.h"
#include "audit_verify.h"
#include "config.h"
#include "datadir.h"
#include "err.h"
#include "file.h"
#include "ids.h"
#include "pki.h"
#include "store.h"
#include "text.h"

int ct_dir_path(char *out, size_t len, const char *dir, const char *name)
{
    int n = snprintf(out, len, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= len ? CT_EINVAL : 0;
}

/* The OS account running the command, as the audit actor of local administration. */
static void local_actor(char *out, size_t len)
{
    const char *sudo = getenv("SUDO_USER");
    struct passwd *pw = getpwuid(getuid());
    snprintf(out, len, "local:%s",
             sudo != NULL && sudo[0] ? sudo : (pw != NULL ? pw->pw_name : "unknown"));
}

int ct_admin_audit(ct_store_t *st, const char *action, const char *object_type,
                   const char *object_id, const char *participant_id, const char *detail)
{
    return ct_admin_audit_outcome(st, action, object_type, object_id, participant_id,
                                  CT_AUDIT_SUCCESS, detail);
}

int ct_admin_audit_outcome(ct_store_t *st, const char *action, const char *object_type,
                           const char *object_id, const char *participant_id,
                           ct_audit_outcome_t outcome, const char *detail)
{
    char actor[CT_ID_MAX + 1];
    local_actor(actor, sizeof actor);
    ct_audit_t a = {
        .time_ms = ct_now_ms(),
        .actor_id = actor,
        .actor_role = CT_ROLE_ADMIN,
        .peer_addr = "local",
        .action = action,
        .object_type = object_type,
        .object_id = object_id,
        .participant_id = participant_id != NULL ? participant_id : "",
        .outcome = outcome,
        .detail = detail != NULL ? detail : "",
    };
    int64_t seq = ct_store_audit_append(st, &a);
    return seq < 0 ? (int)seq : 0;
}

static int admin_audit(ct_store_t *st, const char *action, const char *object_type,
                       const char *object_id, const char *detail)
{
    return ct_admin_audit(st, action, object_type, object_id, "", detail);
}

int ct_admin_open_store(const char *dir, ct_store_mode_t mode, ct_store_t **st)
{
    char path[4096], err[512];
    struct stat sb;
    ct_dir_path(path, sizeof path, dir, CT_DIR_DB);
    if (stat(path, &sb) != 0) {
        fprintf(stderr,
                "careteamd: %s not found: is %s a data directory? Create one with `careteamd "
                "init %s`\n",
                path, dir, dir);
        return CT_ENOTFOUND;
    }
    int r = ct_store_open(path, mode, st, err, sizeof err);
    if (r != 0)
        fprintf(stderr, "careteamd: %s\n", err);
    return r;
}

int ct_admin_end(ct_store_t *st, int r)
{
    if (r == 0)
        return ct_store_commit(st);
    (void)ct_store_rollback(st);
    return r;
}

static int open_store(const char *dir, ct_store_t **st)
{
    return ct_admin_open_store(dir, CT_STORE_READWRITE, st);
}

/* Removes the files init may have created in a directory it made, then the directory. */
static void remove_partial_dir(const char *dir)
{
    static const char *const names[] = {CT_DIR_CA_KEY,     CT_DIR_CA_CRT,    CT_DIR_SERVER_KEY,
                                        CT_DIR_SERVER_CRT, CT_DIR_AUDIT_KEY, CT_DIR_AUDIT_PUB,
                                        CT_DIR_CONF,       CT_DIR_DB,        CT_DIR_DB "-wal",
                                        CT_DIR_DB "-shm",  CT_DIR_CRL};
    char path[4096];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (ct_dir_path(path, sizeof path, dir, names[i]) == 0)
            unlink(path);
    }
    rmdir(dir);
}

/*
 * The default crl_url of the data directory that init builds in tmp and then renames to dir:
 * "file://" and the absolute path dir/crl.pem will have, with every byte a URL may not hold as it
 * is percent-encoded. Returns 0, or CT_ESYS / CT_EINVAL (too long for crl_url) with err set.
 */
static int default_crl_url(const char *dir, const char *tmp, char *out, size_t len, char *err,
                           size_t errlen)
{
    char abs[PATH_MAX], path[PATH_MAX + sizeof "/" CT_DIR_CRL];
    if (realpath(tmp, abs) == NULL)
        return ct_errf(err, errlen, CT_ESYS, "cannot find the absolute path of %s: %s", tmp,
                       strerror(errno));
    /* tmp is dir + ".init-XXXXXX", a directory that is not a symlink: realpath resolved only the
     * parent, and the suffix is still the end of its result. */
    size_t suffix = strlen(tmp) - strlen(dir), n = strlen(abs);
    if (n <= suffix)
        return ct_errf(err, errlen, CT_ESYS, "unexpected absolute path %s of %s", abs, tmp);
    abs[n - suffix] = '\0';
    snprintf(path, sizeof path, "%s/%s", abs, CT_DIR_CRL);
    static const char hex[] = "0123456789ABCDEF";
    size_t used = (size_t)snprintf(out, len, "file://");
    for (const unsigned char *p = (const unsigned char *)path; *p != '\0' && used + 4 < len; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~/", *p) != NULL) {
            out[used++] = (char)*p;
        } else {
            out[used++] = '%';
            out[used++] = hex[*p >> 4];
            out[used++] = hex[*p & 15];
        }
        out[used] = '\0';
    }
    if (used + 4 >= len || ct_config_crl_url_check(out) != NULL)
        return ct_errf(err, errlen, CT_EINVAL,
                       "the path of %s is too long for a file:// URL of its revocation list: give "
                       "the URL where crl.pem will be published with --crl-url URL",
                       dir);
    return 0;
}

int ct_admin_init(const char *dir, const char *const *hosts, size_t n_hosts, const char *crl_url)
{
    struct stat sb;
    if (crl_url != NULL && crl_url[0] != '\0' && ct_config_crl_url_check(crl_url) != NULL) {
        fprintf(stderr, "careteamd: invalid --crl-url \"%s\": expected %s\n", crl_url,
                ct_config_crl_url_check(crl_url));
        return CT_EINVAL;
    }
    if (stat(dir, &sb) == 0) {
        fprintf(stderr,
                "careteamd: %s already exists; init never touches an existing directory. "
                "Choose a new path, or remove it if it is an old demo.\n",
                dir);
        return CT_EEXISTS;
    }
    /* Build everything in a private temporary directory beside DIR and rename it into place,
     * so DIR either does not exist or is complete. */
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.init-XXXXXX", dir) >= (int)sizeof tmp ||
        mkdtemp(tmp) == NULL) {
        fprintf(stderr, "careteamd: cannot create a directory beside %s: %s\n", dir,
                strerror(errno));
        return CT_ESYS;
    }
    chmod(tmp, 0700);
    char ca_key[4096], ca_crt[4096], key[4096], crt[4096], conf[4096], db[4096], crl[4096];
    char err[PATH_MAX + 512];
    char audit_key[4096], audit_pub[4096], key_id[CT_AUDIT_KEY_ID_LEN + 1] = "";
    ct_dir_path(audit_key, sizeof audit_key, tmp, CT_DIR_AUDIT_KEY);
    ct_dir_path(audit_pub, sizeof audit_pub, tmp, CT_DIR_AUDIT_PUB);
    ct_dir_path(ca_key, sizeof ca_key, tmp, CT_DIR_CA_KEY);
    ct_dir_path(ca_crt, sizeof ca_crt, tmp, CT_DIR_CA_CRT);
    ct_dir_path(key, sizeof key, tmp, CT_DIR_SERVER_KEY);
    ct_dir_path(crt, sizeof crt, tmp, CT_DIR_SERVER_CRT);
    ct_dir_path(conf, sizeof conf, tmp, CT_DIR_CONF);
    ct_dir_path(db, sizeof db, tmp, CT_DIR_DB);
    ct_dir_path(crl, sizeof crl, tmp, CT_DIR_CRL);

    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    char ca_name[300];
    snprintf(ca_name, sizeof ca_name, "careteam CA (%s)", host);
    ct_config_t cfg;
    ct_config_defaults(&cfg);
    ct_store_t *st = NULL;
    bool default_url = crl_url == NULL || crl_url[0] == '\0';
    int r = 0;
    if (default_url)
        r = default_crl_url(dir, tmp, cfg.crl_url, sizeof cfg.crl_url, err, sizeof err);
    else
        ct_text_copy(cfg.crl_url, sizeof cfg.crl_url, crl_url);
    if (r == 0)
        r = ct_pki_make_ca(ca_key, ca_crt, ca_name, err, sizeof err);
    if (r == 0)
        r = ct_pki_issue_server(ca_key, ca_crt, key, crt, "careteamd", hosts, n_hosts, cfg.crl_url,
                                err, sizeof err);
    /* The list the certificates name exists from the start, empty and signed by the CA, in the
     * shape `careteamd revoke` keeps it. */
    if (r == 0)
        r = ct_pki_crl_revoke(ca_key, ca_crt, crl, NULL, 0, CT_PKI_REASON_UNSPECIFIED, NULL, err,
                              sizeof err);
    /* The audit signing key is its own Ed25519 pair, apart from the TLS keys (audit_sign.h). */
    if (r == 0)
        r = ct_audit_sign_keygen(audit_key, audit_pub, key_id, err, sizeof err);
    if (r == 0)
        r = ct_config_write(conf, &cfg, err, sizeof err);
    if (r == 0)
        r = ct_store_open(db, CT_STORE_READWRITE, &st, err, sizeof err);
    /* The database holds message bodies: owner only (SQLite gives its -wal/-shm the same). */
    if (r == 0 && chmod(db, 0600) != 0)
        r = ct_errf(err, sizeof err, CT_ESYS, "cannot restrict %s to its owner: %s", db,
                    strerror(errno));
    if (r == 0) {
        char detail[128];
        snprintf(detail, sizeof detail, "extra_hosts=%zu audit_key_id=%s", n_hosts, key_id);
        r = admin_audit(st, "admin.init", "daemon", "", detail);
        if (r != 0)
            snprintf(err, sizeof err, "cannot write the first audit record: %s", ct_strerror(r));
    }
    ct_store_close(st);
    if (r == 0 && rename(tmp, dir) != 0) {
        snprintf(err, sizeof err, "cannot rename %s to %s: %s", tmp, dir, strerror(errno));
        r = CT_ESYS;
    }
    if (r != 0) {
        fprintf(stderr, "careteamd: init failed: %s\n", err);
        remove_partial_dir(tmp);
        return r;
    }
    printf("Created data directory %s\n"
           "  CA certificate      %s/%s  (give this to clients)\n"
           "  CA key              %s/%s  (keep private: it issues member certificates)\n"
           "  server certificate  %s/%s\n"
           "  revocation list     %s/%s  (empty; certificates name it as %s)\n"
           "  audit signing key   %s/%s  (keep private: it signs audit checkpoints)\n"
           "  audit public key    %s/%s  (key id %s: keep a copy off this host)\n"
           "  settings            %s/%s\n"
           "  database            %s/%s\n",
           dir, dir, CT_DIR_CA_CRT, dir, CT_DIR_CA_KEY, dir, CT_DIR_SERVER_CRT, dir, CT_DIR_CRL,
           cfg.crl_url, dir, CT_DIR_AUDIT_KEY, dir, CT_DIR_AUDIT_PUB, key_id, dir, CT_DIR_CONF, dir,
           CT_DIR_DB);
    if (default_url)
        printf("A file:// URL reaches only this machine: when members connect from elsewhere, "
               "publish\ncrl.pem at an https:// URL and name it with `careteamd init DIR --crl-url "
               "URL`\n(docs/operations.md, \"Publishing the revocation list\").\n");
    printf("Next: enroll members with `careteamd enroll %s --id ID --name NAME --role ROLE --out "
           "PREFIX`,\n"
           "then run `careteamd serve %s`.\n",
           dir, dir);
    return 0;
}

bool ct_admin_text_ok(const char *s, size_t min, size_t max)
{
    size_t len = strlen(s);
    if (len < min || len > max || !ct_utf8_valid(s, len))
        return false;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    }
    return true;
}

/* What issuing a member certificate needs: the settings (validity) and the paths. */
typedef struct issue {
    ct_config_t cfg;
    char ca_key[4096], ca_crt[4096], key[4096], crt[4096];
} issue_t;

/* Loads DIR's settings and builds the paths for PREFIX.key / PREFIX.crt. Prints why on failure. */
static int issue_prepare(const char *dir, const char *out_prefix, issue_t *is)
{
    char conf[4096], err[512];
    ct_config_defaults(&is->cfg);
    ct_dir_path(conf, sizeof conf, dir, CT_DIR_CONF);
    int r = ct_config_load(conf, &is->cfg, err, sizeof err);
    if (r != 0 && r != CT_ENOTFOUND) {
        fprintf(stderr, "careteamd: %s\n", err);
        return r;
    }
    if (snprintf(is->key, sizeof is->key, "%s.key", out_prefix) >= (int)sizeof is->key ||
        snprintf(is->crt, sizeof is->crt, "%s.crt", out_prefix) >= (int)sizeof is->crt) {
        fprintf(stderr, "careteamd: --out path is too long\n");
        return CT_EINVAL;
    }
    ct_dir_path(is->ca_key, sizeof is->ca_key, dir, CT_DIR_CA_KEY);
    ct_dir_path(is->ca_crt, sizeof is->ca_crt, dir, CT_DIR_CA_CRT);
    return 0;
}

/* Issues id's key and certificate and reads back its serial (for the audit record). Sets
 * *written when the files exist, so that a later failure can remove them. */
static int issue_cert(const issue_t *is, const char *id, char serial[CT_PKI_SERIAL_HEX_MAX + 1],
                      bool *written, char *err, size_t errlen)
{
    int r = ct_pki_issue_member(is->ca_key, is->ca_crt, is->key, is->crt, id,
                                (int)is->cfg.member_cert_days, is->cfg.crl_url, err, errlen);
    *written = r == 0;
    if (r == 0)
        r = ct_pki_cert_serial(is->ca_crt, is->crt, serial, NULL, 0, err, errlen);
    return r;
}

/* Ends enroll or renew (`what`): commits or rolls back and closes st; on failure removes the
 * key and certificate this run wrote (files_written) and prints why (err, or r's message).
 * Returns r, or the commit's error. */
static int issue_finish(ct_store_t *st, int r, const issue_t *is, bool files_written,
                        const char *err, const char *what)
{
    r = ct_admin_end(st, r);
    ct_store_close(st);
    if (r == 0)
        return 0;
    if (files_written) {
        unlink(is->key);
        unlink(is->crt);
    }
    fprintf(stderr, "careteamd: %s failed: %s\n", what,
            err[0] != '\0' && r != CT_EIO ? err : ct_strerror(r));
    return r;
}

int ct_admin_enroll(const char *dir, const char *id, const char *name, ct_role_t role,
                    const char *out_prefix, const char *supervisor)
{
    if (supervisor != NULL && supervisor[0] == '\0')
        supervisor = NULL;
    if (supervisor != NULL && role != CT_ROLE_PEER_WORKER) {
        fprintf(stderr,
                "careteamd: --supervisor applies only to --role peer_worker, not %s: only peer "
                "workers have a peer supervisor\n",
                ct_role_name(role) != NULL ? ct_role_name(role) : "?");
        return CT_EINVAL;
    }
    if (supervisor != NULL && !ct_id_valid(supervisor)) {
        fprintf(stderr,
                "careteamd: --supervisor '%s' is not a valid member id: use 1-64 characters of "
                "A-Z a-z 0-9 . _ -\n",
                supervisor);
        return CT_EINVAL;
    }
    if (!ct_id_valid(id)) {
        fprintf(stderr,
                "careteamd: --id '%s' is not a valid member id: use 1-64 characters of "
                "A-Z a-z 0-9 . _ -\n",
                id);
        return CT_EINVAL;
    }
    /* The daemon's own records name it as actor: a member of that name would blur the trail. */
    if (strcmp(id, "careteamd") == 0) {
        fprintf(stderr, "careteamd: --id careteamd is reserved for the daemon itself in the audit "
                        "trail; choose another id\n");
        return CT_EINVAL;
    }
    if (!ct_admin_text_ok(name, 1, CT_NAME_MAX)) {
        fprintf(stderr,
                "careteamd: --name must be 1-%d bytes of UTF-8 text without control "
                "characters\n",
                CT_NAME_MAX);
        return CT_EINVAL;
    }
    issue_t is;
    char err[512] = "";
    int r = issue_prepare(dir, out_prefix, &is);
    if (r != 0)
        return r;

    ct_store_t *st;
    r = open_store(dir, &st);
    if (r != 0)
        return r;
    ct_member_t m = {.role = role, .active = true, .created_at_ms = ct_now_ms()};
    ct_text_copy(m.id, sizeof m.id, id);
    ct_text_copy(m.display_name, sizeof m.display_name, name);
    bool files_written = false;
    if (supervisor != NULL)
        ct_text_copy(m.supervisor_id, sizeof m.supervisor_id, supervisor);
    r = ct_store_begin(st);
    /* The supervisor is checked inside the transaction, so that it cannot be deactivated
     * between the check and the enrolment. */
    if (r == 0 && supervisor != NULL)
        r = ct_admin_supervisor_check(st, dir, supervisor, err, sizeof err);
    if (r == 0) {
        r = ct_store_member_add(st, &m);
        if (r == CT_EEXISTS)
            snprintf(err, sizeof err,
                     "member '%s' already exists; pick another id (members are never reused, "
                     "so that the audit trail stays unambiguous)",
                     id);
    }
    if (r == 0 && supervisor != NULL)
        r = ct_store_member_set_supervisor(st, id, supervisor);
    /* The certificate's serial goes into the trail: `careteamd revoke` finds it there. */
    char serial[CT_PKI_SERIAL_HEX_MAX + 1] = "";
    if (r == 0)
        r = issue_cert(&is, id, serial, &files_written, err, sizeof err);
    if (r == 0) {
        char detail[256];
        snprintf(detail, sizeof detail, "role=%s cert_days=%u serial=%s%s%s", ct_role_name(role),
                 is.cfg.member_cert_days, serial, supervisor != NULL ? " supervisor=" : "",
                 supervisor != NULL ? supervisor : "");
        r = admin_audit(st, "member.enroll", "member", id, detail);
    }
    /* The supervision is its own fact in the trail, as `supervisor set` records it, so that one
     * action code answers "who supervised whom, since when". */
    if (r == 0 && supervisor != NULL) {
        char detail[160];
        snprintf(detail, sizeof detail, "supervisor=%s previous=", supervisor);
        r = admin_audit(st, "member.supervisor", "member", id, detail);
    }
    r = issue_finish(st, r, &is, files_written, err, "enroll");
    if (r != 0)
        return r;
    printf("Enrolled %s (%s) as %s\n", id, name, ct_role_name(role));
    if (supervisor != NULL)
        printf("  supervisor   %s\n", supervisor);
    printf("  key          %s\n  certificate  %s\n"
           "Give both files and %s/%s to the member; the key is theirs alone.\n",
           is.key, is.crt, dir, CT_DIR_CA_CRT);
    return 0;
}

int ct_admin_renew(const char *dir, const char *id, const char *out_prefix)
{
    if (!ct_id_valid(id)) {
        fprintf(stderr,
                "careteamd: --id '%s' is not a valid member id: use 1-64 characters of "
                "A-Z a-z 0-9 . _ -\n",
                id);
        return CT_EINVAL;
    }
    issue_t is;
    char err[512] = "";
    int r = issue_prepare(dir, out_prefix, &is);
    if (r != 0)
        return r;
    ct_store_t *st;
    r = open_store(dir, &st);
    if (r != 0)
        return r;
    ct_member_t m;
    bool files_written = false;
    r = ct_store_begin(st);
    if (r == 0) {
        r = ct_store_member_get(st, id, &m);
        if (r == CT_ENOTFOUND)
            snprintf(err, sizeof err, "no member '%s'; enroll them first", id);
        else if (r == 0 && !m.active) {
            snprintf(err, sizeof err,
                     "member '%s' is deactivated; `careteamd activate` them first if they "
                     "should connect again",
                     id);
            r = CT_EPRECONDITION;
        }
    }
    char serial[CT_PKI_SERIAL_HEX_MAX + 1] = "";
    if (r == 0)
        r = issue_cert(&is, id, serial, &files_written, err, sizeof err);
    if (r == 0) {
        char detail[160];
        snprintf(detail, sizeof detail, "cert_days=%u serial=%s", is.cfg.member_cert_days, serial);
        r = admin_audit(st, "member.renew", "member", id, detail);
    }
    r = issue_finish(st, r, &is, files_written, err, "renew");
    if (r != 0)
        return r;
    printf("Issued a new certificate for %s (serial %s), valid %u days:\n  %s\n  %s\n"
           "The previous certificate stays valid until it expires; revoke it with `careteamd "
           "revoke %s --id %s --cert OLD.crt` if it must stop working now.\n",
           id, serial, is.cfg.member_cert_days, is.crt, is.key, dir, id);
    return 0;
}

typedef struct list_state {
    bool json;
    size_t n;
} list_state_t;

void ct_admin_json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static int print_member(const ct_member_t *m, void *arg)
{
    list_state_t *ls = arg;
    if (ls->json) {
        printf("%s{\"id\":", ls->n ? "," : "");
        ct_admin_json_string(m->id);
        printf(",\"display_name\":");
        ct_admin_json_string(m->display_name);
        printf(",\"role\":\"%s\",\"active\":%s,\"created_at_ms\":%lld,\"supervisor_id\":",
               ct_role_name(m->role), m->active ? "true" : "false", (long long)m->created_at_ms);
        ct_admin_json_string(m->supervisor_id);
        printf("}");
    } else {
        printf("%-24s %-16s %-9s %s%s%s%s\n", m->id,
               ct_role_name(m->role) ? ct_role_name(m->role) : "?",
               m->active ? "active" : "inactive", m->display_name,
               m->supervisor_id[0] ? " (supervisor: " : "", m->supervisor_id,
               m->supervisor_id[0] ? ")" : "");
    }
    ls->n++;
    return 0;
}

int ct_admin_members(const char *dir, bool json)
{
    ct_store_t *st;
    int r = open_store(dir, &st);
    if (r != 0)
        return r;
    list_state_t ls = {.json = json};
    if (json)
        printf("[");
    else
        printf("%-24s %-16s %-9s %s\n", "ID", "ROLE", "STATUS", "NAME");
    r = ct_store_member_list(st, print_member, &ls);
    if (json)
        printf("]\n");
    ct_store_close(st);
    if (r != 0)
        fprintf(stderr, "careteamd: cannot list members: %s\n", ct_strerror(r));
    return r;
}

/* Tells a daemon serving dir to reload (SIGHUP), so that a membership change reaches live
 * connections at once; ct_datadir_daemon_pid finds it (and ignores a stale pid file). Returns
 * true if a daemon was told. */
static bool notify_daemon(const char *dir)
{
    pid_t pid = ct_datadir_daemon_pid(dir);
    return pid != 0 && kill(pid, SIGHUP) == 0;
}

/* The hosts of the current server certificate at crt followed by extra[0..n_extra), into a new
 * array of borrowed pointers (*all; caller frees it and then the old hosts with
 * ct_pki_hosts_free). A certificate that cannot be read contributes nothing, with a warning. */
static int server_hosts(const char *crt, const char *const *extra, size_t n_extra, char ***old,
                        size_t *n_old, const char ***all)
{
    char err[512];
    int r = ct_pki_cert_hosts(crt, old, n_old, err, sizeof err);
    if (r != 0) {
        fprintf(stderr,
                "careteamd: warning: %s; the new certificate names only 127.0.0.1, ::1, localhost "
                "and the --host names given\n",
                err);
        *old = NULL;
        *n_old = 0;
    }
    *all = calloc(*n_old + n_extra + 1, sizeof **all);
    if (*all == NULL) {
        ct_pki_hosts_free(*old, *n_old);
        return CT_ENOMEM;
    }
    for (size_t i = 0; i < *n_old; i++)
        (*all)[i] = (*old)[i];
    for (size_t i = 0; i < n_extra; i++)
        (*all)[*n_old + i] = extra[i];
    return 0;
}

int ct_admin_renew_server(const char *dir, const char *const *hosts, size_t n_hosts)
{
    char crt[4096], key[4096], prefix[4096], err[512] = "";
    ct_dir_path(crt, sizeof crt, dir, CT_DIR_SERVER_CRT);
    ct_dir_path(key, sizeof key, dir, CT_DIR_SERVER_KEY);
    /* The new pair is written beside the old one and renamed over it once recorded. */
    ct_dir_path(prefix, sizeof prefix, dir, "server.renew");
    issue_t is;
    int r = issue_prepare(dir, prefix, &is);
    if (r != 0)
        return r;
    unlink(is.key); /* left by a run that failed before its renames */
    unlink(is.crt);

    char previous[CT_PKI_SERIAL_HEX_MAX + 1] = "none";
    if (ct_pki_cert_serial(is.ca_crt, crt, previous, NULL, 0, err, sizeof err) != 0) {
        fprintf(stderr, "careteamd: warning: %s\n", err);
        snprintf(previous, sizeof previous, "none");
    }
    char **old = NULL;
    size_t n_old = 0;
    const char **all = NULL;
    r = server_hosts(crt, hosts, n_hosts, &old, &n_old, &all);
    if (r != 0)
        return r;

    ct_store_t *st;
    r = open_store(dir, &st);
    if (r != 0) {
        free(all);
        ct_pki_hosts_free(old, n_old);
        return r;
    }
    bool files_written = false;
    char serial[CT_PKI_SERIAL_HEX_MAX + 1] = "";
    err[0] = '\0';
    r = ct_store_begin(st);
    if (r == 0) {
        r = ct_pki_issue_server(is.ca_key, is.ca_crt, is.key, is.crt, "careteamd", all,
                                n_old + n_hosts, is.cfg.crl_url, err, sizeof err);
        files_written = r == 0;
    }
    /* Run as root on a directory that belongs to the daemon's account, the new pair must be that
     * account's too, or the daemon could not read its key when it reloads. */
    struct stat dsb;
    if (r == 0 && geteuid() == 0 && stat(dir, &dsb) == 0 &&
        (chown(is.key, dsb.st_uid, dsb.st_gid) != 0 || chown(is.crt, dsb.st_uid, dsb.st_gid) != 0))
        r = ct_errf(err, sizeof err, CT_ESYS, "cannot give %s and %s to the owner of %s: %s",
                    is.key, is.crt, dir, strerror(errno));
    if (r == 0)
        r = ct_pki_cert_serial(is.ca_crt, is.crt, serial, NULL, 0, err, sizeof err);
    if (r == 0) {
        char detail[256];
        snprintf(detail, sizeof detail, "serial=%s previous=%s hosts=%zu", serial, previous,
                 n_old + n_hosts);
        r = admin_audit(st, "server.renew", "daemon", "", detail);
    }
    r = issue_finish(st, r, &is, files_written, err, "renew --server");
    free(all);
    ct_pki_hosts_free(old, n_old);
    if (r != 0)
        return r;
    /* Key first: a reload between the two renames fails on the mismatch and keeps serving with
     * the pair it has, and the next reload (or start) takes the new pair. */
    if (rename(is.key, key) != 0 || rename(is.crt, crt) != 0) {
        fprintf(stderr,
                "careteamd: renew --server: the new certificate (serial %s) was issued and "
                "recorded, but could not be moved into place: %s. Move %s to %s and %s to %s, "
                "then send the daemon SIGHUP.\n",
                serial, strerror(errno), is.key, key, is.crt, crt);
        return CT_ESYS;
    }
    ct_file_sync_parent(crt);
    bool told = notify_daemon(dir);
    printf("Issued a new server certificate (serial %s, valid %d days) in %s,\nreplacing serial "
           "%s. %s\nClients need nothing new: the certificate comes from the same CA (%s/%s).\n",
           serial, CT_PKI_SERVER_DAYS, crt, previous,
           told ? "The running daemon reloads it; connections already open keep the old one."
                : "No running daemon found: it is read when the daemon starts.",
           dir, CT_DIR_CA_CRT);
    return 0;
}

int ct_admin_set_active(const char *dir, const char *id, bool active)
{
    if (!ct_id_valid(id)) {
        fprintf(stderr, "careteamd: --id '%s' is not a valid member id\n", id);
        return CT_EINVAL;
    }
    ct_store_t *st;
    int r = open_store(dir, &st);
    if (r != 0)
        return r;
    ct_member_t m;
    r = ct_store_begin(st);
    if (r == 0)
        r = ct_store_member_get(st, id, &m);
    if (r == 0)
        r = ct_store_member_set_active(st, id, active);
    if (r == 0)
        r = admin_audit(st, active ? "member.activate" : "member.deactivate", "member", id, NULL);
    r = ct_admin_end(st, r);
    ct_store_close(st);
    if (r == CT_ENOTFOUND) {
        fprintf(stderr,
                "careteamd: no member '%s'; `careteamd members %s` lists the enrolled ones\n", id,
                dir);
        return r;
    }
    if (r != 0) {
        fprintf(stderr, "careteamd: cannot change member '%s': %s\n", id, ct_strerror(r));
        return r;
    }
    bool told = notify_daemon(dir);
    printf("%s %s.%s%s\n", id, active ? "is active again" : "is deactivated",
           active ? "" : " New connections are refused; the member's messages are kept.",
           told ? (active ? "" : " Their live connections are being closed.")
                : (active ? "" : " (No running daemon found; nothing else to close.)"));
    return 0;
}

/* ---- revoke --------------------------------------------------------------------------------- */

/* Most certificates one revoke handles: the enrolment's, and the one given with --cert. */
#define REVOKE_MAX_SERIALS 8

typedef struct serials {
    char v[REVOKE_MAX_SERIALS][CT_PKI_SERIAL_HEX_MAX + 1];
    const char *p[REVOKE_MAX_SERIALS]; /* v[i], for ct_pki_crl_revoke */
    size_t n;
} serials_t;

/* Adds serial unless it is there already. Returns 0, or CT_ETOOBIG when the list is full. */
static int serials_add(serials_t *s, const char *serial)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->v[i], serial) == 0)
            return 0;
    }
    if (s->n == REVOKE_MAX_SERIALS)
        return CT_ETOOBIG;
    ct_text_copy(s->v[s->n], sizeof s->v[s->n], serial);
    s->p[s->n] = s->v[s->n];
    s->n++;
    return 0;
}

/* ct_store_audit_query callback: takes the serial=HEX of a member.enroll or member.renew row. */
static int enroll_serial(const ct_audit_found_t *row, void *arg)
{
    for (const char *p = strstr(row->detail, "serial="); p != NULL; p = strstr(p + 1, "serial=")) {
        if (p != row->detail && p[-1] != ' ')
            continue;
        p += strlen("serial=");
        size_t n = strspn(p, "0123456789ABCDEF");
        if (n > 0 && n <= CT_PKI_SERIAL_HEX_MAX && (p[n] == ' ' || p[n] == '\0')) {
            char serial[CT_PKI_SERIAL_HEX_MAX + 1];
            memcpy(serial, p, n);
            serial[n] = '\0';
            return serials_add(arg, serial);
        }
    }
    return 0;
}

/*
 * Gathers the serials of id's certificates: the one recorded by `enroll` (its member.enroll
 * audit row, since this version), and the one in cert_file (not NULL), which must be issued by
 * DIR's CA to id. Prints why on failure.
 */
static int revoke_serials(ct_store_t *st, const char *dir, const char *id, const char *cert_file,
                          serials_t *out)
{
    ct_audit_filter_t f = {
        .action = "member.enroll", .outcome = 0, .object_type = "member", .object_id = id};
    int r = ct_store_audit_query(st, &f, 0, 100, enroll_serial, out);
    if (r == 0) { /* and every certificate `renew` issued since */
        f.action = "member.renew";
        r = ct_store_audit_query(st, &f, 0, 1000, enroll_serial, out);
    }
    if (r != 0) {
        fprintf(stderr, "careteamd: cannot read the enrolment of '%s': %s\n", id, ct_strerror(r));
        return r;
    }
    if (cert_file != NULL) {
        char ca[4096], serial[CT_PKI_SERIAL_HEX_MAX + 1], cn[CT_ID_MAX + 2], err[512];
        ct_dir_path(ca, sizeof ca, dir, CT_DIR_CA_CRT);
        r = ct_pki_cert_serial(ca, cert_file, serial, cn, sizeof cn, err, sizeof err);
        if (r != 0) {
            fprintf(stderr, "careteamd: %s\n", err);
            return r;
        }
        if (strcmp(cn, id) != 0) {
            fprintf(stderr, "careteamd: %s is the certificate of '%s', not of '%s'\n", cert_file,
                    cn, id);
            return CT_EINVAL;
        }
        if ((r = serials_add(out, serial)) != 0)
            return r;
    }
    if (out->n == 0) {
        fprintf(stderr,
                "careteamd: no certificate of '%s' is on record (it was enrolled by a version "
                "that did not record certificate serials): pass its certificate with --cert "
                "FILE\n",
                id);
        return CT_ENOTFOUND;
    }
    return 0;
}

/*
 * Lists serials[0..n) in DIR/crl.pem and records `action` on (object_type, object_id) with detail
 * "certificates=N new=K reason=R serial=S1,S2..", in one write transaction. The transaction
 * (BEGIN IMMEDIATE) is taken before the list is read, so that two revokes at once cannot both
 * start from the same old list and lose one of the entries. Prints why on failure, saying so
 * when the list was written but its record was not. Sets *added to the newly listed count.
 */
static int revoke_and_record(ct_store_t *st, const char *dir, const char *const *serials, size_t n,
                             int reason, const char *action, const char *object_type,
                             const char *object_id, size_t *added)
{
    char ca_key[4096], ca_crt[4096], crl[4096], err[512] = "";
    ct_dir_path(ca_key, sizeof ca_key, dir, CT_DIR_CA_KEY);
    ct_dir_path(ca_crt, sizeof ca_crt, dir, CT_DIR_CA_CRT);
    ct_dir_path(crl, sizeof crl, dir, CT_DIR_CRL);
    bool crl_written = false;
    int r = ct_store_begin(st);
    if (r == 0) {
        r = ct_pki_crl_revoke(ca_key, ca_crt, crl, serials, n, reason, added, err, sizeof err);
        crl_written = r == 0;
        if (r == 0) {
            char detail[256];
            int len =
                snprintf(detail, sizeof detail, "certificates=%zu new=%zu reason=%s serial=", n,
                         *added, ct_pki_reason_name(reason));
            for (size_t i = 0; i < n && len > 0 && (size_t)len < sizeof detail; i++)
                len += snprintf(detail + len, sizeof detail - (size_t)len, "%s%s", i ? "," : "",
                                serials[i]);
            r = admin_audit(st, action, object_type, object_id, detail);
        }
        r = ct_admin_end(st, r);
    }
    if (r == 0)
        return 0;
    if (err[0] == '\0')
        ct_text_copy(err, sizeof err, ct_strerror(r));
    if (crl_written)
        fprintf(stderr,
                "careteamd: %s now revokes the certificate, but the audit record failed: %s. Run "
                "the command again to record it (revoking again is harmless).\n",
                crl, err);
    else
        fprintf(stderr, "careteamd: revoke failed: %s\n", err);
    return r;
}

int ct_admin_revoke(const char *dir, const char *id, int reason, const char *cert_file)
{
    if (!ct_id_valid(id)) {
        fprintf(stderr, "careteamd: --id '%s' is not a valid member id\n", id);
        return CT_EINVAL;
    }
    ct_store_t *st;
    int r = open_store(dir, &st);
    if (r != 0)
        return r;
    ct_member_t m;
    serials_t serials = {.n = 0};
    size_t added = 0;
    r = ct_store_member_get(st, id, &m);
    if (r == CT_ENOTFOUND)
        fprintf(stderr,
                "careteamd: no member '%s'; `careteamd members %s` lists the enrolled ones\n", id,
                dir);
    else if (r != 0)
        fprintf(stderr, "careteamd: cannot read member '%s': %s\n", id, ct_strerror(r));
    if (r == 0)
        r = revoke_serials(st, dir, id, cert_file, &serials);
    if (r == 0)
        r = revoke_and_record(st, dir, serials.p, serials.n, reason, "member.revoke", "member", id,
                              &added);
    ct_store_close(st);
    if (r != 0)
        return r;
    char crl[4096];
    ct_dir_path(crl, sizeof crl, dir, CT_DIR_CRL);
    bool told = notify_daemon(dir);
    printf("Revoked %zu certificate%s of %s in %s (%zu newly listed, reason %s):\n", serials.n,
           serials.n == 1 ? "" : "s", id, crl, added, ct_pki_reason_name(reason));
    for (size_t i = 0; i < serials.n; i++)
        printf("  serial %s\n", serials.v[i]);
    printf("%s\n%s is still %s in the member registry: revoke changes no membership. `careteamd "
           "deactivate %s --id %s` also refuses the member by id.\n",
           told ? "The running daemon reloads the list and closes connections made with it."
                : "No running daemon found: the list is read when the daemon starts.",
           id, m.active ? "active" : "inactive", dir, id);
    return 0;
}

int ct_admin_revoke_server(const char *dir, int reason)
{
    char ca_crt[4096], crt[4096], crl[4096], err[512] = "";
    char serial[CT_PKI_SERIAL_HEX_MAX + 1];
    ct_dir_path(ca_crt, sizeof ca_crt, dir, CT_DIR_CA_CRT);
    ct_dir_path(crt, sizeof crt, dir, CT_DIR_SERVER_CRT);
    ct_dir_path(crl, sizeof crl, dir, CT_DIR_CRL);
    int r = ct_pki_cert_serial(ca_crt, crt, serial, NULL, 0, err, sizeof err);
    if (r != 0) {
        fprintf(stderr, "careteamd: %s\n", err);
        return r;
    }
    ct_store_t *st;
    r = open_store(dir, &st);
    if (r != 0)
        return r;
    size_t added = 0;
    const char *serials[] = {serial};
    r = revoke_and_record(st, dir, serials, 1, reason, "server.revoke", "daemon", "", &added);
    ct_store_close(st);
    if (r != 0)
        return r;
    printf("Revoked the server certificate %s (serial %s, %zu newly listed, reason %s) in %s.\n"
           "Publish the new list where crl_url says: clients that check it (careteam --crl) now "
           "refuse\nany server presenting that certificate, this daemon included. Make a new data "
           "directory\n(new CA and server certificate) and enroll the members again: "
           "docs/operations.md,\n\"If the server's key leaked\".\n",
           crt, serial, added, ct_pki_reason_name(reason), crl);
    return 0;
}

/* ---- audit: verify, keygen, checkpoint, checkpoints ---------------------------------------- */

/* Loads the public key that checkpoints are checked against (see ct_admin_audit_verify), taking
 * over *file_key when it is the one. *key stays NULL, with 0, only when no key was named and DIR
 * has none. */
static int verify_key(const char *dir, const char *cp_file, const char *pub_file,
                      ct_audit_pubkey_t **file_key, size_t n_cps, ct_audit_pubkey_t **key)
{
    char path[4096], err[512];
    *key = NULL;
    if (pub_file == NULL && cp_file != NULL) {
        if (*file_key == NULL && n_cps > 0) {
            fprintf(stderr,
                    "careteamd: %s has no pubkey line: give the audit public key with --pubkey "
                    "FILE\n",
                    cp_file);
            return CT_EINVAL;
        }
        *key = *file_key;
        *file_key = NULL;
        return 0;
    }
    if (pub_file != NULL)
        ct_text_copy(path, sizeof path, pub_file);
    else
        ct_dir_path(path, sizeof path, dir, CT_DIR_AUDIT_PUB);
    int r = ct_audit_pubkey_load(path, key, err, sizeof err);
    if (r == CT_ENOTFOUND && pub_file == NULL && n_cps == 0)
        return 0;
    if (r == CT_ENOTFOUND && pub_file == NULL)
        fprintf(stderr,
                "careteamd: cannot check the %zu signed checkpoints: %s is missing. Give the "
                "public key you keep off this host with --pubkey FILE\n",
                n_cps, path);
    else if (r != 0)
        fprintf(stderr, "careteamd: %s\n", err);
    return r;
}

/* Prints the verdict of a verification; returns 0 (verified) or 1 (failed). */
static int print_verdict(const char *dir, const ct_audit_verdict_t *v, const ct_audit_pubkey_t *key,
                         const char *source)
{
    char head[2 * CT_AUDIT_HASH_LEN + 1], when[40];
    ct_audit_chain_hex(v->head, head);
    if (v->fault == CT_AUDIT_FAULT_ZONES) {
        /* The chain verified to the end: only the zone summary beside it is wrong. */
        printf("audit log verification FAILED at seq %" PRId64 " (%s): %s\n"
               "the hash chain of all %" PRId64 " records and %" PRId64
               " checkpoints verified, chain head %s; audit_zones is not part of the chain\n",
               v->bad_seq, ct_audit_fault_name(v->fault), v->what, v->records, v->checkpoints,
               head);
        return 1;
    }
    if (v->fault != CT_AUDIT_FAULT_NONE) {
        printf("audit log verification FAILED at seq %" PRId64 " (%s): %s\n"
               "%" PRId64 " records before seq %" PRId64 " verified, chain head there %s\n",
               v->bad_seq, ct_audit_fault_name(v->fault), v->what, v->records, v->bad_seq, head);
        return 1;
    }
    printf("audit log verified: %" PRId64 " records, chain head %s\n", v->records, head);
    if (key == NULL) {
        printf("checkpoints: none, and %s has no audit signing key; create one with `careteamd "
               "audit keygen %s`\n",
               dir, dir);
    } else if (v->checkpoints == 0) {
        printf("checkpoints: none in %s yet; the records are covered by the chain alone (the "
               "daemon signs one every audit_checkpoint_rows records or "
               "audit_checkpoint_interval_ms, and when it stops)\n",
               source);
    } else {
        ct_audit_time_text(v->checkpoint_time_ms, when, sizeof when);
        printf("checkpoints: %" PRId64 " from %s verified with audit key %s; the newest covers "
               "seq %" PRId64 ", signed %s",
               v->checkpoints, source, ct_audit_pubkey_key_id(key), v->checkpoint_seq, when);
        if (v->records > v->checkpoint_seq)
            printf("; records after it are covered by the chain alone");
        printf("\n");
    }
    return 0;
}

/*
 * Records the check itself (audit.verify), after the verdict, so that the log shows who checked
 * it and what they found. Verification reads a snapshot read-only and works on read-only copies
 * kept as evidence: there the record is skipped, with a note on stderr, and the verdict stands.
 */
static void record_verify(const char *dir, const ct_audit_verdict_t *v, const char *source)
{
    char db[4096];
    ct_dir_path(db, sizeof db, dir, CT_DIR_DB);
    if (access(db, W_OK) != 0) {
        fprintf(stderr, "careteamd: the check is not recorded in the audit log: %s is read-only\n",
                db);
        return;
    }
    char detail[256];
    if (v->fault == CT_AUDIT_FAULT_ZONES)
        snprintf(detail, sizeof detail,
                 "result=failed bad_seq=%" PRId64 " fault=%s checkpoints=%s zones=%" PRId64,
                 v->bad_seq, ct_audit_fault_name(v->fault),
                 strcmp(source, "the database") == 0 ? "database" : "file", v->zones_uncovered);
    else if (v->fault != CT_AUDIT_FAULT_NONE)
        snprintf(detail, sizeof detail, "result=failed bad_seq=%" PRId64 " fault=%s checkpoints=%s",
                 v->bad_seq, ct_audit_fault_name(v->fault),
                 strcmp(source, "the database") == 0 ? "database" : "file");
    else
        snprintf(detail, sizeof detail,
                 "result=verified records=%" PRId64 " checkpoints=%" PRId64 " source=%s",
                 v->records, v->checkpoints,
                 strcmp(source, "the database") == 0 ? "database" : "file");
    ct_store_t *st;
    if (open_store(dir, &st) != 0)
        return;
    int r = admin_audit(st, "audit.verify", "audit_log", "", detail);
    if (r != 0)
        fprintf(stderr, "careteamd: cannot record the check in the audit log: %s\n",
                ct_strerror(r));
    ct_store_close(st);
}

int ct_admin_audit_verify(const char *dir, const char *cp_file, const char *pub_file)
{
    ct_store_t *st;
    int r = ct_admin_open_store(dir, CT_STORE_READONLY, &st);
    if (r != 0)
        return r;
    char err[512], source[4200];
    ct_audit_checkpoint_t *cps = NULL;
    size_t n = 0;
    ct_audit_pubkey_t *file_key = NULL, *key = NULL;
    /* Checkpoints first: the rows they cover are then in the scan's later snapshot. */
    if (cp_file != NULL) {
        ct_text_copy(source, sizeof source, cp_file);
        r = ct_audit_export_read(cp_file, &cps, &n, &file_key, err, sizeof err);
        if (r != 0)
            fprintf(stderr, "careteamd: %s\n", err);
    } else {
        snprintf(source, sizeof source, "the database");
        r = ct_audit_checkpoints_read(st, &cps, &n);
        if (r != 0)
            fprintf(stderr, "careteamd: cannot read the audit checkpoints: %s\n", ct_strerror(r));
    }
    if (r == 0)
        r = verify_key(dir, cp_file, pub_file, &file_key, n, &key);
    ct_audit_verdict_t v;
    if (r == 0) {
        ct_audit_verify_opts_t o = {.checkpoints = cps, .n_checkpoints = n, .pubkey = key};
        r = ct_audit_verify(st, &o, &v);
        if (r != 0)
            fprintf(stderr, "careteamd: cannot read the audit log to the end: %s\n",
                    ct_strerror(r));
    }
    if (r == 0) {
        r = ct_audit_verify_zones(st, &v);
        if (r != 0)
            fprintf(stderr,
                    "careteamd: cannot check the zone summary of the audit log (audit_zones): "
                    "%s\n",
                    ct_strerror(r));
    }
    ct_store_close(st);
    if (r == 0) {
        r = print_verdict(dir, &v, key, source);
        record_verify(dir, &v, source);
    }
    free(cps);
    ct_audit_pubkey_free(file_key);
    ct_audit_pubkey_free(key);
    return r;
}

int ct_admin_audit_keygen(const char *dir)
{
    char key[4096], pub[4096], err[512], id[CT_AUDIT_KEY_ID_LEN + 1];
    ct_dir_path(key, sizeof key, dir, CT_DIR_AUDIT_KEY);
    ct_dir_path(pub, sizeof pub, dir, CT_DIR_AUDIT_PUB);
    ct_store_t *st;
    int r = open_store(dir, &st);
    if (r != 0)
        return r;
    r = ct_audit_sign_keygen(key, pub, id, err, sizeof err);
    if (r == 0) {
        char detail[64];
        snprintf(detail, sizeof detail, "key_id=%s", id);
        r = admin_audit(st, "audit.keygen", "audit_key", id, detail);
        if (r != 0) {
            /* An unrecorded key is no key: take it back so that the command can be re-run. */
            unlink(key);
            unlink(pub);
            snprintf(err, sizeof err, "cannot write the audit record: %s", ct_strerror(r));
        }
    }
    ct_store_close(st);
    if (r != 0) {
        fprintf(stderr, "careteamd: audit keygen failed: %s\n", err);
        return r;
    }
    printf("Created the audit signing key %s (mode 0600, key id %s)\n"
           "and its public key %s.\n"
           "Keep a copy of the public key off this host: `careteamd audit verify %s --pubkey "
           "COPY`\nchecks the log against it. Restart `careteamd serve` to sign checkpoints.\n",
           key, id, pub, dir);
    return 0;
}

int ct_admin_audit_checkpoint(const char *dir)
{
    char path[4096], err[512] = "";
    ct_dir_path(path, sizeof path, dir, CT_DIR_AUDIT_KEY);
    ct_audit_signer_t *signer = NULL;
    ct_store_t *st = NULL;
    int r = open_store(dir, &st);
    if (r != 0)
        return r;
    r = ct_audit_signer_load(path, &signer, err, sizeof err);
    if (r == CT_ENOTFOUND)
        snprintf(err, sizeof err, "%s not found; create it with `careteamd audit keygen %s`", path,
                 dir);
    int64_t seq = 0;
    uint8_t head[CT_AUDIT_HASH_LEN];
    ct_audit_checkpoint_t cp;
    if (r == 0)
        r = ct_store_begin(st);
    if (r == 0) {
        char detail[64];
        snprintf(detail, sizeof detail, "key_id=%s", ct_audit_signer_key_id(signer));
        r = admin_audit(st, "audit.checkpoint", "audit", "", detail);
        if (r == 0)
            r = ct_store_audit_head(st, &seq, head);
        if (r == 0)
            r = ct_audit_signer_sign(signer, seq, head, ct_now_ms(), &cp);
        if (r == 0 && (r = ct_store_audit_checkpoint_add(st, &cp)) == 1)
            r = 0; /* cannot happen: the row above is new */
        r = ct_admin_end(st, r);
        if (r != 0 && err[0] == '\0')
            ct_text_copy(err, sizeof err, ct_strerror(r));
    }
    ct_store_close(st);
    ct_audit_signer_free(signer);
    if (r != 0) {
        fprintf(stderr, "careteamd: audit checkpoint failed: %s\n", err);
        return r;
    }
    char hex[2 * CT_AUDIT_HASH_LEN + 1];
    ct_audit_chain_hex(head, hex);
    printf("checkpoint signed: seq %" PRId64 ", chain head %s, key id %s\n", seq, hex, cp.key_id);
    return 0;
}

int ct_admin_audit_checkpoints(const char *dir, const char *out_file)
{
    ct_store_t *st;
    int r = ct_admin_open_store(dir, CT_STORE_READONLY, &st);
    if (r != 0)
        return r;
    ct_audit_checkpoint_t *cps = NULL;
    size_t n = 0;
    r = ct_audit_checkpoints_read(st, &cps, &n);
    ct_store_close(st);
    if (r != 0) {
        fprintf(stderr, "careteamd: cannot read the audit checkpoints: %s\n", ct_strerror(r));
        return r;
    }
    char path[4096], err[512], when[40], comment[4400];
    ct_audit_pubkey_t *key = NULL;
    ct_dir_path(path, sizeof path, dir, CT_DIR_AUDIT_PUB);
    if (ct_audit_pubkey_load(path, &key, err, sizeof err) != 0)
        fprintf(stderr,
                "careteamd: warning: %s; exporting the checkpoints without a public key (verify "
                "them with --pubkey FILE)\n",
                err);
    FILE *f = stdout;
    if (out_file != NULL && (f = fopen(out_file, "wxe")) == NULL) {
        int e = errno;
        fprintf(stderr, "careteamd: cannot create %s: %s%s\n", out_file, strerror(e),
                e == EEXIST ? " (an export is never overwritten: choose a new name)" : "");
        free(cps);
        ct_audit_pubkey_free(key);
        return e == EEXIST ? CT_EEXISTS : CT_ESYS;
    }
    ct_audit_time_text(ct_now_ms(), when, sizeof when);
    snprintf(comment, sizeof comment,
             "%zu checkpoints of %s, exported %s; keep this file off the careteamd host", n, dir,
             when);
    r = ct_audit_export_write(f, comment, key, cps, n);
    if (out_file != NULL && fclose(f) != 0)
        r = CT_EIO;
    if (r != 0)
        fprintf(stderr, "careteamd: cannot write %s: %s\n", out_file != NULL ? out_file : "stdout",
                ct_strerror(r));
    else if (out_file != NULL)
        fprintf(stderr, "exported %zu checkpoints%s to %s\n", n,
                key != NULL ? " and the audit public key" : "", out_file);
    free(cps);
    ct_audit_pubkey_free(key);
    return r;
}
