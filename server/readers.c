/*
 * The pool of read-only store handles (see readers.h).
 *
 * Invariant: `free_list` holds the handles not lent to a work item; taking and returning them is
 * done under `mu`, and a taker waits on `cv` if none is free.
 */
#include "readers.h"

#include <stdlib.h>

#include "err.h"

struct ct_readers {
    uv_loop_t *loop;
    uv_mutex_t mu;
    uv_cond_t cv;
    int n;
    ct_store_t **all;   /* n handles, owned */
    ct_store_t **free_; /* stack of handles not in use */
    int n_free;
};

typedef struct read_req {
    uv_work_t work;
    ct_readers_t *pool;
    void (*fn)(ct_store_t *st, void *arg);
    void (*done)(void *arg);
    void *arg;
} read_req_t;

int ct_readers_open(uv_loop_t *loop, const char *db_path, int n, ct_readers_t **out, char *errbuf,
                    size_t errlen)
{
    *out = NULL;
    ct_readers_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return CT_ENOMEM;
    r->loop = loop;
    r->all = calloc((size_t)n, sizeof *r->all);
    r->free_ = calloc((size_t)n, sizeof *r->free_);
    if (r->all == NULL || r->free_ == NULL) {
        free(r->all);
        free(r->free_);
        free(r);
        return CT_ENOMEM;
    }
    uv_mutex_init(&r->mu);
    uv_cond_init(&r->cv);
    for (int i = 0; i < n; i++) {
        int rc = ct_store_open(db_path, CT_STORE_READONLY, &r->all[i], errbuf, errlen);
        if (rc != 0) {
            r->n = i;
            ct_readers_close(r);
            return rc;
        }
        r->free_[r->n_free++] = r->all[i];
    }
    r->n = n;
    *out = r;
    return 0;
}

void ct_readers_close(ct_readers_t *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < r->n; i++)
        ct_store_close(r->all[i]);
    uv_cond_destroy(&r->cv);
    uv_mutex_destroy(&r->mu);
    free(r->all);
    free(r->free_);
    free(r);
}

static void on_work(uv_work_t *w)
{
    read_req_t *q = w->data;
    ct_readers_t *r = q->pool;
    uv_mutex_lock(&r->mu);
    while (r->n_free == 0)
        uv_cond_wait(&r->cv, &r->mu);
    ct_store_t *st = r->free_[--r->n_free];
    uv_mutex_unlock(&r->mu);

    q->fn(st, q->arg);

    uv_mutex_lock(&r->mu);
    r->free_[r->n_free++] = st;
    uv_cond_signal(&r->cv);
    uv_mutex_unlock(&r->mu);
}

static void on_work_done(uv_work_t *w, int status)
{
    read_req_t *q = w->data;
    (void)status; /* never cancelled: we do not call uv_cancel */
    q->done(q->arg);
    free(q);
}

int ct_readers_submit(ct_readers_t *r, void (*work)(ct_store_t *st, void *arg),
                      void (*done)(void *arg), void *arg)
{
    read_req_t *q = calloc(1, sizeof *q);
    if (q == NULL)
        return CT_ENOMEM;
    q->pool = r;
    q->fn = work;
    q->done = done;
    q->arg = arg;
    q->work.data = q;
    if (uv_queue_work(r->loop, &q->work, on_work, on_work_done) != 0) {
        free(q);
        return CT_ESYS;
    }
    return 0;
}
