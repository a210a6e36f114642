/*
 * A wake-up of the event loop from another thread: what uv_async_t does, without its spin.
 *
 * libuv 1.44 (Debian 12) makes the loop thread busy-wait in uv_async's callback path while the
 * sending thread is still inside uv_async_send: up to 997 pause instructions, then sched_yield,
 * until the sender is scheduled again. When the wake-up itself preempts the sender, as it often
 * does on two cores, that spin costs tens of microseconds per wake-up (measured: 0.6 sched_yield
 * calls per message at 1,000 msg/s; docs/performance.md, item 13). libuv 1.45 removed the spin
 * (libuv PR 3879). ct_wake is an eventfd watched by a uv_poll_t and a flag that coalesces
 * wake-ups: the same syscalls as uv_async, no spin.
 *
 * Contract (as uv_async_t's): after ct_wake_send returns, cb runs at least once on the loop
 * thread; sends made before cb starts may share one call. Whatever the sender wrote before
 * ct_wake_send is visible to that call.
 */
#ifndef CT_WAKE_H
#define CT_WAKE_H

#include <stdatomic.h>
#include <stdbool.h>

#include <uv.h>

typedef struct ct_wake ct_wake_t;
typedef void (*ct_wake_cb)(ct_wake_t *wk);

struct ct_wake {
    uv_poll_t poll;   /* watches fd; poll.data is free for the owner */
    int fd;           /* the eventfd (owned; closed with the handle) */
    atomic_bool sent; /* a wake-up is written and cb has not started yet */
    ct_wake_cb cb;
    ct_wake_cb close_cb;
};

/* Loop thread. Returns 0 or CT_ESYS. After CT_ESYS nothing needs closing unless
 * ct_wake_is_closing(wk): then the handle was set up and is closing, and wk must stay allocated
 * until the loop has run (no libuv version this was written against gets there). */
int ct_wake_init(uv_loop_t *loop, ct_wake_t *wk, ct_wake_cb cb);

/* Any thread, until ct_wake_close. Never blocks; cheap when a wake-up is already pending. */
void ct_wake_send(ct_wake_t *wk);

/* Loop thread: stops watching and closes the eventfd; close_cb (may be NULL) runs from the
 * handle's close callback. Every sender must have returned from its last ct_wake_send first
 * (joined, say): unlike uv_async_t's close, this one does not wait for a send in progress,
 * whose write would otherwise reach a closed, or reused, descriptor. */
void ct_wake_close(ct_wake_t *wk, ct_wake_cb close_cb);

bool ct_wake_is_closing(const ct_wake_t *wk);

#endif
