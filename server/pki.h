/*
 * The daemon's small certificate authority: the dev/clinic CA made by `careteamd init`, the
 * server certificate, and member certificates issued by `careteamd enroll`.
 *
 * All keys are ECDSA P-256; certificates are X.509 v3 signed with SHA-256. Private keys are
 * written PEM (PKCS#8, unencrypted) with mode 0600; certificates with mode 0644. Files are
 * written to a temporary name and renamed, so a crash never leaves half a key. Existing files
 * are never overwritten (CT_EEXISTS).
 *
 * Errors are returned as CT_E* codes; errbuf (may be NULL) receives a message naming the file
 * and the cause.
 */
#ifndef CT_PKI_H
#define CT_PKI_H

#include <stdbool.h>
#include <stddef.h>

/* Creates ca_key_path and ca_crt_path: a self-signed CA named `common_name`, valid 10 years. */
int ct_pki_make_ca(const char *ca_key_path, const char *ca_crt_path, const char *common_name,
                   char *errbuf, size_t errlen);

/*
 * Where the CA publishes its revocation list (DIR/crl.pem), named in every certificate issued
 * below as a CRL Distribution Points extension (RFC 5280 section 4.2.1.13) holding one URI, so
 * that a verifier (a member's client, a TLS scanner) knows where to fetch the list. crl_url NULL
 * or "" issues a certificate without the extension (a data directory whose careteamd.conf names
 * no crl_url). The URL is checked here only for what its encoding needs (an IA5String: printable
 * ASCII without spaces, at most CT_PKI_CRL_URL_MAX bytes; CT_EINVAL otherwise); which URLs make
 * sense is config.c's ct_config_crl_url_check.
 */
#define CT_PKI_CRL_URL_MAX 1023

/*
 * Issues a server certificate signed by the CA: CN = common_name, serverAuth, SAN IP 127.0.0.1,
 * IP ::1, DNS localhost, plus each of hosts[0..n_hosts) (an IP literal becomes an IP SAN, anything
 * else a DNS SAN), and crl_url (see above). Valid CT_PKI_SERVER_DAYS days.
 */
#define CT_PKI_SERVER_DAYS 825
int ct_pki_issue_server(const char *ca_key_path, const char *ca_crt_path, const char *key_path,
                        const char *crt_path, const char *common_name, const char *const *hosts,
                        size_t n_hosts, const char *crl_url, char *errbuf, size_t errlen);

/*
 * The hosts the server certificate at crt_path names beyond those every server certificate has
 * (127.0.0.1, ::1, localhost): its other DNS and IP subjectAltNames, in the certificate's order
 * and in the form ct_pki_issue_server takes. On success *hosts (NULL when there is none) and its
 * strings are malloc'd: free with ct_pki_hosts_free. CT_ENOTFOUND if there is no file.
 */
int ct_pki_cert_hosts(const char *crt_path, char ***hosts, size_t *n_hosts, char *errbuf,
                      size_t errlen);
void ct_pki_hosts_free(char **hosts, size_t n_hosts);

/* Issues a member (client) certificate: CN = member_id, clientAuth, and crl_url (see above).
 * Valid `days` days. */
int ct_pki_issue_member(const char *ca_key_path, const char *ca_crt_path, const char *key_path,
                        const char *crt_path, const char *member_id, int days, const char *crl_url,
                        char *errbuf, size_t errlen);

/* ---- revocation (`careteamd revoke`, and the daemon's check of live sessions on SIGHUP) ------
 *
 * Serials travel as text: upper-case hex without leading zeros, as OpenSSL's BN_bn2hex prints
 * them (and as tls.h's peer_serial holds them), at most CT_PKI_SERIAL_HEX_MAX characters. */

#define CT_PKI_SERIAL_HEX_MAX 64

/* CRL reason codes (RFC 5280 section 5.3.1) that `careteamd revoke --reason` accepts. */
#define CT_PKI_REASON_UNSPECIFIED 0
#define CT_PKI_REASON_KEY_COMPROMISE 1
#define CT_PKI_REASON_AFFILIATION_CHANGED 3
#define CT_PKI_REASON_SUPERSEDED 4
#define CT_PKI_REASON_CESSATION_OF_OPERATION 5
#define CT_PKI_REASON_PRIVILEGE_WITHDRAWN 9

/* Parses a reason name as RFC 5280 spells it ("keyCompromise", "superseded", ...; also
 * "unspecified"). Returns 0 with *code set, or CT_EINVAL. */
int ct_pki_reason_parse(const char *name, int *code);
/* The RFC 5280 name of a code ct_pki_reason_parse accepts; "unspecified" for any other. */
const char *ct_pki_reason_name(int code);

/*
 * Reads the certificate crt_path, checks that the CA certificate ca_crt_path signed it, and
 * returns its serial (serial_hex, CT_PKI_SERIAL_HEX_MAX + 1 bytes) and its subject CN (cn, cnlen
 * bytes; "" when it has none). Returns 0, CT_ENOTFOUND (no such file), or CT_EINVAL (not a
 * certificate, or not issued by that CA).
 */
int ct_pki_cert_serial(const char *ca_crt_path, const char *crt_path, char *serial_hex, char *cn,
                       size_t cnlen, char *errbuf, size_t errlen);

/*
 * Adds serials[0..n) to the revocation list crl_path, signed by the CA (ca_key_path,
 * ca_crt_path): the entries of the existing list are kept (a list not signed by this CA is
 * refused, CT_EINVAL), a serial already listed keeps its first entry, new ones get the time now
 * and `reason` (CT_PKI_REASON_*; no reason extension for unspecified). The list is re-signed with
 * lastUpdate now (moved back five minutes, as certificates' notBefore is, for verifiers whose
 * clock runs slightly behind), nextUpdate the CA's notAfter (so that it never lapses before the CA
 * does) and a cRLNumber one more than before, and replaces crl_path atomically (temporary file,
 * fsync, rename; mode 0644). *added (may be NULL) is how many serials were new. Returns 0 or CT_E*.
 * With n = 0 (serials may then be NULL) it writes the list as it is, re-signed: `careteamd init`
 * makes the initial, empty list this way, so that the URL in the certificates names a file from
 * the first day.
 */
int ct_pki_crl_revoke(const char *ca_key_path, const char *ca_crt_path, const char *crl_path,
                      const char *const *serials, size_t n, int reason, size_t *added, char *errbuf,
                      size_t errlen);

/* A loaded revocation list, for asking whether a serial is on it. */
typedef struct ct_pki_crl ct_pki_crl_t;

/* Loads crl_path and checks that the CA certificate ca_crt_path signed it. Returns 0 with *out
 * (free it with ct_pki_crl_free), CT_ENOTFOUND when there is no such file, or CT_EINVAL. */
int ct_pki_crl_load(const char *crl_path, const char *ca_crt_path, ct_pki_crl_t **out, char *errbuf,
                    size_t errlen);
/* True when serial_hex (see above) is listed as revoked. */
bool ct_pki_crl_has(const ct_pki_crl_t *crl, const char *serial_hex);
/* Returns how many certificates the list revokes. */
size_t ct_pki_crl_count(const ct_pki_crl_t *crl);
void ct_pki_crl_free(ct_pki_crl_t *crl);

#endif
