// cuda_emu.h — CUDA C runtime emulated for g++ (tests only): one fiber per CUDA thread (ucontext or,
// on x86-64 without sanitizers, a 20-instruction stack switch),
// blocks run one after another, __syncthreads/warp ops as cooperative barriers, atomics, math.
// Prepended to a .cu file with `g++ -include cuda_emu.h`; emulator.py appends one launcher per kernel.
#pragma once
#include <ucontext.h>
#include <sys/mman.h>
#include <unistd.h>
#include <math.h>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <bit>
#include <type_traits>
#include <utility>
#if defined(__SANITIZE_THREAD__)
#define EMU_TSAN 1
#include <sanitizer/tsan_interface.h>
#include <thread>
extern "C" void __tsan_ignore_thread_begin();
extern "C" void __tsan_ignore_thread_end();
// the runtime's own bookkeeping is shared by fibers without happens-before: hide it from TSan
#define EMU_IGNORE_BEGIN() __tsan_ignore_thread_begin()
#define EMU_IGNORE_END() __tsan_ignore_thread_end()
#else
#define EMU_IGNORE_BEGIN()
#define EMU_IGNORE_END()
#endif
#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#include <sanitizer/common_interface_defs.h>
#include <pthread.h>
#endif

// ---- qualifiers defined away ----------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#ifdef EMU_TSAN  // blocks run on several OS threads: each needs its own shared memory
#define __shared__ static thread_local
#define EMU_TLS thread_local
#else
#define __shared__ static
#define EMU_TLS
#endif
#ifndef EMU_STACK_SIZE
#if defined(EMU_TSAN) || defined(EMU_ASAN)
#define EMU_STACK_SIZE (256 * 1024)
#else
#define EMU_STACK_SIZE (128 * 1024)
#endif
#endif

// ---- vector types ---------------------------------------------------------------------------
struct uint3 { unsigned int x, y, z; };
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct alignas(8) float2 { float x, y; };
struct float3 { float x, y, z; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(16) double2 { double x, y; };
static inline float2 make_float2(float x, float y) { return {x, y}; }
static inline float3 make_float3(float x, float y, float z) { return {x, y, z}; }
static inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
static inline int2 make_int2(int x, int y) { return {x, y}; }
static inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
static inline double2 make_double2(double x, double y) { return {x, y}; }
static constexpr int warpSize = 32;

// ---- the runtime: fibers, blocks, barriers ----------------------------------------------------
#if defined(__x86_64__) && !defined(EMU_TSAN) && !defined(EMU_UCONTEXT)
// fast fiber switch: swapcontext makes a sigprocmask syscall per switch; this saves the
// callee-saved registers on the old stack and swaps stacks (kernels never change MXCSR/x87 modes).
extern "C" void emu_switch_stack(void** save_sp, void* new_sp);
asm(R"(
    .text
    .p2align 4
    .hidden emu_switch_stack
    .type emu_switch_stack,@function
emu_switch_stack:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch_stack, .-emu_switch_stack
)");
namespace emu { namespace {
struct Ctx { void* sp; };
inline void ctx_init(Ctx&) {}
inline void ctx_make(Ctx& c, char* stack, size_t size, void (*fn)()) {
    uintptr_t top = (uintptr_t(stack) + size) & ~uintptr_t(15);
    void** sp = (void**)(top - 64);  // [r15 r14 r13 r12 rbx rbp][return address = fn][pad]
    for (int k = 0; k < 6; ++k) sp[k] = nullptr;
    sp[6] = (void*)fn;
    c.sp = sp;
}
inline void ctx_swap(Ctx* from, Ctx* to) { emu_switch_stack(&from->sp, to->sp); }
}}  // namespace emu
#else
#define EMU_UCONTEXT 1
namespace emu { namespace {
struct Ctx { ucontext_t uc; };
inline void ctx_init(Ctx& c) { getcontext(&c.uc); }
inline void ctx_make(Ctx& c, char* stack, size_t size, void (*fn)()) {
    c.uc.uc_stack.ss_sp = stack;
    c.uc.uc_stack.ss_size = size;
    c.uc.uc_link = nullptr;
    makecontext(&c.uc, fn, 0);
}
inline void ctx_swap(Ctx* from, Ctx* to) { swapcontext(&from->uc, &to->uc); }
}}  // namespace emu
#endif

namespace emu {
namespace {
enum { READY = 0, AT_BLOCK = 1, AT_WARP = 2, DONE = 3 };
enum { W_SYNC = 0, W_SHFL = 1, W_BALLOT = 2 };
constexpr int kCanary = 64;  // bytes at the low end of every fiber stack, checked after each block

struct Fiber {
    Ctx ctx;
    uint3 tid;
    int state, line, wop, src;
    unsigned mask;
    uint64_t val, res;
    const char* what;
    char* stack;
#ifdef EMU_TSAN
    void* tsan;
#endif
};

struct Warp { unsigned exist, waiting, done; };

struct Block {
    Fiber* f = nullptr;
    Warp* w = nullptr;
    int n = 0, cap = 0, live = 0, at_block = 0, bar_acc = 0, bar_res = 0, bar_live = 0;
    char* stacks = nullptr;
    size_t stride = 0;
    Ctx main;
    uint3 bid, bdim, gdim;
    unsigned char* dyn = nullptr;
    size_t dyn_size = 0, dyn_cap = 0;
    void (*invoke)(void*) = nullptr;
    void* call = nullptr;
    char epoch[2];  // TSan sync objects ordering consecutive blocks on one OS thread
    int parity = 0;  // block k's threads acquire epoch[k%2] at start, release epoch[1-k%2] at end
#ifdef EMU_TSAN
    void* tsan_main = nullptr;
#endif
#ifdef EMU_ASAN
    void* main_stack = nullptr;
    size_t main_stack_size = 0;
#endif
};

EMU_TLS Block* blk = nullptr;
EMU_TLS Fiber* cur = nullptr;

// switch from the running context to `to` (nullptr = the block's main/scheduler context)
void switch_to(Ctx* from, Fiber* to, bool sync) {
    Block* b = blk;
    Ctx* dst = to ? &to->ctx : &b->main;
    bool exiting = cur && cur->state == DONE && from != &b->main;  // a finished fiber leaves for good
#ifdef EMU_ASAN
    void* fake = nullptr;
    __sanitizer_start_switch_fiber(exiting ? nullptr : &fake, to ? to->stack : b->main_stack,
                                   to ? EMU_STACK_SIZE : b->main_stack_size);
#endif
    cur = to;
    if (exiting) EMU_IGNORE_END();  // a finished fiber must not end with TSan ignores active
#ifdef EMU_TSAN  // last: accesses after this count as the target fiber's
    __tsan_switch_to_fiber(to ? to->tsan : b->tsan_main, sync ? 0 : __tsan_switch_to_fiber_no_sync);
#endif
    (void)sync;
    ctx_swap(from, dst);
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

// the running fiber `me` stopped being READY (or finished): run the next READY fiber, or main
void yield_from(Fiber* me) {
    if (me->state == READY) return;  // it released the barrier itself
    Block* b = blk;
    int n = b->n, i = int(me - b->f);
    for (int k = 1; k < n; ++k) {
        int j = i + k < n ? i + k : i + k - n;
        if (b->f[j].state == READY) { switch_to(&me->ctx, &b->f[j], false); cur = me; return; }
    }
    switch_to(&me->ctx, nullptr, true);  // nobody can run: block finished or deadlocked
    cur = me;
}

void release_block(Block* b) {
    for (int i = 0; i < b->n; ++i)
        if (b->f[i].state == AT_BLOCK) b->f[i].state = READY;
    b->at_block = 0;
    b->bar_res = b->bar_acc, b->bar_live = b->live;
    b->bar_acc = 0;
}

// release the group of lanes named by `mask` in warp wi if all of its live lanes are waiting
bool try_release_warp(Block* b, int wi, unsigned mask) {
    Warp& w = b->w[wi];
    unsigned group = mask & w.exist & ~w.done;
    if (group & ~w.waiting) return false;
    unsigned part = group & w.waiting, ballot = 0;
    Fiber* lanes = b->f + 32 * wi;
    for (unsigned m = part; m; m &= m - 1) {
        int l = __builtin_ctz(m);
        if (lanes[l].wop == W_BALLOT && lanes[l].val) ballot |= 1u << l;
    }
    for (unsigned m = part; m; m &= m - 1) {
        Fiber& f = lanes[__builtin_ctz(m)];
        if (f.wop == W_BALLOT) f.res = ballot | uint64_t(part) << 32;  // votes | participants
        else if (f.wop == W_SHFL)
            f.res = (part >> f.src) & 1 ? lanes[f.src].val : ~uint64_t(0);  // absent lane: NaN bits
        f.state = READY;
    }
    w.waiting &= ~part;
    return true;
}

void try_release_warp_any(Block* b, int wi) {  // after a lane exited: any waiting group complete?
    Fiber* lanes = b->f + 32 * wi;
    for (unsigned m = b->w[wi].waiting; m; m &= m - 1)
        if (try_release_warp(b, wi, lanes[__builtin_ctz(m)].mask)) return try_release_warp_any(b, wi);
}

void fiber_main() {
    EMU_IGNORE_BEGIN();
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
    Block* b = blk;
#ifdef EMU_TSAN
    __tsan_acquire(&b->epoch[b->parity]);
#endif
    EMU_IGNORE_END();
    b->invoke(b->call);
    EMU_IGNORE_BEGIN();
#ifdef EMU_TSAN
    __tsan_release(&b->epoch[b->parity ^ 1]);
#endif
    Fiber* me = cur;
    int i = int(me - b->f), wi = i / 32;
    me->state = DONE;
    b->live--;
    b->w[wi].done |= 1u << (i % 32);
    if (b->live > 0 && b->at_block == b->live) release_block(b);
    if (b->w[wi].waiting) try_release_warp_any(b, wi);
    yield_from(me);  // never returns
    abort();
}

uint64_t warp_op(int wop, unsigned mask, uint64_t val, int src, int line, const char* what) {
    EMU_IGNORE_BEGIN();
    Block* b = blk;
    Fiber* me = cur;
    int i = int(me - b->f), wi = i / 32, lane = i % 32;
    me->state = AT_WARP, me->wop = wop, me->mask = mask | (1u << lane), me->val = val;
    me->src = src, me->line = line, me->what = what;
    b->w[wi].waiting |= 1u << lane;
#ifdef EMU_TSAN
    __tsan_release(&b->w[wi]);
#endif
    try_release_warp(b, wi, me->mask);
    yield_from(me);
#ifdef EMU_TSAN
    __tsan_acquire(&b->w[wi]);
#endif
    uint64_t res = me->res;
    EMU_IGNORE_END();
    return res;
}

int block_barrier(int pred, int line, const char* what) {
    EMU_IGNORE_BEGIN();
    Block* b = blk;
    Fiber* me = cur;
    me->state = AT_BLOCK, me->line = line, me->what = what;
    b->bar_acc += pred != 0;
#ifdef EMU_TSAN
    __tsan_release(&b->at_block);
#endif
    if (++b->at_block == b->live) release_block(b);
    yield_from(me);
#ifdef EMU_TSAN
    __tsan_acquire(&b->at_block);
#endif
    int res = b->bar_res;
    EMU_IGNORE_END();
    return res;
}

bool setup(Block* b, int n, size_t dyn) {
    if (n > b->cap) {
        // one mapping with a single guard page below it (a guard per stack would cost two VMAs
        // each, and one process holds many modules); a canary at each stack's low end detects
        // a stack overflowing into its neighbour
        size_t stride = EMU_STACK_SIZE, page = size_t(sysconf(_SC_PAGESIZE));
        void* s = mmap(nullptr, stride * n + page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (s == MAP_FAILED) return false;
        mprotect(s, page, PROT_NONE);
        if (b->stacks) munmap(b->stacks - page, b->stride * b->cap + page);
        b->stacks = (char*)s + page, b->stride = stride;
        free(b->f), free(b->w);
        b->f = (Fiber*)calloc(n, sizeof(Fiber));
        b->w = (Warp*)calloc((n + 31) / 32, sizeof(Warp));
        for (int i = 0; i < n; ++i) {
            ctx_init(b->f[i].ctx);
            b->f[i].stack = b->stacks + stride * i;
#ifdef EMU_TSAN
            b->f[i].tsan = __tsan_create_fiber(0);
#endif
        }
        b->cap = n;
    }
    if (dyn > b->dyn_cap || (dyn != b->dyn_size)) {
        free(b->dyn);
#ifdef EMU_ASAN  // exact size: ASan sees overruns of dynamic shared memory
        b->dyn = (unsigned char*)malloc(dyn ? dyn : 1);
#else
        b->dyn = (unsigned char*)aligned_alloc(256, (dyn + 255) / 256 * 256 + 256);
#endif
        b->dyn_cap = dyn;
    }
    b->dyn_size = dyn;
    b->n = n;
#ifdef EMU_TSAN
    b->tsan_main = __tsan_get_current_fiber();
#endif
#ifdef EMU_ASAN
    pthread_attr_t attr;
    pthread_getattr_np(pthread_self(), &attr);
    pthread_attr_getstack(&attr, &b->main_stack, &b->main_stack_size);
    pthread_attr_destroy(&attr);
#endif
    return true;
}

void report_deadlock(Block* b, const char* name, char* err, int errlen) {
    int k = snprintf(err, errlen, "deadlock in kernel '%s' block (%u,%u,%u): %d of %d threads "
                     "blocked;", name, b->bid.x, b->bid.y, b->bid.z, b->live, b->n);
    for (int i = 0; i < b->n && k < errlen - 80; ++i) {
        Fiber& f = b->f[i];
        if (f.state == DONE) continue;
        bool first = true;  // one line per (what, line) group: list the threads there
        for (int j = 0; j < i; ++j)
            if (b->f[j].state != DONE && b->f[j].what == f.what && b->f[j].line == f.line) first = false;
        if (!first) continue;
        int cnt = 0;
        k += snprintf(err + k, errlen - k, "\n  waiting at %s (line %d): threads", f.what, f.line);
        for (int j = i; j < b->n && k < errlen - 40; ++j) {
            Fiber& g = b->f[j];
            if (g.state == DONE || g.what != f.what || g.line != f.line) continue;
            if (++cnt > 8) { k += snprintf(err + k, errlen - k, " ..."); break; }
            k += snprintf(err + k, errlen - k, " (%u,%u,%u)", g.tid.x, g.tid.y, g.tid.z);
        }
    }
}

// run every thread of block `bid` to completion; false on deadlock
bool run_block(Block* b, uint3 bid, const char* name, char* err, int errlen) {
    blk = b;
    b->bid = bid;
    if (b->dyn_size) memset(b->dyn, 0xFF, b->dyn_size);  // uninitialised reads give NaN
    b->live = b->n, b->at_block = 0, b->bar_acc = 0;
    for (int wi = 0; wi < (b->n + 31) / 32; ++wi) {
        int m = b->n - 32 * wi;
        b->w[wi] = {m >= 32 ? ~0u : (1u << m) - 1, 0, 0};
    }
    unsigned bx = b->bdim.x, by = b->bdim.y;
    for (int i = 0; i < b->n; ++i) {
        Fiber& f = b->f[i];
        f.state = READY, f.what = "kernel start", f.line = 0;
        f.tid = {i % bx, (i / bx) % by, i / (bx * by)};
        memset(f.stack, 0xCD, kCanary);
        size_t colour = size_t(i % 61) * 1088;  // stagger stack tops over cache sets
        ctx_make(f.ctx, f.stack, EMU_STACK_SIZE - colour, fiber_main);
    }
    b->parity ^= 1;
#ifdef EMU_TSAN
    __tsan_release(&b->epoch[b->parity]);
#endif
    cur = nullptr;
    switch_to(&b->main, &b->f[0], true);
    cur = nullptr;
#ifdef EMU_TSAN
    __tsan_acquire(&b->epoch[b->parity ^ 1]);
#endif
    for (int i = b->n - 1; i >= 0; --i)  // an overflow runs downwards: the culprit is the highest
        for (int k = 0; k < kCanary; ++k)
            if ((unsigned char)b->f[i].stack[k] != 0xCD) {
                uint3 t = b->f[i].tid;
                snprintf(err, errlen, "stack overflow in kernel '%s' block (%u,%u,%u) thread (%u,%u,%u): "
                         "local variables exceed EMU_STACK_SIZE=%d bytes (raise it with defines=)",
                         name, bid.x, bid.y, bid.z, t.x, t.y, t.z, int(EMU_STACK_SIZE));
                return false;
            }
    if (b->live == 0) return true;
    report_deadlock(b, name, err, errlen);
    return false;
}

// ---- kernel invocation and signature -------------------------------------------------------
template <class... A>
struct Call {
    void (*f)(A...);
    void** a;
    template <size_t... I>
    void go(std::index_sequence<I...>) { f(*(std::remove_cvref_t<A>*)a[I]...); }
    static void run(void* self) { ((Call*)self)->go(std::index_sequence_for<A...>{}); }
};

template <class T> struct velem { using type = T; };
template <> struct velem<float2> { using type = float; };
template <> struct velem<float3> { using type = float; };
template <> struct velem<float4> { using type = float; };
template <> struct velem<int2> { using type = int; };
template <> struct velem<int4> { using type = int; };
template <> struct velem<double2> { using type = double; };

template <class E>
char* code(char* p) {  // element kind + size: f4 i4 u8 b1 v0 (void) x<size> (other struct)
    using V = typename velem<std::remove_cv_t<E>>::type;
    if constexpr (std::is_void_v<V>) return p + sprintf(p, "v0");
    else if constexpr (std::is_same_v<V, bool>) return p + sprintf(p, "b1");
    else if constexpr (std::is_floating_point_v<V>) return p + sprintf(p, "f%d", int(sizeof(V)));
    else if constexpr (std::is_integral_v<V>)
        return p + sprintf(p, "%c%d", std::is_signed_v<V> ? 'i' : 'u', int(sizeof(V)));
    else return p + sprintf(p, "x%d", int(sizeof(V)));
}

template <class T>
char* sig1(char* p) {
    using U = std::remove_cvref_t<T>;
    if constexpr (std::is_pointer_v<U>) { *p++ = 'P'; p = code<std::remove_pointer_t<U>>(p); }
    else { *p++ = 'S'; p = code<U>(p); }
    *p++ = ',';
    return p;
}

template <class... A>
const char* signature(void (*)(A...)) {
    static char buf[16 * sizeof...(A) + 2];
    char* p = buf;
    ((p = sig1<A>(p)), ...);
    *p = 0;
    return buf;
}

#ifdef EMU_TSAN
constexpr int kOsThreads = 4;  // blocks spread over OS threads so TSan sees inter-block races
#else
constexpr int kOsThreads = 1;
#endif
Block g_blocks[kOsThreads];

int run_blocks(int t, int nt, const long long* cfg, const char* name, char* err, int errlen) {
    EMU_IGNORE_BEGIN();
    struct End { ~End() { EMU_IGNORE_END(); } } end;
    Block* b = &g_blocks[t];
    long long gx = cfg[0], gy = cfg[1], gz = cfg[2], nb = gx * gy * gz, n = cfg[3] * cfg[4] * cfg[5];
    if (!setup(b, int(n), size_t(cfg[6]))) { snprintf(err, errlen, "cannot allocate fiber stacks"); return 3; }
    b->gdim = {unsigned(gx), unsigned(gy), unsigned(gz)};
    b->bdim = {unsigned(cfg[3]), unsigned(cfg[4]), unsigned(cfg[5])};
    int rc = 0;
    for (long long k = t; k < nb && !rc; k += nt) {
        uint3 bid = {unsigned(k % gx), unsigned((k / gx) % gy), unsigned(k / (gx * gy))};
        if (!run_block(b, bid, name, err, errlen)) rc = b->live ? 2 : 4;
    }
#ifdef EMU_TSAN  // TSan allows only ~8k threads + fibers per process: free them after every launch
    for (int i = 0; i < b->cap; ++i) __tsan_destroy_fiber(b->f[i].tsan);
    munmap(b->stacks - sysconf(_SC_PAGESIZE), b->stride * b->cap + sysconf(_SC_PAGESIZE));
    free(b->f), free(b->w);
    b->f = nullptr, b->w = nullptr, b->stacks = nullptr, b->cap = 0;
#endif
    return rc;
}

// cfg = grid x,y,z, block x,y,z, dynamic shared bytes. sizes[i] = bytes of pointer arg i (-1: scalar)
template <class... A>
int launch(void (*f)(A...), const char* name, void** a, const long long* sizes, const long long* cfg,
           char* err, int errlen) {
    constexpr int na = sizeof...(A);
    void* argv[na + 1];
    for (int i = 0; i < na; ++i) argv[i] = a[i];
#ifdef EMU_ASAN
    void* copies[na + 1];  // exact-size heap copies so ASan's redzones catch out-of-bounds access
    for (int i = 0; i < na; ++i) {
        copies[i] = nullptr;
        if (sizes[i] < 0 || !*(void**)a[i]) continue;
        int j = 0;  // the same array passed twice (in-place kernels) shares one copy
        while (j < i && !(sizes[j] == sizes[i] && *(void**)a[j] == *(void**)a[i])) ++j;
        if (j < i) { argv[i] = argv[j]; continue; }
        copies[i] = malloc(sizes[i] ? sizes[i] : 1);
        memcpy(copies[i], *(void**)a[i], sizes[i]);
        argv[i] = &copies[i];
    }
#endif
    int rc = 0;
    long long nb = cfg[0] * cfg[1] * cfg[2];
    int nt = int(nb < kOsThreads ? nb : kOsThreads);
    if (nt <= 1) {
        Call<A...> c{f, argv};
        g_blocks[0].invoke = &Call<A...>::run, g_blocks[0].call = &c;
        rc = run_blocks(0, 1, cfg, name, err, errlen);
    }
#ifdef EMU_TSAN
    else {
        int rcs[kOsThreads] = {};
        char errs[kOsThreads][1024];
        Call<A...> c{f, argv};
        std::thread th[kOsThreads];
        for (int t = 0; t < nt; ++t) {
            g_blocks[t].invoke = &Call<A...>::run, g_blocks[t].call = &c;
            th[t] = std::thread([&, t] { rcs[t] = run_blocks(t, nt, cfg, name, errs[t], 1024); });
        }
        for (int t = 0; t < nt; ++t) th[t].join();
        for (int t = 0; t < nt && !rc; ++t)
            if (rcs[t]) rc = rcs[t], snprintf(err, errlen, "%s", errs[t]);
    }
#endif
#ifdef EMU_ASAN
    for (int i = 0; i < na; ++i)
        if (copies[i]) memcpy(*(void**)a[i], copies[i], sizes[i]), free(copies[i]);
#endif
    (void)sizes;
    return rc;
}

}  // namespace
inline unsigned char* dyn_smem() { return blk->dyn; }
inline uint3& thread_idx() { return cur->tid; }
}  // namespace emu

#define threadIdx (::emu::thread_idx())
#define blockIdx (::emu::blk->bid)
#define blockDim (::emu::blk->bdim)
#define gridDim (::emu::blk->gdim)

// ---- barriers and warp operations ------------------------------------------------------------
static inline void __syncthreads(int line = __builtin_LINE()) { emu::block_barrier(0, line, "__syncthreads"); }
static inline int __syncthreads_count(int p, int line = __builtin_LINE()) {
    return emu::block_barrier(p, line, "__syncthreads_count");
}
static inline int __syncthreads_or(int p, int line = __builtin_LINE()) {
    return emu::block_barrier(p, line, "__syncthreads_or") != 0;
}
static inline int __syncthreads_and(int p, int line = __builtin_LINE()) {
    return emu::block_barrier(p, line, "__syncthreads_and") == emu::blk->bar_live;
}
static inline void __syncwarp(unsigned mask = 0xffffffffu, int line = __builtin_LINE()) {
    emu::warp_op(emu::W_SYNC, mask, 0, 0, line, "__syncwarp");
}
static inline unsigned __ballot_sync(unsigned mask, int pred, int line = __builtin_LINE()) {
    return uint32_t(emu::warp_op(emu::W_BALLOT, mask, pred != 0, 0, line, "__ballot_sync"));
}
static inline int __any_sync(unsigned mask, int pred, int line = __builtin_LINE()) {
    return uint32_t(emu::warp_op(emu::W_BALLOT, mask, pred != 0, 0, line, "__any_sync")) != 0;
}
static inline int __all_sync(unsigned mask, int pred, int line = __builtin_LINE()) {
    uint64_t r = emu::warp_op(emu::W_BALLOT, mask, pred != 0, 0, line, "__all_sync");
    return uint32_t(r) == uint32_t(r >> 32);
}
static inline unsigned __activemask() {
    int i = int(emu::cur - emu::blk->f);
    return emu::blk->w[i / 32].exist & ~emu::blk->w[i / 32].done;
}
static inline int emu_lane() { return int(emu::cur - emu::blk->f) % 32; }

template <class T>
static inline T emu_shfl(unsigned mask, T v, int src, int line, const char* what) {
    static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof(T));
    bits = emu::warp_op(emu::W_SHFL, mask, bits, src, line, what);
    memcpy(&v, &bits, sizeof(T));
    return v;
}
template <class T>
static inline T __shfl_sync(unsigned mask, T v, int src, int width = 32, int line = __builtin_LINE()) {
    int lane = emu_lane();
    return emu_shfl(mask, v, lane / width * width + (src % width + width) % width, line, "__shfl_sync");
}
template <class T>
static inline T __shfl_down_sync(unsigned mask, T v, unsigned d, int width = 32, int line = __builtin_LINE()) {
    int lane = emu_lane(), s = lane + int(d);
    return emu_shfl(mask, v, s / width == lane / width ? s : lane, line, "__shfl_down_sync");
}
template <class T>
static inline T __shfl_up_sync(unsigned mask, T v, unsigned d, int width = 32, int line = __builtin_LINE()) {
    int lane = emu_lane(), s = lane - int(d);
    return emu_shfl(mask, v, s >= lane / width * width ? s : lane, line, "__shfl_up_sync");
}
template <class T>
static inline T __shfl_xor_sync(unsigned mask, T v, int m, int width = 32, int line = __builtin_LINE()) {
    int lane = emu_lane(), s = lane ^ m;
    return emu_shfl(mask, v, s / width == lane / width ? s : lane, line, "__shfl_xor_sync");
}

// ---- atomics (relaxed, like CUDA's) ----------------------------------------------------------
template <class T> using emu_same = std::type_identity_t<T>;
#define EMU_RELAXED std::memory_order_relaxed
template <class T> static inline T atomicAdd(T* p, emu_same<T> v) { return std::atomic_ref<T>(*p).fetch_add(v, EMU_RELAXED); }
template <class T> static inline T atomicSub(T* p, emu_same<T> v) { return std::atomic_ref<T>(*p).fetch_sub(v, EMU_RELAXED); }
template <class T> static inline T atomicExch(T* p, emu_same<T> v) { return std::atomic_ref<T>(*p).exchange(v, EMU_RELAXED); }
template <class T> static inline T atomicAnd(T* p, emu_same<T> v) { return std::atomic_ref<T>(*p).fetch_and(v, EMU_RELAXED); }
template <class T> static inline T atomicOr(T* p, emu_same<T> v) { return std::atomic_ref<T>(*p).fetch_or(v, EMU_RELAXED); }
template <class T> static inline T atomicXor(T* p, emu_same<T> v) { return std::atomic_ref<T>(*p).fetch_xor(v, EMU_RELAXED); }
template <class T> static inline T atomicCAS(T* p, emu_same<T> cmp, emu_same<T> v) {
    std::atomic_ref<T>(*p).compare_exchange_strong(cmp, v, EMU_RELAXED);
    return cmp;  // the old value either way
}
template <class T> static inline T atomicMax(T* p, emu_same<T> v) {
    std::atomic_ref<T> r(*p);
    T old = r.load(EMU_RELAXED);
    while (old < v && !r.compare_exchange_weak(old, v, EMU_RELAXED)) {}
    return old;
}
template <class T> static inline T atomicMin(T* p, emu_same<T> v) {
    std::atomic_ref<T> r(*p);
    T old = r.load(EMU_RELAXED);
    while (v < old && !r.compare_exchange_weak(old, v, EMU_RELAXED)) {}
    return old;
}
static inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
static inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// ---- math: CUDA names mapped onto <cmath> -----------------------------------------------------
#define CUDART_INF_F INFINITY
#define CUDART_INF ((double)INFINITY)
#define CUDART_NAN_F NAN
#define CUDART_PI_F 3.141592654f
template <class A, class B> static inline std::common_type_t<A, B> max(A a, B b) { return a < b ? b : a; }
template <class A, class B> static inline std::common_type_t<A, B> min(A a, B b) { return b < a ? b : a; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
#define __expf expf  // glibc declares these names already: macros, not redefinitions
#define __logf logf
#define __log2f log2f
#define __powf powf
#define __sinf sinf
#define __cosf cosf
#define __tanf tanf
static inline float __fdividef(float x, float y) { return x / y; }
static inline float fdividef(float x, float y) { return x / y; }
static inline float __frcp_rn(float x) { return 1.0f / x; }
static inline float __fsqrt_rn(float x) { return sqrtf(x); }
static inline float __fadd_rn(float x, float y) { return x + y; }
static inline float __fmul_rn(float x, float y) { return x * y; }
static inline float __fmaf_rn(float x, float y, float z) { return fmaf(x, y, z); }
static inline float __saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }
static inline int __float2int_rn(float x) { return int(nearbyintf(x)); }
static inline int __float2int_rz(float x) { return int(x); }
static inline float __int2float_rn(int x) { return float(x); }
static inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
static inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
static inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
static inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
static inline long long __double_as_longlong(double x) { return std::bit_cast<long long>(x); }
static inline double __longlong_as_double(long long x) { return std::bit_cast<double>(x); }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x ? __builtin_clz(unsigned(x)) : 32; }
static inline int __ffs(int x) { return __builtin_ffs(x); }
template <class T> static inline T __ldg(const T* p) { return *p; }
static inline void __trap() { abort(); }
