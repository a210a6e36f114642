/*
 * Checks of a data directory (docs/operations.md, "The data directory"), shared by `careteamd
 * serve`, which refuses to start when one fails, and `careteamd check-config`, which lists them
 * all. Each problem is one sentence that names the file and the command that fixes it.
 */
#ifndef CT_DATADIR_H
#define CT_DATADIR_H

#include <sys/types.h>

/* What ct_datadir_check looks at (bits). */
#define CT_DATADIR_MODES                                                                           \
    0x1u                      /* no group/other write on DIR, private keys owner-only, the         \
                                 database not readable by others */
#define CT_DATADIR_FILES 0x2u /* the files `serve` needs are there */
#define CT_DATADIR_OWNER 0x4u /* DIR and the files in it belong to the given uid */

/* Receives one problem's text (valid during the call). */
typedef void (*ct_datadir_report_fn)(const char *text, void *arg);

/*
 * Checks dir for the problems named by `what`, calling report for each (owner and owner_name are
 * used with CT_DATADIR_OWNER only; owner_name is for messages). A missing or unreadable DIR is
 * one problem, after which nothing else is checked. Returns the number of problems.
 */
int ct_datadir_check(const char *dir, unsigned what, uid_t owner, const char *owner_name,
                     ct_datadir_report_fn report, void *arg);

/*
 * The pid of the careteamd serving dir: the one DIR/careteamd.pid names, if that process exists
 * and is a careteamd (a stale file may name a pid since reused by something else). 0 when no
 * daemon serves dir.
 */
pid_t ct_datadir_daemon_pid(const char *dir);

#endif
