// reduce.cu — column sums of a row-major matrix, the bias gradient of a Linear layer (and, below, sums,
// products and max/min along a dim):
// sum_rows: out (N,) = [out +] sum over rows of x (M,N).
//
// Launch: block = (32, TY, 1) with 1 <= TY <= 32 (8 is a good default), grid = (ceil(N/32), 1, 1),
// no dynamic shared memory. Each block owns 32 adjacent columns (coalesced row reads), its TY thread
// rows stride over M, and a shared-memory tree adds the TY partial sums: deterministic, no atomics.

// out (N,) = (accumulate ? out : 0) + sum_i x (M,N)[i, :]
extern "C" __global__ void sum_rows(float* out, const float* x, int M, int N, int accumulate) {
    __shared__ float part[32][33];  // [ty][tx], padded against bank conflicts
    int tx = threadIdx.x, ty = threadIdx.y;
    int col = blockIdx.x * 32 + tx;
    float s = 0.0f;
    if (col < N)
        for (int i = ty; i < M; i += blockDim.y) s += x[(long long)i * N + col];
    part[ty][tx] = s;
    __syncthreads();
    if (ty == 0 && col < N) {
        for (int k = 1; k < (int)blockDim.y; ++k) s += part[k][tx];
        out[col] = accumulate ? out[col] + s : s;
    }
}

// ---- along a dim, over C-contiguous (A, N, B) views reducing axis 1 (float32; oracle: ref.py) ----------
//   *_lines:   one thread per line (a, b), grid-stride; neighbouring threads read neighbouring b
//              (coalesced for B >= 32). Used when B > 1.
//   *_rowwarp: B == 1 (the reduced dim is the last): one warp per row; the lanes stride the row, then
//              shuffles combine their 32 partials (blockDim.x a multiple of 32).
// Sums and products accumulate in double. max/min follow torch: the first index on ties, a NaN is the
// extreme (the first NaN and its index).

__device__ __forceinline__ long long rd_start() { return (long long)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ long long rd_step() { return (long long)gridDim.x * blockDim.x; }
__device__ __forceinline__ double rd_op(double a, double b, int prod) { return prod ? a * b : a + b; }

// does (v2, i2) replace (v1, i1) as the max (minimum: min)? A NaN wins, then the extreme, then the
// smaller index; an index < 0 marks an empty partial
__device__ __forceinline__ bool rd_takes(float v1, long long i1, float v2, long long i2, int minimum) {
    if (i2 < 0) return false;
    if (i1 < 0) return true;
    bool n1 = v1 != v1, n2 = v2 != v2;
    if (n1 || n2) return n2 && (!n1 || i2 < i1);
    if (v1 == v2) return i2 < i1;
    return minimum ? v2 < v1 : v2 > v1;
}

// out (A,B) = sum (prod: product) of x (A,N,B) along axis 1
extern "C" __global__ void reduce_lines_f32(float* out, const float* x, long long A, long long N, long long B,
                                            int prod) {
    for (long long l = rd_start(); l < A * B; l += rd_step()) {
        const float* p = x + (l / B) * N * B + l % B;
        double acc = prod ? 1.0 : 0.0;
        for (long long n = 0; n < N; ++n) acc = rd_op(acc, (double)p[n * B], prod);
        out[l] = (float)acc;
    }
}

// out (M,) = sum (prod: product) of each row of x (M,N), one warp per row
extern "C" __global__ void reduce_rowwarp_f32(float* out, const float* x, long long M, long long N, int prod) {
    const unsigned full = 0xffffffffu;
    int lane = threadIdx.x & 31;
    for (long long r = rd_start() >> 5; r < M; r += rd_step() >> 5) {
        double acc = prod ? 1.0 : 0.0;
        for (long long j = lane; j < N; j += 32) acc = rd_op(acc, (double)x[r * N + j], prod);
        for (int d = 16; d > 0; d >>= 1) acc = rd_op(acc, __shfl_down_sync(full, acc, d), prod);
        if (lane == 0) out[r] = (float)acc;
    }
}

// values (A,B), indices (A,B) int64 = max (minimum: min) of x (A,N,B) along axis 1, N >= 1
extern "C" __global__ void extreme_lines_f32(float* values, long long* indices, const float* x, long long A,
                                             long long N, long long B, int minimum) {
    for (long long l = rd_start(); l < A * B; l += rd_step()) {
        const float* p = x + (l / B) * N * B + l % B;
        float bv = p[0];
        long long bi = 0;
        for (long long n = 1; n < N && bv == bv; ++n)
            if (rd_takes(bv, bi, p[n * B], n, minimum)) { bv = p[n * B]; bi = n; }
        values[l] = bv;
        indices[l] = bi;
    }
}

// values (M,), indices (M,) int64 = max (minimum: min) of each row of x (M,N), N >= 1, one warp per row
extern "C" __global__ void extreme_rowwarp_f32(float* values, long long* indices, const float* x, long long M,
                                               long long N, int minimum) {
    const unsigned full = 0xffffffffu;
    int lane = threadIdx.x & 31;
    for (long long r = rd_start() >> 5; r < M; r += rd_step() >> 5) {
        float bv = 0.0f;
        long long bi = -1;
        for (long long j = lane; j < N; j += 32)
            if (rd_takes(bv, bi, x[r * N + j], j, minimum)) { bv = x[r * N + j]; bi = j; }
        for (int d = 16; d > 0; d >>= 1) {
            float v = __shfl_down_sync(full, bv, d);
            long long i = __shfl_down_sync(full, bi, d);
            if (rd_takes(bv, bi, v, i, minimum)) { bv = v; bi = i; }
        }
        if (lane == 0) {
            values[r] = bv;
            indices[r] = bi;
        }
    }
}
