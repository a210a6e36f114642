/*
 * Reading a certificate's subject and validity, and a revocation list's issuer and entries,
 * locally (see certinfo.h).
 */
#include "certinfo.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ossl.h"

/* t as Unix milliseconds. Returns 0, or -1 when OpenSSL cannot read it. */
static int asn1_time_ms(const ASN1_TIME *t, int64_t *ms)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    *ms = (int64_t)timegm(&tm) * 1000;
    return 0;
}

int ct_cli_cert_read(const char *path, ct_cli_cert_info_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    ERR_clear_error();
    X509 *x = PEM_read_X509(f, NULL, ct_ossl_no_password, NULL);
    fclose(f);
    if (x == NULL) {
        snprintf(err, errlen, "%s holds no PEM certificate (%s)", path, ct_ossl_reason());
        return -1;
    }
    int rc = 0;
    if (asn1_time_ms(X509_get0_notBefore(x), &out->not_before_ms) != 0 ||
        asn1_time_ms(X509_get0_notAfter(x), &out->not_after_ms) != 0) {
        snprintf(err, errlen, "cannot read the validity of the certificate in %s", path);
        rc = -1;
    }
    if (rc == 0 && X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName,
                                             out->subject_cn, sizeof out->subject_cn) < 0)
        out->subject_cn[0] = '\0';
    X509_free(x);
    ERR_clear_error();
    return rc;
}

/* Fills *out from the DER revocation list data[0..len). Returns 0, or -1 when it does not parse. */
static int crl_info(const unsigned char *data, long len, ct_cli_crl_info_t *out)
{
    X509_CRL *crl = d2i_X509_CRL(NULL, &data, len);
    if (crl == NULL)
        return -1;
    if (X509_NAME_get_text_by_NID(X509_CRL_get_issuer(crl), NID_commonName, out->issuer_cn,
                                  sizeof out->issuer_cn) < 0)
        out->issuer_cn[0] = '\0';
    if (asn1_time_ms(X509_CRL_get0_nextUpdate(crl), &out->next_update_ms) != 0)
        out->next_update_ms = 0;
    int n = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl));
    out->revoked = n > 0 ? (size_t)n : 0;
    X509_CRL_free(crl);
    return 0;
}

int ct_cli_crl_read(const char *path, ct_cli_crl_info_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    ERR_clear_error();
    int rc = 0;
    size_t lists = 0;
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long len = 0;
        if (PEM_read(f, &name, &header, &data, &len) != 1)
            break; /* the end of the file (or text that is not PEM: no list is reported) */
        if (strcmp(name, PEM_STRING_X509_CRL) != 0) {
            snprintf(err, errlen,
                     "%s holds a PEM %s, not only a revocation list: give the CA's crl.pem "
                     "(a ca.crt or certificate does not belong here)",
                     path, name);
            rc = -1;
        } else if (lists == 0 && crl_info(data, len, out) != 0) {
            snprintf(err, errlen, "%s holds a revocation list that cannot be read (%s)", path,
                     ct_ossl_reason());
            rc = -1;
        }
        lists++;
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
        if (rc != 0)
            break;
    }
    fclose(f);
    if (rc == 0 && lists == 0) {
        snprintf(err, errlen, "%s holds no PEM revocation list (-----BEGIN X509 CRL-----)", path);
        rc = -1;
    }
    ERR_clear_error();
    return rc;
}
