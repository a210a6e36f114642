/*
 * ct_wake: an eventfd and a uv_poll_t. See wake.h.
 *
 * Invariant: `sent` is true from the send that wrote the eventfd until the callback, which reads
 * the eventfd empty and clears the flag before it calls cb. A send that finds the flag set writes
 * nothing: the pending callback has not started, so it will see what this sender published.
 */
#include "wake.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

static void on_readable(uv_poll_t *p, int status, int events)
{
    (void)events;
    ct_wake_t *wk = (ct_wake_t *)p; /* poll is the first member */
    uint64_t n;
    /* Empties the counter; EAGAIN (a wake-up an earlier call already consumed) is fine. */
    while (read(wk->fd, &n, sizeof n) < 0 && errno == EINTR)
        ;
    if (status < 0) {
        /* libuv stops watching after an error. An eventfd reports one only when its counter
         * overflows, which the read above has just undone: watch again, or every later
         * wake-up would be lost. */
        ct_log_error("wake.poll_failed", "code=%s", uv_err_name(status));
        (void)uv_poll_start(&wk->poll, UV_READABLE, on_readable);
    }
    /* Cleared before cb runs: a sender whose exchange comes after this one reads false and
     * writes the eventfd again; one whose exchange came before is synchronised with this one, so
     * cb sees what it published. Either way nothing published is left without a call. The read
     * comes first: cleared before it, the flag could stay set after a write that the read
     * consumed, and the next sender would write nothing. */
    (void)atomic_exchange(&wk->sent, false);
    wk->cb(wk);
}

int ct_wake_init(uv_loop_t *loop, ct_wake_t *wk, ct_wake_cb cb)
{
    memset(wk, 0, sizeof *wk); /* so that ct_wake_is_closing answers after any failure */
    wk->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wk->fd < 0)
        return CT_ESYS;
    atomic_init(&wk->sent, false);
    wk->cb = cb;
    if (uv_poll_init(loop, &wk->poll, wk->fd) != 0) {
        close(wk->fd);
        wk->fd = -1;
        return CT_ESYS;
    }
    /* Cannot fail after uv_poll_init succeeded on the same thread (its only error, another
     * watcher of the fd, is checked by uv_poll_init); if a libuv ever made it fail, the handle
     * is initialised and must be closed, which wake.h tells the caller. */
    if (uv_poll_start(&wk->poll, UV_READABLE, on_readable) != 0) {
        ct_wake_close(wk, NULL);
        return CT_ESYS;
    }
    return 0;
}

void ct_wake_send(ct_wake_t *wk)
{
    /* An exchange, not a plain read first: it is what orders the sender's writes before the
     * callback's exchange that reads this `true` (acquire-release on both sides). */
    if (atomic_exchange(&wk->sent, true))
        return;
    uint64_t one = 1;
    /* An eventfd write fails only with EINTR, or EAGAIN at a count near 2^64 (never here). */
    while (write(wk->fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

static void on_closed(uv_handle_t *h)
{
    ct_wake_t *wk = (ct_wake_t *)h;
    close(wk->fd);
    wk->fd = -1;
    if (wk->close_cb != NULL)
        wk->close_cb(wk);
}

void ct_wake_close(ct_wake_t *wk, ct_wake_cb close_cb)
{
    wk->close_cb = close_cb;
    uv_close((uv_handle_t *)&wk->poll, on_closed);
}

bool ct_wake_is_closing(const ct_wake_t *wk)
{
    return uv_is_closing((const uv_handle_t *)&wk->poll) != 0;
}
