/* compat/faults/diskfault.c -- F18 and F19: a disk that fails or slows down, under one node.
 *
 * An LD_PRELOAD library (built by disk.py with the system's cc) that sits between a node and
 * the C library's write and sync calls. It reads its orders from a control file, named by
 * RNL_DISKFAULT_CONTROL, again every 100 ms from a thread of its own:
 *
 *   off                      every call goes straight through (the state it starts in)
 *   eio                      writes and syncs fail with EIO (a dying disk, a failed controller)
 *   enospc                   writes fail with ENOSPC (a full disk); syncs go through
 *   slow <sync_ms> <write_ms> each sync waits sync_ms, each write write_ms, then goes through
 *
 * Only files whose path starts with RNL_DISKFAULT_PREFIX (the node's data directory) are
 * touched, and none whose path contains RNL_DISKFAULT_EXCLUDE (the metadata quorum's folder,
 * which Kafka keeps on its own metadata log directory): sockets, the node's own log output
 * and the metadata log behave as ever. While the mode is off the only cost is one atomic load
 * per call. The broker binary is not changed: what it sees is what a failing disk returns.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum { MODE_OFF, MODE_EIO, MODE_ENOSPC, MODE_SLOW };

static atomic_int mode = MODE_OFF;
static atomic_int sync_delay_ms = 0;
static atomic_int write_delay_ms = 0;
static const char *control;
static const char *prefix;
static const char *exclude;

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);

static void sleep_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

static void read_control(void) {
    char buf[128];
    int fd = open(control, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
        return;
    }
    buf[n] = '\0';
    int sync_ms = 0, write_ms = 0;
    if (strncmp(buf, "eio", 3) == 0) {
        atomic_store(&mode, MODE_EIO);
    } else if (strncmp(buf, "enospc", 6) == 0) {
        atomic_store(&mode, MODE_ENOSPC);
    } else if (sscanf(buf, "slow %d %d", &sync_ms, &write_ms) == 2) {
        atomic_store(&sync_delay_ms, sync_ms);
        atomic_store(&write_delay_ms, write_ms);
        atomic_store(&mode, MODE_SLOW);
    } else {
        atomic_store(&mode, MODE_OFF);
    }
}

static void *watch_control(void *unused) {
    (void)unused;
    for (;;) {
        read_control();
        sleep_ms(100);
    }
    return NULL;
}

__attribute__((constructor)) static void init(void) {
    real_write = dlsym(RTLD_NEXT, "write");
    real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
    real_writev = dlsym(RTLD_NEXT, "writev");
    real_pwritev = dlsym(RTLD_NEXT, "pwritev");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    control = getenv("RNL_DISKFAULT_CONTROL");
    prefix = getenv("RNL_DISKFAULT_PREFIX");
    exclude = getenv("RNL_DISKFAULT_EXCLUDE");
    if (control == NULL || prefix == NULL) {
        return;
    }
    read_control();
    pthread_t thread;
    if (pthread_create(&thread, NULL, watch_control, NULL) == 0) {
        pthread_detach(thread);
    }
}

/* Whether fd is a file under the prefix (and not excluded): only asked when a fault is on. */
static int targeted(int fd) {
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) {
        return 0;
    }
    path[n] = '\0';
    if (strncmp(path, prefix, strlen(prefix)) != 0) {
        return 0;
    }
    return exclude == NULL || *exclude == '\0' || strstr(path, exclude) == NULL;
}

/* The errno a write to fd fails with now, 0 to go ahead (after any delay). */
static int write_fault(int fd) {
    int m = atomic_load(&mode);
    if (m == MODE_OFF || !targeted(fd)) {
        return 0;
    }
    if (m == MODE_EIO) {
        return EIO;
    }
    if (m == MODE_ENOSPC) {
        return ENOSPC;
    }
    sleep_ms(atomic_load(&write_delay_ms));
    return 0;
}

static int sync_fault(int fd) {
    int m = atomic_load(&mode);
    if (m == MODE_OFF || !targeted(fd)) {
        return 0;
    }
    if (m == MODE_EIO) {
        return EIO;
    }
    if (m == MODE_SLOW) {
        sleep_ms(atomic_load(&sync_delay_ms));
    }
    return 0;
}

ssize_t write(int fd, const void *buf, size_t count) {
    int e = write_fault(fd);
    if (e) {
        errno = e;
        return -1;
    }
    return real_write(fd, buf, count);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t offset) {
    int e = write_fault(fd);
    if (e) {
        errno = e;
        return -1;
    }
    return real_pwrite64(fd, buf, count, offset);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    return pwrite64(fd, buf, count, offset);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
    int e = write_fault(fd);
    if (e) {
        errno = e;
        return -1;
    }
    return real_writev(fd, iov, iovcnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    int e = write_fault(fd);
    if (e) {
        errno = e;
        return -1;
    }
    return real_pwritev(fd, iov, iovcnt, offset);
}

int fsync(int fd) {
    int e = sync_fault(fd);
    if (e) {
        errno = e;
        return -1;
    }
    return real_fsync(fd);
}

int fdatasync(int fd) {
    int e = sync_fault(fd);
    if (e) {
        errno = e;
        return -1;
    }
    return real_fdatasync(fd);
}
