/*
 * Forwarding of the audit trail to a syslog collector: every audit record, in seq order, as an
 * RFC 5424 message over TLS (RFC 5425, octet-counted framing), to the collector named by the
 * `syslog_forward` setting. docs/compliance.md ("Forwarding to a syslog collector") states the
 * format and the delivery guarantee for auditors.
 *
 * Durability: the audit table is the buffer. The forwarder keeps on disk only a cursor, the seq
 * of the newest row it has handed to the collector (store.h, "forwarding"), and in memory at most
 * one batch. While the collector is down, records wait in the audit table, however long; after a
 * restart of either side forwarding resumes after the cursor.
 *
 * Delivery is at least once. The cursor moves only after a batch's bytes were written to the
 * socket, so a batch in flight when the daemon stops or the connection fails is sent again.
 * Syslog over TLS has no acknowledgement from the collector, so bytes the kernel accepted can
 * still be lost if the collector dies before reading them; to cover that, when a connection fails
 * within CT_SYSLOG_RESEND_WINDOW_MS of a batch's write, that batch is sent again on the next
 * connection. A collector can therefore see a record twice, only across a disconnect or a daemon
 * restart; the seq in the structured data tells the copies apart.
 *
 * Threads: everything here runs on the loop thread, except the formatting of a batch, which runs
 * on a libuv pool thread with a read-only store handle (readers.h) together with the read. The
 * cursor is written by a tiny job on the store writer thread.
 */
#ifndef CT_SYSLOG_FWD_H
#define CT_SYSLOG_FWD_H

#include <stdint.h>

#include <uv.h>

#include "buf.h"
#include "config.h"
#include "readers.h"
#include "store.h"
#include "writer.h"

/* Most audit rows read, formatted and written at once: bounds the memory of a batch (a row
 * formats to at most about 2 KiB) and the work of one pool item. */
#define CT_SYSLOG_BATCH 256
/* Reconnection backoff after a failed or lost connection: doubling from the first to the last. */
#define CT_SYSLOG_BACKOFF_MIN_MS 1000
#define CT_SYSLOG_BACKOFF_MAX_MS 60000
/* Deadlines: TCP connect plus TLS handshake; one batch's write (a collector that stops reading). */
#define CT_SYSLOG_CONNECT_TIMEOUT_MS 10000
#define CT_SYSLOG_WRITE_TIMEOUT_MS 30000
/* While idle, the audit table is looked at this often for rows the writer hook did not announce
 * (admin commands run as separate processes and append rows of their own). */
#define CT_SYSLOG_POLL_MS 5000
/* A connection that fails this soon after a batch was written has that batch sent again. */
#define CT_SYSLOG_RESEND_WINDOW_MS 5000
/* The name of this forwarder's cursor in the store. */
#define CT_SYSLOG_CURSOR "syslog"

typedef struct ct_syslog_fwd ct_syslog_fwd_t;

/* What every message of one daemon has in common (fixed at start; read by pool threads). */
typedef struct ct_syslog_fmt {
    int facility;       /* syslog facility number (authpriv = 10) */
    char hostname[256]; /* RFC 5424 HOSTNAME: printable US-ASCII, or "-" */
    char app_name[49];  /* APP-NAME */
    char procid[16];    /* PROCID: the daemon's pid */
} ct_syslog_fmt_t;

/*
 * Appends one audit row to out as an RFC 5425 frame, "MSG-LEN SP SYSLOG-MSG", the message being
 * RFC 5424 (see docs/compliance.md for the fields). Pure: no clock, no I/O; used by the pool
 * thread and by the unit tests. Returns 0 or CT_ENOMEM.
 */
int ct_syslog_format(const ct_syslog_fmt_t *f, const ct_audit_stored_t *row, ct_buf_t *out);

/*
 * Starts forwarding if cfg->syslog_forward is set; otherwise sets *out to NULL and returns 0.
 * Loads the TLS material (paths relative to dir), registers the writer's audit hook, and begins
 * connecting. The forwarder never stops the daemon once started: a collector that is down or
 * refuses us is retried with backoff. Returns 0, or CT_EINVAL / CT_ETLS with errbuf saying what is
 * wrong with the settings or files (the daemon then refuses to start).
 * loop, writer and readers must outlive the forwarder.
 */
int ct_syslog_fwd_start(uv_loop_t *loop, const ct_config_t *cfg, const char *dir,
                        ct_writer_t *writer, ct_readers_t *readers, ct_syslog_fwd_t **out,
                        char *errbuf, size_t errlen);

/*
 * SIGHUP: loads the TLS material again (used from the next connection on; a failure keeps the
 * old and is logged), and if the forwarder is waiting to reconnect, reconnects now.
 */
void ct_syslog_fwd_reload(ct_syslog_fwd_t *f);

/*
 * Stops forwarding: no new batch is read; the connection is closed (gracefully unless a batch is
 * still being written, which is then sent again on the next start); timers are closed. The
 * writer and readers must keep running until the loop has finished the forwarder's pending work.
 * NULL is ignored; safe to call twice.
 */
void ct_syslog_fwd_stop(ct_syslog_fwd_t *f);

/* Frees the forwarder. Only after ct_syslog_fwd_stop and after the loop has run dry (uv_run
 * returned). NULL is ignored. */
void ct_syslog_fwd_free(ct_syslog_fwd_t *f);

#endif
