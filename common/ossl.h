/*
 * Small OpenSSL helpers shared by the code that makes and reads keys (server/pki.c,
 * server/audit_sign.c).
 */
#ifndef CT_OSSL_H
#define CT_OSSL_H

/* The reason for the most recent OpenSSL failure, for an error message. Drains the thread's error
 * queue so that a stale entry cannot be blamed for a later, unrelated failure. */
const char *ct_ossl_reason(void);

/* A PEM password callback that refuses: careteam's keys are unencrypted files protected by their
 * permissions, and OpenSSL must never prompt on a terminal. */
int ct_ossl_no_password(char *buf, int size, int rwflag, void *u);

#endif
