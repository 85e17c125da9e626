// softmax.cu — row-wise softmax / log_softmax forward and backward over the last axis of a
// row-major (M,N) matrix, one block per row.
//
// Launch: block = (T,1,1) with T a multiple of 32, 32 <= T <= 1024 (256 is a good default);
// grid = (min(M, 65535),1,1) — blocks loop over rows in steps of gridDim.x. No dynamic shared
// memory. Reductions: warp butterfly shuffles (__shfl_xor_sync) then one 32-float shared array, so
// every thread ends with the full row result. Forward subtracts the row max: stable for |x| ~ 1e4.

#define SM_FULL_MASK 0xffffffffu

__device__ __forceinline__ float sm_neg_inf() { return __int_as_float(0xff800000); }

__device__ __forceinline__ float sm_warp_max(float v) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(SM_FULL_MASK, v, o));
    return v;
}

__device__ __forceinline__ float sm_warp_sum(float v) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(SM_FULL_MASK, v, o);
    return v;
}

// block-wide max / sum of v; every thread gets the result. sh: 32 floats of shared memory.
__device__ __forceinline__ float sm_block_max(float v, float* sh) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = sm_warp_max(v);
    __syncthreads();                 // sh may still be read by a previous reduction
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    return sm_warp_max(lane < nwarps ? sh[lane] : sm_neg_inf());
}

__device__ __forceinline__ float sm_block_sum(float v, float* sh) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = sm_warp_sum(v);
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    return sm_warp_sum(lane < nwarps ? sh[lane] : 0.0f);
}

// returns (max, sum exp(x - max)) of one row through *mx, *sum
__device__ __forceinline__ void sm_row_stats(const float* __restrict__ xr, int N, float* sh,
                                             float* mx, float* sum) {
    float m = sm_neg_inf();
    for (int j = threadIdx.x; j < N; j += blockDim.x) m = fmaxf(m, xr[j]);
    m = sm_block_max(m, sh);
    float s = 0.0f;
    for (int j = threadIdx.x; j < N; j += blockDim.x) s += expf(xr[j] - m);
    *mx = m;
    *sum = sm_block_sum(s, sh);
}

// out (M,N) = exp(x - max_row) / sum_row exp(x - max_row)
extern "C" __global__ void softmax_forward(float* out, const float* x, int M, int N) {
    __shared__ float sh[32];
    for (int row = blockIdx.x; row < M; row += gridDim.x) {
        const float* xr = x + (long long)row * N;
        float* outr = out + (long long)row * N;
        float m, s;
        sm_row_stats(xr, N, sh, &m, &s);
        float inv = 1.0f / s;
        for (int j = threadIdx.x; j < N; j += blockDim.x) outr[j] = expf(xr[j] - m) * inv;
    }
}

// out (M,N) = x - max_row - log(sum_row exp(x - max_row))
extern "C" __global__ void log_softmax_forward(float* out, const float* x, int M, int N) {
    __shared__ float sh[32];
    for (int row = blockIdx.x; row < M; row += gridDim.x) {
        const float* xr = x + (long long)row * N;
        float* outr = out + (long long)row * N;
        float m, s;
        sm_row_stats(xr, N, sh, &m, &s);
        float logs = logf(s);
        for (int j = threadIdx.x; j < N; j += blockDim.x) outr[j] = (xr[j] - m) - logs;
    }
}

// dx (M,N) = out * (dout - sum_row(dout * out))   — out is softmax's forward output
extern "C" __global__ void softmax_backward(float* dx, const float* dout, const float* out, int M, int N) {
    __shared__ float sh[32];
    for (int row = blockIdx.x; row < M; row += gridDim.x) {
        long long base = (long long)row * N;
        float d = 0.0f;
        for (int j = threadIdx.x; j < N; j += blockDim.x) d += dout[base + j] * out[base + j];
        d = sm_block_sum(d, sh);
        for (int j = threadIdx.x; j < N; j += blockDim.x)
            dx[base + j] = out[base + j] * (dout[base + j] - d);
    }
}

// dx (M,N) = dout - exp(out) * sum_row(dout)   — out is log_softmax's forward output
extern "C" __global__ void log_softmax_backward(float* dx, const float* dout, const float* out, int M, int N) {
    __shared__ float sh[32];
    for (int row = blockIdx.x; row < M; row += gridDim.x) {
        long long base = (long long)row * N;
        float s = 0.0f;
        for (int j = threadIdx.x; j < N; j += blockDim.x) s += dout[base + j];
        s = sm_block_sum(s, sh);
        for (int j = threadIdx.x; j < N; j += blockDim.x)
            dx[base + j] = dout[base + j] - expf(out[base + j]) * s;
    }
}
