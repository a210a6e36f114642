/*
 * Child processes for tests (see process.h).
 *
 * Invariants:
 *  1. Everything the child needs is prepared before fork, so between fork and exec the child
 *     makes only async-signal-safe calls (the test process may have threads).
 *  2. Every wait is bounded by the caller's timeout, except the reap after SIGKILL.
 */
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "testsupport.h"

#define POLL_MS 10

extern char **environ;

pid_t ct_test_spawn(const ct_test_spawn_opts_t *o)
{
    pid_t parent = getpid();
    char *const *envp = o->envp != NULL ? o->envp : environ;
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* Die with the test process; if it is already gone, do not start at all. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(127);
    if (dup2(o->in_fd, STDIN_FILENO) < 0 || dup2(o->out_fd, STDOUT_FILENO) < 0 ||
        dup2(o->err_fd, STDERR_FILENO) < 0 || (o->cwd != NULL && chdir(o->cwd) != 0))
        _exit(127);
    /* Criterion's own pipes and sockets must not outlive the test in the child. */
    close_range(3, ~0u, 0);
    signal(SIGPIPE, SIG_DFL);
    execve(o->path, o->argv, envp);
    static const char msg[] = "process.c: execve failed: ";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    w = write(STDERR_FILENO, o->path, strlen(o->path));
    w = write(STDERR_FILENO, "\n", 1);
    (void)w;
    _exit(127);
}

int ct_test_exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

bool ct_test_wait_bounded(pid_t pid, int timeout_ms, int *status)
{
    int64_t deadline = ct_test_now_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return true;
        cr_assert(r == 0 || errno == EINTR, "waitpid(%d): %s", (int)pid, strerror(errno));
        if (ct_test_now_ms() >= deadline)
            return false;
        ct_test_sleep_ms(POLL_MS);
    }
}

void ct_test_kill_and_reap(pid_t pid)
{
    int status;
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
}

int ct_test_run_to_files(char *const argv[], const char *cwd, const char *out_path,
                         const char *err_path, int timeout_ms)
{
    int in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err_fd =
        err_path != NULL ? open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : out_fd;
    int e = errno;
    if (in_fd < 0 || out_fd < 0 || err_fd < 0) {
        cr_assert_fail("cannot open the streams of %s (%s, %s): %s", argv[0], out_path,
                       err_path != NULL ? err_path : "-", strerror(e));
    }
    ct_test_spawn_opts_t o = {.path = argv[0],
                              .argv = argv,
                              .in_fd = in_fd,
                              .out_fd = out_fd,
                              .err_fd = err_fd,
                              .cwd = cwd};
    pid_t pid = ct_test_spawn(&o);
    e = errno;
    close(in_fd);
    close(out_fd);
    if (err_fd != out_fd)
        close(err_fd);
    cr_assert_gt(pid, 0, "cannot start %s: %s", argv[0], strerror(e));
    int status;
    if (!ct_test_wait_bounded(pid, timeout_ms, &status)) {
        ct_test_kill_and_reap(pid);
        cr_assert_fail("%s %s did not finish within %d ms (output in %s)", argv[0],
                       argv[1] != NULL ? argv[1] : "", timeout_ms, out_path);
    }
    return ct_test_exit_code(status);
}
