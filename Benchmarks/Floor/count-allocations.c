/*
 * Counts the heap allocations of a process: preloaded (LD_PRELOAD) into `broker-dev
 * bench-allocations` by `make bench-allocations`, it wraps malloc, calloc, realloc,
 * posix_memalign, aligned_alloc and memalign, and the benchmark reads the count through
 * `broker_allocation_count()` (found with dlsym) before and after routing a batch of messages.
 *
 * dlsym itself may allocate before the real calloc is known: those first requests are served
 * from a small static buffer and never freed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static _Atomic uint64_t allocations;

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void (*real_free)(void *);

static _Alignas(16) char bootstrap[16384];
static size_t bootstrap_used;
static int resolving;

static void resolve(void) {
    if (real_malloc || resolving) return;
    resolving = 1;
    real_calloc = dlsym(RTLD_NEXT, "calloc");
    real_malloc = dlsym(RTLD_NEXT, "malloc");
    real_realloc = dlsym(RTLD_NEXT, "realloc");
    real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    real_memalign = dlsym(RTLD_NEXT, "memalign");
    real_free = dlsym(RTLD_NEXT, "free");
    resolving = 0;
}

static int from_bootstrap(void *pointer) {
    return (char *)pointer >= bootstrap && (char *)pointer < bootstrap + sizeof bootstrap;
}

static void *bootstrap_alloc(size_t size) {
    size_t rounded = (size + 15) & ~(size_t)15;
    if (bootstrap_used + rounded > sizeof bootstrap) return NULL;
    void *pointer = bootstrap + bootstrap_used;
    bootstrap_used += rounded;
    return pointer;
}

/* The number of allocations so far. */
uint64_t broker_allocation_count(void) { return atomic_load_explicit(&allocations, memory_order_relaxed); }

static void counted(void) { atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed); }

void *malloc(size_t size) {
    resolve();
    if (!real_malloc) return bootstrap_alloc(size);
    counted();
    return real_malloc(size);
}

void *calloc(size_t count, size_t size) {
    resolve();
    if (!real_calloc) {
        void *pointer = bootstrap_alloc(count * size);
        if (pointer) memset(pointer, 0, count * size);
        return pointer;
    }
    counted();
    return real_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    resolve();
    if (from_bootstrap(pointer)) {
        size_t available = (size_t)(bootstrap + sizeof bootstrap - (char *)pointer);
        void *moved = malloc(size);
        if (moved) memcpy(moved, pointer, size < available ? size : available);
        return moved;
    }
    counted();
    return real_realloc(pointer, size);
}

int posix_memalign(void **pointer, size_t alignment, size_t size) {
    resolve();
    counted();
    return real_posix_memalign(pointer, alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    resolve();
    counted();
    return real_aligned_alloc(alignment, size);
}

void *memalign(size_t alignment, size_t size) {
    resolve();
    counted();
    return real_memalign(alignment, size);
}

void free(void *pointer) {
    if (!pointer || from_bootstrap(pointer)) return;
    resolve();
    real_free(pointer);
}
