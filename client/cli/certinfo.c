/*
 * Reading a certificate's subject and validity locally (see certinfo.h).
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
