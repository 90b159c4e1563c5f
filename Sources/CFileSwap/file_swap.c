#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <errno.h>
#include "file_swap.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

int bmbill_exchange_paths(const char *a, const char *b) {
#if defined(__linux__)
    return renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
#else
    errno = ENOSYS;
    return -1;
#endif
}

#include <unistd.h>

int bmbill_sync_filesystem(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
#if defined(__linux__)
    int rc = syncfs(fd);
#else
    int rc = fsync(fd);
#endif
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}
