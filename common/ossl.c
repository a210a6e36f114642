/*
 * OpenSSL helpers (see ossl.h).
 */
#include "ossl.h"

#include <openssl/err.h>

const char *ct_ossl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r != NULL ? r : "OpenSSL error";
}

int ct_ossl_no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}
