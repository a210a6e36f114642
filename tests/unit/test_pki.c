/*
 * The daemon's certificate authority: what careteamd init and enroll put on disk must be a working
 * chain (CA -> server, CA -> member) with the names, usages and file modes the TLS code relies on.
 */
#include <criterion/criterion.h>

#include "err.h"
#include "testsupport.h"
/* The test target compiles server/pki.c but does not put server/ on the include path. */
#include "pki.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

TestSuite(pki, .fini = ct_test_leak_check);

/* One scratch directory per test, with the usual file names in it. */
struct fixture {
    char *dir;
    char ca_key[512], ca_crt[512], key[512], crt[512];
    char err[512];
};

static void setup(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->dir = ct_test_tmpdir("pki");
    snprintf(f->ca_key, sizeof(f->ca_key), "%s/ca.key", f->dir);
    snprintf(f->ca_crt, sizeof(f->ca_crt), "%s/ca.crt", f->dir);
    snprintf(f->key, sizeof(f->key), "%s/leaf.key", f->dir);
    snprintf(f->crt, sizeof(f->crt), "%s/leaf.crt", f->dir);
}

/*
 * Ends every test that uses a fixture. The leak check runs here as well as in the suite's .fini
 * because Criterion 2.4.1 does not fail a test for an assertion made in .fini (testsupport.c).
 */
static void teardown(struct fixture *f)
{
    ct_test_rmtree(f->dir);
    free(f->dir);
    ct_test_leak_check();
}

static void make_ca(struct fixture *f)
{
    int rc = ct_pki_make_ca(f->ca_key, f->ca_crt, "careteam test CA", f->err, sizeof(f->err));
    cr_assert_eq(rc, 0, "make_ca: %d %s", rc, f->err);
}

/* Loads a PEM certificate; the caller frees it. */
static X509 *load_cert(const char *path)
{
    FILE *fp = fopen(path, "r");
    cr_assert_not_null(fp, "open %s", path);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    cr_assert_not_null(x, "parse %s", path);
    return x;
}

/* Verifies cert against ca alone for the given purpose. Returns the X509_V_* result. */
static int verify(X509 *cert, X509 *ca, int purpose)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    cr_assert(store != NULL && ctx != NULL);
    cr_assert_eq(X509_STORE_add_cert(store, ca), 1);
    cr_assert_eq(X509_STORE_CTX_init(ctx, store, cert, NULL), 1);
    X509_STORE_CTX_set_purpose(ctx, purpose);
    int ok = X509_verify_cert(ctx);
    int result = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return result;
}

static void get_cn(X509 *x, char *buf, int len)
{
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, len);
    cr_assert_gt(n, 0);
}

static mode_t file_mode(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "stat %s", path);
    return st.st_mode & 07777;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* A serial must be positive and at most 159 bits (20 DER bytes, RFC 5280). */
static void check_serial(X509 *x)
{
    BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    cr_assert_not_null(serial);
    cr_assert(!BN_is_negative(serial) && !BN_is_zero(serial));
    cr_assert_leq(BN_num_bits(serial), 159);
    BN_free(serial);
}

Test(pki, ca_is_self_signed_ca)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    X509 *ca = load_cert(f.ca_crt);

    cr_assert_eq(X509_get_version(ca), 2, "X.509 v3");
    cr_assert_eq(X509_check_issued(ca, ca), X509_V_OK, "issuer == subject, AKI matches SKI");
    cr_assert_eq(X509_verify(ca, X509_get0_pubkey(ca)), 1, "signed by its own key");
    cr_assert_eq(X509_check_ca(ca), 1, "basicConstraints CA:TRUE");
    cr_assert(X509_get_extension_flags(ca) & EXFLAG_CA);
    cr_assert(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
    cr_assert_eq(verify(ca, ca, X509_PURPOSE_ANY), X509_V_OK);

    char cn[128];
    get_cn(ca, cn, sizeof(cn));
    cr_assert_str_eq(cn, "careteam test CA");
    char o[128];
    cr_assert_gt(
        X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_organizationName, o, sizeof(o)),
        0);
    cr_assert_str_eq(o, "careteam");

    X509_free(ca);
    teardown(&f);
}

Test(pki, keys_are_p256_and_serials_are_positive_159_bit)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    X509 *ca = load_cert(f.ca_crt);

    EVP_PKEY *pub = X509_get0_pubkey(ca);
    cr_assert(EVP_PKEY_is_a(pub, "EC"));
    char group[64];
    cr_assert_eq(EVP_PKEY_get_group_name(pub, group, sizeof(group), NULL), 1);
    cr_assert_str_eq(group, "prime256v1");
    cr_assert_eq(X509_get_signature_nid(ca), NID_ecdsa_with_SHA256);

    check_serial(ca);
    /* Serials are random, so look at a few more than one to catch a top bit left set. */
    for (int i = 0; i < 16; i++) {
        char key[600], crt[600];
        snprintf(key, sizeof(key), "%s/m%d.key", f.dir, i);
        snprintf(crt, sizeof(crt), "%s/m%d.crt", f.dir, i);
        cr_assert_eq(ct_pki_issue_member(f.ca_key, f.ca_crt, key, crt, "peer7", 1, NULL, f.err,
                                         sizeof(f.err)),
                     0, "%s", f.err);
        X509 *m = load_cert(crt);
        check_serial(m);
        X509_free(m);
    }

    X509_free(ca);
    teardown(&f);
}

Test(pki, ca_valid_ten_years)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    X509 *ca = load_cert(f.ca_crt);
    int days = 0, secs = 0;
    cr_assert_eq(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(ca), X509_get0_notAfter(ca)), 1);
    /* 3650 days, plus the few minutes by which notBefore is backdated. */
    cr_assert_eq(days, 3650);
    X509_free(ca);
    teardown(&f);
}

Test(pki, server_cert_verifies_against_ca)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    int rc = ct_pki_issue_server(f.ca_key, f.ca_crt, f.key, f.crt, "careteamd", NULL, 0, NULL,
                                 f.err, sizeof(f.err));
    cr_assert_eq(rc, 0, "%s", f.err);
    X509 *ca = load_cert(f.ca_crt);
    X509 *srv = load_cert(f.crt);

    cr_assert_eq(verify(srv, ca, X509_PURPOSE_SSL_SERVER), X509_V_OK);
    cr_assert_eq(X509_check_ca(srv), 0, "a leaf is not a CA");
    cr_assert(X509_get_extended_key_usage(srv) & XKU_SSL_SERVER);
    cr_assert_eq(X509_get_extended_key_usage(srv) & XKU_SSL_CLIENT, 0);
    int days = 0, secs = 0;
    cr_assert_eq(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(srv), X509_get0_notAfter(srv)),
                 1);
    cr_assert_eq(days, 825);

    X509_free(srv);
    X509_free(ca);
    teardown(&f);
}

Test(pki, server_cert_carries_sans_including_extra_hosts)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    const char *hosts[] = {"clinic.example.org", "10.1.2.3", "fd00::5", "localhost"};
    int rc = ct_pki_issue_server(f.ca_key, f.ca_crt, f.key, f.crt, "careteamd", hosts, 4, NULL,
                                 f.err, sizeof(f.err));
    cr_assert_eq(rc, 0, "%s", f.err);
    X509 *srv = load_cert(f.crt);

    cr_assert_eq(X509_check_ip_asc(srv, "127.0.0.1", 0), 1);
    cr_assert_eq(X509_check_ip_asc(srv, "::1", 0), 1);
    cr_assert_eq(X509_check_host(srv, "localhost", 0, 0, NULL), 1);
    cr_assert_eq(X509_check_host(srv, "clinic.example.org", 0, 0, NULL), 1);
    cr_assert_eq(X509_check_ip_asc(srv, "10.1.2.3", 0), 1);
    cr_assert_eq(X509_check_ip_asc(srv, "fd00:0:0:0:0:0:0:5", 0), 1);
    /* An IP literal is an IP SAN, not a DNS name, and nothing else slipped in. */
    cr_assert_neq(X509_check_host(srv, "10.1.2.3", 0, 0, NULL), 1);
    cr_assert_neq(X509_check_host(srv, "other.example.org", 0, 0, NULL), 1);
    cr_assert_neq(X509_check_ip_asc(srv, "10.1.2.4", 0), 1);

    /* "localhost" was given twice (built in and extra) but is listed once. */
    GENERAL_NAMES *sans = X509_get_ext_d2i(srv, NID_subject_alt_name, NULL, NULL);
    cr_assert_not_null(sans);
    cr_assert_eq(sk_GENERAL_NAME_num(sans), 6);
    GENERAL_NAMES_free(sans);

    X509_free(srv);
    teardown(&f);
}

/* ct_pki_cert_hosts reads back the hosts a server certificate was issued for, beyond the three
 * every one has, in the form ct_pki_issue_server takes (so `renew --server` keeps them). */
Test(pki, server_cert_hosts_are_read_back_as_issued)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    const char *hosts[] = {"clinic.example.org", "10.1.2.3", "fd00::5", "localhost", "::1"};
    int rc = ct_pki_issue_server(f.ca_key, f.ca_crt, f.key, f.crt, "careteamd", hosts, 5, NULL,
                                 f.err, sizeof(f.err));
    cr_assert_eq(rc, 0, "%s", f.err);
    char **got = NULL;
    size_t n = 0;
    rc = ct_pki_cert_hosts(f.crt, &got, &n, f.err, sizeof(f.err));
    cr_assert_eq(rc, 0, "%s", f.err);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(got[0], "clinic.example.org");
    cr_assert_str_eq(got[1], "10.1.2.3");
    cr_assert_str_eq(got[2], "fd00::5");
    ct_pki_hosts_free(got, n);

    /* Only the built-in three: no hosts. No file: CT_ENOTFOUND, with the path in the message. */
    cr_assert_eq(unlink(f.key), 0);
    cr_assert_eq(unlink(f.crt), 0);
    rc = ct_pki_issue_server(f.ca_key, f.ca_crt, f.key, f.crt, "careteamd", NULL, 0, NULL, f.err,
                             sizeof(f.err));
    cr_assert_eq(rc, 0, "%s", f.err);
    cr_assert_eq(ct_pki_cert_hosts(f.crt, &got, &n, f.err, sizeof(f.err)), 0, "%s", f.err);
    cr_assert_eq(n, 0);
    cr_assert_null(got);
    cr_assert_eq(unlink(f.crt), 0);
    cr_assert_eq(ct_pki_cert_hosts(f.crt, &got, &n, f.err, sizeof(f.err)), CT_ENOTFOUND);
    cr_assert(strstr(f.err, f.crt) != NULL, "%s", f.err);
    teardown(&f);
}

Test(pki, server_host_that_is_neither_ip_nor_dns_name_is_refused)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    /* A ',' would otherwise inject a second SAN into the openssl.cnf-style value. */
    const char *hosts[] = {"evil.example,DNS:bank.example"};
    int rc = ct_pki_issue_server(f.ca_key, f.ca_crt, f.key, f.crt, "careteamd", hosts, 1, NULL,
                                 f.err, sizeof(f.err));
    cr_assert_eq(rc, CT_EINVAL);
    cr_assert(strstr(f.err, "evil.example") != NULL, "%s", f.err);
    cr_assert(!exists(f.key) && !exists(f.crt));
    teardown(&f);
}

Test(pki, member_cert_names_the_member_and_is_for_clients)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    int rc = ct_pki_issue_member(f.ca_key, f.ca_crt, f.key, f.crt, "dr.lee-01", 30, NULL, f.err,
                                 sizeof(f.err));
    cr_assert_eq(rc, 0, "%s", f.err);
    X509 *m = load_cert(f.crt);

    char cn[128];
    get_cn(m, cn, sizeof(cn));
    cr_assert_str_eq(cn, "dr.lee-01");
    cr_assert(X509_get_extended_key_usage(m) & XKU_SSL_CLIENT);
    cr_assert_eq(X509_get_extended_key_usage(m) & XKU_SSL_SERVER, 0);
    cr_assert_eq(X509_check_ca(m), 0);
    int days = 0, secs = 0;
    cr_assert_eq(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(m), X509_get0_notAfter(m)), 1);
    cr_assert_eq(days, 30);

    X509_free(m);
    teardown(&f);
}

/* ---- CRL distribution point ---------------------------------------------------------------- */

#define CRL_URL "https://ca.clinic.example/careteam/crl.pem"

/* The URIs of x's CRL Distribution Points extension, joined by '\n' into out ("" when it has
 * none). Asserts that every distribution point is a full name made of URIs. */
static void crl_dp_uris(X509 *x, char *out, size_t len)
{
    out[0] = '\0';
    CRL_DIST_POINTS *dps = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
    for (int i = 0; i < sk_DIST_POINT_num(dps); i++) {
        DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
        cr_assert(dp->distpoint != NULL && dp->distpoint->type == 0, "not a full name");
        GENERAL_NAMES *names = dp->distpoint->name.fullname;
        for (int j = 0; j < sk_GENERAL_NAME_num(names); j++) {
            int type;
            ASN1_IA5STRING *uri = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(names, j), &type);
            cr_assert_eq(type, GEN_URI);
            size_t used = strlen(out);
            snprintf(out + used, len - used, "%s%.*s", used ? "\n" : "", ASN1_STRING_length(uri),
                     (const char *)ASN1_STRING_get0_data(uri));
        }
    }
    CRL_DIST_POINTS_free(dps);
}

Test(pki, server_and_member_certs_name_the_crl_url)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    char mkey[600], mcrt[600], uris[2048];
    snprintf(mkey, sizeof mkey, "%s/member.key", f.dir);
    snprintf(mcrt, sizeof mcrt, "%s/member.crt", f.dir);
    int rc = ct_pki_issue_server(f.ca_key, f.ca_crt, f.key, f.crt, "careteamd", NULL, 0, CRL_URL,
                                 f.err, sizeof(f.err));
    cr_assert_eq(rc, 0, "%s", f.err);
    rc = ct_pki_issue_member(f.ca_key, f.ca_crt, mkey, mcrt, "peer7", 365, CRL_URL, f.err,
                             sizeof(f.err));
    cr_assert_eq(rc, 0, "%s", f.err);

    X509 *srv = load_cert(f.crt), *mem = load_cert(mcrt), *ca = load_cert(f.ca_crt);
    crl_dp_uris(srv, uris, sizeof uris);
    cr_assert_str_eq(uris, CRL_URL);
    crl_dp_uris(mem, uris, sizeof uris);
    cr_assert_str_eq(uris, CRL_URL);
    /* The trust anchor names no list, and the leaves still verify for their purpose. */
    cr_assert_lt(X509_get_ext_by_NID(ca, NID_crl_distribution_points, -1), 0);
    cr_assert_eq(verify(srv, ca, X509_PURPOSE_SSL_SERVER), X509_V_OK);
    cr_assert_eq(verify(mem, ca, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    X509_free(ca);
    X509_free(mem);
    X509_free(srv);
    teardown(&f);
}

Test(pki, crl_url_is_one_uri_whatever_its_characters)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    /* In openssl.cnf syntax a ',' would start a second name; the extension is built as a
     * structure, so it stays part of the one URI. */
    const char *url = "https://ca.example/crl.pem,URI:https://evil.example/x";
    int rc = ct_pki_issue_server(f.ca_key, f.ca_crt, f.key, f.crt, "careteamd", NULL, 0, url, f.err,
                                 sizeof(f.err));
    cr_assert_eq(rc, 0, "%s", f.err);
    X509 *srv = load_cert(f.crt);
    char uris[2048];
    crl_dp_uris(srv, uris, sizeof uris);
    cr_assert_str_eq(uris, url);
    X509_free(srv);
    teardown(&f);
}

Test(pki, no_crl_url_means_no_distribution_point)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    int rc = ct_pki_issue_server(f.ca_key, f.ca_crt, f.key, f.crt, "careteamd", NULL, 0, NULL,
                                 f.err, sizeof(f.err));
    cr_assert_eq(rc, 0, "%s", f.err);
    char mkey[600], mcrt[600];
    snprintf(mkey, sizeof mkey, "%s/member.key", f.dir);
    snprintf(mcrt, sizeof mcrt, "%s/member.crt", f.dir);
    rc =
        ct_pki_issue_member(f.ca_key, f.ca_crt, mkey, mcrt, "peer7", 365, "", f.err, sizeof(f.err));
    cr_assert_eq(rc, 0, "%s", f.err);
    X509 *srv = load_cert(f.crt), *mem = load_cert(mcrt);
    cr_assert_lt(X509_get_ext_by_NID(srv, NID_crl_distribution_points, -1), 0);
    cr_assert_lt(X509_get_ext_by_NID(mem, NID_crl_distribution_points, -1), 0);
    X509_free(mem);
    X509_free(srv);
    teardown(&f);
}

Test(pki, crl_url_that_a_certificate_cannot_hold_is_refused)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    static const char *const bad[] = {"https://ca.example/my crl.pem",
                                      "https://ca.example/\xc3\xa9.pem", "https://ca.example/\t"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = ct_pki_issue_server(f.ca_key, f.ca_crt, f.key, f.crt, "careteamd", NULL, 0, bad[i],
                                     f.err, sizeof(f.err));
        cr_assert_eq(rc, CT_EINVAL, "%s accepted", bad[i]);
        cr_assert(strstr(f.err, "revocation list URL") != NULL, "%s", f.err);
        rc = ct_pki_issue_member(f.ca_key, f.ca_crt, f.key, f.crt, "peer7", 365, bad[i], f.err,
                                 sizeof(f.err));
        cr_assert_eq(rc, CT_EINVAL, "%s accepted", bad[i]);
        cr_assert(!exists(f.key) && !exists(f.crt));
    }
    teardown(&f);
}

/* `careteamd init` writes the first, empty list with ct_pki_crl_revoke and no serials: signed by
 * the CA, no entries, valid until the CA expires; a later revocation keeps building on it. */
Test(pki, revoke_without_serials_writes_an_empty_signed_list)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    char crl_path[600];
    snprintf(crl_path, sizeof crl_path, "%s/crl.pem", f.dir);
    size_t added = 99;
    int rc = ct_pki_crl_revoke(f.ca_key, f.ca_crt, crl_path, NULL, 0, CT_PKI_REASON_UNSPECIFIED,
                               &added, f.err, sizeof(f.err));
    cr_assert_eq(rc, 0, "%s", f.err);
    cr_assert_eq(added, 0);
    cr_assert_eq(file_mode(crl_path), 0644);
    ct_pki_crl_t *crl = NULL;
    cr_assert_eq(ct_pki_crl_load(crl_path, f.ca_crt, &crl, f.err, sizeof(f.err)), 0, "%s", f.err);
    cr_assert_eq(ct_pki_crl_count(crl), 0);
    ct_pki_crl_free(crl);

    FILE *fp = fopen(crl_path, "r");
    cr_assert_not_null(fp);
    X509_CRL *x = PEM_read_X509_CRL(fp, NULL, NULL, NULL);
    fclose(fp);
    cr_assert_not_null(x);
    X509 *ca = load_cert(f.ca_crt);
    cr_assert_eq(ASN1_TIME_compare(X509_CRL_get0_nextUpdate(x), X509_get0_notAfter(ca)), 0);
    /* lastUpdate is moved back five minutes, like a certificate's notBefore. */
    int days = 0, secs = 0;
    cr_assert_eq(ASN1_TIME_diff(&days, &secs, X509_CRL_get0_lastUpdate(x), NULL), 1);
    cr_assert(days == 0 && secs >= 300 && secs < 360, "lastUpdate %d d %d s ago", days, secs);
    X509_free(ca);
    X509_CRL_free(x);

    /* The server certificate's serial can be listed on it like any other. */
    rc = ct_pki_issue_server(f.ca_key, f.ca_crt, f.key, f.crt, "careteamd", NULL, 0, CRL_URL, f.err,
                             sizeof(f.err));
    cr_assert_eq(rc, 0, "%s", f.err);
    char serial[CT_PKI_SERIAL_HEX_MAX + 1];
    cr_assert_eq(ct_pki_cert_serial(f.ca_crt, f.crt, serial, NULL, 0, f.err, sizeof(f.err)), 0);
    const char *serials[] = {serial};
    rc = ct_pki_crl_revoke(f.ca_key, f.ca_crt, crl_path, serials, 1, CT_PKI_REASON_KEY_COMPROMISE,
                           &added, f.err, sizeof(f.err));
    cr_assert_eq(rc, 0, "%s", f.err);
    cr_assert_eq(added, 1);
    cr_assert_eq(ct_pki_crl_load(crl_path, f.ca_crt, &crl, f.err, sizeof(f.err)), 0, "%s", f.err);
    cr_assert(ct_pki_crl_has(crl, serial));
    ct_pki_crl_free(crl);
    teardown(&f);
}

Test(pki, member_cert_verifies_against_its_ca_only)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    int rc = ct_pki_issue_member(f.ca_key, f.ca_crt, f.key, f.crt, "peer7", 365, NULL, f.err,
                                 sizeof(f.err));
    cr_assert_eq(rc, 0, "%s", f.err);

    /* Another CA with the very same name: only the signature can tell them apart. */
    char other_key[600], other_crt[600];
    snprintf(other_key, sizeof(other_key), "%s/other.key", f.dir);
    snprintf(other_crt, sizeof(other_crt), "%s/other.crt", f.dir);
    rc = ct_pki_make_ca(other_key, other_crt, "careteam test CA", f.err, sizeof(f.err));
    cr_assert_eq(rc, 0, "%s", f.err);

    X509 *ca = load_cert(f.ca_crt);
    X509 *other = load_cert(other_crt);
    X509 *m = load_cert(f.crt);
    cr_assert_eq(verify(m, ca, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    cr_assert_neq(verify(m, other, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    /* And it is not usable as a server certificate. */
    cr_assert_neq(verify(m, ca, X509_PURPOSE_SSL_SERVER), X509_V_OK);

    X509_free(m);
    X509_free(other);
    X509_free(ca);
    teardown(&f);
}

Test(pki, key_matches_its_certificate)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    cr_assert_eq(ct_pki_issue_member(f.ca_key, f.ca_crt, f.key, f.crt, "peer7", 365, NULL, f.err,
                                     sizeof(f.err)),
                 0, "%s", f.err);
    FILE *fp = fopen(f.key, "r");
    cr_assert_not_null(fp);
    EVP_PKEY *key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    cr_assert_not_null(key);
    X509 *m = load_cert(f.crt);
    cr_assert_eq(X509_check_private_key(m, key), 1);
    X509_free(m);
    EVP_PKEY_free(key);
    teardown(&f);
}

Test(pki, keys_are_0600_pkcs8_and_certs_0644_whatever_the_umask)
{
    struct fixture f;
    setup(&f);
    umask(0);
    make_ca(&f);
    cr_assert_eq(file_mode(f.ca_key), 0600);
    umask(077);
    cr_assert_eq(ct_pki_issue_member(f.ca_key, f.ca_crt, f.key, f.crt, "peer7", 365, NULL, f.err,
                                     sizeof(f.err)),
                 0, "%s", f.err);
    cr_assert_eq(file_mode(f.key), 0600);
    cr_assert_eq(file_mode(f.ca_crt), 0644);
    cr_assert_eq(file_mode(f.crt), 0644);

    char *pem = ct_test_read_file(f.key, NULL);
    cr_assert_not_null(pem);
    cr_assert(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0, "PKCS#8, unencrypted");
    free(pem);
    teardown(&f);
}

Test(pki, existing_target_is_refused_and_left_alone)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    char *before = ct_test_read_file(f.ca_key, NULL);
    cr_assert_not_null(before);
    int rc = ct_pki_make_ca(f.ca_key, f.ca_crt, "again", f.err, sizeof(f.err));
    cr_assert_eq(rc, CT_EEXISTS);
    cr_assert(strstr(f.err, f.ca_key) != NULL, "%s", f.err);
    char *after = ct_test_read_file(f.ca_key, NULL);
    cr_assert_not_null(after);
    cr_assert_str_eq(after, before);
    free(after);
    free(before);
    teardown(&f);
}

Test(pki, existing_certificate_refused_before_writing_a_key)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    FILE *fp = fopen(f.crt, "w");
    cr_assert_not_null(fp);
    fputs("placeholder\n", fp);
    fclose(fp);
    int rc = ct_pki_issue_member(f.ca_key, f.ca_crt, f.key, f.crt, "peer7", 365, NULL, f.err,
                                 sizeof(f.err));
    cr_assert_eq(rc, CT_EEXISTS);
    cr_assert(strstr(f.err, f.crt) != NULL, "%s", f.err);
    cr_assert(!exists(f.key), "no orphan key");
    teardown(&f);
}

Test(pki, key_is_removed_when_its_certificate_cannot_be_written)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    char crt[600];
    snprintf(crt, sizeof(crt), "%s/no-such-dir/leaf.crt", f.dir);
    int rc = ct_pki_issue_member(f.ca_key, f.ca_crt, f.key, crt, "peer7", 365, NULL, f.err,
                                 sizeof(f.err));
    cr_assert_eq(rc, CT_ESYS);
    cr_assert(strstr(f.err, crt) != NULL, "%s", f.err);
    cr_assert(!exists(f.key), "no orphan key, so the command can be re-run");
    teardown(&f);
}

Test(pki, missing_ca_key_is_reported_with_its_path)
{
    struct fixture f;
    setup(&f);
    int rc = ct_pki_issue_member(f.ca_key, f.ca_crt, f.key, f.crt, "peer7", 365, NULL, f.err,
                                 sizeof(f.err));
    cr_assert_eq(rc, CT_ENOTFOUND);
    cr_assert(strstr(f.err, "CA key") != NULL, "%s", f.err);
    cr_assert(strstr(f.err, f.ca_key) != NULL, "%s", f.err);
    cr_assert(strstr(f.err, "No such file") != NULL, "%s", f.err);
    cr_assert(!exists(f.key) && !exists(f.crt));
    teardown(&f);
}

Test(pki, ca_key_of_another_ca_is_refused)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    char other_key[600], other_crt[600];
    snprintf(other_key, sizeof(other_key), "%s/other.key", f.dir);
    snprintf(other_crt, sizeof(other_crt), "%s/other.crt", f.dir);
    cr_assert_eq(ct_pki_make_ca(other_key, other_crt, "other", f.err, sizeof(f.err)), 0);
    int rc = ct_pki_issue_member(other_key, f.ca_crt, f.key, f.crt, "peer7", 365, NULL, f.err,
                                 sizeof(f.err));
    cr_assert_eq(rc, CT_EINVAL);
    cr_assert(strstr(f.err, "does not match") != NULL, "%s", f.err);
    cr_assert(!exists(f.key) && !exists(f.crt));
    teardown(&f);
}

Test(pki, garbage_ca_key_is_refused)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    char bad[600];
    snprintf(bad, sizeof(bad), "%s/bad.key", f.dir);
    FILE *fp = fopen(bad, "w");
    cr_assert_not_null(fp);
    fputs("not a key\n", fp);
    fclose(fp);
    int rc =
        ct_pki_issue_member(bad, f.ca_crt, f.key, f.crt, "peer7", 365, NULL, f.err, sizeof(f.err));
    cr_assert_eq(rc, CT_EINVAL);
    cr_assert(strstr(f.err, bad) != NULL, "%s", f.err);
    teardown(&f);
}

Test(pki, invalid_member_id_is_refused)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    const char *bad[] = {"", "has space", "slash/ed", "comma,id",
                         "x1234567890123456789012345678901234567890123456789012345678901234"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = ct_pki_issue_member(f.ca_key, f.ca_crt, f.key, f.crt, bad[i], 365, NULL, f.err,
                                     sizeof(f.err));
        cr_assert_eq(rc, CT_EINVAL, "id \"%s\"", bad[i]);
        cr_assert(!exists(f.key) && !exists(f.crt));
    }
    teardown(&f);
}

Test(pki, member_validity_out_of_range_is_refused)
{
    struct fixture f;
    setup(&f);
    make_ca(&f);
    cr_assert_eq(ct_pki_issue_member(f.ca_key, f.ca_crt, f.key, f.crt, "peer7", 0, NULL, f.err,
                                     sizeof(f.err)),
                 CT_EINVAL);
    cr_assert_eq(ct_pki_issue_member(f.ca_key, f.ca_crt, f.key, f.crt, "peer7", -5, NULL, f.err,
                                     sizeof(f.err)),
                 CT_EINVAL);
    cr_assert_eq(ct_pki_issue_member(f.ca_key, f.ca_crt, f.key, f.crt, "peer7", 3651, NULL, f.err,
                                     sizeof(f.err)),
                 CT_EINVAL);
    teardown(&f);
}

Test(pki, errbuf_may_be_null)
{
    struct fixture f;
    setup(&f);
    cr_assert_eq(ct_pki_issue_member(f.ca_key, f.ca_crt, f.key, f.crt, "peer7", 365, NULL, NULL, 0),
                 CT_ENOTFOUND);
    teardown(&f);
}
