/*
 * The daemon's small certificate authority (see pki.h for the contract).
 *
 * Invariants:
 *  1. Every key is ECDSA P-256 and every certificate is X.509 v3 signed with SHA-256 by the CA key
 *     (the CA by itself), with a random positive 159-bit serial.
 *  2. An existing file is never overwritten or removed: each output is written to a temporary
 *     file in its own directory, fsync'ed, then moved into place with a no-replace rename, so a
 *     crash leaves either no file or a complete one, and two racing runs cannot both win.
 *  3. Each call writes its key and its certificate, or neither: if the certificate cannot be
 *     written, the key this call just wrote is removed again, so the command can simply be re-run.
 *  4. Private key bytes only pass through secure-memory BIOs, which are wiped when freed.
 *  5. A server or member certificate issued with a CRL URL names it in a CRL Distribution Points
 *     extension; the CA certificate never has one (a trust anchor is not checked against a list).
 *
 * Only deprecation-free OpenSSL 3 APIs are used (the build sets OPENSSL_NO_DEPRECATED).
 */
#include "pki.h"

#include "err.h"
#include "ossl.h"
#include "file.h"
#include "ids.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define CA_DAYS 3650
/* Longest validity accepted for a member certificate; matches the config's member_cert_days. */
#define MEMBER_MAX_DAYS 3650
/* Certificates start five minutes in the past so that a peer whose clock runs slightly behind
 * does not reject a certificate that was issued a moment ago. */
#define NOT_BEFORE_SKEW_SECONDS (-300L)
/* X.520 upper bound for a commonName. */
#define CN_MAX 64
/* RFC 1035 upper bound for a DNS name in text form. */
#define DNS_NAME_MAX 253
/* Serial numbers are 20 bytes with the top bit clear: positive, at most 159 bits (RFC 5280). */
#define SERIAL_BYTES 20

enum cert_kind { CERT_CA, CERT_SERVER, CERT_MEMBER };

/* ---- files ---------------------------------------------------------------------------------- */

/* Returns CT_EEXISTS (with a message) if path exists, even as a dangling symlink; 0 otherwise. */
static int refuse_existing(const char *path, const char *what, char *errbuf, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        return ct_errf(errbuf, errlen, CT_EEXISTS, "%s %s already exists; refusing to overwrite it",
                       what, path);
    return 0;
}

/* Writes key as unencrypted PKCS#8 PEM, mode 0600, via a secure-memory buffer (invariant 4). */
static int write_key(const char *path, const char *what, EVP_PKEY *key, char *errbuf, size_t errlen)
{
    BIO *mem = BIO_new(BIO_s_secmem());
    if (mem == NULL)
        return ct_errf(errbuf, errlen, CT_ENOMEM, "cannot write %s %s: %s", what, path,
                       ct_ossl_reason());
    int rc;
    char *data = NULL;
    if (PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL) != 1) {
        rc = ct_errf(errbuf, errlen, CT_EINTERNAL, "cannot encode %s %s: %s", what, path,
                     ct_ossl_reason());
    } else {
        long n = BIO_get_mem_data(mem, &data);
        rc = ct_file_write_new(path, what, data, (size_t)n, 0600, errbuf, errlen);
    }
    BIO_free(mem);
    return rc;
}

/* Writes crt as PEM, mode 0644. */
static int write_cert(const char *path, const char *what, X509 *crt, char *errbuf, size_t errlen)
{
    BIO *mem = BIO_new(BIO_s_mem());
    if (mem == NULL)
        return ct_errf(errbuf, errlen, CT_ENOMEM, "cannot write %s %s: %s", what, path,
                       ct_ossl_reason());
    int rc;
    char *data = NULL;
    if (PEM_write_bio_X509(mem, crt) != 1) {
        rc = ct_errf(errbuf, errlen, CT_EINTERNAL, "cannot encode %s %s: %s", what, path,
                     ct_ossl_reason());
    } else {
        long n = BIO_get_mem_data(mem, &data);
        rc = ct_file_write_new(path, what, data, (size_t)n, 0644, errbuf, errlen);
    }
    BIO_free(mem);
    return rc;
}

/* Writes the key, then the certificate; removes the key again if the certificate fails (inv. 3). */
static int write_pair(const char *key_path, const char *key_what, EVP_PKEY *key,
                      const char *crt_path, const char *crt_what, X509 *crt, char *errbuf,
                      size_t errlen)
{
    int rc = write_key(key_path, key_what, key, errbuf, errlen);
    if (rc != 0)
        return rc;
    rc = write_cert(crt_path, crt_what, crt, errbuf, errlen);
    if (rc != 0)
        (void)unlink(key_path);
    return rc;
}

/*
 * Opens an input file. Returns the stream, or NULL with CT_ENOTFOUND (missing) or CT_ESYS in *rc
 * and errbuf set to "cannot read WHAT PATH: reason".
 */
static FILE *open_input(const char *path, const char *what, int *rc, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        int e = errno;
        *rc = ct_errf(errbuf, errlen, e == ENOENT ? CT_ENOTFOUND : CT_ESYS, "cannot read %s %s: %s",
                      what, path, strerror(e));
    }
    return f;
}

/*
 * Loads the CA key and certificate and checks that they belong together and that the
 * certificate is a CA. On success the caller owns *key and *crt (EVP_PKEY_free / X509_free).
 */
static int load_ca(const char *key_path, const char *crt_path, EVP_PKEY **key, X509 **crt,
                   char *errbuf, size_t errlen)
{
    int rc = 0;
    FILE *f = NULL;
    EVP_PKEY *k = NULL;
    X509 *c = NULL;

    f = open_input(key_path, "CA key", &rc, errbuf, errlen);
    if (f == NULL)
        goto out;
    k = PEM_read_PrivateKey(f, NULL, ct_ossl_no_password, NULL);
    fclose(f);
    if (k == NULL) {
        rc = ct_errf(errbuf, errlen, CT_EINVAL, "cannot parse CA key %s: %s", key_path,
                     ct_ossl_reason());
        goto out;
    }
    f = open_input(crt_path, "CA certificate", &rc, errbuf, errlen);
    if (f == NULL)
        goto out;
    c = PEM_read_X509(f, NULL, ct_ossl_no_password, NULL);
    fclose(f);
    if (c == NULL) {
        rc = ct_errf(errbuf, errlen, CT_EINVAL, "cannot parse CA certificate %s: %s", crt_path,
                     ct_ossl_reason());
        goto out;
    }
    if (X509_check_ca(c) == 0) {
        rc = ct_errf(errbuf, errlen, CT_EINVAL, "CA certificate %s is not a CA certificate",
                     crt_path);
        goto out;
    }
    if (X509_check_private_key(c, k) != 1) {
        ERR_clear_error();
        rc = ct_errf(errbuf, errlen, CT_EINVAL, "CA key %s does not match CA certificate %s",
                     key_path, crt_path);
        goto out;
    }
    *key = k;
    *crt = c;
    k = NULL;
    c = NULL;

out:
    X509_free(c);
    EVP_PKEY_free(k);
    return rc;
}

/* ---- certificates --------------------------------------------------------------------------- */

/* Sets a random positive serial of at most 159 bits (invariant 1). Returns 1 or 0. */
static int set_random_serial(X509 *x)
{
    unsigned char raw[SERIAL_BYTES];
    BIGNUM *bn = NULL;
    int ok = 0;
    do {
        if (RAND_bytes(raw, sizeof(raw)) != 1)
            return 0;
        raw[0] &= 0x7f;
        BN_free(bn);
        bn = BN_bin2bn(raw, sizeof(raw), NULL);
        if (bn == NULL)
            return 0;
    } while (BN_is_zero(bn));
    ASN1_INTEGER *serial = BN_to_ASN1_INTEGER(bn, NULL);
    if (serial != NULL)
        ok = X509_set_serialNumber(x, serial);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return ok;
}

/* Adds one extension given in openssl.cnf syntax ("critical,CA:TRUE"). Returns 1 or 0. */
static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    if (ext == NULL)
        return 0;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/*
 * Adds a CRL Distribution Points extension with one distribution point whose full name is the URI
 * url. Built as a structure rather than in openssl.cnf syntax ("URI:..."), so that no character
 * of the URL (a ',' say) can be read as syntax. Returns 1 or 0.
 */
static int add_crl_dp(X509 *x, const char *url)
{
    CRL_DIST_POINTS *dps = sk_DIST_POINT_new_null();
    DIST_POINT *dp = DIST_POINT_new();
    DIST_POINT_NAME *name = DIST_POINT_NAME_new();
    GENERAL_NAMES *names = GENERAL_NAMES_new();
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *uri = ASN1_IA5STRING_new();
    int ok = 0;
    if (dps == NULL || dp == NULL || name == NULL || names == NULL || gn == NULL || uri == NULL ||
        ASN1_STRING_set(uri, url, (int)strlen(url)) != 1)
        goto out;
    GENERAL_NAME_set0_value(gn, GEN_URI, uri);
    uri = NULL; /* owned by gn */
    if (sk_GENERAL_NAME_push(names, gn) == 0)
        goto out;
    gn = NULL;      /* owned by names */
    name->type = 0; /* fullName */
    name->name.fullname = names;
    names = NULL; /* owned by name */
    dp->distpoint = name;
    name = NULL; /* owned by dp */
    if (sk_DIST_POINT_push(dps, dp) == 0)
        goto out;
    dp = NULL; /* owned by dps */
    ok = X509_add1_ext_i2d(x, NID_crl_distribution_points, dps, 0, X509V3_ADD_DEFAULT) == 1;
out:
    ASN1_IA5STRING_free(uri);
    GENERAL_NAME_free(gn);
    GENERAL_NAMES_free(names);
    DIST_POINT_NAME_free(name);
    DIST_POINT_free(dp);
    CRL_DIST_POINTS_free(dps);
    return ok;
}

/* A subject "O=careteam, CN=cn". Returns a new name (caller frees) or NULL. */
static X509_NAME *make_name(const char *cn)
{
    X509_NAME *name = X509_NAME_new();
    if (name == NULL)
        return NULL;
    if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"careteam", -1,
                                   -1, 0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                   0) != 1) {
        X509_NAME_free(name);
        return NULL;
    }
    return name;
}

/*
 * Builds and signs a certificate for pub named cn. For CERT_CA the certificate is self-signed
 * (ca_crt is NULL and ca_key is the new key itself); otherwise it is issued by ca_crt/ca_key.
 * san is the subjectAltName value for CERT_SERVER (NULL otherwise); crl_url (NULL or "" for none)
 * the CRL distribution point of a server or member certificate. Returns a new certificate that
 * the caller frees, or NULL (the OpenSSL error queue says why).
 */
static X509 *make_cert(enum cert_kind kind, EVP_PKEY *pub, const char *cn, long days, X509 *ca_crt,
                       EVP_PKEY *ca_key, const char *san, const char *crl_url)
{
    X509 *x = X509_new();
    X509_NAME *subject = make_name(cn);
    if (x == NULL || subject == NULL)
        goto fail;
    /* Both ends from one clock reading and both moved back by the skew, so that the certificate
     * is valid exactly `days` days: a scanner (testssl) flags a server certificate valid even a
     * second longer than 825 days. */
    time_t now = time(NULL);

    if (X509_set_version(x, 2) != 1 || set_random_serial(x) != 1 ||
        X509_set_subject_name(x, subject) != 1 ||
        X509_set_issuer_name(x, ca_crt != NULL ? X509_get_subject_name(ca_crt) : subject) != 1 ||
        X509_time_adj_ex(X509_getm_notBefore(x), 0, NOT_BEFORE_SKEW_SECONDS, &now) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), (int)days, NOT_BEFORE_SKEW_SECONDS, &now) == NULL ||
        X509_set_pubkey(x, pub) != 1)
        goto fail;

    /* For the self-signed CA the issuer is the certificate itself; its subjectKeyIdentifier is
     * added first so that authorityKeyIdentifier can copy it. */
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, ca_crt != NULL ? ca_crt : x, x, NULL, NULL, 0);

    bool ok;
    if (kind == CERT_CA) {
        /* pathlen:0 because this CA only ever signs end-entity certificates. */
        ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
             add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") &&
             add_ext(x, &ctx, NID_ext_key_usage, kind == CERT_SERVER ? "serverAuth" : "clientAuth");
    }
    ok = ok && add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
         add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
    if (ok && san != NULL)
        ok = add_ext(x, &ctx, NID_subject_alt_name, san);
    if (ok && crl_url != NULL && crl_url[0] != '\0')
        ok = add_crl_dp(x, crl_url);
    if (!ok || X509_sign(x, ca_key, EVP_sha256()) == 0)
        goto fail;

    X509_NAME_free(subject);
    return x;

fail:
    X509_NAME_free(subject);
    X509_free(x);
    return NULL;
}

/* A commonName must be 1..64 bytes of valid UTF-8 with no control characters. */
static int check_cn(const char *cn, char *errbuf, size_t errlen)
{
    size_t n = cn != NULL ? strlen(cn) : 0;
    if (n == 0 || n > CN_MAX || !ct_utf8_valid(cn, n))
        return ct_errf(errbuf, errlen, CT_EINVAL,
                       "invalid common name: must be 1-%d bytes of UTF-8 text", CN_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)cn[i] < 0x20 || cn[i] == 0x7f)
            return ct_errf(errbuf, errlen, CT_EINVAL,
                           "invalid common name: control characters are not allowed");
    return 0;
}

/*
 * A DNS name for a SAN: dot-separated labels of [A-Za-z0-9-], each 1..63 long and not starting or
 * ending with '-'. Also keeps the openssl.cnf SAN syntax safe: no ',' or ':' can slip through.
 */
static bool dns_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > DNS_NAME_MAX)
        return false;
    size_t label = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = s[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                return false;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-') {
            if (label == 0 && c == '-')
                return false;
            label++;
        } else {
            return false;
        }
    }
    return true;
}

/*
 * Builds the server's subjectAltName value: "IP:127.0.0.1,IP:::1,DNS:localhost" plus each extra
 * host (an IP literal as IP:, in canonical form; anything else as DNS:), skipping duplicates.
 * Returns 0 with *out malloc'd (caller frees), or CT_EINVAL / CT_ENOMEM.
 */
static int build_san(const char *const *hosts, size_t n_hosts, char **out, char *errbuf,
                     size_t errlen)
{
    static const char base[] = "IP:127.0.0.1,IP:::1,DNS:localhost";
    /* Each entry needs at most ",DNS:" + the name, or ",IP:" + INET6_ADDRSTRLEN. */
    size_t cap = sizeof(base);
    for (size_t i = 0; i < n_hosts; i++) {
        if (hosts[i] == NULL)
            return ct_errf(errbuf, errlen, CT_EINVAL, "server host %zu is NULL", i);
        cap += strlen(hosts[i]) + INET6_ADDRSTRLEN + sizeof(",DNS:");
    }
    char *san = malloc(cap);
    if (san == NULL)
        return ct_errf(errbuf, errlen, CT_ENOMEM, "out of memory");
    memcpy(san, base, sizeof(base));

    for (size_t i = 0; i < n_hosts; i++) {
        const char *h = hosts[i];
        unsigned char addr[sizeof(struct in6_addr)];
        char entry[DNS_NAME_MAX + INET6_ADDRSTRLEN + sizeof("DNS:")];
        char text[INET6_ADDRSTRLEN];
        if (inet_pton(AF_INET, h, addr) == 1) {
            inet_ntop(AF_INET, addr, text, sizeof(text));
            snprintf(entry, sizeof(entry), "IP:%s", text);
        } else if (inet_pton(AF_INET6, h, addr) == 1) {
            inet_ntop(AF_INET6, addr, text, sizeof(text));
            snprintf(entry, sizeof(entry), "IP:%s", text);
        } else if (dns_name_valid(h)) {
            snprintf(entry, sizeof(entry), "DNS:%s", h);
        } else {
            free(san);
            return ct_errf(errbuf, errlen, CT_EINVAL,
                           "invalid server host \"%s\": expected an IPv4 or IPv6 address or a DNS "
                           "name",
                           h);
        }
        /* Entries are delimited by ',' and contain none, so a match bounded by ',' or the end
         * of the string is an exact duplicate. */
        size_t elen = strlen(entry);
        bool dup = false;
        for (const char *p = san; (p = strstr(p, entry)) != NULL; p += elen) {
            if ((p == san || p[-1] == ',') && (p[elen] == ',' || p[elen] == '\0')) {
                dup = true;
                break;
            }
        }
        if (!dup) {
            strcat(san, ",");
            strcat(san, entry);
        }
    }
    *out = san;
    return 0;
}

/* A CRL URL must fit an IA5String (pki.h): 1..CT_PKI_CRL_URL_MAX bytes of printable ASCII without
 * spaces. NULL or "" means none and is fine. */
static int check_crl_url(const char *url, char *errbuf, size_t errlen)
{
    size_t n = url != NULL ? strlen(url) : 0;
    if (n > CT_PKI_CRL_URL_MAX)
        return ct_errf(errbuf, errlen, CT_EINVAL,
                       "invalid revocation list URL: longer than %d bytes", CT_PKI_CRL_URL_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            return ct_errf(errbuf, errlen, CT_EINVAL,
                           "invalid revocation list URL \"%s\": only printable ASCII without "
                           "spaces (percent-encode anything else)",
                           url);
    return 0;
}

/* ---- public --------------------------------------------------------------------------------- */

int ct_pki_make_ca(const char *ca_key_path, const char *ca_crt_path, const char *common_name,
                   char *errbuf, size_t errlen)
{
    int rc = check_cn(common_name, errbuf, errlen);
    if (rc != 0)
        return rc;
    /* Checked up front so that nothing is generated for a run that must fail; the no-replace
     * rename still decides a race. */
    if ((rc = refuse_existing(ca_key_path, "CA key", errbuf, errlen)) != 0 ||
        (rc = refuse_existing(ca_crt_path, "CA certificate", errbuf, errlen)) != 0)
        return rc;

    ERR_clear_error();
    EVP_PKEY *key = NULL;
    X509 *crt = NULL;

    key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (key == NULL) {
        rc = ct_errf(errbuf, errlen, CT_EINTERNAL, "cannot generate CA key: %s", ct_ossl_reason());
        goto out;
    }
    crt = make_cert(CERT_CA, key, common_name, CA_DAYS, NULL, key, NULL, NULL);
    if (crt == NULL) {
        rc = ct_errf(errbuf, errlen, CT_EINTERNAL, "cannot make CA certificate: %s",
                     ct_ossl_reason());
        goto out;
    }
    rc = write_pair(ca_key_path, "CA key", key, ca_crt_path, "CA certificate", crt, errbuf, errlen);

out:
    X509_free(crt);
    EVP_PKEY_free(key);
    return rc;
}

/*
 * The common part of issuing a server or member certificate: checks the outputs are free, loads
 * the CA, generates a key, signs the certificate and writes both.
 */
static int issue(enum cert_kind kind, const char *ca_key_path, const char *ca_crt_path,
                 const char *key_path, const char *crt_path, const char *cn, long days,
                 const char *san, const char *crl_url, char *errbuf, size_t errlen)
{
    const char *key_what = kind == CERT_SERVER ? "server key" : "member key";
    const char *crt_what = kind == CERT_SERVER ? "server certificate" : "member certificate";
    int rc;
    if ((rc = refuse_existing(key_path, key_what, errbuf, errlen)) != 0 ||
        (rc = refuse_existing(crt_path, crt_what, errbuf, errlen)) != 0)
        return rc;

    ERR_clear_error();
    EVP_PKEY *ca_key = NULL;
    X509 *ca_crt = NULL;
    EVP_PKEY *key = NULL;
    X509 *crt = NULL;

    rc = load_ca(ca_key_path, ca_crt_path, &ca_key, &ca_crt, errbuf, errlen);
    if (rc != 0)
        goto out;
    key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (key == NULL) {
        rc = ct_errf(errbuf, errlen, CT_EINTERNAL, "cannot generate %s: %s", key_what,
                     ct_ossl_reason());
        goto out;
    }
    crt = make_cert(kind, key, cn, days, ca_crt, ca_key, san, crl_url);
    if (crt == NULL) {
        rc =
            ct_errf(errbuf, errlen, CT_EINTERNAL, "cannot make %s: %s", crt_what, ct_ossl_reason());
        goto out;
    }
    rc = write_pair(key_path, key_what, key, crt_path, crt_what, crt, errbuf, errlen);

out:
    X509_free(crt);
    EVP_PKEY_free(key);
    X509_free(ca_crt);
    EVP_PKEY_free(ca_key);
    return rc;
}

int ct_pki_issue_server(const char *ca_key_path, const char *ca_crt_path, const char *key_path,
                        const char *crt_path, const char *common_name, const char *const *hosts,
                        size_t n_hosts, const char *crl_url, char *errbuf, size_t errlen)
{
    int rc = check_cn(common_name, errbuf, errlen);
    if (rc == 0)
        rc = check_crl_url(crl_url, errbuf, errlen);
    if (rc != 0)
        return rc;
    char *san = NULL; /* owned here */
    rc = build_san(hosts, n_hosts, &san, errbuf, errlen);
    if (rc != 0)
        return rc;
    rc = issue(CERT_SERVER, ca_key_path, ca_crt_path, key_path, crt_path, common_name,
               CT_PKI_SERVER_DAYS, san, crl_url, errbuf, errlen);
    free(san);
    return rc;
}

int ct_pki_issue_member(const char *ca_key_path, const char *ca_crt_path, const char *key_path,
                        const char *crt_path, const char *member_id, int days, const char *crl_url,
                        char *errbuf, size_t errlen)
{
    /* The CN is the member id the server authenticates, so it must be a valid id. */
    if (member_id == NULL || !ct_id_valid(member_id))
        return ct_errf(errbuf, errlen, CT_EINVAL,
                       "invalid member id \"%s\": use 1-%d characters of A-Z a-z 0-9 . _ -",
                       member_id != NULL ? member_id : "", CT_ID_MAX);
    if (days < 1 || days > MEMBER_MAX_DAYS)
        return ct_errf(errbuf, errlen, CT_EINVAL,
                       "invalid certificate validity %d days: must be 1-%d", days, MEMBER_MAX_DAYS);
    int rc = check_crl_url(crl_url, errbuf, errlen);
    if (rc != 0)
        return rc;
    return issue(CERT_MEMBER, ca_key_path, ca_crt_path, key_path, crt_path, member_id, days, NULL,
                 crl_url, errbuf, errlen);
}

/* ---- revocation ----------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int code;
} REASONS[] = {
    {"unspecified", CT_PKI_REASON_UNSPECIFIED},
    {"keyCompromise", CT_PKI_REASON_KEY_COMPROMISE},
    {"affiliationChanged", CT_PKI_REASON_AFFILIATION_CHANGED},
    {"superseded", CT_PKI_REASON_SUPERSEDED},
    {"cessationOfOperation", CT_PKI_REASON_CESSATION_OF_OPERATION},
    {"privilegeWithdrawn", CT_PKI_REASON_PRIVILEGE_WITHDRAWN},
};

int ct_pki_reason_parse(const char *name, int *code)
{
    for (size_t i = 0; name != NULL && i < sizeof REASONS / sizeof REASONS[0]; i++) {
        if (strcmp(REASONS[i].name, name) == 0) {
            *code = REASONS[i].code;
            return 0;
        }
    }
    return CT_EINVAL;
}

const char *ct_pki_reason_name(int code)
{
    for (size_t i = 0; i < sizeof REASONS / sizeof REASONS[0]; i++) {
        if (REASONS[i].code == code)
            return REASONS[i].name;
    }
    return "unspecified";
}

/* Formats an ASN.1 serial as serial text (pki.h). Returns true if it fits. */
static bool serial_to_hex(const ASN1_INTEGER *ai, char *out)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(ai, NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    bool ok = hex != NULL && strlen(hex) <= CT_PKI_SERIAL_HEX_MAX;
    if (ok)
        memcpy(out, hex, strlen(hex) + 1);
    OPENSSL_free(hex);
    BN_free(bn);
    return ok;
}

/* Parses serial text into a new ASN1_INTEGER (caller frees), or NULL if it is not 1 to
 * CT_PKI_SERIAL_HEX_MAX hex digits. */
static ASN1_INTEGER *serial_from_hex(const char *hex)
{
    size_t n = strlen(hex);
    if (n == 0 || n > CT_PKI_SERIAL_HEX_MAX || strspn(hex, "0123456789ABCDEFabcdef") != n)
        return NULL;
    BIGNUM *bn = NULL;
    if (BN_hex2bn(&bn, hex) != (int)n)
        return NULL;
    ASN1_INTEGER *ai = BN_to_ASN1_INTEGER(bn, NULL);
    BN_free(bn);
    return ai;
}

static X509 *read_cert_file(const char *path, const char *what, int *rc, char *errbuf,
                            size_t errlen)
{
    FILE *f = open_input(path, what, rc, errbuf, errlen);
    if (f == NULL)
        return NULL;
    X509 *x = PEM_read_X509(f, NULL, ct_ossl_no_password, NULL);
    fclose(f);
    if (x == NULL)
        *rc = ct_errf(errbuf, errlen, CT_EINVAL, "cannot parse %s %s: %s", what, path,
                      ct_ossl_reason());
    return x;
}

int ct_pki_cert_serial(const char *ca_crt_path, const char *crt_path, char *serial_hex, char *cn,
                       size_t cnlen, char *errbuf, size_t errlen)
{
    int rc = 0;
    ERR_clear_error();
    X509 *ca = read_cert_file(ca_crt_path, "CA certificate", &rc, errbuf, errlen);
    X509 *x = ca != NULL ? read_cert_file(crt_path, "certificate", &rc, errbuf, errlen) : NULL;
    if (x == NULL)
        goto out;
    EVP_PKEY *ca_pub = X509_get0_pubkey(ca);
    if (ca_pub == NULL || X509_verify(x, ca_pub) != 1 ||
        X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)) != 0) {
        ERR_clear_error();
        rc = ct_errf(errbuf, errlen, CT_EINVAL, "certificate %s was not issued by the CA %s",
                     crt_path, ca_crt_path);
        goto out;
    }
    if (!serial_to_hex(X509_get0_serialNumber(x), serial_hex)) {
        rc = ct_errf(errbuf, errlen, CT_EINVAL, "certificate %s has an unusable serial number",
                     crt_path);
        goto out;
    }
    if (cn != NULL && cnlen > 0) {
        cn[0] = '\0';
        int len = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, NULL, 0);
        if (len > 0 && (size_t)len < cnlen)
            X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, (int)cnlen);
    }

out:
    X509_free(x);
    X509_free(ca);
    return rc;
}

void ct_pki_hosts_free(char **hosts, size_t n_hosts)
{
    for (size_t i = 0; i < n_hosts; i++)
        free(hosts[i]);
    free(hosts);
}

/* One subjectAltName as a host string (DNS name, or IP address in canonical text), into out;
 * false for another kind of name or one that does not fit. */
static bool san_host(const GENERAL_NAME *g, char *out, size_t len)
{
    int type;
    const ASN1_STRING *v = GENERAL_NAME_get0_value(g, &type);
    const unsigned char *d = ASN1_STRING_get0_data(v);
    int n = ASN1_STRING_length(v);
    if (type == GEN_DNS && n > 0 && (size_t)n < len && memchr(d, '\0', (size_t)n) == NULL) {
        memcpy(out, d, (size_t)n);
        out[n] = '\0';
        return true;
    }
    if (type == GEN_IPADD && (n == 4 || n == 16))
        return inet_ntop(n == 4 ? AF_INET : AF_INET6, d, out, (socklen_t)len) != NULL;
    return false;
}

int ct_pki_cert_hosts(const char *crt_path, char ***hosts, size_t *n_hosts, char *errbuf,
                      size_t errlen)
{
    *hosts = NULL;
    *n_hosts = 0;
    int rc = 0;
    ERR_clear_error();
    X509 *x = read_cert_file(crt_path, "server certificate", &rc, errbuf, errlen);
    if (x == NULL)
        return rc;
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int count = names != NULL ? sk_GENERAL_NAME_num(names) : 0;
    char **out = count > 0 ? calloc((size_t)count, sizeof *out) : NULL;
    size_t n = 0;
    if (count > 0 && out == NULL)
        rc = ct_errf(errbuf, errlen, CT_ENOMEM, "out of memory");
    for (int i = 0; rc == 0 && i < count; i++) {
        char host[DNS_NAME_MAX + 1];
        if (!san_host(sk_GENERAL_NAME_value(names, i), host, sizeof host) ||
            strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 ||
            strcmp(host, "localhost") == 0)
            continue;
        out[n] = strdup(host);
        if (out[n] == NULL)
            rc = ct_errf(errbuf, errlen, CT_ENOMEM, "out of memory");
        else
            n++;
    }
    GENERAL_NAMES_free(names);
    X509_free(x);
    if (rc != 0) {
        ct_pki_hosts_free(out, n);
        return rc;
    }
    if (n == 0) {
        free(out);
        out = NULL;
    }
    *hosts = out;
    *n_hosts = n;
    return 0;
}

/*
 * Reads the CRL at path and checks it is signed by ca. Returns the list (caller frees), or NULL
 * with *rc CT_ENOTFOUND (no file) or CT_EINVAL and errbuf set.
 */
static X509_CRL *read_crl(const char *path, X509 *ca, int *rc, char *errbuf, size_t errlen)
{
    FILE *f = open_input(path, "revocation list", rc, errbuf, errlen);
    if (f == NULL)
        return NULL;
    X509_CRL *crl = PEM_read_X509_CRL(f, NULL, ct_ossl_no_password, NULL);
    fclose(f);
    if (crl == NULL) {
        *rc = ct_errf(errbuf, errlen, CT_EINVAL, "cannot parse revocation list %s: %s", path,
                      ct_ossl_reason());
        return NULL;
    }
    EVP_PKEY *ca_pub = X509_get0_pubkey(ca);
    if (ca_pub == NULL || X509_CRL_verify(crl, ca_pub) != 1 ||
        X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) != 0) {
        ERR_clear_error();
        X509_CRL_free(crl);
        *rc = ct_errf(errbuf, errlen, CT_EINVAL,
                      "revocation list %s is not signed by this data directory's CA", path);
        return NULL;
    }
    return crl;
}

/* Replaces path with data[0..len), mode 0644: a temporary file beside it, fsync, rename, and an
 * fsync of the directory, so that readers see the old file or the new one, never a part. */
static int write_replace(const char *path, const char *what, const void *data, size_t len,
                         char *errbuf, size_t errlen)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp)
        return ct_errf(errbuf, errlen, CT_EINVAL, "path too long: %s", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return ct_errf(errbuf, errlen, CT_ESYS, "cannot create %s beside %s: %s", what, path,
                       strerror(errno));
    const char *p = data;
    size_t left = len;
    int e = fchmod(fd, 0644) == 0 ? 0 : errno;
    while (e == 0 && left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            e = errno;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (e == 0 && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && e == 0)
        e = errno;
    if (e == 0 && rename(tmp, path) != 0)
        e = errno;
    if (e != 0) {
        (void)unlink(tmp);
        return ct_errf(errbuf, errlen, CT_ESYS, "cannot write %s %s: %s", what, path, strerror(e));
    }
    ct_file_sync_parent(path);
    return 0;
}

/* Adds a cRLNumber one more than old's (1 without an old list) and the authorityKeyIdentifier.
 * Returns 1 or 0. */
static int add_crl_exts(X509_CRL *crl, X509_CRL *old, X509 *ca)
{
    int ok = 0;
    ASN1_INTEGER *num = old != NULL ? X509_CRL_get_ext_d2i(old, NID_crl_number, NULL, NULL) : NULL;
    BIGNUM *bn = num != NULL ? ASN1_INTEGER_to_BN(num, NULL) : BN_new();
    ASN1_INTEGER *next = NULL;
    if (bn != NULL && BN_add_word(bn, 1) == 1 && (next = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
        X509_CRL_add1_ext_i2d(crl, NID_crl_number, next, 0, X509V3_ADD_REPLACE) == 1) {
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
        X509_EXTENSION *aki =
            X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
        ok = aki != NULL && X509_CRL_add_ext(crl, aki, -1) == 1;
        X509_EXTENSION_free(aki);
    }
    ASN1_INTEGER_free(next);
    BN_free(bn);
    ASN1_INTEGER_free(num);
    return ok;
}

/* Appends a revoked entry for serial at time `when` with reason (none for unspecified). Returns
 * 1 or 0. */
static int add_revoked(X509_CRL *crl, const ASN1_INTEGER *serial, const ASN1_TIME *when, int reason)
{
    X509_REVOKED *r = X509_REVOKED_new();
    if (r == NULL)
        return 0;
    int ok = X509_REVOKED_set_serialNumber(r, (ASN1_INTEGER *)serial) == 1 &&
             X509_REVOKED_set_revocationDate(r, (ASN1_TIME *)when) == 1;
    if (ok && reason != CT_PKI_REASON_UNSPECIFIED) {
        ASN1_ENUMERATED *e = ASN1_ENUMERATED_new();
        ok = e != NULL && ASN1_ENUMERATED_set(e, reason) == 1 &&
             X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, e, 0, 0) == 1;
        ASN1_ENUMERATED_free(e);
    }
    if (ok && X509_CRL_add0_revoked(crl, r) == 1)
        return 1;
    X509_REVOKED_free(r);
    return 0;
}

int ct_pki_crl_revoke(const char *ca_key_path, const char *ca_crt_path, const char *crl_path,
                      const char *const *serials, size_t n, int reason, size_t *added, char *errbuf,
                      size_t errlen)
{
    int rc = 0;
    size_t fresh = 0;
    EVP_PKEY *ca_key = NULL;
    X509 *ca = NULL;
    X509_CRL *old = NULL, *crl = NULL;
    ASN1_TIME *now = NULL, *issued = NULL;
    ASN1_INTEGER **want = NULL;
    BIO *mem = NULL;
    if (added != NULL)
        *added = 0;
    ERR_clear_error();

    want = calloc(n > 0 ? n : 1, sizeof *want);
    if (want == NULL)
        return ct_errf(errbuf, errlen, CT_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        want[i] = serial_from_hex(serials[i]);
        if (want[i] == NULL) {
            rc =
                ct_errf(errbuf, errlen, CT_EINVAL, "invalid certificate serial \"%s\"", serials[i]);
            goto out;
        }
    }
    rc = load_ca(ca_key_path, ca_crt_path, &ca_key, &ca, errbuf, errlen);
    if (rc != 0)
        goto out;
    old = read_crl(crl_path, ca, &rc, errbuf, errlen);
    if (old == NULL && rc != CT_ENOTFOUND)
        goto out;
    rc = 0;

    crl = X509_CRL_new();
    now = ASN1_TIME_new();
    issued = ASN1_TIME_new();
    /* lastUpdate is moved back like a certificate's notBefore: a member's client checking the
     * server against a list fetched a moment after a revoke must not find it "not yet valid"
     * because its clock runs slightly behind. The entries keep the real time. */
    if (crl == NULL || now == NULL || issued == NULL || X509_gmtime_adj(now, 0) == NULL ||
        X509_gmtime_adj(issued, NOT_BEFORE_SKEW_SECONDS) == NULL ||
        X509_CRL_set_version(crl, 1) != 1 ||
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) != 1 ||
        X509_CRL_set1_lastUpdate(crl, issued) != 1 ||
        X509_CRL_set1_nextUpdate(crl, X509_get0_notAfter(ca)) != 1)
        goto fail_ossl;
    /* The earlier revocations first, as they were. */
    STACK_OF(X509_REVOKED) *prev = old != NULL ? X509_CRL_get_REVOKED(old) : NULL;
    for (int i = 0; i < sk_X509_REVOKED_num(prev); i++) {
        X509_REVOKED *dup = X509_REVOKED_dup(sk_X509_REVOKED_value(prev, i));
        if (dup == NULL || X509_CRL_add0_revoked(crl, dup) != 1) {
            X509_REVOKED_free(dup);
            goto fail_ossl;
        }
    }
    for (size_t i = 0; i < n; i++) {
        X509_REVOKED *found = NULL;
        bool listed = old != NULL && X509_CRL_get0_by_serial(old, &found, want[i]) == 1;
        for (size_t j = 0; j < i && !listed; j++)
            listed = ASN1_INTEGER_cmp(want[j], want[i]) == 0;
        if (listed)
            continue;
        if (add_revoked(crl, want[i], now, reason) != 1)
            goto fail_ossl;
        fresh++;
    }
    if (add_crl_exts(crl, old, ca) != 1 || X509_CRL_sort(crl) != 1 ||
        X509_CRL_sign(crl, ca_key, EVP_sha256()) == 0)
        goto fail_ossl;
    mem = BIO_new(BIO_s_mem());
    char *data = NULL;
    if (mem == NULL || PEM_write_bio_X509_CRL(mem, crl) != 1)
        goto fail_ossl;
    long len = BIO_get_mem_data(mem, &data);
    rc = write_replace(crl_path, "revocation list", data, (size_t)len, errbuf, errlen);
    if (rc == 0 && added != NULL)
        *added = fresh;
    goto out;

fail_ossl:
    rc = ct_errf(errbuf, errlen, CT_EINTERNAL, "cannot make the revocation list %s: %s", crl_path,
                 ct_ossl_reason());
out:
    BIO_free(mem);
    for (size_t i = 0; i < n; i++)
        ASN1_INTEGER_free(want[i]);
    free(want);
    ASN1_TIME_free(issued);
    ASN1_TIME_free(now);
    X509_CRL_free(crl);
    X509_CRL_free(old);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    return rc;
}

struct ct_pki_crl {
    X509_CRL *crl; /* owned */
};

int ct_pki_crl_load(const char *crl_path, const char *ca_crt_path, ct_pki_crl_t **out, char *errbuf,
                    size_t errlen)
{
    int rc = 0;
    *out = NULL;
    ERR_clear_error();
    X509 *ca = read_cert_file(ca_crt_path, "CA certificate", &rc, errbuf, errlen);
    if (ca == NULL)
        return rc;
    X509_CRL *crl = read_crl(crl_path, ca, &rc, errbuf, errlen);
    X509_free(ca);
    if (crl == NULL)
        return rc;
    ct_pki_crl_t *c = malloc(sizeof *c);
    if (c == NULL) {
        X509_CRL_free(crl);
        return ct_errf(errbuf, errlen, CT_ENOMEM, "out of memory");
    }
    c->crl = crl;
    *out = c;
    return 0;
}

bool ct_pki_crl_has(const ct_pki_crl_t *crl, const char *serial_hex)
{
    if (crl == NULL || serial_hex == NULL)
        return false;
    ASN1_INTEGER *ai = serial_from_hex(serial_hex);
    X509_REVOKED *found = NULL;
    /* 1: revoked; 2 would be a delta CRL's removeFromCRL entry, which this CA never writes. */
    bool has = ai != NULL && X509_CRL_get0_by_serial(crl->crl, &found, ai) == 1;
    ASN1_INTEGER_free(ai);
    return has;
}

size_t ct_pki_crl_count(const ct_pki_crl_t *crl)
{
    int n = crl != NULL ? sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl->crl)) : 0;
    return n > 0 ? (size_t)n : 0;
}

void ct_pki_crl_free(ct_pki_crl_t *crl)
{
    if (crl == NULL)
        return;
    X509_CRL_free(crl->crl);
    free(crl);
}
