/*
 * The alert deadline timer (see alerts.h).
 */
#include "alerts.h"

#include <stdbool.h>
#include <stdlib.h>

#include "err.h"
#include "handle_alert.h"
#include "log.h"
#include "workflow.h"

struct ct_alerts {
    uv_timer_t timer;
    const ct_handler_ctx_t *ctx;
    int64_t armed_ms; /* the deadline the timer is set for; 0 when idle */
    bool pass_queued; /* an escalation pass is queued on the writer */
    bool stopped;     /* shutting down: no more passes */
};

static void on_timer(uv_timer_t *t);

/* Loop thread, after the pass committed (or failed: then retry soon, since the deadlines are
 * still in the store). */
static void pass_finished(ct_wf_t *w, int result)
{
    ct_alerts_t *a = w->arg;
    a->pass_queued = false;
    if (result != 0 && !a->stopped) {
        ct_log_error("alert.escalate_failed", "code=%s retry_ms=5000",
                     ct_wire_code_name(ct_err_to_wire(result)));
        uv_timer_start(&a->timer, on_timer, 5000, 0);
        a->armed_ms = ct_now_ms() + 5000;
    }
}

int ct_alerts_new(const ct_handler_ctx_t *ctx, ct_alerts_t **out)
{
    ct_alerts_t *a = calloc(1, sizeof *a);
    if (a == NULL)
        return CT_ENOMEM;
    a->ctx = ctx;
    uv_timer_init(ctx->loop, &a->timer);
    a->timer.data = a;
    /* Never keeps the loop alive by itself: the listener does while serving. */
    uv_unref((uv_handle_t *)&a->timer);
    *out = a;
    return 0;
}

/* Queues one escalation pass on the writer: it escalates every alert due at its batch time
 * and reports the next deadline, which re-arms the timer (workflow.c). */
static void queue_pass(ct_alerts_t *a)
{
    if (a->stopped || a->pass_queued)
        return;
    ct_wf_t *w = ct_wf_new_system(a->ctx, "alert.escalate", ct_alert_escalate_due);
    if (w == NULL) {
        /* Try again shortly rather than lose the escalation. */
        ct_log_error("alert.escalate_deferred", "reason=out_of_memory");
        uv_timer_start(&a->timer, on_timer, 1000, 0);
        return;
    }
    /* The pass writes one audit row per alert it escalates; none for itself. */
    w->job.has_audit = false;
    w->alerts_changed = true;
    w->arg = a;
    w->on_done = pass_finished;
    a->pass_queued = true;
    ct_wf_write(w);
}

static void on_timer(uv_timer_t *t)
{
    ct_alerts_t *a = t->data;
    a->armed_ms = 0;
    queue_pass(a);
}

void ct_alerts_start(ct_alerts_t *a)
{
    queue_pass(a);
}

void ct_alerts_rearm(ct_alerts_t *a, int64_t deadline_ms)
{
    if (a->stopped)
        return;
    if (deadline_ms <= 0) {
        uv_timer_stop(&a->timer);
        a->armed_ms = 0;
        return;
    }
    if (a->armed_ms != 0 && a->armed_ms <= deadline_ms)
        return; /* an earlier deadline is armed; its pass reports the next one */
    int64_t wait = deadline_ms - ct_now_ms();
    uv_timer_start(&a->timer, on_timer, wait > 0 ? (uint64_t)wait : 0, 0);
    a->armed_ms = deadline_ms;
}

void ct_alerts_stop(ct_alerts_t *a)
{
    if (a == NULL)
        return;
    a->stopped = true;
    uv_timer_stop(&a->timer);
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

void ct_alerts_close(ct_alerts_t *a)
{
    if (a == NULL)
        return;
    ct_alerts_stop(a);
    uv_close((uv_handle_t *)&a->timer, on_closed);
}
