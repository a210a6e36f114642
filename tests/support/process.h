/*
 * Child processes for tests: the binaries under test (careteamd, the careteam CLI) are started
 * here with a fork and exec that ties the child's life to the test process, and waited for with a
 * bound. Only PIDs returned by ct_test_spawn are ever signalled or reaped by these functions.
 */
#ifndef CT_TEST_PROCESS_H
#define CT_TEST_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>

/* What to run and what the child's standard streams are. The descriptors stay open in the
 * parent (the caller closes its copies after ct_test_spawn returns). */
typedef struct ct_test_spawn_opts {
    const char *path;  /* the executable */
    char *const *argv; /* NULL-terminated, argv[0] included */
    char *const *envp; /* NULL-terminated environment; NULL: the test process's own */
    int in_fd;         /* becomes the child's stdin */
    int out_fd;        /* becomes the child's stdout */
    int err_fd;        /* becomes the child's stderr */
    const char *cwd;   /* the child's working directory; NULL: the test's */
} ct_test_spawn_opts_t;

/*
 * Forks and execs o->path. The child dies with the test process (PR_SET_PDEATHSIG) and does not
 * start at all if the test process is already gone; it gets no descriptor but its three standard
 * streams, and SIGPIPE at its default. If exec fails the child says so on its stderr and exits
 * 127. Returns the child's PID, or -1 with errno set when fork fails. The caller owns the child:
 * it must reap it (ct_test_wait_bounded, ct_test_kill_and_reap or waitpid).
 */
pid_t ct_test_spawn(const ct_test_spawn_opts_t *o);

/* A wait status as one number: the exit code, or 128 + signal for a child killed by a signal. */
int ct_test_exit_code(int status);

/* Waits for our child pid at most timeout_ms. Returns true with *status once it is reaped, false
 * on timeout (the child is then still ours to reap). Fails the test if waitpid fails. */
bool ct_test_wait_bounded(pid_t pid, int timeout_ms, int *status);

/* Kills our child pid with SIGKILL and reaps it (SIGKILL cannot be ignored: the wait is short). */
void ct_test_kill_and_reap(pid_t pid);

/*
 * Runs argv (argv[0] the executable, NULL-terminated) to completion in cwd (NULL: the test's),
 * stdin /dev/null, stdout into out_path and stderr into err_path (created or truncated, 0600;
 * err_path NULL: stderr into out_path too). Returns its exit code (ct_test_exit_code). Fails the
 * test when it cannot be started, or when it does not finish within timeout_ms (it is then
 * killed and reaped).
 */
int ct_test_run_to_files(char *const argv[], const char *cwd, const char *out_path,
                         const char *err_path, int timeout_ms);

#endif
