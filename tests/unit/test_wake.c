/*
 * ct_wake (server/wake.c): the writer's wake-up of the loop, in place of uv_async_t.
 *
 * What a lost wake-up would look like to users: an Ack that never comes. So the tests publish
 * work and wake the loop (from four threads many times over, from the loop thread, and from
 * inside the callback), and fail by a deadline, never by hanging, if the loop is left asleep
 * with work published. Races that lose a wake-up only now and then are not caught every run.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>

#include <uv.h>

#include "testsupport.h"
#include "wake.h"

TestSuite(wake, .fini = ct_test_leak_check);

#define SENDERS 4
#define PER_SENDER 20000

typedef struct fixture {
    uv_loop_t loop;
    ct_wake_t wake;
    uv_timer_t deadline;
    uv_mutex_t mu;
    long published; /* under mu */
    long consumed;  /* loop thread */
    long calls;     /* loop thread: callback runs */
    bool timed_out;
    bool closed;
    int fd_at_close;
} fixture_t;

static fixture_t F;

static void on_wake(ct_wake_t *wk)
{
    fixture_t *f = wk->poll.data;
    f->calls++;
    uv_mutex_lock(&f->mu);
    f->consumed = f->published;
    uv_mutex_unlock(&f->mu);
    if (f->consumed == (long)SENDERS * PER_SENDER)
        uv_stop(&f->loop);
}

static void on_deadline(uv_timer_t *t)
{
    fixture_t *f = t->data;
    f->timed_out = true;
    uv_stop(&f->loop);
}

static void sender(void *arg)
{
    fixture_t *f = arg;
    for (int i = 0; i < PER_SENDER; i++) {
        uv_mutex_lock(&f->mu);
        f->published++;
        uv_mutex_unlock(&f->mu);
        ct_wake_send(&f->wake);
    }
}

static void on_closed(ct_wake_t *wk)
{
    fixture_t *f = wk->poll.data;
    f->closed = true;
    f->fd_at_close = wk->fd;
}

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void setup_with(ct_wake_cb cb)
{
    memset(&F, 0, sizeof F);
    cr_assert_eq(uv_loop_init(&F.loop), 0);
    cr_assert_eq(uv_mutex_init(&F.mu), 0);
    cr_assert_eq(ct_wake_init(&F.loop, &F.wake, cb), 0);
    F.wake.poll.data = &F;
    cr_assert_eq(uv_timer_init(&F.loop, &F.deadline), 0);
    F.deadline.data = &F;
    cr_assert_eq(uv_timer_start(&F.deadline, on_deadline, 10000, 0), 0);
}

static void setup(void)
{
    setup_with(on_wake);
}

/* Closes everything, runs the loop dry, and checks that the eventfd went with the handle. */
static void teardown(void)
{
    int fd = F.wake.fd;
    ct_wake_close(&F.wake, on_closed);
    cr_assert(ct_wake_is_closing(&F.wake));
    uv_close((uv_handle_t *)&F.deadline, on_handle_closed);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    cr_assert(F.closed, "the close callback ran");
    cr_assert_eq(F.fd_at_close, -1, "the eventfd is closed before the close callback");
    cr_assert_eq(fcntl(fd, F_GETFD), -1, "the eventfd is closed");
    cr_assert_eq(errno, EBADF);
    cr_assert_eq(uv_loop_close(&F.loop), 0, "every handle is closed");
    uv_mutex_destroy(&F.mu);
    ct_test_leak_check(); /* in the test's body: a .fini check cannot fail it */
}

Test(wake, every_published_item_reaches_the_loop)
{
    setup();
    uv_thread_t threads[SENDERS];
    for (int i = 0; i < SENDERS; i++)
        cr_assert_eq(uv_thread_create(&threads[i], sender, &F), 0);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    for (int i = 0; i < SENDERS; i++)
        uv_thread_join(&threads[i]);
    cr_assert_not(F.timed_out, "the loop was left asleep with %ld of %ld items published",
                  (long)SENDERS * PER_SENDER - F.consumed, (long)SENDERS * PER_SENDER);
    cr_assert_eq(F.consumed, (long)SENDERS * PER_SENDER);
    teardown();
}

Test(wake, a_send_from_the_loop_thread_runs_the_callback_once)
{
    setup();
    uv_mutex_lock(&F.mu);
    F.published = (long)SENDERS * PER_SENDER; /* everything at once: one call ends the run */
    uv_mutex_unlock(&F.mu);
    ct_wake_send(&F.wake);
    ct_wake_send(&F.wake); /* coalesced with the first: the callback has not run yet */
    uv_run(&F.loop, UV_RUN_DEFAULT);
    cr_assert_not(F.timed_out, "the callback never ran");
    cr_assert_eq(F.calls, 1);
    /* Nothing is pending now: another turn of the loop calls nothing. */
    uv_run(&F.loop, UV_RUN_NOWAIT);
    cr_assert_eq(F.calls, 1, "a consumed wake-up must not call again");
    teardown();
}

Test(wake, a_send_after_a_callback_wakes_the_loop_again)
{
    setup();
    for (int round = 1; round <= 3; round++) {
        F.consumed = 0;
        uv_mutex_lock(&F.mu);
        F.published = (long)SENDERS * PER_SENDER;
        uv_mutex_unlock(&F.mu);
        ct_wake_send(&F.wake);
        uv_run(&F.loop, UV_RUN_DEFAULT);
        cr_assert_not(F.timed_out, "round %d: the wake-up was lost", round);
        cr_assert_eq(F.calls, round);
    }
    teardown();
}

/* The writer publishes and sends while the loop is inside the callback (a batch finished while
 * the previous one's replies go out). That send must bring another call: a callback run before
 * the flag is cleared would swallow it, and the loop would sleep with the work published. */
static void on_wake_publishing_more(ct_wake_t *wk)
{
    fixture_t *f = wk->poll.data;
    f->calls++;
    uv_mutex_lock(&f->mu);
    f->consumed = f->published;
    if (f->calls == 1)
        f->published++; /* as another thread would, between the take and the callback's end */
    uv_mutex_unlock(&f->mu);
    if (f->calls == 1)
        ct_wake_send(wk);
    else
        uv_stop(&f->loop);
}

Test(wake, a_send_during_the_callback_brings_another_call)
{
    setup_with(on_wake_publishing_more);
    uv_mutex_lock(&F.mu);
    F.published = 1;
    uv_mutex_unlock(&F.mu);
    ct_wake_send(&F.wake);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    cr_assert_not(F.timed_out, "the send made during the callback was lost");
    cr_assert_eq(F.calls, 2);
    cr_assert_eq(F.consumed, 2);
    teardown();
}
