/*
 * Fuzz target: the audit verifier (server/audit_verify.c, ct_audit_verify) and the checkpoint
 * export reader an auditor feeds it (server/audit_export.c, ct_audit_export_read).
 *
 * Once per process the harness makes, in a private directory (on /dev/shm when writable), a
 * database with ROWS audit rows appended through ct_store_audit_append, a fixed Ed25519 audit key
 * (TEST_KEY_PEM below, so that signatures and the seed corpus are reproducible) and genuine
 * checkpoints signed by it; it records the real chain head at every seq. Byte 0 of an input picks
 * the mode by its low bit.
 *
 * Mode 0, export: the rest of the input is an export file, written to a memfd and read through
 * /proc/self/fd by ct_audit_export_read, then checked against the intact log.
 *   1. The reader returns 0 or CT_EINVAL; on CT_EINVAL the outputs are empty and the message is
 *      "PATH:LINE: ..." with a line of the input, or "PATH: empty file ...".
 *   2. For inputs without a NUL byte, the result agrees with an independent reading of the format
 *      of audit_export.h (ref_parse below): accepted exactly when the reference accepts, the
 *      error on the same line, the same checkpoints in the same order and the same public key.
 *      Two rules come from audit_export.c, not the header: a line (without its newline) may hold
 *      at most 1024 bytes, and one trailing CR is dropped.
 *   3. Every checkpoint read has seq >= 1, no `malformed`, and a key id of 16 lowercase hex digits.
 *   4. ct_audit_verify of the intact log against those checkpoints, under the fixed key and (when
 *      the file has one) under the file's key, gives exactly the verdict an independent judge
 *      predicts (expect_verdict): the judge checks signatures with OpenSSL directly and heads
 *      against the recorded real chain. In particular never "verified" when a checkpoint's head
 *      is not the real chain value at its seq, and the genuine checkpoints verify.
 *
 * Mode 1, tamper: the rest of the input is a list of 5-byte edits an attacker with the file makes
 * with SQLite (triggers dropped, CHECK constraints ignored) to a second copy of the log: change,
 * cut or insert bytes of any column, delete, copy, swap or renumber rows, and recompute leaf and
 * chain from some row on (the published algorithm). After the edits the harness finds m, the
 * lowest seq at which the table differs from the original (a row changed, removed or added), and
 * runs ct_audit_verify with the genuine checkpoints (at 4, 8 and 12 = the last row):
 *   5. No difference: the log verifies, ROWS records, the real head, 3 checkpoints.
 *   6. A difference and no recomputed hashes: the verdict is a failure at m or earlier (truncation
 *      included: the checkpoint at the last row covers it).
 *   7. A difference with hashes recomputed: a failure at the first checkpoint at or after m, or
 *      earlier; beyond the last checkpoint (rows appended with correct hashes) there is no claim.
 *   8. Rows before m are untouched, so the failure is not before m (or the end of the log if that
 *      comes first), except "inserted", which may blame the row before; and the verdict's head
 *      is the real chain value after its records when those are all before m.
 * The chain-only verification of the same log (no checkpoints) must at least give a sane verdict.
 *
 * Every verdict, in both modes: fault is one of the enum, named by ct_audit_fault_name; bad_seq is
 * 0 exactly when the log verified; `what` is a terminated sentence exactly when it failed.
 *
 * With CT_FUZZ_AUDIT_VERBOSE in the environment every verdict is printed to stderr.
 *
 * Seeds: with CT_FUZZ_AUDIT_SEEDS=DIR in the environment the harness writes its seed inputs to DIR
 * (overwriting only files it names) before the first input; tests/fuzz/corpus/audit_verify/ was
 * made that way: build/tests/fuzz_audit_verify_replay with that variable and any input.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sqlite3.h>

#include "audit_chain.h"
#include "audit_export.h"
#include "audit_sign.h"
#include "audit_verify.h"
#include "err.h"
#include "oracle.h"
#include "store.h"

#define ROWS 12
#define T0 1700000000000LL
#define MAX_EDITS 24
#define LINE_LIMIT 1024 /* audit_export.c's LINE_MAX_LEN */

/* A fixed test key (openssl genpkey -algorithm ed25519); it signs nothing but this harness. */
static const char TEST_KEY_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIKgL72pA9lIEs837OXYd5NCKK1H9DwFWqVSo3Xk0S+19\n"
    "-----END PRIVATE KEY-----\n";

/* ---- the fixed world ------------------------------------------------------------------------ */

static bool ready;
static char dir[256], key_path[300], db_path[300], work_path[300], input_path[64];
static int input_fd = -1;
static ct_store_t *st;      /* the intact log (mode 0) */
static ct_store_t *work_st; /* the copy that mode 1 tampers with, read-only */
static sqlite3 *work_db;    /* the attacker's handle on the copy */
static ct_audit_pubkey_t *key;
static uint8_t key_raw[CT_AUDIT_PUBKEY_LEN];
static uint8_t real_head[ROWS + 1][CT_AUDIT_HASH_LEN]; /* [0] is the genesis value */
static ct_audit_checkpoint_t genuine[3];               /* at 4, 8 and ROWS */
static const int64_t genuine_seq[3] = {4, 8, ROWS};

static void cleanup(void)
{
    ct_store_close(st);
    ct_store_close(work_st);
    sqlite3_close(work_db);
    ct_audit_pubkey_free(key);
    const char *names[] = {"careteam.db", "careteam.db-wal", "careteam.db-shm",  "work.db",
                           "work.db-wal", "work.db-shm",     "audit-signing.key"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[400];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        (void)unlink(p);
    }
    (void)rmdir(dir);
}

/* Appends the ROWS rows to st_; they are the same every time, so both copies have one chain. */
static void append_rows(ct_store_t *st_, bool record_heads)
{
    static const char *actions[] = {"message.send", "tls.handshake", "member.enroll",
                                    "audit.query",  "consent.grant", "message.read"};
    memcpy(real_head[0], ct_audit_genesis, CT_AUDIT_HASH_LEN);
    for (int i = 1; i <= ROWS; i++) {
        char oid[64], detail[64];
        snprintf(oid, sizeof oid, "0190a5c4-7b1e-7000-8000-%012d", i);
        snprintf(detail, sizeof detail, "row=%d note=caf\xc3\xa9", i);
        if (i == 7)
            detail[0] = '\0';
        ct_audit_t a = {
            .time_ms = T0 + 1000 * i,
            .actor_id = i % 5 == 0 ? "" : "th.lee",
            .actor_role = (ct_role_t)(i % 4),
            .cert_fp = i % 3 == 0
                           ? NULL
                           : "3f0c6d1e2a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d",
            .peer_addr = i % 2 ? "127.0.0.1:40000" : "local",
            .action = actions[i % 6],
            .object_type = "message",
            .object_id = oid,
            .participant_id = i % 4 == 0 ? "" : "p-1",
            .outcome = (ct_audit_outcome_t)(4 * (i % 4)),
            .detail = detail,
        };
        int64_t seq = ct_store_audit_append(st_, &a);
        CT_FUZZ_CHECK(seq == i, "append gave seq %" PRId64 " for row %d", seq, i);
        if (record_heads) {
            int64_t s = 0;
            CT_FUZZ_CHECK(ct_store_audit_head(st_, &s, real_head[i]) == 0 && s == i, "head %d", i);
        }
    }
}

static void sign_cp(const ct_audit_signer_t *signer, int64_t seq, const uint8_t *head,
                    int64_t time_ms, ct_audit_checkpoint_t *out)
{
    CT_FUZZ_CHECK(ct_audit_signer_sign(signer, seq, head, time_ms, out) == 0, "sign %" PRId64, seq);
}

static void write_seeds(const char *out_dir, const ct_audit_signer_t *signer);
static void key_id_of(const uint8_t raw[CT_AUDIT_PUBKEY_LEN], char out[CT_AUDIT_KEY_ID_LEN + 1]);
static void check_genuine_round_trip(void);

static void exec_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    CT_FUZZ_CHECK(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql,
                  msg != NULL ? msg : "?");
}

static void setup_once(void)
{
    if (ready)
        return;
    ready = true;
    char err[512];
    input_fd = memfd_create("checkpoints", MFD_CLOEXEC);
    CT_FUZZ_CHECK(input_fd >= 0, "memfd_create: %s", strerror(errno));
    snprintf(input_path, sizeof input_path, "/proc/self/fd/%d", input_fd);
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/ct-fuzz-audit-XXXXXX", tmp != NULL ? tmp : "/tmp");
    CT_FUZZ_CHECK(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
    atexit(cleanup);
    snprintf(key_path, sizeof key_path, "%s/audit-signing.key", dir);
    snprintf(db_path, sizeof db_path, "%s/careteam.db", dir);
    snprintf(work_path, sizeof work_path, "%s/work.db", dir);

    int fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    CT_FUZZ_CHECK(fd >= 0 && write(fd, TEST_KEY_PEM, sizeof TEST_KEY_PEM - 1) ==
                                 (ssize_t)(sizeof TEST_KEY_PEM - 1),
                  "write %s", key_path);
    close(fd);
    ct_audit_signer_t *signer = NULL;
    CT_FUZZ_CHECK(ct_audit_signer_load(key_path, &signer, err, sizeof err) == 0, "%s", err);
    (void)unlink(key_path);

    CT_FUZZ_CHECK(ct_store_open(db_path, CT_STORE_READWRITE, &st, err, sizeof err) == 0, "%s", err);
    append_rows(st, true);
    for (int i = 0; i < 3; i++)
        sign_cp(signer, genuine_seq[i], real_head[genuine_seq[i]], T0 + 100000 + i, &genuine[i]);

    /* The public half, as an auditor has it: raw bytes, derived here with OpenSSL directly. */
    BIO *bio = BIO_new_mem_buf(TEST_KEY_PEM, -1);
    EVP_PKEY *pk = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    size_t raw_len = sizeof key_raw;
    CT_FUZZ_CHECK(pk != NULL && EVP_PKEY_get_raw_public_key(pk, key_raw, &raw_len) == 1 &&
                      raw_len == sizeof key_raw,
                  "the test key");
    EVP_PKEY_free(pk);
    BIO_free(bio);
    CT_FUZZ_CHECK(ct_audit_pubkey_from_raw(key_raw, &key) == 0, "pubkey_from_raw");
    char kid[CT_AUDIT_KEY_ID_LEN + 1];
    key_id_of(key_raw, kid);
    CT_FUZZ_CHECK(strcmp(kid, ct_audit_pubkey_key_id(key)) == 0 &&
                      strcmp(kid, ct_audit_signer_key_id(signer)) == 0,
                  "key id %s / %s / %s", kid, ct_audit_pubkey_key_id(key),
                  ct_audit_signer_key_id(signer));

    /* The genuine checkpoints verify, also after a round trip through an export file. */
    check_genuine_round_trip();

    /* The copy to tamper with: the same rows appended to a second database (one chain, since
     * the rows are the same), opened read-only for the verifier and read-write by the attacker,
     * who drops the append-only triggers and ignores the CHECK constraints (hash lengths,
     * seq >= 1); `pristine` keeps the original rows for restoring them after every input. */
    ct_store_t *w = NULL;
    CT_FUZZ_CHECK(ct_store_open(work_path, CT_STORE_READWRITE, &w, err, sizeof err) == 0, "%s",
                  err);
    append_rows(w, false);
    int64_t s = 0;
    uint8_t h[CT_AUDIT_HASH_LEN];
    CT_FUZZ_CHECK(ct_store_audit_head(w, &s, h) == 0 && s == ROWS &&
                      memcmp(h, real_head[ROWS], sizeof h) == 0,
                  "the copy has another chain");
    ct_store_close(w);
    CT_FUZZ_CHECK(sqlite3_open_v2(work_path, &work_db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK,
                  "open %s", work_path);
    sqlite3_busy_timeout(work_db, 5000);
    exec_sql(work_db, "PRAGMA ignore_check_constraints = 1;"
                      "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;"
                      "CREATE TABLE pristine AS SELECT * FROM audit;");
    CT_FUZZ_CHECK(ct_store_open(work_path, CT_STORE_READONLY, &work_st, err, sizeof err) == 0, "%s",
                  err);

    const char *seeds = getenv("CT_FUZZ_AUDIT_SEEDS");
    if (seeds != NULL && *seeds != '\0')
        write_seeds(seeds, signer);
    ct_audit_signer_free(signer);
}

/* ---- independent references ----------------------------------------------------------------- */

/* The key id of a raw public key (audit_sign.h): SHA-256, first 8 bytes, lowercase hex. */
static void key_id_of(const uint8_t raw[CT_AUDIT_PUBKEY_LEN], char out[CT_AUDIT_KEY_ID_LEN + 1])
{
    uint8_t d[32];
    unsigned int dl = 0;
    CT_FUZZ_CHECK(EVP_Digest(raw, CT_AUDIT_PUBKEY_LEN, d, &dl, EVP_sha256(), NULL) == 1, "sha256");
    for (int i = 0; i < CT_AUDIT_KEY_ID_LEN / 2; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void put_be64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--, u >>= 8)
        p[i] = (uint8_t)u;
}

/* Whether cp is signed by raw: its key id is raw's and its Ed25519 signature verifies over the
 * message of audit_chain.h, built here from the text of that header. */
static bool signed_by(const uint8_t raw[CT_AUDIT_PUBKEY_LEN], const ct_audit_checkpoint_t *cp)
{
    char kid[CT_AUDIT_KEY_ID_LEN + 1];
    key_id_of(raw, kid);
    if (cp->malformed != NULL || strcmp(cp->key_id, kid) != 0)
        return false;
    static const char domain[] = "careteam-audit-checkpoint-v1";
    uint8_t msg[sizeof domain - 1 + 8 + 32 + 8];
    memcpy(msg, domain, sizeof domain - 1);
    put_be64(msg + 28, cp->seq);
    memcpy(msg + 36, cp->head, 32);
    put_be64(msg + 68, cp->time_ms);
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, CT_AUDIT_PUBKEY_LEN);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    CT_FUZZ_CHECK(pk != NULL && ctx != NULL, "EVP");
    bool ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
              EVP_DigestVerify(ctx, cp->sig, CT_AUDIT_SIG_LEN, msg, sizeof msg) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return ok;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Exactly 2 * n hex digits of either case. */
static bool ref_hex(const char *s, size_t len, uint8_t *out, size_t n)
{
    if (len != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* A decimal int64: an optional '-', then one or more digits, within range. */
static bool ref_i64(const char *s, size_t len, int64_t *out)
{
    bool neg = len > 0 && s[0] == '-';
    size_t i = neg ? 1 : 0;
    if (i == len)
        return false;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return true;
}

static bool ref_key_id(const char *s, size_t len)
{
    if (len != CT_AUDIT_KEY_ID_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

static bool field_is(const char *s, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(s, word, len) == 0;
}

typedef struct ref {
    bool ok;
    long line; /* of the error; 0 for "empty file" */
    ct_audit_checkpoint_t *cps;
    size_t n;
    bool has_key;
    uint8_t raw[CT_AUDIT_PUBKEY_LEN];
} ref_t;

/* Judges one line (len bytes at s, newline and CR gone) after the first. Returns false if bad. */
static bool ref_line(ref_t *r, const char *s, size_t len)
{
    if (len == 0 || s[0] == '#')
        return true;
    const char *f[8];
    size_t fl[8], nf = 0;
    for (size_t start = 0;;) {
        const char *sp = memchr(s + start, ' ', len - start);
        size_t end = sp != NULL ? (size_t)(sp - s) : len;
        if (nf == 8)
            return false; /* more fields than any line has */
        f[nf] = s + start;
        fl[nf++] = end - start;
        if (sp == NULL)
            break;
        start = end + 1;
    }
    if (field_is(f[0], fl[0], "pubkey")) {
        if (r->has_key || nf != 4 || !field_is(f[1], fl[1], "ed25519") ||
            !ref_key_id(f[2], fl[2]) || !ref_hex(f[3], fl[3], r->raw, sizeof r->raw))
            return false;
        EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, r->raw, sizeof r->raw);
        EVP_PKEY_free(pk);
        char kid[CT_AUDIT_KEY_ID_LEN + 1];
        key_id_of(r->raw, kid);
        r->has_key = true;
        return pk != NULL && memcmp(kid, f[2], CT_AUDIT_KEY_ID_LEN) == 0;
    }
    if (field_is(f[0], fl[0], "checkpoint")) {
        ct_audit_checkpoint_t cp = {0};
        if (nf != 6 || !ref_i64(f[1], fl[1], &cp.seq) || cp.seq < 1 ||
            !ref_hex(f[2], fl[2], cp.head, sizeof cp.head) || !ref_i64(f[3], fl[3], &cp.time_ms) ||
            !ref_hex(f[4], fl[4], cp.sig, sizeof cp.sig) || !ref_key_id(f[5], fl[5]))
            return false;
        memcpy(cp.key_id, f[5], CT_AUDIT_KEY_ID_LEN);
        r->cps[r->n++] = cp;
        return true;
    }
    return false;
}

/* Reads an export of the format of audit_export.h; data has no NUL byte. r->cps has room for
 * every line. */
static void ref_parse(const uint8_t *data, size_t size, ref_t *r)
{
    r->ok = false;
    r->line = 0;
    size_t pos = 0;
    while (pos < size) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t len = nl != NULL ? (size_t)(nl - data) - pos : size - pos;
        const char *s = (const char *)data + pos;
        pos += len + (nl != NULL);
        r->line++;
        if (len > LINE_LIMIT)
            return;
        if (len > 0 && s[len - 1] == '\r')
            len--;
        if (r->line == 1 ? !field_is(s, len, CT_AUDIT_EXPORT_MAGIC) : !ref_line(r, s, len))
            return;
    }
    if (r->line == 0)
        return;
    r->ok = true;
}

/* ---- checks --------------------------------------------------------------------------------- */

/* What every verdict must satisfy. With CT_FUZZ_AUDIT_VERBOSE set, also prints it. */
static void check_sane(const ct_audit_verdict_t *v, size_t n_cps)
{
    if (getenv("CT_FUZZ_AUDIT_VERBOSE") != NULL)
        fprintf(stderr,
                "  verdict %s at %" PRId64 ", %" PRId64 " records, %" PRId64
                " of %zu checkpoints\n",
                ct_audit_fault_name(v->fault), v->bad_seq, v->records, v->checkpoints, n_cps);
    CT_FUZZ_CHECK(v->fault >= CT_AUDIT_FAULT_NONE && v->fault <= CT_AUDIT_FAULT_TRUNCATED,
                  "fault %d", (int)v->fault);
    CT_FUZZ_CHECK(strcmp(ct_audit_fault_name(v->fault), "?") != 0, "unnamed fault");
    CT_FUZZ_CHECK(memchr(v->what, '\0', sizeof v->what) != NULL, "unterminated what");
    bool ok = v->fault == CT_AUDIT_FAULT_NONE;
    CT_FUZZ_CHECK(ok == (v->bad_seq == 0 && v->what[0] == '\0'),
                  "fault %s, bad_seq %" PRId64 ", what \"%s\"", ct_audit_fault_name(v->fault),
                  v->bad_seq, v->what);
    CT_FUZZ_CHECK(v->records >= 0 && v->checkpoints >= 0 && (uint64_t)v->checkpoints <= n_cps,
                  "records %" PRId64 ", checkpoints %" PRId64, v->records, v->checkpoints);
}

static bool head_is(const ct_audit_verdict_t *v, int64_t seq)
{
    return seq >= 0 && seq <= ROWS && memcmp(v->head, real_head[seq], CT_AUDIT_HASH_LEN) == 0;
}

/*
 * Property 4: verifies the intact log against cps under k (raw bytes raw) and compares with what
 * an independent judge expects. On the intact log only checkpoint faults are possible: the first
 * seq (in order) with a checkpoint that is not signed by the key (SIGNATURE) or whose head is not
 * the real one (REWRITTEN); else a validly signed one beyond the end (TRUNCATED at ROWS + 1);
 * else an unsigned one beyond the end (SIGNATURE at the lowest such seq); else verified.
 */
static void check_intact(const ct_audit_checkpoint_t *cps, size_t n, const ct_audit_pubkey_t *k,
                         const uint8_t raw[CT_AUDIT_PUBKEY_LEN])
{
    ct_audit_verify_opts_t opts = {
        .checkpoints = n > 0 ? cps : NULL, .n_checkpoints = n, .pubkey = k};
    ct_audit_verdict_t v;
    int rc = ct_audit_verify(st, &opts, &v);
    CT_FUZZ_CHECK(rc == 0, "verify: %d", rc);
    check_sane(&v, n);

    int64_t s_min = INT64_MAX, beyond_bad = INT64_MAX, max_seq = 0;
    bool beyond_good = false;
    size_t in_range = 0;
    bool *good = calloc(n > 0 ? n : 1, sizeof *good);
    CT_FUZZ_CHECK(good != NULL, "calloc");
    for (size_t i = 0; i < n; i++) {
        good[i] = signed_by(raw, &cps[i]);
        int64_t s = cps[i].seq;
        max_seq = s > max_seq ? s : max_seq;
        if (s >= 1 && s <= ROWS) {
            in_range++;
            if ((!good[i] || memcmp(cps[i].head, real_head[s], CT_AUDIT_HASH_LEN) != 0) &&
                s < s_min)
                s_min = s;
        } else if (good[i]) {
            beyond_good = true;
        } else if (s < beyond_bad) {
            beyond_bad = s;
        }
    }
    if (s_min != INT64_MAX) {
        bool sig_bad = false, head_bad = false;
        int64_t before = 0, at = 0;
        for (size_t i = 0; i < n; i++) {
            before += cps[i].seq < s_min;
            if (cps[i].seq != s_min)
                continue;
            at++;
            sig_bad |= !good[i];
            head_bad |= good[i] && memcmp(cps[i].head, real_head[s_min], CT_AUDIT_HASH_LEN) != 0;
        }
        CT_FUZZ_CHECK((v.fault == CT_AUDIT_FAULT_SIGNATURE && sig_bad) ||
                          (v.fault == CT_AUDIT_FAULT_REWRITTEN && head_bad),
                      "expected a bad checkpoint at %" PRId64 ", got %s at %" PRId64, s_min,
                      ct_audit_fault_name(v.fault), v.bad_seq);
        CT_FUZZ_CHECK(v.bad_seq == s_min, "bad_seq %" PRId64 ", expected %" PRId64, v.bad_seq,
                      s_min);
        /* The rows before the bad checkpoint's seq, as audit_verify.h promises. */
        CT_FUZZ_CHECK(v.records == s_min - 1 && head_is(&v, s_min - 1), "records %" PRId64,
                      v.records);
        CT_FUZZ_CHECK(v.checkpoints >= before && v.checkpoints < before + at,
                      "checkpoints %" PRId64 ", %" PRId64 " before", v.checkpoints, before);
    } else if (beyond_good) {
        CT_FUZZ_CHECK(v.fault == CT_AUDIT_FAULT_TRUNCATED && v.bad_seq == ROWS + 1,
                      "expected truncated at %d, got %s at %" PRId64, ROWS + 1,
                      ct_audit_fault_name(v.fault), v.bad_seq);
        CT_FUZZ_CHECK(v.records == ROWS && head_is(&v, ROWS) && v.checkpoints == (int64_t)in_range,
                      "records %" PRId64 ", checkpoints %" PRId64, v.records, v.checkpoints);
    } else if (beyond_bad != INT64_MAX) {
        CT_FUZZ_CHECK(v.fault == CT_AUDIT_FAULT_SIGNATURE && v.bad_seq == beyond_bad,
                      "expected signature at %" PRId64 ", got %s at %" PRId64, beyond_bad,
                      ct_audit_fault_name(v.fault), v.bad_seq);
        CT_FUZZ_CHECK(v.records == ROWS && head_is(&v, ROWS), "records %" PRId64, v.records);
    } else {
        CT_FUZZ_CHECK(v.fault == CT_AUDIT_FAULT_NONE,
                      "expected verified, got %s at %" PRId64 ": %s", ct_audit_fault_name(v.fault),
                      v.bad_seq, v.what);
        CT_FUZZ_CHECK(v.records == ROWS && head_is(&v, ROWS) && v.checkpoints == (int64_t)n &&
                          v.checkpoint_seq == max_seq,
                      "records %" PRId64 ", checkpoints %" PRId64 " newest %" PRId64, v.records,
                      v.checkpoints, v.checkpoint_seq);
        bool time_ok = n == 0 && v.checkpoint_time_ms == 0;
        for (size_t i = 0; i < n; i++)
            time_ok |= cps[i].seq == max_seq && cps[i].time_ms == v.checkpoint_time_ms;
        CT_FUZZ_CHECK(time_ok, "checkpoint_time_ms %" PRId64, v.checkpoint_time_ms);
    }
    free(good);
}

static void check_genuine_round_trip(void)
{
    char path[400], err[512];
    snprintf(path, sizeof path, "%s/genuine.txt", dir);
    FILE *f = fopen(path, "we");
    CT_FUZZ_CHECK(f != NULL && ct_audit_export_write(f, "setup", key, genuine, 3) == 0 &&
                      fclose(f) == 0,
                  "write %s", path);
    ct_audit_checkpoint_t *cps = NULL;
    size_t n = 0;
    ct_audit_pubkey_t *k = NULL;
    CT_FUZZ_CHECK(ct_audit_export_read(path, &cps, &n, &k, err, sizeof err) == 0, "%s", err);
    (void)unlink(path);
    CT_FUZZ_CHECK(n == 3 && k != NULL && memcmp(cps, genuine, sizeof genuine) == 0,
                  "the genuine export reads back as something else");
    ct_audit_verify_opts_t opts = {.checkpoints = cps, .n_checkpoints = n, .pubkey = k};
    ct_audit_verdict_t v;
    CT_FUZZ_CHECK(ct_audit_verify(st, &opts, &v) == 0 && v.fault == CT_AUDIT_FAULT_NONE &&
                      v.records == ROWS && v.checkpoints == 3 && v.checkpoint_seq == ROWS,
                  "the genuine checkpoints do not verify: %s", v.what);
    check_intact(cps, n, k, key_raw);
    free(cps);
    ct_audit_pubkey_free(k);
}

/* Property 1: "PATH:LINE: " with 1 <= LINE <= lines, or "PATH: empty file". Returns LINE (0 for
 * the empty file). */
static long error_line(const char *err, size_t lines)
{
    size_t n = strlen(input_path);
    CT_FUZZ_CHECK(strncmp(err, input_path, n) == 0 && err[n] == ':', "message \"%s\"", err);
    if (strncmp(err + n, ": empty file", 12) == 0)
        return 0;
    char *end;
    long line = strtol(err + n + 1, &end, 10);
    CT_FUZZ_CHECK(end != err + n + 1 && strncmp(end, ": ", 2) == 0, "no line in \"%s\"", err);
    CT_FUZZ_CHECK(line >= 1 && (size_t)line <= lines, "line %ld of %zu in \"%s\"", line, lines,
                  err);
    return line;
}

static void export_mode(const uint8_t *data, size_t size)
{
    CT_FUZZ_CHECK(ftruncate(input_fd, 0) == 0, "ftruncate: %s", strerror(errno));
    CT_FUZZ_CHECK(size == 0 || pwrite(input_fd, data, size, 0) == (ssize_t)size, "pwrite: %s",
                  strerror(errno));
    size_t lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    if (size > 0 && data[size - 1] != '\n')
        lines++;

    ct_audit_checkpoint_t *cps = (void *)1;
    size_t n = 99;
    ct_audit_pubkey_t *k = (void *)1;
    char err[512];
    memset(err, 0x5a, sizeof err);
    int rc = ct_audit_export_read(input_path, &cps, &n, &k, err, sizeof err);

    bool has_nul = memchr(data, '\0', size) != NULL;
    ref_t ref = {.cps = malloc((size / 200 + 1) * sizeof *ref.cps)};
    CT_FUZZ_CHECK(ref.cps != NULL, "malloc");
    if (!has_nul)
        ref_parse(data, size, &ref);

    if (rc != 0) {
        CT_FUZZ_CHECK(rc == CT_EINVAL, "rc %d: %.*s", rc, (int)sizeof err, err);
        CT_FUZZ_CHECK(cps == NULL && n == 0 && k == NULL, "a failed read left outputs");
        CT_FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL, "unterminated message");
        long line = error_line(err, lines);
        CT_FUZZ_CHECK(has_nul || (!ref.ok && ref.line == line),
                      "the reader refused at line %ld, the reference %s %ld: %s", line,
                      ref.ok ? "accepts; its lines" : "refuses at", ref.line, err);
        free(ref.cps);
        return;
    }
    CT_FUZZ_CHECK((n == 0) == (cps == NULL), "n %zu, cps %p", n, (void *)cps);
    for (size_t i = 0; i < n; i++) {
        CT_FUZZ_CHECK(cps[i].seq >= 1 && cps[i].malformed == NULL, "checkpoint %zu", i);
        CT_FUZZ_CHECK(ref_key_id(cps[i].key_id, strlen(cps[i].key_id)), "key id \"%s\"",
                      cps[i].key_id);
    }
    if (!has_nul) {
        CT_FUZZ_CHECK(ref.ok, "the reader accepts, the reference refuses at line %ld", ref.line);
        CT_FUZZ_CHECK(ref.n == n && (n == 0 || memcmp(ref.cps, cps, n * sizeof *cps) == 0),
                      "%zu checkpoints, the reference %zu (or other values)", n, ref.n);
        uint8_t raw[CT_AUDIT_PUBKEY_LEN];
        if (k != NULL)
            ct_audit_pubkey_raw(k, raw);
        CT_FUZZ_CHECK(ref.has_key == (k != NULL) &&
                          (k == NULL || memcmp(raw, ref.raw, sizeof raw) == 0),
                      "the public key differs from the reference's");
    }
    free(ref.cps);

    check_intact(cps, n, key, key_raw);
    if (k != NULL) {
        uint8_t raw[CT_AUDIT_PUBKEY_LEN];
        ct_audit_pubkey_raw(k, raw);
        check_intact(cps, n, k, raw);
    }
    free(cps);
    ct_audit_pubkey_free(k);
}

/* ---- the attacker ---------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int type;
} columns[] = {
    {"seq", SQLITE_INTEGER},        {"time_ms", SQLITE_INTEGER}, {"actor_id", SQLITE_TEXT},
    {"actor_role", SQLITE_INTEGER}, {"peer_addr", SQLITE_TEXT},  {"action", SQLITE_TEXT},
    {"object_type", SQLITE_TEXT},   {"object_id", SQLITE_TEXT},  {"participant_id", SQLITE_TEXT},
    {"outcome", SQLITE_INTEGER},    {"detail", SQLITE_TEXT},     {"leaf", SQLITE_BLOB},
    {"chain", SQLITE_BLOB},         {"cert_fp", SQLITE_TEXT},    {"enc", SQLITE_INTEGER},
};
#define NCOLS ((int)(sizeof columns / sizeof columns[0]))
#define ALL_COLUMNS                                                                                \
    "time_ms, actor_id, actor_role, peer_addr, action, object_type, object_id, participant_id,"    \
    " outcome, detail, leaf, chain, cert_fp, enc"

enum { OP_SET, OP_CUT, OP_INSERT, OP_DELETE, OP_COPY, OP_RENUMBER, OP_SWAP, OP_REHASH, OP_COUNT };

static sqlite3_stmt *prepare(const char *sql)
{
    sqlite3_stmt *s = NULL;
    CT_FUZZ_CHECK(sqlite3_prepare_v2(work_db, sql, -1, &s, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(work_db));
    return s;
}

/* Runs sql with up to two integer parameters; a constraint failure (a seq taken) or a type
 * mismatch (seq arithmetic that overflows into a REAL) is an edit that did not happen. Returns
 * whether it ran. */
static bool run2(const char *sql, int64_t a, int64_t b)
{
    sqlite3_stmt *s = prepare(sql);
    int np = sqlite3_bind_parameter_count(s);
    if (np >= 1)
        sqlite3_bind_int64(s, 1, a);
    if (np >= 2)
        sqlite3_bind_int64(s, 2, b);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    CT_FUZZ_CHECK(rc == SQLITE_DONE || rc == SQLITE_CONSTRAINT || rc == SQLITE_MISMATCH,
                  "%s: %d %s", sql, rc, sqlite3_errmsg(work_db));
    return rc == SQLITE_DONE;
}

/* The current seqs in order (at most max). */
static int current_seqs(int64_t *out, int max)
{
    sqlite3_stmt *s = prepare("SELECT seq FROM audit ORDER BY seq");
    int n = 0;
    while (n < max && sqlite3_step(s) == SQLITE_ROW)
        out[n++] = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

/* Changes one column of row seq: op SET changes byte pos to val (integers: xor val << pos), CUT
 * keeps pos bytes (integers: become val - 128), INSERT puts val in at pos (integers: add it). */
static void edit_column(int64_t seq, int col, int op, uint8_t pos, uint8_t val)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT %s FROM audit WHERE seq = ?", columns[col].name);
    sqlite3_stmt *s = prepare(sql);
    sqlite3_bind_int64(s, 1, seq);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        return;
    }
    int type = sqlite3_column_type(s, 0);
    int64_t iv = 0;
    size_t len = 0;
    uint8_t *buf = NULL;
    if (type == SQLITE_INTEGER) {
        iv = sqlite3_column_int64(s, 0);
        uint64_t u = (uint64_t)iv;
        if (op == OP_SET)
            u ^= (uint64_t)val << (pos % 64);
        else if (op == OP_CUT)
            u = (uint64_t)((int64_t)val - 128);
        else
            u += val;
        iv = (int64_t)u;
    } else {
        const uint8_t *p = sqlite3_column_blob(s, 0);
        len = (size_t)sqlite3_column_bytes(s, 0);
        buf = malloc(len + 1);
        CT_FUZZ_CHECK(buf != NULL, "malloc");
        if (len > 0)
            memcpy(buf, p, len);
        if (op == OP_SET && len > 0) {
            buf[pos % len] = val;
        } else if (op == OP_CUT) {
            len = pos % (len + 1);
        } else {
            size_t at = pos % (len + 1);
            memmove(buf + at + 1, buf + at, len - at);
            buf[at] = val;
            len++;
        }
    }
    sqlite3_finalize(s);
    snprintf(sql, sizeof sql, "UPDATE audit SET %s = ?1 WHERE seq = ?2", columns[col].name);
    s = prepare(sql);
    if (type == SQLITE_INTEGER)
        sqlite3_bind_int64(s, 1, iv);
    else if (type == SQLITE_TEXT)
        sqlite3_bind_text(s, 1, (const char *)buf, (int)len, SQLITE_TRANSIENT);
    else
        sqlite3_bind_blob(s, 1, buf, (int)len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, seq);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    free(buf);
    CT_FUZZ_CHECK(rc == SQLITE_DONE || rc == SQLITE_CONSTRAINT || rc == SQLITE_MISMATCH,
                  "%s: %d %s", sql, rc, sqlite3_errmsg(work_db));
}

static ct_audit_text_t text_col(sqlite3_stmt *s, int i)
{
    ct_audit_text_t t = {(const char *)sqlite3_column_text(s, i),
                         (size_t)sqlite3_column_bytes(s, i)};
    if (t.ptr == NULL)
        t = ct_audit_text("");
    return t;
}

/* Recomputes leaf and chain of every row from seq from on, as the store computes them, chained
 * to the stored chain of the row before (genesis if none). Stops at a row that has no encoding.
 * Returns whether any row was rewritten. */
static bool rehash_from(int64_t from)
{
    uint8_t chain[CT_AUDIT_HASH_LEN];
    memcpy(chain, ct_audit_genesis, sizeof chain);
    sqlite3_stmt *s = prepare("SELECT chain FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT 1");
    sqlite3_bind_int64(s, 1, from);
    if (sqlite3_step(s) == SQLITE_ROW) {
        if (sqlite3_column_bytes(s, 0) != CT_AUDIT_HASH_LEN) {
            sqlite3_finalize(s);
            return false;
        }
        memcpy(chain, sqlite3_column_blob(s, 0), sizeof chain);
    }
    sqlite3_finalize(s);
    int64_t seqs[64];
    int n = current_seqs(seqs, 64);
    bool any = false;
    for (int i = 0; i < n; i++) {
        if (seqs[i] < from)
            continue;
        s = prepare("SELECT " ALL_COLUMNS " FROM audit WHERE seq = ?");
        sqlite3_bind_int64(s, 1, seqs[i]);
        CT_FUZZ_CHECK(sqlite3_step(s) == SQLITE_ROW, "row %" PRId64, seqs[i]);
        ct_audit_row_t row = {
            .version = (int)sqlite3_column_int64(s, 13),
            .seq = seqs[i],
            .time_ms = sqlite3_column_int64(s, 0),
            .actor_id = text_col(s, 1),
            .actor_role = sqlite3_column_int64(s, 2),
            .cert_fp = text_col(s, 12),
            .peer_addr = text_col(s, 3),
            .action = text_col(s, 4),
            .object_type = text_col(s, 5),
            .object_id = text_col(s, 6),
            .participant_id = text_col(s, 7),
            .outcome = sqlite3_column_int64(s, 8),
            .detail = text_col(s, 9),
        };
        uint8_t leaf[CT_AUDIT_HASH_LEN];
        int rc = ct_audit_chain_leaf(&row, leaf);
        sqlite3_finalize(s);
        if (rc != 0)
            break;
        CT_FUZZ_CHECK(ct_audit_chain_link(chain, leaf, chain) == 0, "link");
        s = prepare("UPDATE audit SET leaf = ?1, chain = ?2 WHERE seq = ?3");
        sqlite3_bind_blob(s, 1, leaf, sizeof leaf, SQLITE_TRANSIENT);
        sqlite3_bind_blob(s, 2, chain, sizeof chain, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 3, seqs[i]);
        CT_FUZZ_CHECK(sqlite3_step(s) == SQLITE_DONE, "rehash update");
        sqlite3_finalize(s);
        any = true;
    }
    return any;
}

/* Applies one 5-byte edit: op, row (an index into the current rows), column, pos, val. Returns
 * whether it recomputed hashes. */
static bool apply_edit(const uint8_t e[5])
{
    int64_t seqs[64];
    int n = current_seqs(seqs, 64);
    if (n == 0)
        return false;
    int op = e[0] % OP_COUNT;
    int64_t seq = seqs[e[1] % n], other = seqs[e[3] % n];
    switch (op) {
    case OP_SET:
    case OP_CUT:
    case OP_INSERT:
        edit_column(seq, e[2] % NCOLS, op, e[3], e[4]);
        return false;
    case OP_DELETE:
        (void)run2("DELETE FROM audit WHERE seq = ?", seq, 0);
        return false;
    case OP_COPY: {
        /* A copy of the row appended (after a gap of 0-2), or put at a small seq. */
        int64_t to = e[4] & 0x80 ? (int64_t)(e[4] % 16) - 1 : seqs[n - 1] + 1 + e[4] % 3;
        (void)run2("INSERT INTO audit (seq, " ALL_COLUMNS ") SELECT ?2, " ALL_COLUMNS
                   " FROM audit WHERE seq = ?1",
                   seq, to);
        return false;
    }
    case OP_RENUMBER:
        /* The row deleted and the later ones moved down to close the gap. */
        if (run2("DELETE FROM audit WHERE seq = ?", seq, 0) &&
            run2("UPDATE audit SET seq = -seq - 1000000000 WHERE seq > ?", seq, 0))
            (void)run2("UPDATE audit SET seq = -seq - 1000000001 WHERE seq <= -1000000000", 0, 0);
        return false;
    case OP_SWAP:
        if (seq != other && run2("UPDATE audit SET seq = -7777777777 WHERE seq = ?", seq, 0) &&
            run2("UPDATE audit SET seq = ?1 WHERE seq = ?2", seq, other))
            (void)run2("UPDATE audit SET seq = ? WHERE seq = -7777777777", other, 0);
        return false;
    default:
        return rehash_from(seq);
    }
}

/* The lowest seq at which the table differs from the original, or INT64_MAX if it does not. */
static int64_t first_difference(void)
{
    sqlite3_stmt *s =
        prepare("SELECT min(seq) FROM ("
                "SELECT seq FROM (SELECT * FROM audit EXCEPT SELECT * FROM pristine)"
                " UNION ALL "
                "SELECT seq FROM (SELECT * FROM pristine EXCEPT SELECT * FROM audit))");
    CT_FUZZ_CHECK(sqlite3_step(s) == SQLITE_ROW, "diff");
    int64_t m = sqlite3_column_type(s, 0) == SQLITE_NULL ? INT64_MAX : sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return m;
}

static void tamper_mode(const uint8_t *data, size_t size)
{
    exec_sql(work_db, "BEGIN");
    bool rehashed = false;
    for (size_t i = 0; i + 5 <= size && i / 5 < MAX_EDITS; i += 5)
        rehashed |= apply_edit(data + i);
    exec_sql(work_db, "COMMIT");
    int64_t m = first_difference();
    if (getenv("CT_FUZZ_AUDIT_VERBOSE") != NULL)
        fprintf(stderr, "  first difference at %" PRId64 "%s\n", m, rehashed ? ", rehashed" : "");

    ct_audit_verify_opts_t opts = {.checkpoints = genuine, .n_checkpoints = 3, .pubkey = key};
    ct_audit_verdict_t v, chain_only;
    int rc = ct_audit_verify(work_st, &opts, &v);
    CT_FUZZ_CHECK(rc == 0, "verify: %d", rc);
    check_sane(&v, 3);
    rc = ct_audit_verify(work_st, NULL, &chain_only);
    CT_FUZZ_CHECK(rc == 0, "verify without checkpoints: %d", rc);
    check_sane(&chain_only, 0);
    exec_sql(work_db, "BEGIN; DELETE FROM audit; INSERT INTO audit SELECT * FROM pristine; COMMIT");

    if (m == INT64_MAX) { /* property 5 */
        CT_FUZZ_CHECK(v.fault == CT_AUDIT_FAULT_NONE && v.records == ROWS && head_is(&v, ROWS) &&
                          v.checkpoints == 3,
                      "the unchanged log gives %s at %" PRId64 ": %s", ct_audit_fault_name(v.fault),
                      v.bad_seq, v.what);
        CT_FUZZ_CHECK(chain_only.fault == CT_AUDIT_FAULT_NONE && chain_only.records == ROWS,
                      "the unchanged chain gives %s", ct_audit_fault_name(chain_only.fault));
        return;
    }
    if (!rehashed) { /* property 6 */
        CT_FUZZ_CHECK(v.fault != CT_AUDIT_FAULT_NONE && v.bad_seq <= m,
                      "a change at seq %" PRId64 " gives %s at %" PRId64 ": %s", m,
                      ct_audit_fault_name(v.fault), v.bad_seq, v.what);
    } else if (m <= ROWS) { /* property 7 */
        int64_t c = ROWS;
        for (int i = 2; i >= 0; i--)
            c = genuine_seq[i] >= m ? genuine_seq[i] : c;
        CT_FUZZ_CHECK(v.fault != CT_AUDIT_FAULT_NONE && v.bad_seq <= c,
                      "a rewrite from seq %" PRId64 " gives %s at %" PRId64 ": %s", m,
                      ct_audit_fault_name(v.fault), v.bad_seq, v.what);
    }
    if (v.fault != CT_AUDIT_FAULT_NONE) { /* property 8 */
        int64_t end = m < ROWS + 1 ? m : ROWS + 1;
        int64_t lowest = v.fault == CT_AUDIT_FAULT_INSERTED ? end - 1 : end;
        CT_FUZZ_CHECK(v.bad_seq >= lowest,
                      "%s at %" PRId64 ", but rows before %" PRId64 " are untouched",
                      ct_audit_fault_name(v.fault), v.bad_seq, end);
        CT_FUZZ_CHECK(v.records >= end || head_is(&v, v.records), "head after %" PRId64 " records",
                      v.records);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    if (size == 0)
        return 0;
    if (data[0] & 1)
        tamper_mode(data + 1, size - 1);
    else
        export_mode(data + 1, size - 1);
    return 0;
}

/* ---- seeds ------------------------------------------------------------------------------------
 */

static void put_seed(const char *out_dir, const char *name, uint8_t mode, const void *p, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    FILE *f = fopen(path, "wb");
    CT_FUZZ_CHECK(f != NULL && fputc(mode, f) == mode &&
                      (len == 0 || fwrite(p, 1, len, f) == len) && fclose(f) == 0,
                  "write %s", path);
}

/* An export of cps (with the key unless no_key) as text in a malloc'd buffer. */
static char *export_text(const ct_audit_checkpoint_t *cps, size_t n, bool with_key, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    CT_FUZZ_CHECK(f != NULL && ct_audit_export_write(f, "seed", with_key ? key : NULL, cps, n) == 0,
                  "export");
    fclose(f);
    return buf;
}

static void put_export(const char *out_dir, const char *name, const ct_audit_checkpoint_t *cps,
                       size_t n, bool with_key)
{
    size_t len = 0;
    char *t = export_text(cps, n, with_key, &len);
    put_seed(out_dir, name, 0, t, len);
    free(t);
}

/* The genuine export with the first occurrence of `from` replaced by `to`. */
static void put_edited(const char *out_dir, const char *name, const char *from, const char *to)
{
    size_t len = 0;
    char *t = export_text(genuine, 3, true, &len);
    char *at = strstr(t, from);
    CT_FUZZ_CHECK(at != NULL, "seed %s: no \"%s\"", name, from);
    size_t fl = strlen(from), tl = strlen(to);
    char *out = malloc(len - fl + tl + 1);
    CT_FUZZ_CHECK(out != NULL, "malloc");
    size_t pre = (size_t)(at - t);
    memcpy(out, t, pre);
    memcpy(out + pre, to, tl);
    memcpy(out + pre + tl, at + fl, len - pre - fl);
    put_seed(out_dir, name, 0, out, len - fl + tl);
    free(out);
    free(t);
}

static void put_edits(const char *out_dir, const char *name, const uint8_t *edits, size_t n)
{
    put_seed(out_dir, name, 1, edits, 5 * n);
}

static void write_seeds(const char *out_dir, const ct_audit_signer_t *signer)
{
    CT_FUZZ_CHECK(mkdir(out_dir, 0755) == 0 || errno == EEXIST, "mkdir %s", out_dir);
    /* Exports: genuine ones, and each way of being wrong. */
    put_export(out_dir, "export-genuine", genuine, 3, true);
    put_export(out_dir, "export-genuine-nokey", genuine, 3, false);
    put_export(out_dir, "export-last-only", genuine + 2, 1, true);
    put_export(out_dir, "export-header-only", NULL, 0, false);
    put_seed(out_dir, "export-empty", 0, "", 0);
    size_t len = 0;
    char *t = export_text(genuine, 3, true, &len);
    put_seed(out_dir, "export-truncated", 0, t, len * 2 / 3);
    char crlf[4096];
    size_t cl = 0;
    for (size_t i = 0; i < len && cl + 2 < sizeof crlf; i++) {
        if (t[i] == '\n')
            crlf[cl++] = '\r';
        crlf[cl++] = t[i];
    }
    put_seed(out_dir, "export-crlf", 0, crlf, cl);
    {
        char *z = malloc(len);
        CT_FUZZ_CHECK(z != NULL, "malloc");
        memcpy(z, t, len);
        z[len / 2] = '\0';
        put_seed(out_dir, "export-nul-byte", 0, z, len);
        free(z);
    }
    free(t);

    ct_audit_checkpoint_t more[5];
    memcpy(more, genuine, sizeof genuine);
    uint8_t bogus[CT_AUDIT_HASH_LEN];
    memset(bogus, 0x42, sizeof bogus);
    sign_cp(signer, 15, real_head[ROWS], T0 + 200000, &more[3]);
    put_export(out_dir, "export-beyond-end", more, 4, true);
    sign_cp(signer, 6, bogus, T0 + 200001, &more[3]);
    put_export(out_dir, "export-rewritten", more, 4, true);
    sign_cp(signer, 4, real_head[4], T0 + 200002, &more[3]);
    sign_cp(signer, 15, bogus, T0 + 200003, &more[4]);
    more[4].sig[0] ^= 1;
    put_export(out_dir, "export-duplicate-and-forged-beyond", more, 5, true);

    char hex[2 * CT_AUDIT_HASH_LEN + 1], flipped[sizeof hex];
    ct_audit_chain_hex(genuine[1].head, hex);
    memcpy(flipped, hex, sizeof hex);
    flipped[10] = flipped[10] == '0' ? '1' : '0';
    put_edited(out_dir, "export-head-altered", hex, flipped);
    put_edited(out_dir, "export-seq-altered", "checkpoint 8 ", "checkpoint 7 ");
    put_edited(out_dir, "export-seq-zero", "checkpoint 4 ", "checkpoint 0 ");
    put_edited(out_dir, "export-seq-overflow", "checkpoint 4 ", "checkpoint 9223372036854775808 ");
    put_edited(out_dir, "export-time-negative", " 1700000100000 ", " -1700000100000 ");
    put_edited(out_dir, "export-bad-magic", "careteam-audit-checkpoints 1",
               "careteam-audit-checkpoints 2");
    put_edited(out_dir, "export-unknown-line", "# seed", "checkpoints 1");
    put_edited(out_dir, "export-double-space", "checkpoint 4 ", "checkpoint  4 ");
    put_edited(out_dir, "export-extra-field", "pubkey ed25519 ", "pubkey ed25519 x ");
    char kid_line[64];
    snprintf(kid_line, sizeof kid_line, " %s\n", genuine[0].key_id);
    put_edited(out_dir, "export-other-key-id", kid_line, " 0123456789abcdef\n");
    snprintf(kid_line, sizeof kid_line, "ed25519 %s", genuine[0].key_id);
    put_edited(out_dir, "export-pubkey-id-mismatch", kid_line, "ed25519 0123456789abcdef");
    char upper[sizeof hex];
    for (size_t i = 0; i < sizeof hex; i++)
        upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 32 : hex[i]);
    put_edited(out_dir, "export-uppercase-hex", hex, upper);
    char longc[LINE_LIMIT + 8];
    memset(longc, 'x', sizeof longc - 1);
    longc[0] = '#';
    longc[sizeof longc - 1] = '\0';
    put_edited(out_dir, "export-long-line", "# seed", longc);
    longc[LINE_LIMIT] = '\0';
    put_edited(out_dir, "export-longest-line", "# seed", longc);

    /* Edits: op, row index, column, pos, val. */
    put_edits(out_dir, "tamper-none", NULL, 0);
    for (int c = 0; c < NCOLS; c++) {
        char name[64];
        snprintf(name, sizeof name, "tamper-set-%s", columns[c].name);
        uint8_t e[5] = {OP_SET, 4, (uint8_t)c, 1, 0x20};
        put_edits(out_dir, name, e, 1);
    }
    static const uint8_t cut_leaf[] = {OP_CUT, 6, 11, 31, 0};
    put_edits(out_dir, "tamper-cut-leaf", cut_leaf, 1);
    static const uint8_t ins_detail[] = {OP_INSERT, 2, 10, 3, 'x'};
    put_edits(out_dir, "tamper-insert-detail", ins_detail, 1);
    static const uint8_t enc1[] = {OP_SET, 2, 14, 1, 0x01}; /* enc 2 -> 3 */
    put_edits(out_dir, "tamper-enc", enc1, 1);
    static const uint8_t enc_v1[] = {OP_CUT, 2, 14, 0, 129}; /* enc 1, no cert_fp on row 3 */
    put_edits(out_dir, "tamper-enc-v1", enc_v1, 1);
    static const uint8_t seq0[] = {OP_CUT, 0, 0, 0, 128};
    put_edits(out_dir, "tamper-seq-zero", seq0, 1);
    static const uint8_t del5[] = {OP_DELETE, 4, 0, 0, 0};
    put_edits(out_dir, "tamper-delete", del5, 1);
    static const uint8_t del_last[] = {OP_DELETE, 11, 0, 0, 0, OP_DELETE, 10, 0, 0, 0};
    put_edits(out_dir, "tamper-delete-last-two", del_last, 2);
    static const uint8_t renum[] = {OP_RENUMBER, 2, 0, 0, 0};
    put_edits(out_dir, "tamper-renumber", renum, 1);
    static const uint8_t swap[] = {OP_SWAP, 1, 0, 8, 0};
    put_edits(out_dir, "tamper-swap", swap, 1);
    static const uint8_t swap_nb[] = {OP_SWAP, 5, 0, 6, 0};
    put_edits(out_dir, "tamper-swap-neighbours", swap_nb, 1);
    static const uint8_t copy_end[] = {OP_COPY, 3, 0, 0, 0};
    put_edits(out_dir, "tamper-copy-append", copy_end, 1);
    static const uint8_t copy_end_rehash[] = {OP_COPY, 3, 0, 0, 0, OP_REHASH, 12, 0, 0, 0};
    put_edits(out_dir, "tamper-append-rehashed", copy_end_rehash, 2);
    static const uint8_t insert_mid[] = {OP_RENUMBER, 11, 0, 0, 0, OP_COPY, 3, 0, 0, 0x80 | 11};
    put_edits(out_dir, "tamper-copy-into-gap", insert_mid, 2);
    static const uint8_t edit_rehash[] = {OP_SET, 4, 10, 0, 'Y', OP_REHASH, 4, 0, 0, 0};
    put_edits(out_dir, "tamper-edit-rehash", edit_rehash, 2);
    static const uint8_t renum_rehash[] = {OP_RENUMBER, 8, 0, 0, 0, OP_REHASH, 8, 0, 0, 0};
    put_edits(out_dir, "tamper-renumber-rehash", renum_rehash, 2);
    static const uint8_t trunc_rehash[] = {OP_DELETE, 11,  0,         0, 0, OP_SET, 9, 2,
                                           0,         'Q', OP_REHASH, 9, 0, 0,      0};
    put_edits(out_dir, "tamper-truncate-rehash", trunc_rehash, 3);
}
