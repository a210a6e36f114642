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

#include "admin.h"
#include "careteam.pb-c.h"
#include "err.h"
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
    "  init DIR [--host NAME]...      create a data directory (CA, server certificate, database)\n"
    "  enroll DIR --id ID --name NAME --role ROLE --out PREFIX\n"
    "                                 register a member and issue PREFIX.key / PREFIX.crt\n"
    "  members DIR [--json]           list members\n"
    "  deactivate DIR --id ID         refuse a member's future connections\n"
    "  activate DIR --id ID           allow a deactivated member again\n"
    "  serve DIR [--listen HOST:PORT] run the daemon in the foreground\n"
    "  audit verify DIR               check the audit log's hash chain from its first record\n"
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
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *hosts[MAX_HOSTS];
    size_t n = 0;
    int c;
    while ((c = getopt_long(argc, argv, "H:h", opts, NULL)) != -1) {
        switch (c) {
        case 'H':
            if (n == MAX_HOSTS)
                return usage_error("init", "at most 32 --host options%s", "");
            hosts[n++] = optarg;
            break;
        case 'h':
            printf("usage: careteamd init DIR [--host NAME]...\n\n"
                   "Creates DIR (which must not exist) with a certificate authority (ca.crt,\n"
                   "ca.key), a server certificate for 127.0.0.1, ::1, localhost and every\n"
                   "--host NAME (a DNS name or an IP address), careteamd.conf with every\n"
                   "setting at its default, and an empty database.\n");
            return 0;
        default:
            return usage_error("init", "%s", "unknown option");
        }
    }
    const char *dir = take_dir("init", argc, argv);
    if (dir == NULL)
        return EXIT_USAGE;
    return ct_admin_init(dir, hosts, n) == 0 ? 0 : 1;
}

static int cmd_enroll(int argc, char **argv)
{
    static const struct option opts[] = {
        {"id", required_argument, NULL, 'i'},   {"name", required_argument, NULL, 'n'},
        {"role", required_argument, NULL, 'r'}, {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},       {0}};
    const char *id = NULL, *name = NULL, *role_s = NULL, *out = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "i:n:r:o:h", opts, NULL)) != -1) {
        switch (c) {
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
            printf("usage: careteamd enroll DIR --id ID --name NAME --role ROLE --out PREFIX\n\n"
                   "Registers a member and writes PREFIX.key (mode 0600) and PREFIX.crt, a\n"
                   "certificate whose subject CN is ID, signed by DIR's CA.\n"
                   "  --id ID       1-64 characters of A-Z a-z 0-9 . _ -\n"
                   "  --name NAME   the name other members see\n"
                   "  --role ROLE   psychiatrist, therapist, peer_worker, peer_supervisor,\n"
                   "                compliance or admin\n"
                   "  --out PREFIX  where to write the key and certificate\n");
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
    return ct_admin_enroll(dir, id, name, role, out) == 0 ? 0 : 1;
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

static int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                         {"ready-file", required_argument, NULL, 'R'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    ct_serve_opts_t so = {0};
    int c;
    while ((c = getopt_long(argc, argv, "l:R:h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            so.listen = optarg;
            break;
        case 'R':
            so.ready_file = optarg;
            break;
        case 'h':
            printf("usage: careteamd serve DIR [--listen HOST:PORT] [--ready-file PATH]\n\n"
                   "Serves members over mutual TLS 1.3 until SIGTERM or SIGINT, then finishes\n"
                   "what is in flight and exits 0. Logs go to stderr, one line per event.\n"
                   "  --listen HOST:PORT  overrides `listen` in DIR/careteamd.conf; port 0\n"
                   "                      picks a free port\n"
                   "  --ready-file PATH   once listening, write \"HOST:PORT\" to PATH\n");
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

static const char AUDIT_USAGE[] =
    "usage: careteamd audit verify DIR\n"
    "\n"
    "  verify DIR   recompute the hash chain of DIR's audit log from its first record\n";

static int cmd_audit_verify(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("usage: careteamd audit verify DIR\n\n"
                   "Reads DIR's audit log read-only and recomputes every record's leaf hash and\n"
                   "the hash chain from the genesis value (docs/compliance.md). Prints\n"
                   "\"audit log verified: N records, chain head HEX\" and exits 0, or names the\n"
                   "first bad sequence number and what is wrong with it (edited, missing,\n"
                   "inserted, renumbered, chain, malformed) and exits 1. Exits 3 if the log\n"
                   "cannot be read. Safe to run while the daemon serves.\n");
            return 0;
        default:
            return usage_error("audit verify", "%s", "unknown option");
        }
    }
    const char *dir = take_dir("audit verify", argc, argv);
    if (dir == NULL)
        return EXIT_USAGE;
    int r = ct_admin_audit_verify(dir);
    return r == 0 ? 0 : r > 0 ? 1 : EXIT_UNCHECKED;
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
    fprintf(stderr, "careteamd audit: unknown subcommand '%s'\n\n%s", sub, AUDIT_USAGE);
    return EXIT_USAGE;
}

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
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc, argv);
    if (strcmp(cmd, "audit") == 0)
        return cmd_audit(argc, argv);
    fprintf(stderr, "careteamd: unknown command '%s'\n\n%s", cmd, USAGE);
    return EXIT_USAGE;
}
