// xent.cu — fused softmax + cross-entropy over logits (M,N) with int64 class targets (M,):
// per-row loss and probabilities, the backward dlogits = scale * dloss * (probs - onehot), a one-pass
// fused forward+backward for training, a scalar sum/mean helper and an on-device accuracy count.
//
// Launch (row kernels: cross_entropy_forward, cross_entropy_fused, accuracy_count): block = (T,1,1),
// T a multiple of 32 in [32, 1024] (256 default), grid = (min(M, 65535),1,1); blocks loop over rows.
// cross_entropy_backward: any 1-D grid (grid-stride loop). sum_to_scalar: exactly one block.
// A target outside [0, N) gives a NaN loss row (and NaN dlogits row) and never counts as correct.

#define XE_FULL_MASK 0xffffffffu

__device__ __forceinline__ float xe_neg_inf() { return __int_as_float(0xff800000); }
__device__ __forceinline__ float xe_nan() { return __int_as_float(0x7fffffff); }

__device__ __forceinline__ float xe_warp_sum(float v) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(XE_FULL_MASK, v, o);
    return v;
}

// (v, i) beats (w, k) when larger, ties broken toward the smaller index (first occurrence)
__device__ __forceinline__ void xe_argmax_merge(float* v, int* i, float w, int k) {
    if (w > *v || (w == *v && k < *i)) { *v = w; *i = k; }
}

__device__ __forceinline__ void xe_warp_argmax(float* v, int* i) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float w = __shfl_xor_sync(XE_FULL_MASK, *v, o);
        int k = __shfl_xor_sync(XE_FULL_MASK, *i, o);
        xe_argmax_merge(v, i, w, k);
    }
}

// block-wide sum; every thread gets the result. sh: 32 floats of shared memory
__device__ __forceinline__ float xe_block_sum(float v, float* sh) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = xe_warp_sum(v);
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    return xe_warp_sum(lane < nwarps ? sh[lane] : 0.0f);
}

// block-wide (max, first argmax) of one row xr (N,); every thread gets both. N >= 1.
__device__ __forceinline__ void xe_row_argmax(const float* __restrict__ xr, int N, float* shv, int* shi,
                                              float* mx, int* arg) {
    float v = xe_neg_inf();
    int i = N;  // sentinel larger than any index
    for (int j = threadIdx.x; j < N; j += blockDim.x) xe_argmax_merge(&v, &i, xr[j], j);
    xe_warp_argmax(&v, &i);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) { shv[warp] = v; shi[warp] = i; }
    __syncthreads();
    v = lane < nwarps ? shv[lane] : xe_neg_inf();
    i = lane < nwarps ? shi[lane] : N;
    xe_warp_argmax(&v, &i);
    *mx = v;
    *arg = i;
}

// loss_rows (M,) = logsumexp(logits_row) - logits_row[target];  probs (M,N) = softmax(logits) (probs may be NULL)
extern "C" __global__ void cross_entropy_forward(float* loss_rows, float* probs, const float* logits,
                                                 const long long* target, int M, int N) {
    __shared__ float shv[32];
    __shared__ int shi[32];
    for (int row = blockIdx.x; row < M; row += gridDim.x) {
        const float* xr = logits + (long long)row * N;
        float m;
        int arg;
        xe_row_argmax(xr, N, shv, shi, &m, &arg);
        float s = 0.0f;
        for (int j = threadIdx.x; j < N; j += blockDim.x) s += expf(xr[j] - m);
        s = xe_block_sum(s, shv);
        if (probs) {
            float inv = 1.0f / s;
            for (int j = threadIdx.x; j < N; j += blockDim.x) probs[(long long)row * N + j] = expf(xr[j] - m) * inv;
        }
        if (threadIdx.x == 0) {
            long long t = target[row];
            loss_rows[row] = (t >= 0 && t < N) ? (m - xr[t]) + logf(s) : xe_nan();
        }
    }
}

// dlogits (M,N) = scale * dloss[row * dloss_stride] * (probs (M,N) - onehot(target (M,)))
// dloss: NULL (= 1), a device scalar (dloss_stride 0, e.g. mean: scale = 1/M) or per-row (stride 1)
extern "C" __global__ void cross_entropy_backward(float* dlogits, const float* probs, const long long* target,
                                                  const float* dloss, int dloss_stride, int M, int N, float scale) {
    long long n = (long long)M * N;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        long long row = i / N;
        int j = (int)(i - row * N);
        long long t = target[row];
        float g = scale * (dloss ? dloss[row * dloss_stride] : 1.0f);
        float d = (t >= 0 && t < N) ? probs[i] - (j == t ? 1.0f : 0.0f) : xe_nan();
        dlogits[i] = g * d;
    }
}

// one pass: loss_rows (M,) as in cross_entropy_forward, dlogits (M,N) = scale * (softmax - onehot);
// optional accumulators: *loss_sum += sum_rows loss (atomic), *correct += #(argmax == target)
extern "C" __global__ void cross_entropy_fused(float* loss_rows, float* dlogits, const float* logits,
                                               const long long* target, int M, int N, float scale,
                                               float* loss_sum, int* correct) {
    __shared__ float shv[32];
    __shared__ int shi[32];
    for (int row = blockIdx.x; row < M; row += gridDim.x) {
        const float* xr = logits + (long long)row * N;
        float m;
        int arg;
        xe_row_argmax(xr, N, shv, shi, &m, &arg);
        float s = 0.0f;
        for (int j = threadIdx.x; j < N; j += blockDim.x) s += expf(xr[j] - m);
        s = xe_block_sum(s, shv);
        long long t = target[row];
        bool valid = t >= 0 && t < N;
        float inv = 1.0f / s;
        for (int j = threadIdx.x; j < N; j += blockDim.x) {
            float d = valid ? expf(xr[j] - m) * inv - (j == t ? 1.0f : 0.0f) : xe_nan();
            dlogits[(long long)row * N + j] = scale * d;
        }
        if (threadIdx.x == 0) {
            float loss = valid ? (m - xr[t]) + logf(s) : xe_nan();
            loss_rows[row] = loss;
            if (loss_sum) atomicAdd(loss_sum, loss);
            if (correct && valid && arg == t) atomicAdd(correct, 1);
        }
    }
}

// out[0] = (accumulate ? out[0] : 0) + scale * sum(x (n,))   — one block; mean: scale = 1/n
extern "C" __global__ void sum_to_scalar(float* out, const float* x, int n, float scale, int accumulate) {
    __shared__ float sh[32];
    float s = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
    s = xe_block_sum(s, sh);
    if (threadIdx.x == 0) out[0] = (accumulate ? out[0] : 0.0f) + scale * s;
}

// *correct += #rows with argmax(logits (M,N) row) == target (M,)   (first index wins ties)
extern "C" __global__ void accuracy_count(int* correct, const float* logits, const long long* target, int M, int N) {
    __shared__ float shv[32];
    __shared__ int shi[32];
    for (int row = blockIdx.x; row < M; row += gridDim.x) {
        float m;
        int arg;
        xe_row_argmax(logits + (long long)row * N, N, shv, shi, &m, &arg);
        if (threadIdx.x == 0 && arg == target[row]) atomicAdd(correct, 1);
    }
}
