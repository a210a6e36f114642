/*
 * Reads off the event loop: a small pool of read-only store handles used from libuv's thread
 * pool. WAL mode lets these readers see every committed transaction while the writer commits.
 *
 * work() runs on a pool thread with a handle of its own for the duration of the call; done()
 * runs on the loop thread afterwards. The pool has as many handles as libuv has pool threads, so
 * a work item never waits for a handle in practice (it would block, not fail, if it did).
 */
#ifndef CT_READERS_H
#define CT_READERS_H

#include <uv.h>

#include "store.h"

typedef struct ct_readers ct_readers_t;

int ct_readers_open(uv_loop_t *loop, const char *db_path, int n, ct_readers_t **out, char *errbuf,
                    size_t errlen);
/* Closes every handle. No work may be outstanding (the loop has run dry of it). */
void ct_readers_close(ct_readers_t *r);

/* Queues work. arg is the caller's, untouched here. Returns 0 or CT_ENOMEM / CT_ESYS. */
int ct_readers_submit(ct_readers_t *r, void (*work)(ct_store_t *st, void *arg),
                      void (*done)(void *arg), void *arg);

#endif
