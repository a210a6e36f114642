/*
 * Metrics in the Prometheus text format (version 0.0.4) on a small HTTP listener, off by default
 * (config metrics_listen) and only on a loopback address: it says how busy the daemon is, never
 * who did what (no member, participant or message ids; the audit log is for that).
 *
 * One request per connection: `GET /metrics` gets the page, anything else 404; the connection is
 * closed after the answer or after 5 seconds. Runs on the loop thread; the counters come from the
 * writer (commits, audit records by action and outcome), the connection table and, for the open
 * alerts, one read on the readers pool per scrape.
 */
#ifndef CT_METRICS_H
#define CT_METRICS_H

#include <stddef.h>

#include <uv.h>

#include "readers.h"
#include "writer.h"

typedef struct ct_metrics ct_metrics_t;

typedef struct ct_metrics_sources {
    ct_writer_t *writer;
    ct_readers_t *readers;
    size_t (*connections)(void *arg); /* open client connections */
    void *connections_arg;
} ct_metrics_sources_t;

/* Listens on `listen` ("127.0.0.1:9464", "[::1]:9464"; must be loopback). Returns 0 and *out, or
 * CT_E* with errbuf saying why. */
int ct_metrics_start(uv_loop_t *loop, const char *listen, const ct_metrics_sources_t *src,
                     ct_metrics_t **out, char *errbuf, size_t errlen);

/* Stops listening and closes open scrapes; frees m once its handles have closed (the loop must
 * run). A scrape whose alert read is still on the pool finishes first. NULL is ignored. */
void ct_metrics_close(ct_metrics_t *m);

#endif
