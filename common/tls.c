/*
 * TLS over libuv with one BIO of our own per connection (conn_bio below). See tls.h for the
 * contract and the state diagram.
 *
 * Invariants:
 *  - state only moves forward: HANDSHAKE -> OPEN -> DRAINING -> CLOSING (any may jump to CLOSING).
 *  - `writing` is true exactly while a uv_write is in flight; inflight.data stays untouched until
 *    then. Its request is allocated for it and freed by on_uv_write.
 *  - `plain` holds bytes only while `writing` is true: ct_tls_write appends there only then, and
 *    flush_output seals it into `out` before anything else is written or close_notify queued, so
 *    the peer receives the application bytes in the order they were written.
 *  - OpenSSL writes ciphertext straight into `out` (conn_bio_write), so none is ever stranded.
 *  - `in` points into the uv_read buffer only during on_uv_read, which feeds OpenSSL until it has
 *    taken every byte (OpenSSL keeps a partial record in its own read buffer); bytes it will not
 *    take fail the connection rather than vanish (feed_input).
 *  - on_error and on_close run only from the uv_close callback, so neither can run inside a
 *    ct_tls_* call of the owner (no synchronous upcalls); on_error, if any, comes first.
 *  - ERR_clear_error() precedes every SSL_* call whose error queue we read, so a reason we report
 *    belongs to this connection and this call.
 */
#include "tls.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "err.h"

struct ct_tls_ctx {
    SSL_CTX *ssl_ctx;
    bool server;
};

/* Plaintext bytes handed to on_read per SSL_read call. */
#define CT_TLS_CHUNK 16384
/* Socket bytes per uv_read callback; libuv reads at most this much at once, which bounds the work
 * one connection can do per callback before the loop serves others. */
#define CT_TLS_READ_BUF 65536

static void openssl_reason(char *buf, size_t len, const char *what)
{
    unsigned long e = ERR_get_error();
    if (e == 0) {
        snprintf(buf, len, "%s", what);
        return;
    }
    char reason[200];
    ERR_error_string_n(e, reason, sizeof reason);
    snprintf(buf, len, "%s: %s", what, reason);
    ERR_clear_error();
}

/* Loads our certificate chain and its private key into c. Returns false with errbuf set. */
static bool use_identity(SSL_CTX *c, const char *cert_path, const char *key_path, char *errbuf,
                         size_t errlen)
{
    char what[512];
    if (SSL_CTX_use_certificate_chain_file(c, cert_path) != 1) {
        snprintf(what, sizeof what, "cannot load certificate %s", cert_path);
        openssl_reason(errbuf, errlen, what);
        return false;
    }
    if (SSL_CTX_use_PrivateKey_file(c, key_path, SSL_FILETYPE_PEM) != 1) {
        snprintf(what, sizeof what, "cannot load private key %s", key_path);
        openssl_reason(errbuf, errlen, what);
        return false;
    }
    if (SSL_CTX_check_private_key(c) != 1) {
        snprintf(what, sizeof what, "private key %s does not match certificate %s", key_path,
                 cert_path);
        openssl_reason(errbuf, errlen, what);
        return false;
    }
    return true;
}

/* Loads the CA that peers' certificates must chain to. Returns false with errbuf set. */
static bool use_ca(SSL_CTX *c, const char *ca_path, char *errbuf, size_t errlen)
{
    if (SSL_CTX_load_verify_locations(c, ca_path, NULL) != 1) {
        char what[512];
        snprintf(what, sizeof what, "cannot load CA certificate %s", ca_path);
        openssl_reason(errbuf, errlen, what);
        return false;
    }
    return true;
}

static int remember_rejected_leaf(int ok, X509_STORE_CTX *xs);
static bool conn_bio_method_ready(void);

int ct_tls_ctx_new(bool server, const char *cert_path, const char *key_path, const char *ca_path,
                   ct_tls_ctx_t **out, char *errbuf, size_t errlen)
{
    char scratch[8];
    if (errbuf == NULL) {
        errbuf = scratch;
        errlen = sizeof scratch;
    }
    *out = NULL;
    ERR_clear_error();
    ct_tls_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return CT_ENOMEM;
    ctx->server = server;
    SSL_CTX *c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (c == NULL) {
        openssl_reason(errbuf, errlen, "cannot create TLS context");
        goto fail;
    }
    ctx->ssl_ctx = c;
    if (!conn_bio_method_ready()) { /* fail here, not at every connection */
        openssl_reason(errbuf, errlen, "cannot create the connection BIO method");
        goto fail;
    }
    /* TLS 1.3 only: no downgrade, only AEAD suites, encrypted certificates. */
    SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
    /* Idle connections give their 34 KB of record buffers back (see issue on per-connection RSS).
     */
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    if (!use_identity(c, cert_path, key_path, errbuf, errlen) ||
        !use_ca(c, ca_path, errbuf, errlen))
        goto fail;
    if (server) {
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                           remember_rejected_leaf);
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_path);
        if (names != NULL)
            SSL_CTX_set_client_CA_list(c, names);
        /* Every connection authenticates with its certificate: no resumption, no tickets. */
        SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_num_tickets(c, 0);
    } else {
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    }
    *out = ctx;
    return 0;
fail:
    ct_tls_ctx_free(ctx);
    return CT_ETLS;
}

int ct_tls_ctx_new_collector(const char *cert_path, const char *key_path, const char *ca_path,
                             ct_tls_ctx_t **out, char *errbuf, size_t errlen)
{
    char scratch[8];
    if (errbuf == NULL) {
        errbuf = scratch;
        errlen = sizeof scratch;
    }
    *out = NULL;
    ERR_clear_error();
    ct_tls_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return CT_ENOMEM;
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (c == NULL) {
        openssl_reason(errbuf, errlen, "cannot create TLS context");
        goto fail;
    }
    ctx->ssl_ctx = c;
    /* RFC 5425 as updated by RFC 9662: TLS 1.2 is what collectors must offer, 1.3 preferred. */
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    if (cert_path != NULL && cert_path[0] != '\0' &&
        !use_identity(c, cert_path, key_path, errbuf, errlen))
        goto fail;
    if (!use_ca(c, ca_path, errbuf, errlen))
        goto fail;
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    *out = ctx;
    return 0;
fail:
    ct_tls_ctx_free(ctx);
    return CT_ETLS;
}

void ct_tls_ctx_free(ct_tls_ctx_t *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}

int ct_tls_ctx_load_crl(ct_tls_ctx_t *ctx, const char *crl_path, char *errbuf, size_t errlen)
{
    char scratch[8];
    if (errbuf == NULL) {
        errbuf = scratch;
        errlen = sizeof scratch;
    }
    ERR_clear_error();
    X509_STORE *store = SSL_CTX_get_cert_store(ctx->ssl_ctx);
    /* Only the lists: X509_STORE_load_file would also trust any certificate in the file. */
    X509_LOOKUP *lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
    if (lookup == NULL || X509_load_crl_file(lookup, crl_path, X509_FILETYPE_PEM) <= 0) {
        char what[512];
        snprintf(what, sizeof what, "cannot load revocation list %s", crl_path);
        openssl_reason(errbuf, errlen, what);
        return CT_ETLS;
    }
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
    return 0;
}

/* ---- connection ------------------------------------------------------------------------- */

static void on_uv_close(uv_handle_t *h);
static void flush_output(ct_tls_t *t);

/* Records the first failure and closes. The owner hears of it in on_error, from the uv_close
 * callback. With `send_pending`, ciphertext already produced (a TLS alert) is written first. */
static void tls_fail(ct_tls_t *t, int err, const char *why, bool send_pending)
{
    if (t->err == 0) {
        t->err = err;
        t->why = strdup(why); /* NULL: on_uv_close says the reason was lost */
    }
    ct_tls_close(t, send_pending);
}

/*
 * The connection's BIO, both directions. Memory BIOs cost a copy each way (socket bytes into the
 * read BIO, ciphertext out of the write BIO into `out`) and kept the capacity of their largest
 * burst for the connection's life: the client's certificate flight, 1.7 KB of every idle
 * connection (docs/performance.md). This one reads from the uv_read buffer in place and appends
 * to `out`; it holds no bytes of its own.
 */
static BIO_METHOD *g_conn_bio; /* under g_conn_bio_mu until made, then never changes */
static pthread_mutex_t g_conn_bio_mu = PTHREAD_MUTEX_INITIALIZER;

/* Reads what is left of the current uv_read; "retry" once it is all taken. */
static int conn_bio_read(BIO *b, char *out, size_t len, size_t *got)
{
    ct_tls_t *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (t->in_len == 0) {
        BIO_set_retry_read(b);
        *got = 0;
        return 0;
    }
    size_t n = len < t->in_len ? len : t->in_len;
    memcpy(out, t->in, n);
    t->in += n;
    t->in_len -= n;
    *got = n;
    return 1;
}

/* Appends to `out`; never "retry". Out of memory fails the write, and the call that made OpenSSL
 * write reports CT_ENOMEM (output_status). */
static int conn_bio_write(BIO *b, const char *data, size_t len, size_t *put)
{
    ct_tls_t *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    *put = 0;
    if (ct_buf_append(&t->out, data, len) != 0) {
        t->out_oom = true;
        return 0;
    }
    *put = len;
    return 1;
}

static long conn_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    ct_tls_t *t = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* `out` is flushed by flush_output */
    case BIO_CTRL_PENDING:
        return t != NULL ? (long)t->in_len : 0;
    default:
        return 0; /* no EOF (the socket's end comes from uv_read), no kTLS, no fd */
    }
}

static BIO_METHOD *conn_bio_method_new(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "careteam conn");
    if (m == NULL)
        return NULL;
    if (BIO_meth_set_read_ex(m, conn_bio_read) != 1 ||
        BIO_meth_set_write_ex(m, conn_bio_write) != 1 || BIO_meth_set_ctrl(m, conn_bio_ctrl) != 1) {
        BIO_meth_free(m);
        return NULL;
    }
    return m;
}

/* Whether the method exists: made by the first call that can (a failure, out of memory, is tried
 * again by the next call), then kept for the life of the process like OpenSSL's own methods.
 * ct_tls_ctx_new fails without it. */
static bool conn_bio_method_ready(void)
{
    pthread_mutex_lock(&g_conn_bio_mu);
    if (g_conn_bio == NULL)
        g_conn_bio = conn_bio_method_new();
    bool ready = g_conn_bio != NULL;
    pthread_mutex_unlock(&g_conn_bio_mu);
    return ready;
}

/* A new BIO for t, or NULL (out of memory). */
static BIO *conn_bio_new(ct_tls_t *t)
{
    if (!conn_bio_method_ready())
        return NULL;
    BIO *b = BIO_new(g_conn_bio); /* g_conn_bio no longer changes once made */
    if (b == NULL)
        return NULL;
    BIO_set_data(b, t);
    BIO_set_init(b, 1);
    return b;
}

/* After a call that may have made OpenSSL write: 0, or CT_ENOMEM if some of it did not fit. */
static int output_status(const ct_tls_t *t)
{
    return t->out_oom ? CT_ENOMEM : 0;
}

/* A written queue (inflight here, out in flush_output) gives its memory back, as
 * SSL_MODE_RELEASE_BUFFERS does for OpenSSL's own buffers: most connections are idle most of the
 * time, and kept capacity (a few KB from the Welcome and replay) was 7% of an idle connection's
 * memory. So does the write request (192 bytes). A busy connection pays two malloc/free pairs
 * per write, next to a syscall. */
static void on_uv_write(uv_write_t *req, int status)
{
    ct_tls_t *t = req->data;
    free(req);
    t->writing = false;
    ct_buf_free(&t->inflight);
    if (t->state == CT_TLS_CLOSING)
        return; /* cancelled by uv_close, or finished after it; close_cb does the rest */
    if (status < 0) {
        char why[96];
        snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
        tls_fail(t, CT_ECLOSED, why, false);
        return;
    }
    flush_output(t);
}

/* Encrypts len bytes into records (OpenSSL cuts them at 16 KiB), which go into `out`. */
static int seal(ct_tls_t *t, const uint8_t *data, size_t len)
{
    while (len > 0) {
        /* conn_bio never refuses, so SSL_write completes whole records; chunk to stay in int. */
        int n = len > (1u << 30) ? (1 << 30) : (int)len;
        ERR_clear_error();
        int w = SSL_write(t->ssl, data, n);
        if (w <= 0)
            return t->out_oom ? CT_ENOMEM : CT_ETLS;
        data += w;
        len -= (size_t)w;
    }
    return output_status(t);
}

/* Seals the plaintext written while the previous write was in flight, all of it at once, and
 * gives the buffer back (see on_uv_write). On failure the connection fails. */
static int seal_plain(ct_tls_t *t)
{
    if (t->plain.len == 0)
        return 0;
    int r = seal(t, t->plain.data, t->plain.len);
    ct_buf_free(&t->plain);
    if (r != 0)
        tls_fail(t, r == CT_ENOMEM ? CT_ENOMEM : CT_ETLS, "tls write failed", false);
    return r;
}

/* Starts a uv_write of everything queued if none is in flight; finishes a graceful close once
 * the queue is empty; tells the owner when its backlog is gone. */
static void flush_output(ct_tls_t *t)
{
    if (t->writing || t->state == CT_TLS_CLOSING)
        return;
    if (seal_plain(t) != 0)
        return;
    if (t->out.len == 0) {
        ct_buf_free(&t->out); /* see on_uv_write */
        if (t->state == CT_TLS_DRAINING) {
            t->state = CT_TLS_CLOSING;
            uv_close((uv_handle_t *)&t->tcp, on_uv_close);
        } else if (t->cb->on_drain != NULL && t->drain_wanted) {
            t->drain_wanted = false;
            t->cb->on_drain(t);
        }
        return;
    }
    uv_write_t *req = malloc(sizeof *req);
    if (req == NULL) {
        tls_fail(t, CT_ENOMEM, "out of memory", false);
        return;
    }
    /* Swap so the queue keeps accepting bytes while this write is in flight. */
    ct_buf_t tmp = t->inflight;
    t->inflight = t->out;
    t->out = tmp;
    uv_buf_t b = uv_buf_init((char *)t->inflight.data, (unsigned)t->inflight.len);
    req->data = t;
    int r = uv_write(req, (uv_stream_t *)&t->tcp, &b, 1, on_uv_write);
    if (r < 0) {
        free(req);
        ct_buf_reset(&t->inflight);
        char why[96];
        snprintf(why, sizeof why, "write failed: %s", uv_strerror(r));
        tls_fail(t, CT_ECLOSED, why, false);
        return;
    }
    t->writing = true;
}

/* Writes cert's serial as BN_bn2hex does (upper case, no leading zeros) into out; "" if it does
 * not fit. */
static void serial_hex(X509 *cert, char *out, size_t len)
{
    out[0] = '\0';
    BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *hex = serial != NULL ? BN_bn2hex(serial) : NULL;
    if (hex != NULL && strlen(hex) < len)
        memcpy(out, hex, strlen(hex) + 1);
    OPENSSL_free(hex);
    BN_free(serial);
}

/* Verify callback of server contexts: changes no verdict, but remembers the serial of a client
 * certificate it rejects (a revoked or expired one), so the audit row of the failed handshake
 * names which certificate was refused; a server keeps no peer certificate it rejected. */
static int remember_rejected_leaf(int ok, X509_STORE_CTX *xs)
{
    if (ok || X509_STORE_CTX_get_error_depth(xs) != 0)
        return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    ct_tls_t *t = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
    X509 *leaf = X509_STORE_CTX_get_current_cert(xs);
    if (t != NULL && leaf != NULL && t->peer_serial[0] == '\0')
        serial_hex(leaf, t->peer_serial, sizeof t->peer_serial);
    return ok;
}

/* Fills peer_cn, peer_fp and peer_serial from the verified peer certificate. A CN that is missing,
 * too long, or holds a NUL leaves peer_cn empty: the owner refuses such a peer. */
static void capture_peer_identity(ct_tls_t *t)
{
    X509 *cert = SSL_get0_peer_certificate(t->ssl);
    t->peer_cn[0] = '\0';
    t->peer_fp[0] = '\0';
    t->peer_serial[0] = '\0';
    if (cert == NULL)
        return;
    serial_hex(cert, t->peer_serial, sizeof t->peer_serial);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (X509_digest(cert, EVP_sha256(), md, &mdlen) == 1 && mdlen == 32) {
        for (unsigned i = 0; i < mdlen; i++)
            snprintf(t->peer_fp + 2 * i, 3, "%02x", md[i]);
    }
    X509_NAME *subject = X509_get_subject_name(cert);
    int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (idx < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, idx) >= 0)
        return; /* no CN, or more than one: ambiguous identity */
    ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, data);
    if (n > 0 && (size_t)n < sizeof t->peer_cn && memchr(utf8, '\0', (size_t)n) == NULL) {
        memcpy(t->peer_cn, utf8, (size_t)n);
        t->peer_cn[n] = '\0';
    }
    OPENSSL_free(utf8);
}

static void handshake_failure_reason(ct_tls_t *t, char *why, size_t len)
{
    unsigned long e = ERR_peek_error();
    long vr = SSL_get_verify_result(t->ssl);
    char reason[120] = "handshake failed";
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof reason);
    if (vr != X509_V_OK && t->peer_serial[0] != '\0')
        snprintf(why, len, "tls handshake: %s (certificate serial %s: %s)", reason, t->peer_serial,
                 X509_verify_cert_error_string(vr));
    else if (vr != X509_V_OK)
        snprintf(why, len, "tls handshake: %s (certificate: %s)", reason,
                 X509_verify_cert_error_string(vr));
    else
        snprintf(why, len, "tls handshake: %s", reason);
    ERR_clear_error();
}

/* Advances the handshake. Returns true when the connection is open. */
static bool continue_handshake(ct_tls_t *t)
{
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (output_status(t) != 0) {
        tls_fail(t, CT_ENOMEM, "out of memory", false);
        return false;
    }
    if (r == 1) {
        t->state = CT_TLS_OPEN;
        capture_peer_identity(t);
        flush_output(t);
        if (t->cb->on_handshake != NULL)
            t->cb->on_handshake(t);
        return t->state == CT_TLS_OPEN;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        flush_output(t);
        return false;
    }
    char why[CT_TLS_WHY_MAX];
    handshake_failure_reason(t, why, sizeof why);
    /* Send the alert we produced, so the peer learns why, then close. */
    tls_fail(t, CT_ETLS, why, true);
    return false;
}

/* Decrypts the input (and what OpenSSL buffered) and hands it to the owner, chunk by chunk. */
static void read_plaintext(ct_tls_t *t)
{
    uint8_t chunk[CT_TLS_CHUNK];
    while (t->state == CT_TLS_OPEN || t->state == CT_TLS_DRAINING) {
        ERR_clear_error();
        int n = SSL_read(t->ssl, chunk, sizeof chunk);
        if (n > 0) {
            if (t->state == CT_TLS_OPEN)
                t->cb->on_read(t, chunk, (size_t)n);
            continue;
        }
        /* "Want read" comes only once conn_bio_read has no input left: records without
         * application data (KeyUpdate, tickets) are read on within the call (auto-retry). */
        int e = SSL_get_error(t->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        if (t->out_oom) {
            /* OpenSSL's reply to a post-handshake message (a KeyUpdate) did not fit. */
            tls_fail(t, CT_ENOMEM, "out of memory", false);
        } else if (e == SSL_ERROR_ZERO_RETURN) {
            tls_fail(t, CT_ECLOSED, "peer closed the connection", true);
        } else {
            char why[CT_TLS_WHY_MAX];
            char reason[120] = "unknown";
            unsigned long ee = ERR_peek_error();
            if (ee != 0)
                ERR_error_string_n(ee, reason, sizeof reason);
            snprintf(why, sizeof why, "tls read: %s", reason);
            ERR_clear_error();
            tls_fail(t, CT_ETLS, why, false);
        }
        break;
    }
    if (t->state != CT_TLS_CLOSING && output_status(t) != 0) {
        tls_fail(t, CT_ENOMEM, "out of memory", false);
        return;
    }
    flush_output(t);
}

static void on_uv_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    /* OpenSSL takes each read whole before the next one (feed_input), so one buffer per thread
     * serves all connections of that thread's loop. */
    static _Thread_local char rbuf[CT_TLS_READ_BUF];
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(rbuf, sizeof rbuf);
}

/* Gives OpenSSL one read's bytes (conn_bio_read takes them from t->in) until it has taken them
 * all: the buffer is reused by the next read. */
static void feed_input(ct_tls_t *t, const uint8_t *data, size_t len)
{
    t->in = data;
    t->in_len = len;
    if (t->state != CT_TLS_HANDSHAKE || continue_handshake(t))
        read_plaintext(t);
    /* Left over once the owner closed (in on_handshake or on_read): nobody reads it any more. */
    if (t->in_len != 0 && (t->state == CT_TLS_HANDSHAKE || t->state == CT_TLS_OPEN))
        tls_fail(t, CT_EINTERNAL, "tls: input left unread", false);
    t->in = NULL;
    t->in_len = 0;
}

static void on_uv_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    ct_tls_t *t = (ct_tls_t *)((char *)s - offsetof(ct_tls_t, tcp));
    if (nread == 0 || t->state == CT_TLS_CLOSING)
        return;
    if (nread < 0) {
        if (nread == UV_EOF)
            tls_fail(t, CT_ECLOSED, "peer closed the connection", false);
        else {
            char why[96];
            snprintf(why, sizeof why, "read failed: %s", uv_strerror((int)nread));
            tls_fail(t, CT_ECLOSED, why, false);
        }
        return;
    }
    feed_input(t, (const uint8_t *)buf->base, (size_t)nread);
}

static void on_uv_close(uv_handle_t *h)
{
    ct_tls_t *t = (ct_tls_t *)((char *)h - offsetof(ct_tls_t, tcp));
    SSL_free(t->ssl); /* frees the BIO */
    t->ssl = NULL;
    ct_buf_free(&t->out);
    ct_buf_free(&t->plain);
    ct_buf_free(&t->inflight);
    char *why = t->why;
    t->why = NULL;
    if (t->err != 0 && t->cb->on_error != NULL)
        t->cb->on_error(t, t->err, why != NULL ? why : "failed (out of memory for the reason)");
    free(why);
    t->cb->on_close(t); /* may free t */
}

int ct_tls_init(ct_tls_t *t, uv_loop_t *loop, ct_tls_ctx_t *ctx, bool server,
                const ct_tls_callbacks_t *cb)
{
    memset(t, 0, sizeof *t);
    t->cb = cb;
    t->state = CT_TLS_HANDSHAKE;
    ERR_clear_error();
    t->ssl = SSL_new(ctx->ssl_ctx);
    if (t->ssl == NULL)
        return CT_ENOMEM;
    SSL_set_app_data(t->ssl, t); /* for remember_rejected_leaf */
    BIO *bio = conn_bio_new(t);
    if (bio == NULL) {
        SSL_free(t->ssl);
        t->ssl = NULL;
        return CT_ENOMEM;
    }
    SSL_set_bio(t->ssl, bio, bio); /* one BIO both ways: SSL takes our one reference */
    if (server)
        SSL_set_accept_state(t->ssl);
    else
        SSL_set_connect_state(t->ssl);
    int r = uv_tcp_init(loop, &t->tcp);
    if (r < 0) {
        SSL_free(t->ssl);
        t->ssl = NULL;
        return CT_ESYS;
    }
    return 0;
}

int ct_tls_set_hostname(ct_tls_t *t, const char *host)
{
    ERR_clear_error();
    /* SSL_set1_host matches DNS names; IP literals need the IP check instead. */
    X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1)
        return 0;
    ERR_clear_error();
    if (SSL_set1_host(t->ssl, host) != 1)
        return CT_EINVAL;
    if (SSL_set_tlsext_host_name(t->ssl, host) != 1)
        return CT_EINVAL;
    return 0;
}

static void format_peer_addr(ct_tls_t *t)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    snprintf(t->peer_addr, sizeof t->peer_addr, "unknown");
    if (uv_tcp_getpeername(&t->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    char ip[INET6_ADDRSTRLEN];
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof ip);
        snprintf(t->peer_addr, sizeof t->peer_addr, "%s:%d", ip, ntohs(a->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof ip);
        snprintf(t->peer_addr, sizeof t->peer_addr, "[%s]:%d", ip, ntohs(a->sin6_port));
    }
}

int ct_tls_start(ct_tls_t *t)
{
    format_peer_addr(t);
    uv_tcp_nodelay(&t->tcp, 1);
    int r = uv_read_start((uv_stream_t *)&t->tcp, on_uv_alloc, on_uv_read);
    if (r < 0)
        return CT_ESYS;
    t->reading = true;
    if (!SSL_is_server(t->ssl)) {
        /* The client speaks first: produce the ClientHello now. */
        ERR_clear_error();
        int hr = SSL_do_handshake(t->ssl);
        int e = SSL_get_error(t->ssl, hr);
        if (hr != 1 && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            return CT_ETLS;
        if (output_status(t) != 0)
            return CT_ENOMEM;
        flush_output(t);
    }
    return 0;
}

int ct_tls_write(ct_tls_t *t, const uint8_t *data, size_t len)
{
    if (t->state != CT_TLS_OPEN)
        return CT_ECLOSED;
    t->drain_wanted = true;
    int r;
    if (t->writing) { /* sealed with the rest when the write in flight completes */
        if (ct_buf_append(&t->plain, data, len) == 0)
            return 0;
        r = CT_ENOMEM;
    } else {
        r = seal(t, data, len);
    }
    if (r != 0) {
        /* Records may have gone into `out` before the failure, or a frame is missing from the
         * stream: either way the connection cannot go on. */
        tls_fail(t, r, r == CT_ENOMEM ? "out of memory" : "tls write failed", false);
        return r == CT_ENOMEM ? CT_ENOMEM : CT_ECLOSED;
    }
    flush_output(t);
    return 0;
}

size_t ct_tls_backlog(const ct_tls_t *t)
{
    return t->plain.len + t->out.len + t->inflight.len;
}

void ct_tls_pause(ct_tls_t *t)
{
    if (t->reading && t->state != CT_TLS_CLOSING) {
        uv_read_stop((uv_stream_t *)&t->tcp);
        t->reading = false;
    }
}

void ct_tls_resume(ct_tls_t *t)
{
    if (!t->reading && (t->state == CT_TLS_OPEN || t->state == CT_TLS_HANDSHAKE)) {
        if (uv_read_start((uv_stream_t *)&t->tcp, on_uv_alloc, on_uv_read) == 0)
            t->reading = true;
    }
}

void ct_tls_close(ct_tls_t *t, bool graceful)
{
    if (t->state == CT_TLS_CLOSING)
        return;
    if (graceful && t->state != CT_TLS_DRAINING) {
        /* What was written before the close goes before close_notify. A failure here closes
         * the connection (tls_fail), which ends this close too. */
        if (t->state == CT_TLS_OPEN && seal_plain(t) != 0)
            return;
        if (t->state == CT_TLS_OPEN) {
            ERR_clear_error();
            SSL_shutdown(t->ssl); /* queues close_notify; we do not wait for the peer's */
            ERR_clear_error();
        }
        t->state = CT_TLS_DRAINING;
        if (t->reading) {
            uv_read_stop((uv_stream_t *)&t->tcp);
            t->reading = false;
        }
        flush_output(t); /* closes now if nothing is queued */
        return;
    }
    /* Abortive close, or a second close while draining: drop what is queued. */
    t->state = CT_TLS_CLOSING;
    if (t->reading) {
        uv_read_stop((uv_stream_t *)&t->tcp);
        t->reading = false;
    }
    uv_close((uv_handle_t *)&t->tcp, on_uv_close);
}
