// Thin C shims for Linux system calls Swift cannot call directly (variadic `syscall`, macros).
// Every function is prefixed `kni_`; the POSIX module (Sources/POSIX) is their only user.
#ifndef CLINUXSHIMS_H
#define CLINUXSHIMS_H

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/openat2.h>
#endif

/// openat2(2) with RESOLVE_IN_ROOT semantics requested by the caller; -1/ENOSYS where the
/// kernel or headers lack it.
static inline int kni_openat2(int dirfd, const char *path, int flags, unsigned long long mode,
                              unsigned long long resolve) {
#if defined(__linux__) && defined(SYS_openat2)
    struct open_how how = {0};
    how.flags = (unsigned long long)(unsigned int)flags;
    how.mode = mode;
    how.resolve = resolve;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
#else
    errno = ENOSYS;
    return -1;
#endif
}

static inline unsigned long long kni_resolve_in_root(void) {
#ifdef RESOLVE_IN_ROOT
    return RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
#else
    return 0;
#endif
}

static inline dev_t kni_makedev(unsigned int major, unsigned int minor) { return makedev(major, minor); }

#endif
