/*
 * Retention: `careteamd purge DIR --before DATE [--dry-run] [--include-pending] [--force]`
 * (admin.h; the policy is in docs/compliance.md, "Retention").
 *
 * A purge removes the content of messages stored, and the free text of session summaries
 * created, before a cutoff, and keeps everything else (store.h, "retention"). It is meant to run
 * now and then, e.g. from a monthly timer, while the daemon serves.
 *
 * Invariants:
 *  1. The content removal and its audit row (retention.purge, with the counts and the cutoff)
 *     are one transaction: both are stored or neither is. Audit rows are never purged, so the
 *     hash chain verifies before and after.
 *  2. A message still waiting for delivery to some recipient keeps its content unless the
 *     administrator says --include-pending: purging it would hand that recipient an empty
 *     message, and the clinical content would be lost before anyone read it. The count of such
 *     messages is printed, so that nobody believes they are gone.
 *  3. A cutoff in the future is always refused, and one less than CT_PURGE_MIN_AGE_DAYS ago is
 *     refused without --force: retention periods for clinical records are years, so such a date
 *     is almost always a typo (2025 for 2015, a day and month swapped) that would destroy what
 *     the care team still works with.
 *  4. --dry-run opens the database read-only, writes nothing and so writes no audit row, like
 *     the listing commands.
 *
 * Locking: the purge takes the write lock for one transaction (BEGIN IMMEDIATE, waiting up to
 * the store's busy timeout for the daemon's writer). While it holds the lock the daemon's writes
 * wait in turn, for up to the same timeout; a first purge of years of data is best run with
 * successive cutoffs, oldest first, so that each transaction stays short.
 */
#include "admin.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "ids.h"
#include "store.h"
#include "timeparse.h"

#define DAY_MS (24LL * 60 * 60 * 1000)

/* Formats ms as RFC 3339 UTC with milliseconds ("2024-01-31T00:00:00.000Z"). */
static void fmt_rfc3339(int64_t ms, char *out, size_t len)
{
    struct tm tm;
    time_t t = (time_t)(ms / 1000);
    char base[32];
    if (gmtime_r(&t, &tm) == NULL || strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        snprintf(out, len, "%" PRId64 "ms", ms);
    else
        snprintf(out, len, "%s.%03dZ", base, (int)(ms % 1000));
}

/* Checks the cutoff against now (invariant 3); prints why and returns CT_EINVAL if refused. */
static int check_cutoff(int64_t before_ms, int64_t now_ms, bool force, const char *when)
{
    if (before_ms > now_ms) {
        fprintf(stderr,
                "careteamd purge: --before %s is in the future; a purge removes content stored "
                "before the date, and nothing can be stored in the future. Check the year.\n",
                when);
        return CT_EINVAL;
    }
    if (!force && now_ms - before_ms < CT_PURGE_MIN_AGE_DAYS * DAY_MS) {
        fprintf(stderr,
                "careteamd purge: --before %s is less than %d days ago. Retention periods for "
                "clinical records are years, so this is probably a mistyped date, and it would "
                "remove messages and summaries the care team may still be working with. Check "
                "the date, or add --force if you really mean it.\n",
                when, CT_PURGE_MIN_AGE_DAYS);
        return CT_EINVAL;
    }
    return 0;
}

static void print_counts(const ct_purge_counts_t *c, bool dry_run, bool include_pending,
                         const char *when)
{
    printf("%s content from before %s:\n"
           "  messages   %" PRId64 " (subject, body, a workflow event's snapshot)\n"
           "  summaries  %" PRId64 " (text, goals progress, next steps)\n",
           dry_run ? "Would remove" : "Removed", when, c->messages, c->summaries);
    if (c->pending > 0 && include_pending)
        printf("  of the messages, %" PRId64 " %s still undelivered to a recipient "
               "(--include-pending)\n",
               c->pending, c->pending == 1 ? "was" : "were");
    else if (c->pending > 0)
        printf("Kept %" PRId64 " older message%s still waiting for delivery to a recipient; "
               "`--include-pending` removes %s too.\n",
               c->pending, c->pending == 1 ? "" : "s", c->pending == 1 ? "it" : "them");
}

int ct_admin_purge(const char *dir, int64_t before_ms, const ct_admin_purge_opts_t *o)
{
    char when[48];
    fmt_rfc3339(before_ms, when, sizeof when);
    int r = check_cutoff(before_ms, ct_now_ms(), o->force, when);
    if (r != 0)
        return r;
    ct_store_t *st;
    r = ct_admin_open_store(dir, o->dry_run ? CT_STORE_READONLY : CT_STORE_READWRITE, &st);
    if (r != 0)
        return r;
    ct_purge_counts_t c;
    if (o->dry_run) {
        r = ct_store_purge_count(st, before_ms, o->include_pending, &c);
        ct_store_close(st);
        if (r != 0) {
            fprintf(stderr, "careteamd purge: cannot count what to remove: %s\n", ct_strerror(r));
            return r;
        }
        print_counts(&c, true, o->include_pending, when);
        printf("Nothing was changed (--dry-run).\n");
        return 0;
    }
    r = ct_store_begin(st);
    if (r == 0)
        r = ct_store_purge_apply(st, before_ms, o->include_pending, &c);
    if (r == 0) {
        char detail[256];
        snprintf(detail, sizeof detail,
                 "before=%s before_ms=%" PRId64 " messages=%" PRId64 " summaries=%" PRId64
                 " pending=%" PRId64 " include_pending=%d force=%d",
                 when, before_ms, c.messages, c.summaries, c.pending, o->include_pending ? 1 : 0,
                 o->force ? 1 : 0);
        r = ct_admin_audit(st, "retention.purge", "database", CT_DIR_DB, NULL, detail);
    }
    r = ct_admin_end(st, r);
    if (r != 0) {
        ct_store_close(st);
        fprintf(stderr, "careteamd purge: failed, nothing was removed: %s%s\n", ct_strerror(r),
                r == CT_EUNAVAIL ? " (the database stayed locked by another writer; retry, or "
                                   "purge in smaller steps with earlier dates first)"
                                 : "");
        return r;
    }
    /* Old page images in the write-ahead log may still hold what was removed. */
    int w = ct_store_wal_truncate(st);
    ct_store_close(st);
    print_counts(&c, false, o->include_pending, when);
    printf("Recorded in the audit trail as retention.purge.\n");
    if (w != 0)
        printf("Note: the write-ahead log (%s-wal) could not be truncated now (%s); the running "
               "daemon overwrites it as it writes.\n",
               CT_DIR_DB, ct_strerror(w));
    return 0;
}
