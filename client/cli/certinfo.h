/*
 * What a certificate file says about itself, read locally without connecting: its subject (the
 * member id, for a member certificate) and its validity. The CLI uses it to say "your certificate
 * expired on ..." before a TLS handshake would fail with a bare alert, and to show whose
 * certificate a profile holds. Likewise for a revocation list (--crl): that the file is one, and
 * only that, before the TLS layer trusts what is in it.
 *
 * This is the only file of the CLI that includes OpenSSL; it reads X.509 and never touches TLS.
 */
#ifndef CT_CLI_CERTINFO_H
#define CT_CLI_CERTINFO_H

#include <stddef.h>
#include <stdint.h>

typedef struct ct_cli_cert_info {
    char subject_cn[128];  /* the subject's common name; "" when it has none */
    int64_t not_before_ms; /* validity, Unix milliseconds */
    int64_t not_after_ms;
} ct_cli_cert_info_t;

/* Reads the first certificate of the PEM file path into *out. Returns 0, or -1 with err saying
 * why (the file cannot be opened, or holds no PEM certificate). */
int ct_cli_cert_read(const char *path, ct_cli_cert_info_t *out, char *err, size_t errlen);

typedef struct ct_cli_crl_info {
    char issuer_cn[128];    /* the issuing CA's common name; "" when it has none */
    int64_t next_update_ms; /* when the list must be replaced, Unix milliseconds; 0: not said */
    size_t revoked;         /* how many certificates it revokes */
} ct_cli_crl_info_t;

/*
 * Reads the PEM file path as a revocation list into *out. The file must hold one or more PEM
 * "X509 CRL" blocks and nothing else: the TLS layer loads every certificate a file holds as a
 * trusted one, so a certificate (a ca.crt given by mistake, or planted) must not get in through
 * --crl. Returns 0, or -1 with err saying why.
 */
int ct_cli_crl_read(const char *path, ct_cli_crl_info_t *out, char *err, size_t errlen);

#endif
