/*
 * careteamd: the command line. Parses a subcommand and its options and calls the module that
 * does the work (admin.c for local administration, server.c for serve).
 *
 * Exit codes: 0 success; 1 the operation failed (the message says why); 2 usage error.
 * `audit verify` splits failure in two: 1 the audit log failed verification (evidence of
 * tampering or corruption), 3 it could not be checked at all (no database, unreadable file).
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "admin_ops.h"
#include "careteam.pb-c.h"
#include "config.h"
#include "err.h"
#include "pki.h"
#include "timeparse.h"
#include "server.h"

#define EXIT_USAGE 2
#define EXIT_UNCHECKED 3 /* audit verify: the log could not be read to a verdict */
#define MAX_HOSTS 32

static const char USAGE[] =
    "usage: careteamd COMMAND [OPTIONS]\n"
    "\n"
    "The careteam daemon and its local administration.\n"
    "\n"
    "commands:\n"
    "  init DIR [--host NAME]... [--crl-url URL]\n"
    "                                 create a data directory (CA, server certificate,\n"
    "                                 revocation list, audit signing key, database)\n"
    "  enroll DIR --id ID --name NAME --role ROLE --out PREFIX [--supervisor ID]\n"
    "                                 register a member and issue PREFIX.key / PREFIX.crt\n"
    "  members DIR [--json]           list members\n"
    "  deactivate DIR --id ID         refuse a member's future connections\n"
    "  activate DIR --id ID           allow a deactivated member again\n"
    "  renew DIR --id ID --out PREFIX a new certificate for a member (expiring or lost)\n"
    "  renew DIR --server [--host NAME]...\n"
    "                                 a new certificate for the daemon (expiring or revoked)\n"
    "  revoke DIR --id ID [--reason R] [--cert FILE]\n"
    "                                 revoke a member's certificate (DIR/crl.pem)\n"
    "  revoke DIR --server [--reason R]\n"
    "                                 revoke the daemon's own certificate (DIR/crl.pem)\n"
    "  participant add|list DIR ...   register participants (by initials or chart number)\n"
    "  team add|remove|show DIR ...   who is on a participant's care team\n"
    "  lockbox add|remove|list DIR ...\n"
    "                                 members a participant wants to receive nothing about them\n"
    "  supervisor set DIR ...         set or clear a peer worker's peer supervisor\n"
    "  serve DIR [--listen HOST:PORT] [--user NAME]\n"
    "                                 run the daemon in the foreground\n"
    "  check-config DIR|FILE          list every problem in the settings and the data directory\n"
    "  backup DIR FILE                copy the database consistently, even while serving\n"
    "  restore FILE DIR               put a backup back into a stopped data directory\n"
    "  audit verify|keygen|checkpoint|checkpoints DIR ...\n"
    "                                 check the audit log (chain and signed checkpoints),\n"
    "                                 make its signing key, sign or export checkpoints\n"
    "  purge DIR --before DATE [--dry-run] [--include-pending] [--force]\n"
    "                                 remove message and summary content older than DATE\n"
    "\n"
    "roles: psychiatrist, therapist, peer_worker, peer_supervisor, compliance, admin\n"
    "Run `careteamd COMMAND --help` for a command's options.\n";

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "careteamd %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun `careteamd %s --help` for usage.\n", cmd);
    return EXIT_USAGE;
}

/* Takes the DIR operand that every command has: the first non-option argument. */
static const char *take_dir(const char *cmd, int argc, char **argv)
{
    if (optind >= argc) {
        usage_error(cmd, "%s", "missing the data directory DIR");
        return NULL;
    }
    if (optind + 1 < argc) {
        usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
        return NULL;
    }
    return argv[optind];
}

static int cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {{"host", required_argument, NULL, 'H'},
                                         {"crl-url", required_argument, NULL, 'u'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *hosts[MAX_HOSTS];
    const char *crl_url = NULL;
    size_t n = 0;
    int c;
    while ((c = getopt_long(argc, argv, "H:u:h", opts, NULL)) != -1) {
        switch (c) {
        case 'H':
            if (n == MAX_HOSTS)
                return usage_error("init", "at most 32 --host options%s", "");
            hosts[n++] = optarg;
            break;
        case 'u':
            if (ct_config_crl_url_check(optarg) != NULL) {
                fprintf(stderr, "careteamd init: invalid --crl-url \"%s\": expected %s\n", optarg,
                        ct_config_crl_url_check(optarg));
                fprintf(stderr, "Run `careteamd init --help` for usage.\n");
                return EXIT_USAGE;
            }
            crl_url = optarg;
            break;
        case 'h':
            printf("usage: careteamd init DIR [--host NAME]... [--crl-url URL]\n\n"
                   "Creates DIR (which must not exist) with a certificate authority (ca.crt,\n"
                   "ca.key), a server certificate for 127.0.0.1, ::1, localhost and every\n"
                   "--host NAME (a DNS name or an IP address), an empty revocation list signed\n"
                   "by the CA (crl.pem), the Ed25519 key that signs audit checkpoints\n"
                   "(audit-signing.key, and audit-signing.pub to keep off the host),\n"
                   "careteamd.conf with every setting at its default, and an empty database.\n"
                   "\n"
                   "  --crl-url URL  where crl.pem will be published (http://, https:// or\n"
                   "                 file://); the server certificate and every member\n"
                   "                 certificate name it, and careteamd.conf keeps it as crl_url.\n"
                   "                 Default: file:// and the absolute path of DIR/crl.pem, which\n"
                   "                 only this machine can read: give an https:// URL when\n"
                   "                 members connect from elsewhere.\n");
            return 0;
        default:
            return usage_error("init", "%s", "unknown option");
        }
    }
    const char *dir = take_dir("init", argc, argv);
    if (dir == NULL)
        return EXIT_USAGE;
    return ct_admin_init(dir, hosts, n, crl_url) == 0 ? 0 : 1;
}

static int cmd_enroll(int argc, char **argv)
{
    static const struct option opts[] = {{"id", required_argument, NULL, 'i'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"role", required_argument, NULL, 'r'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"supervisor", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *id = NULL, *name = NULL, *role_s = NULL, *out = NULL, *supervisor = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "i:n:r:o:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            supervisor = optarg;
            break;
        case 'i':
            id = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'r':
            role_s = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            printf("usage: careteamd enroll DIR --id ID --name NAME --role ROLE --out PREFIX\n"
                   "                        [--supervisor ID]\n\n"
                   "Registers a member and writes PREFIX.key (mode 0600) and PREFIX.crt, a\n"
                   "certificate whose subject CN is ID, signed by DIR's CA.\n"
                   "  --id ID          1-64 characters of A-Z a-z 0-9 . _ -\n"
                   "  --name NAME      the name other members see\n"
                   "  --role ROLE      psychiatrist, therapist, peer_worker, peer_supervisor,\n"
                   "                   compliance or admin\n"
                   "  --out PREFIX     where to write the key and certificate\n"
                   "  --supervisor ID  peer_worker only: their peer supervisor, an active member\n"
                   "                   with role peer_supervisor (`careteamd supervisor set`\n"
                   "                   changes it later)\n");
            return 0;
        default:
            return usage_error("enroll", "%s", "unknown option");
        }
    }
    const char *dir = take_dir("enroll", argc, argv);
    if (dir == NULL)
        return EXIT_USAGE;
    if (id == NULL || name == NULL || role_s == NULL || out == NULL)
        return usage_error("enroll", "%s", "--id, --name, --role and --out are all required");
    ct_role_t role;
    if (ct_role_parse(role_s, &role) != 0)
        return usage_error("enroll",
                           "unknown role '%s'; use psychiatrist, therapist, peer_worker, "
                           "peer_supervisor, compliance or admin",
                           role_s);
    if (supervisor != NULL && role != CT_ROLE_PEER_WORKER)
        return usage_error("enroll",
                           "--supervisor applies only to --role peer_worker (not %s): only peer "
                           "workers have a peer supervisor",
                           role_s);
    return ct_admin_enroll(dir, id, name, role, out, supervisor) == 0 ? 0 : 1;
}

static int cmd_members(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 'h':
            printf("usage: careteamd members DIR [--json]\n\nLists every enrolled member with "
                   "role and status.\n");
            return 0;
        default:
            return usage_error("members", "%s", "unknown option");
        }
    }
    const char *dir = take_dir("members", argc, argv);
    if (dir == NULL)
        return EXIT_USAGE;
    return ct_admin_members(dir, json) == 0 ? 0 : 1;
}

static int cmd_set_active(int argc, char **argv, bool active)
{
    const char *cmd = active ? "activate" : "deactivate";
    static const struct option opts[] = {
        {"id", required_argument, NULL, 'i'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *id = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "i:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            id = optarg;
            break;
        case 'h':
            printf("usage: careteamd %s DIR --id ID\n\n%s\n", cmd,
                   active ? "Allows a deactivated member to connect again."
                          : "Refuses the member's future connections. Their messages and audit "
                            "records are kept.");
            return 0;
        default:
            return usage_error(cmd, "%s", "unknown option");
        }
    }
    const char *dir = take_dir(cmd, argc, argv);
    if (dir == NULL)
        return EXIT_USAGE;
    if (id == NULL)
        return usage_error(cmd, "%s", "--id is required");
    return ct_admin_set_active(dir, id, active) == 0 ? 0 : 1;
}

static int cmd_renew(int argc, char **argv)
{
    static const struct option opts[] = {
        {"id", required_argument, NULL, 'i'}, {"out", required_argument, NULL, 'o'},
        {"server", no_argument, NULL, 's'},   {"host", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},     {0}};
    const char *id = NULL, *out = NULL;
    const char *hosts[MAX_HOSTS];
    size_t n_hosts = 0;
    bool server = false;
    int c;
    while ((c = getopt_long(argc, argv, "i:o:sH:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            id = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 's':
            server = true;
            break;
        case 'H':
            if (n_hosts == MAX_HOSTS)
                return usage_error("renew", "at most 32 --host options%s", "");
            hosts[n_hosts++] = optarg;
            break;
        case 'h':
            printf("usage: careteamd renew DIR --id ID --out PREFIX\n"
                   "       careteamd renew DIR --server [--host NAME]...\n\n"
                   "Issues a new key and certificate (PREFIX.key, PREFIX.crt) for an existing,\n"
                   "active member, e.g. when theirs is about to expire or was lost. The old\n"
                   "certificate stays valid until it expires: revoke it if it must stop now.\n\n"
                   "--server issues the daemon a new key and certificate from the same CA,\n"
                   "replacing DIR/server.key and DIR/server.crt, and tells a running daemon to\n"
                   "reload them: when the certificate expires (it is valid %d days), after\n"
                   "`careteamd revoke DIR --server`, or to add host names. The new certificate\n"
                   "names the hosts of the old one and every --host NAME (a DNS name or an IP\n"
                   "address), and the revocation list of careteamd.conf's crl_url. Members need\n"
                   "nothing new.\n",
                   CT_PKI_SERVER_DAYS);
            return 0;
        default:
            return usage_error("renew", "%s", "unknown option");
        }
    }
    const char *dir = take_dir("renew", argc, argv);
    if (dir == NULL)
        return EXIT_USAGE;
    if (server) {
        if (id != NULL || out != NULL)
            return usage_error("renew", "%s",
                               "--server renews the daemon's certificate: give no --id or --out");
        return ct_admin_renew_server(dir, hosts, n_hosts) == 0 ? 0 : 1;
    }
    if (n_hosts > 0)
        return usage_error("renew", "%s", "--host goes with --server only");
    if (id == NULL || out == NULL)
        return usage_error("renew", "%s", "--id and --out are required (or --server)");
    return ct_admin_renew(dir, id, out) == 0 ? 0 : 1;
}

static int cmd_revoke(int argc, char **argv)
{
    static const struct option opts[] = {
        {"id", required_argument, NULL, 'i'},     {"server", no_argument, NULL, 's'},
        {"reason", required_argument, NULL, 'r'}, {"cert", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},         {0}};
    const char *id = NULL, *cert = NULL;
    bool server = false;
    int reason = CT_PKI_REASON_UNSPECIFIED;
    int c;
    while ((c = getopt_long(argc, argv, "i:sr:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            id = optarg;
            break;
        case 's':
            server = true;
            break;
        case 'r':
            if (ct_pki_reason_parse(optarg, &reason) != 0)
                return usage_error("revoke",
                                   "unknown --reason '%s': use unspecified, keyCompromise, "
                                   "affiliationChanged, superseded, cessationOfOperation or "
                                   "privilegeWithdrawn",
                                   optarg);
            break;
        case 'c':
            cert = optarg;
            break;
        case 'h':
            printf("usage: careteamd revoke DIR --id ID [--reason R] [--cert FILE]\n"
                   "       careteamd revoke DIR --server [--reason R]\n\n"
                   "Adds the member's certificate to DIR/crl.pem, signed by DIR's CA (earlier\n"
                   "revocations stay), and tells a running daemon to reload it: connections made\n"
                   "with the certificate are closed and new ones fail the TLS handshake. The\n"
                   "certificate is the one `enroll` recorded; --cert FILE names one (issued by\n"
                   "DIR's CA to ID) for members enrolled before serials were recorded. R is an\n"
                   "RFC 5280 reason: unspecified (default), keyCompromise, affiliationChanged,\n"
                   "superseded, cessationOfOperation, privilegeWithdrawn. Membership is not\n"
                   "changed (see deactivate); revoking again is harmless.\n\n"
                   "--server revokes the daemon's own certificate (DIR/server.crt) instead, when\n"
                   "its key may have leaked: clients given the list (careteam --crl) then refuse\n"
                   "any server presenting it, this daemon included, until the server has a new\n"
                   "data directory (docs/operations.md, \"If the server's key leaked\").\n");
            return 0;
        default:
            return usage_error("revoke", "%s", "unknown option");
        }
    }
    const char *dir = take_dir("revoke", argc, argv);
    if (dir == NULL)
        return EXIT_USAGE;
    if (server && (id != NULL || cert != NULL))
        return usage_error("revoke", "%s",
                           "--server revokes the daemon's certificate: give --id and --cert only "
                           "without it");
    if (server)
        return ct_admin_revoke_server(dir, reason) == 0 ? 0 : 1;
    if (id == NULL)
        return usage_error("revoke", "%s", "--id ID or --server is required");
    return ct_admin_revoke(dir, id, reason, cert) == 0 ? 0 : 1;
}

static int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'}, {"ready-file", required_argument, NULL, 'R'},
        {"user", required_argument, NULL, 'u'},   {"allow-root", no_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},         {0}};
    ct_serve_opts_t so = {0};
    int c;
    while ((c = getopt_long(argc, argv, "l:R:u:Ah", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            so.listen = optarg;
            break;
        case 'R':
            so.ready_file = optarg;
            break;
        case 'u':
            so.user = optarg;
            break;
        case 'A':
            so.allow_root = true;
            break;
        case 'h':
            printf("usage: careteamd serve DIR [--listen HOST:PORT] [--ready-file PATH]\n"
                   "                      [--user NAME | --allow-root]\n\n"
                   "Serves members over mutual TLS 1.3 until SIGTERM or SIGINT, then finishes\n"
                   "what is in flight and exits 0. Logs go to stderr, one line per event.\n"
                   "Refuses to run as root unless told which account to switch to.\n"
                   "  --listen HOST:PORT  overrides `listen` in DIR/careteamd.conf; port 0\n"
                   "                      picks a free port\n"
                   "  --ready-file PATH   once listening, write \"HOST:PORT\" to PATH (with\n"
                   "                      --user, NAME must be able to write there)\n"
                   "  --user NAME         when started as root: bind the port, then switch to\n"
                   "                      NAME for good (overrides `user` in careteamd.conf);\n"
                   "                      NAME must own DIR\n"
                   "  --allow-root        serve as root all the same (a container or test rig\n"
                   "                      whose only account is root); never on a shared host\n");
            return 0;
        default:
            return usage_error("serve", "%s", "unknown option");
        }
    }
    so.dir = take_dir("serve", argc, argv);
    if (so.dir == NULL)
        return EXIT_USAGE;
    return ct_server_run(&so) == 0 ? 0 : 1;
}

/* Takes the two operands of backup and restore, in order. */
static bool take_two(const char *cmd, int argc, char **argv, const char *what, const char **a,
                     const char **b)
{
    if (optind + 2 > argc) {
        usage_error(cmd, "missing operands: expected %s", what);
        return false;
    }
    if (optind + 2 < argc) {
        usage_error(cmd, "unexpected argument '%s'", argv[optind + 2]);
        return false;
    }
    *a = argv[optind];
    *b = argv[optind + 1];
    return true;
}

/* Parses the options of a command that has none but --help. Returns -1 to go on, or the exit
 * code (help printed: 0; usage error: 2). */
static int only_help(const char *cmd, const char *help, int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c != 'h')
            return usage_error(cmd, "%s", "unknown option");
        fputs(help, stdout);
        return 0;
    }
    return -1;
}

/* `careteamd check-config DIR|FILE` (admin_check.c). */
static int cmd_check_config(int argc, char **argv)
{
    static const char help[] =
        "usage: careteamd check-config DIR|FILE\n\n"
        "Reads DIR/careteamd.conf (or FILE) and prints every problem on stderr, each with its\n"
        "line: unknown keys (with the nearest known one), malformed or out-of-range values,\n"
        "rules between keys; a key set twice is a warning (its last value is used). With a\n"
        "data directory it then makes the checks `serve` makes at start: the files it needs,\n"
        "their permissions, and with `user` set, that the account exists and owns DIR.\n"
        "Prints \"PATH: OK (listen HOST:PORT)\" and exits 0 when serve would accept it; exits 1\n"
        "when there are problems, 2 for a usage error. Changes nothing.\n";
    int rc = only_help("check-config", help, argc, argv);
    if (rc >= 0)
        return rc;
    const char *path = take_dir("check-config", argc, argv);
    if (path == NULL)
        return EXIT_USAGE;
    return ct_admin_check_config(path) == 0 ? 0 : 1;
}

/* `careteamd backup DIR FILE` (admin_backup.c). */
static int cmd_backup(int argc, char **argv)
{
    static const char help[] =
        "usage: careteamd backup DIR FILE\n\n"
        "Writes a consistent copy of DIR's database to FILE (which must not exist) with\n"
        "SQLite's online backup API: everything committed before the backup began, nothing\n"
        "half-written. Safe while the daemon serves; it is not held up. The backup is audited\n"
        "in DIR (admin.backup). FILE holds message bodies: keep it as private as DIR. The CA,\n"
        "keys and settings are not in it: keep one copy of the data directory for those.\n";
    int rc = only_help("backup", help, argc, argv);
    if (rc >= 0)
        return rc;
    const char *dir, *file;
    if (!take_two("backup", argc, argv, "DIR FILE", &dir, &file))
        return EXIT_USAGE;
    return ct_admin_backup(dir, file) == 0 ? 0 : 1;
}

/* `careteamd restore FILE DIR` (admin_backup.c). */
static int cmd_restore(int argc, char **argv)
{
    static const char help[] =
        "usage: careteamd restore FILE DIR\n\n"
        "Replaces the database of the data directory DIR with the backup FILE. DIR must exist\n"
        "(its CA, keys and settings stay) and no daemon may serve it. FILE is copied into DIR,\n"
        "checked (database structure; audit chain and signed checkpoints, under DIR's audit\n"
        "key), brought to the current schema and audited (admin.restore) before it is moved\n"
        "into place in one step; the previous database is kept as\n"
        "DIR/careteam.db.before-restore (restore refuses if that exists). Nothing changes if\n"
        "a check fails.\n";
    int rc = only_help("restore", help, argc, argv);
    if (rc >= 0)
        return rc;
    const char *file, *dir;
    if (!take_two("restore", argc, argv, "FILE DIR", &file, &dir))
        return EXIT_USAGE;
    return ct_admin_restore(file, dir) == 0 ? 0 : 1;
}

static const char AUDIT_USAGE[] =
    "usage: careteamd audit verify DIR [--checkpoints FILE] [--pubkey FILE]\n"
    "       careteamd audit keygen DIR\n"
    "       careteamd audit checkpoint DIR\n"
    "       careteamd audit checkpoints DIR [--out FILE]\n"
    "\n"
    "  verify       recompute the hash chain of DIR's audit log from its first record and\n"
    "               check every signed checkpoint against it\n"
    "  keygen       make the checkpoint signing key of a data directory that has none\n"
    "  checkpoint   sign a checkpoint of the log as it is now\n"
    "  checkpoints  export every checkpoint and the public key, to keep off the host\n";

/* The options of the audit subcommands: one parser, each subcommand names the ones it takes. */
typedef struct audit_args {
    const char *dir, *checkpoints, *pubkey, *out;
} audit_args_t;

#define AO_CHECKPOINTS 0x1u
#define AO_PUBKEY 0x2u
#define AO_OUT 0x4u

/* Parses `careteamd audit SUB DIR [OPTIONS]` (argv[0] is SUB) into a. Returns -1 to go on, or
 * the exit code (help printed: 0; usage error: 2). */
static int audit_parse(const char *cmd, unsigned allowed, const char *help, int argc, char **argv,
                       audit_args_t *a)
{
    static const struct option opts[] = {{"checkpoints", required_argument, NULL, 'c'},
                                         {"pubkey", required_argument, NULL, 'p'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    int c;
    while ((c = getopt_long(argc, argv, "c:p:o:h", opts, NULL)) != -1) {
        unsigned bit = c == 'c' ? AO_CHECKPOINTS : c == 'p' ? AO_PUBKEY : c == 'o' ? AO_OUT : 0;
        if (c == 'h') {
            fputs(help, stdout);
            return 0;
        }
        if (bit == 0)
            return usage_error(cmd, "%s", "unknown option");
        if (!(allowed & bit))
            return usage_error(cmd, "%s does not apply to this command",
                               c == 'c'   ? "--checkpoints"
                               : c == 'p' ? "--pubkey"
                                          : "--out");
        if (c == 'c')
            a->checkpoints = optarg;
        else if (c == 'p')
            a->pubkey = optarg;
        else
            a->out = optarg;
    }
    a->dir = take_dir(cmd, argc, argv);
    return a->dir == NULL ? EXIT_USAGE : -1;
}

static int cmd_audit_verify(int argc, char **argv)
{
    static const char help[] =
        "usage: careteamd audit verify DIR [--checkpoints FILE] [--pubkey FILE]\n\n"
        "Reads DIR's audit log read-only and recomputes every record's leaf hash and the hash\n"
        "chain from the genesis value (docs/compliance.md), and checks every signed checkpoint:\n"
        "its signature, its chain head against the recomputed one, and that the log is not\n"
        "shorter than it; then that the zone summary that queries by time, actor or action\n"
        "read (audit_zones, outside the chain) covers every record. Prints \"audit log\n"
        "verified: N records, chain head HEX\" and a line about the checkpoints and exits 0,\n"
        "or names the first bad sequence number and what is wrong with it (edited, missing,\n"
        "inserted, renumbered, chain, malformed, signature, rewritten, truncated, zones) and\n"
        "exits 1. Exits 3 if the log cannot be checked. Safe to run while the daemon serves.\n"
        "  --checkpoints FILE  check against the checkpoints of an export (`careteamd audit\n"
        "                      checkpoints`) instead of those in the database, with the\n"
        "                      export's public key unless --pubkey is given\n"
        "  --pubkey FILE       the audit public key (PEM, a copy of audit-signing.pub) to\n"
        "                      check signatures with, instead of DIR/audit-signing.pub\n";
    audit_args_t a = {0};
    int rc = audit_parse("audit verify", AO_CHECKPOINTS | AO_PUBKEY, help, argc, argv, &a);
    if (rc >= 0)
        return rc;
    int r = ct_admin_audit_verify(a.dir, a.checkpoints, a.pubkey);
    return r == 0 ? 0 : r > 0 ? 1 : EXIT_UNCHECKED;
}

static int cmd_audit_keygen(int argc, char **argv)
{
    static const char help[] =
        "usage: careteamd audit keygen DIR\n\n"
        "Makes the Ed25519 key that signs the audit log's checkpoints, DIR/audit-signing.key\n"
        "(mode 0600), and its public key DIR/audit-signing.pub, for a data directory made\n"
        "before `careteamd init` made them; `careteamd serve` refuses to start without it.\n"
        "Refuses if either file exists. Audited (audit.keygen). Keep a copy of the public key\n"
        "off this host.\n";
    audit_args_t a = {0};
    int rc = audit_parse("audit keygen", 0, help, argc, argv, &a);
    if (rc >= 0)
        return rc;
    return ct_admin_audit_keygen(a.dir) == 0 ? 0 : 1;
}

static int cmd_audit_checkpoint(int argc, char **argv)
{
    static const char help[] =
        "usage: careteamd audit checkpoint DIR\n\n"
        "Appends an audit.checkpoint record and signs a checkpoint covering the whole log as\n"
        "it is now, with DIR/audit-signing.key. The daemon signs checkpoints by itself (every\n"
        "audit_checkpoint_rows records or audit_checkpoint_interval_ms, and when it stops);\n"
        "this is for a checkpoint now, e.g. just before an export. Safe while it serves.\n";
    audit_args_t a = {0};
    int rc = audit_parse("audit checkpoint", 0, help, argc, argv, &a);
    if (rc >= 0)
        return rc;
    return ct_admin_audit_checkpoint(a.dir) == 0 ? 0 : 1;
}

static int cmd_audit_checkpoints(int argc, char **argv)
{
    static const char help[] =
        "usage: careteamd audit checkpoints DIR [--out FILE]\n\n"
        "Exports every signed checkpoint of DIR's audit log (seq, chain head, time, signature,\n"
        "key id; one a line) and the audit public key, to keep off this host; `careteamd audit\n"
        "verify DIR --checkpoints FILE` checks the log against such a file. Read-only.\n"
        "  --out FILE  write to FILE (which must not exist) instead of stdout\n";
    audit_args_t a = {0};
    int rc = audit_parse("audit checkpoints", AO_OUT, help, argc, argv, &a);
    if (rc >= 0)
        return rc;
    return ct_admin_audit_checkpoints(a.dir, a.out) == 0 ? 0 : 1;
}

/* `careteamd audit SUBCOMMAND ...`: argv[0] is "audit". */
static int cmd_audit(int argc, char **argv)
{
    if (argc < 2) {
        fputs(AUDIT_USAGE, stderr);
        return EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        fputs(AUDIT_USAGE, stdout);
        return 0;
    }
    argc--;
    argv++;
    optind = 1;
    if (strcmp(sub, "verify") == 0)
        return cmd_audit_verify(argc, argv);
    if (strcmp(sub, "keygen") == 0)
        return cmd_audit_keygen(argc, argv);
    if (strcmp(sub, "checkpoint") == 0)
        return cmd_audit_checkpoint(argc, argv);
    if (strcmp(sub, "checkpoints") == 0)
        return cmd_audit_checkpoints(argc, argv);
    fprintf(stderr, "careteamd audit: unknown subcommand '%s'\n\n%s", sub, AUDIT_USAGE);
    return EXIT_USAGE;
}

/* `careteamd purge DIR --before DATE ...` (admin_purge.c). */
static int cmd_purge(int argc, char **argv)
{
    static const struct option opts[] = {{"before", required_argument, NULL, 'b'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {"include-pending", no_argument, NULL, 'p'},
                                         {"force", no_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *before = NULL;
    ct_admin_purge_opts_t o = {0};
    int c;
    while ((c = getopt_long(argc, argv, "b:npfh", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            before = optarg;
            break;
        case 'n':
            o.dry_run = true;
            break;
        case 'p':
            o.include_pending = true;
            break;
        case 'f':
            o.force = true;
            break;
        case 'h':
            printf("usage: careteamd purge DIR --before DATE [--dry-run] [--include-pending]\n"
                   "                       [--force]\n\n"
                   "Removes the subject and body of every message stored before DATE (and the\n"
                   "snapshot a workflow event carries), and the text, goals progress and next\n"
                   "steps of every session summary created before DATE. Ids, senders,\n"
                   "recipients, times and the audit trail are kept; audit records are never\n"
                   "purged. The purge is itself audited (retention.purge). Safe to run while\n"
                   "the daemon serves; it is one transaction, during which the daemon's writes\n"
                   "wait (about 5 s per million messages): purge a large backlog in steps,\n"
                   "oldest DATE first.\n"
                   "  --before DATE      YYYY-MM-DD (midnight UTC) or RFC 3339, e.g.\n"
                   "                     2024-01-31T12:00:00Z; at least %d days ago\n"
                   "  --dry-run          print what would be removed; change nothing\n"
                   "  --include-pending  also messages not yet delivered to every recipient\n"
                   "                     (kept by default: their content was never read)\n"
                   "  --force            allow a DATE less than %d days ago\n",
                   CT_PURGE_MIN_AGE_DAYS, CT_PURGE_MIN_AGE_DAYS);
            return 0;
        default:
            return usage_error("purge", "%s", "unknown option");
        }
    }
    const char *dir = take_dir("purge", argc, argv);
    if (dir == NULL)
        return EXIT_USAGE;
    if (before == NULL)
        return usage_error("purge", "%s", "--before DATE is required");
    int64_t before_ms;
    if (ct_time_parse(before, &before_ms, NULL) != 0)
        return usage_error("purge",
                           "--before '%s' is not a date: use YYYY-MM-DD (UTC) or RFC 3339 "
                           "such as 2024-01-31T12:00:00Z",
                           before);
    return ct_admin_purge(dir, before_ms, &o) == 0 ? 0 : 1;
}

/* ---- care-team commands: participant, team, lockbox, supervisor (admin_care.c) -------------
 * Every one of them is `careteamd GROUP SUB DIR [OPTIONS]`. One table names each command's
 * options, which of them are required, its help and the function that runs it; one parser reads
 * them all and refuses an option the command does not take. */

/* The options of the care-team commands, as bits of care_cmd_t.opts / .required. */
#define O_ID 0x01u
#define O_LABEL 0x02u
#define O_PARTICIPANT 0x04u
#define O_MEMBER 0x08u
#define O_REASON 0x10u
#define O_SUPERVISOR 0x20u
#define O_NONE 0x40u
#define O_JSON 0x80u

typedef struct care_args {
    const char *cmd; /* "team add", for messages */
    const char *dir;
    const char *id, *label, *participant, *member, *reason, *supervisor;
    bool none, json;
} care_args_t;

typedef struct care_cmd {
    const char *group, *name;
    unsigned opts, required;
    const char *synopsis; /* after "careteamd " */
    const char *help;     /* the paragraph(s) after the usage line */
    int (*run)(const care_args_t *a);
} care_cmd_t;

static int exit_of(int r)
{
    return r == 0 ? 0 : 1;
}

static int run_participant_add(const care_args_t *a)
{
    return exit_of(ct_admin_participant_add(a->dir, a->id, a->label));
}

static int run_participant_list(const care_args_t *a)
{
    return exit_of(ct_admin_participant_list(a->dir, a->json));
}

static int run_team_add(const care_args_t *a)
{
    return exit_of(ct_admin_team_add(a->dir, a->participant, a->member));
}

static int run_team_remove(const care_args_t *a)
{
    return exit_of(ct_admin_team_remove(a->dir, a->participant, a->member));
}

static int run_team_show(const care_args_t *a)
{
    return exit_of(ct_admin_team_show(a->dir, a->participant, a->json));
}

static int run_lockbox_add(const care_args_t *a)
{
    return exit_of(ct_admin_lockbox_add(a->dir, a->participant, a->member, a->reason));
}

static int run_lockbox_remove(const care_args_t *a)
{
    return exit_of(ct_admin_lockbox_remove(a->dir, a->participant, a->member));
}

static int run_lockbox_list(const care_args_t *a)
{
    return exit_of(ct_admin_lockbox_list(a->dir, a->participant, a->json));
}

static int run_supervisor_set(const care_args_t *a)
{
    if ((a->supervisor != NULL) == a->none)
        return usage_error(a->cmd, "%s", "give exactly one of --supervisor S or --none");
    return exit_of(ct_admin_supervisor_set(a->dir, a->member, a->none ? "" : a->supervisor));
}

static const care_cmd_t CARE_CMDS[] = {
    {"participant", "add", O_ID | O_LABEL, O_ID | O_LABEL,
     "participant add DIR --id P --label TEXT",
     "Registers a participant (a person receiving care), so that members can be put on their\n"
     "care team.\n"
     "  --id P        1-64 characters of A-Z a-z 0-9 . _ -; never reused\n"
     "  --label TEXT  1-64 bytes shown to the care team: the participant's initials or a chart\n"
     "                number, never a full name. It is kept out of the audit trail and logs.\n",
     run_participant_add},
    {"participant", "list", O_JSON, 0, "participant list DIR [--json]",
     "Lists every participant: id, when registered (UTC) and label.\n"
     "  --json  one JSON array of {\"id\", \"label\", \"created_at_ms\"}\n",
     run_participant_list},
    {"team", "add", O_PARTICIPANT | O_MEMBER, O_PARTICIPANT | O_MEMBER,
     "team add DIR --participant P --member M",
     "Puts member M on participant P's care team: team members may exchange messages,\n"
     "consents, referrals and summaries about P. M must be active; compliance and admin\n"
     "members cannot join a care team. Peer workers usually join by accepting a referral.\n",
     run_team_add},
    {"team", "remove", O_PARTICIPANT | O_MEMBER, O_PARTICIPANT | O_MEMBER,
     "team remove DIR --participant P --member M",
     "Takes member M off participant P's care team: from then on M's requests about P are\n"
     "refused. What M already received is kept.\n",
     run_team_remove},
    {"team", "show", O_PARTICIPANT | O_JSON, O_PARTICIPANT,
     "team show DIR --participant P [--json]",
     "Lists P's care team in join order (member, role, status, when and how they joined:\n"
     "\"admin\" or \"referral:<id>\"), then P's lockbox restrictions.\n"
     "  --json  one JSON object {\"participant_id\", \"team\": [{\"member_id\", \"role\",\n"
     "          \"display_name\", \"active\", \"joined_at_ms\", \"via\"}], \"restrictions\":\n"
     "          [{\"member_id\", \"reason\", \"recorded_by\", \"recorded_at_ms\"}]}\n",
     run_team_show},
    {"lockbox", "add", O_PARTICIPANT | O_MEMBER | O_REASON, O_PARTICIPANT | O_MEMBER,
     "lockbox add DIR --participant P --member M [--reason TEXT]",
     "Records, at participant P's request, that member M must receive nothing about P:\n"
     "messages about P are withheld from M and M's requests about P are refused, whether or\n"
     "not M is on P's care team.\n"
     "  --reason TEXT  why, up to 1024 bytes; kept with the restriction, not in the audit trail\n",
     run_lockbox_add},
    {"lockbox", "remove", O_PARTICIPANT | O_MEMBER, O_PARTICIPANT | O_MEMBER,
     "lockbox remove DIR --participant P --member M",
     "Lifts participant P's restriction of member M.\n", run_lockbox_remove},
    {"lockbox", "list", O_PARTICIPANT | O_JSON, O_PARTICIPANT,
     "lockbox list DIR --participant P [--json]",
     "Lists participant P's lockbox restrictions, oldest first.\n"
     "  --json  one JSON array of {\"member_id\", \"reason\", \"recorded_by\", "
     "\"recorded_at_ms\"}\n",
     run_lockbox_list},
    {"supervisor", "set", O_MEMBER | O_SUPERVISOR | O_NONE, O_MEMBER,
     "supervisor set DIR --member M (--supervisor S | --none)",
     "Sets or clears the peer supervisor of peer worker M. A peer supervisor sees the\n"
     "referrals and summaries of the peer workers they supervise and may reassign referrals\n"
     "between them.\n"
     "  --supervisor S  an active member with role peer_supervisor\n"
     "  --none          M has no supervisor from now on\n",
     run_supervisor_set},
};

#define N_CARE_CMDS (sizeof CARE_CMDS / sizeof CARE_CMDS[0])

/* The option names of the O_* bits, in bit order, for messages. */
static const char *const CARE_OPT_NAMES[] = {
    "--id", "--label", "--participant", "--member", "--reason", "--supervisor", "--none", "--json"};

/* Parses and runs one care-team command; argv[0] is its name ("add"). Returns the exit code. */
static int care_run(const care_cmd_t *cc, int argc, char **argv)
{
    static const struct option opts[] = {{"id", required_argument, NULL, 'i'},
                                         {"label", required_argument, NULL, 'l'},
                                         {"participant", required_argument, NULL, 'p'},
                                         {"member", required_argument, NULL, 'm'},
                                         {"reason", required_argument, NULL, 'r'},
                                         {"supervisor", required_argument, NULL, 's'},
                                         {"none", no_argument, NULL, 'N'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    char cmd[32];
    snprintf(cmd, sizeof cmd, "%s %s", cc->group, cc->name);
    care_args_t a = {.cmd = cmd};
    unsigned seen = 0;
    int c;
    while ((c = getopt_long(argc, argv, "i:l:p:m:r:s:Njh", opts, NULL)) != -1) {
        unsigned bit = 0;
        switch (c) {
        case 'i':
            a.id = optarg;
            bit = O_ID;
            break;
        case 'l':
            a.label = optarg;
            bit = O_LABEL;
            break;
        case 'p':
            a.participant = optarg;
            bit = O_PARTICIPANT;
            break;
        case 'm':
            a.member = optarg;
            bit = O_MEMBER;
            break;
        case 'r':
            a.reason = optarg;
            bit = O_REASON;
            break;
        case 's':
            a.supervisor = optarg;
            bit = O_SUPERVISOR;
            break;
        case 'N':
            a.none = true;
            bit = O_NONE;
            break;
        case 'j':
            a.json = true;
            bit = O_JSON;
            break;
        case 'h':
            printf("usage: careteamd %s\n\n%s", cc->synopsis, cc->help);
            return 0;
        default:
            return usage_error(cmd, "%s", "unknown option");
        }
        if (!(cc->opts & bit)) {
            size_t i = 0;
            while ((1u << i) != bit)
                i++;
            return usage_error(cmd, "%s does not apply to this command", CARE_OPT_NAMES[i]);
        }
        seen |= bit;
    }
    a.dir = take_dir(cmd, argc, argv);
    if (a.dir == NULL)
        return EXIT_USAGE;
    for (size_t i = 0; i < sizeof CARE_OPT_NAMES / sizeof CARE_OPT_NAMES[0]; i++) {
        if ((cc->required & (1u << i)) && !(seen & (1u << i)))
            return usage_error(cmd, "%s is required", CARE_OPT_NAMES[i]);
    }
    return cc->run(&a);
}

/* Prints the subcommands of group on f. */
static void care_group_usage(FILE *f, const char *group)
{
    fprintf(f, "usage:\n");
    for (size_t i = 0; i < N_CARE_CMDS; i++) {
        if (strcmp(CARE_CMDS[i].group, group) == 0)
            fprintf(f, "  careteamd %s\n", CARE_CMDS[i].synopsis);
    }
    fprintf(f, "\nRun `careteamd %s SUBCOMMAND --help` for what each does.\n", group);
}

static bool is_care_group(const char *group)
{
    for (size_t i = 0; i < N_CARE_CMDS; i++) {
        if (strcmp(CARE_CMDS[i].group, group) == 0)
            return true;
    }
    return false;
}

/* `careteamd GROUP SUBCOMMAND ...` for the care-team groups: argv[0] is the group. */
static int cmd_care(int argc, char **argv)
{
    const char *group = argv[0];
    if (argc < 2) {
        care_group_usage(stderr, group);
        return EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        care_group_usage(stdout, group);
        return 0;
    }
    for (size_t i = 0; i < N_CARE_CMDS; i++) {
        if (strcmp(CARE_CMDS[i].group, group) == 0 && strcmp(CARE_CMDS[i].name, sub) == 0) {
            optind = 1;
            return care_run(&CARE_CMDS[i], argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "careteamd %s: unknown subcommand '%s'\n\n", group, sub);
    care_group_usage(stderr, group);
    return EXIT_USAGE;
}

/*
 * Every careteamd command is on the record. Commands that change something write their own audit
 * row with the change; this covers the rest, once the command has finished: a command that only
 * reads (listings, check-config, `audit checkpoints`, `purge --dry-run`) as `admin.read`, and a
 * command that was refused or failed as `admin.refused`, with the command and its exit status.
 * The row goes to the data directory named on the command line, when it has a database; a command
 * refused before naming one (or naming a directory without one) can only say so on stderr.
 * `serve` (the daemon audits itself), `init` and `restore` (they create or replace the database)
 * and `audit verify` (it records its own verdict) are left out.
 */
static bool command_reads_only(const char *cmd, int argc, char **argv)
{
    static const char *const reads[] = {"members", "check-config"};
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        if (strcmp(cmd, reads[i]) == 0)
            return true;
    }
    const char *sub = argc > 1 ? argv[1] : "";
    if ((strcmp(cmd, "participant") == 0 && strcmp(sub, "list") == 0) ||
        (strcmp(cmd, "team") == 0 && strcmp(sub, "show") == 0) ||
        (strcmp(cmd, "lockbox") == 0 && strcmp(sub, "list") == 0) ||
        (strcmp(cmd, "audit") == 0 && strcmp(sub, "checkpoints") == 0))
        return true;
    for (int i = 1; strcmp(cmd, "purge") == 0 && i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0)
            return true;
    }
    return false;
}

static void record_command(const char *cmd, int argc, char **argv, int rc)
{
    if (strcmp(cmd, "serve") == 0 || strcmp(cmd, "init") == 0 || strcmp(cmd, "restore") == 0 ||
        (strcmp(cmd, "audit") == 0 && argc > 1 && strcmp(argv[1], "verify") == 0))
        return;
    bool reads = command_reads_only(cmd, argc, argv);
    if (rc == 0 && !reads)
        return; /* it recorded its change itself */
    for (int i = 1; i < argc; i++) {
        char db[4200];
        if (argv[i][0] == '-' || ct_dir_path(db, sizeof db, argv[i], CT_DIR_DB) != 0 ||
            access(db, W_OK) != 0)
            continue;
        char what[96], detail[160];
        bool group = argc > 1 && argv[1][0] != '-' && i > 1 &&
                     (strcmp(cmd, "audit") == 0 || strcmp(cmd, "participant") == 0 ||
                      strcmp(cmd, "team") == 0 || strcmp(cmd, "lockbox") == 0 ||
                      strcmp(cmd, "supervisor") == 0);
        snprintf(what, sizeof what, "%s%s%s", cmd, group ? " " : "", group ? argv[1] : "");
        snprintf(detail, sizeof detail, "command=\"%s\" exit=%d", what, rc);
        ct_store_t *st;
        if (ct_store_open(db, CT_STORE_READWRITE, &st, NULL, 0) != 0)
            return;
        (void)ct_admin_audit_outcome(st, rc == 0 ? "admin.read" : "admin.refused", "command", what,
                                     NULL, rc == 0 ? CT_AUDIT_SUCCESS : CT_AUDIT_MINOR_FAILURE,
                                     detail);
        ct_store_close(st);
        return;
    }
}

static int run_command(const char *cmd, int argc, char **argv);

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("careteamd %s (protocol %d)\n", CT_VERSION,
               CARETEAM__V1__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT);
        return 0;
    }
    /* Options follow the command: getopt sees argv[1..] with the command as its argv[0]. */
    argc--;
    argv++;
    optind = 1;
    /* getopt permutes argv; keep the order the administrator typed for the record. */
    char **typed = calloc((size_t)argc + 1, sizeof *typed);
    if (typed != NULL)
        memcpy(typed, argv, (size_t)argc * sizeof *typed);
    int rc = run_command(cmd, argc, argv);
    if (typed != NULL)
        record_command(cmd, argc, typed, rc);
    free(typed);
    return rc;
}

static int run_command(const char *cmd, int argc, char **argv)
{
    if (strcmp(cmd, "init") == 0)
        return cmd_init(argc, argv);
    if (strcmp(cmd, "enroll") == 0)
        return cmd_enroll(argc, argv);
    if (strcmp(cmd, "members") == 0)
        return cmd_members(argc, argv);
    if (strcmp(cmd, "deactivate") == 0)
        return cmd_set_active(argc, argv, false);
    if (strcmp(cmd, "activate") == 0)
        return cmd_set_active(argc, argv, true);
    if (strcmp(cmd, "renew") == 0)
        return cmd_renew(argc, argv);
    if (strcmp(cmd, "revoke") == 0)
        return cmd_revoke(argc, argv);
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc, argv);
    if (strcmp(cmd, "check-config") == 0)
        return cmd_check_config(argc, argv);
    if (strcmp(cmd, "backup") == 0)
        return cmd_backup(argc, argv);
    if (strcmp(cmd, "restore") == 0)
        return cmd_restore(argc, argv);
    if (strcmp(cmd, "audit") == 0)
        return cmd_audit(argc, argv);
    if (strcmp(cmd, "purge") == 0)
        return cmd_purge(argc, argv);
    if (is_care_group(cmd))
        return cmd_care(argc, argv);
    fprintf(stderr, "careteamd: unknown command '%s'\n\n%s", cmd, USAGE);
    return EXIT_USAGE;
}
