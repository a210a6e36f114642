/* Durable, no-replace file creation (see file.h). */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

void ct_file_sync_parent(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return;
    char *slash = strrchr(copy, '/');
    const char *dir = ".";
    if (slash == copy)
        dir = "/";
    else if (slash != NULL) {
        *slash = '\0';
        dir = copy;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(copy);
}

/*
 * Moves tmp to path unless path exists. renameat2(RENAME_NOREPLACE) does it in one step; on a
 * filesystem without it, link()+unlink() gives the same no-replace guarantee.
 */
static int move_noreplace(const char *tmp, const char *path)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
        return -1;
    if (link(tmp, path) != 0)
        return -1;
    (void)unlink(tmp);
    return 0;
}

int ct_file_write_new(const char *path, const char *what, const void *data, size_t len, mode_t mode,
                      char *errbuf, size_t errlen)
{
    int rc = CT_ESYS;
    int fd = -1;
    size_t tlen = strlen(path) + sizeof(".tmp-XXXXXX");
    char *tmp = malloc(tlen);
    if (tmp == NULL)
        return ct_errf(errbuf, errlen, CT_ENOMEM, "cannot write %s %s: out of memory", what, path);
    snprintf(tmp, tlen, "%s.tmp-XXXXXX", path);

    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        ct_errf(errbuf, errlen, CT_ESYS, "cannot create %s %s: %s", what, path, strerror(errno));
        free(tmp);
        return CT_ESYS;
    }
    if (fchmod(fd, mode) != 0) {
        ct_errf(errbuf, errlen, CT_ESYS, "cannot set mode of %s %s: %s", what, path,
                strerror(errno));
        goto out;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ct_errf(errbuf, errlen, CT_ESYS, "cannot write %s %s: %s", what, path, strerror(errno));
            goto out;
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) != 0) {
        ct_errf(errbuf, errlen, CT_ESYS, "cannot sync %s %s: %s", what, path, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        ct_errf(errbuf, errlen, CT_ESYS, "cannot write %s %s: %s", what, path, strerror(errno));
        goto out;
    }
    fd = -1;
    if (move_noreplace(tmp, path) != 0) {
        if (errno == EEXIST)
            rc = ct_errf(errbuf, errlen, CT_EEXISTS,
                         "%s %s already exists; refusing to overwrite it", what, path);
        else
            ct_errf(errbuf, errlen, CT_ESYS, "cannot create %s %s: %s", what, path,
                    strerror(errno));
        goto out;
    }
    ct_file_sync_parent(path);
    rc = 0;

out:
    if (fd >= 0)
        close(fd);
    if (rc != 0)
        (void)unlink(tmp);
    free(tmp);
    return rc;
}
