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

#include <stddef.h>

/* Creates ca_key_path and ca_crt_path: a self-signed CA named `common_name`, valid 10 years. */
int ct_pki_make_ca(const char *ca_key_path, const char *ca_crt_path, const char *common_name,
                   char *errbuf, size_t errlen);

/*
 * Issues a server certificate signed by the CA: CN = common_name, serverAuth, SAN IP 127.0.0.1,
 * IP ::1, DNS localhost, plus each of hosts[0..n_hosts) (an IP literal becomes an IP SAN, anything
 * else a DNS SAN). Valid 825 days.
 */
int ct_pki_issue_server(const char *ca_key_path, const char *ca_crt_path, const char *key_path,
                        const char *crt_path, const char *common_name, const char *const *hosts,
                        size_t n_hosts, char *errbuf, size_t errlen);

/* Issues a member (client) certificate: CN = member_id, clientAuth. Valid `days` days. */
int ct_pki_issue_member(const char *ca_key_path, const char *ca_crt_path, const char *key_path,
                        const char *crt_path, const char *member_id, int days, char *errbuf,
                        size_t errlen);

#endif
