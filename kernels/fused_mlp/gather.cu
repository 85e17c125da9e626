// gather.cu — device-resident data pipeline and helpers for fused MLP training (kernels/fused_mlp):
// gather a batch of rows of a dataset (float32 or uint8, normalization out = data * scale + shift
// fused) and its labels through a device-side permutation, epoch loss / correct-count accumulators
// kept on the device, counter-hash dropout identical to fused_mlp/ref.py's dropout_uniform, and the
// fused MSE loss (the CrossEntropy one is xent.cu's cross_entropy_fused), and global-norm gradient
// clipping (nn.utils.clip_grad_norm_'s formula) with its scalars in a device buffer clip (double[3]):
// clip[0] = max_norm (uploaded by the host; a graph replays it with no re-capture), clip[1] = the sum
// of squares accumulator (zero between steps), clip[2] = the step's coefficient.
//
// Batch start: row = start + (pos ? pos[0] : 0). A captured CUDA graph passes start = 0 and a device
// cursor `pos` advanced by advance_cursor after each step, so replays walk the epoch with no host
// update; eager code may pass pos = NULL and the start row directly. perm holds N row indices
// (int64 `_i64` kernels, int32 `_i32` kernels); rows past N (ragged last batch) are not read:
// those output rows / labels are left untouched, so callers size the batch as min(B, N - start).
// Launch: gather_rows_*: 1-D grid-stride over B*D (any grid); gather_labels_*: same over B;
// advance_cursor, epoch_reset: grid 1, block 1; epoch_accumulate, mse_fused: block (T,1,1) with T a
// multiple of 32 in [32, 1024], grid (min(B, 65535),1,1); dropout_hash: 1-D grid-stride (any grid).
// Clipping, per step: grad_sumsq (1-D grid-stride, block a multiple of 32 <= 1024), clip_coef (grid 1,
// block 1), grad_clip (1-D grid-stride, any grid).

#define GA_FULL_MASK 0xffffffffu

template <typename T, typename I>
__device__ __forceinline__ void ga_rows(float* __restrict__ out, const T* __restrict__ data,
                                        const I* __restrict__ perm, const int* pos, int start,
                                        int B, int N, int D, float scale, float shift) {
    long long first = (long long)start + (pos ? pos[0] : 0);
    long long total = (long long)B * D;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long long)gridDim.x * blockDim.x) {
        long long b = i / D, d = i - b * D;
        if (first + b >= N) continue;
        long long src = (long long)perm[first + b];
        out[i] = (float)data[src * D + d] * scale + shift;
    }
}

template <typename I>
__device__ __forceinline__ void ga_labels(long long* __restrict__ out, const long long* __restrict__ labels,
                                          const I* __restrict__ perm, const int* pos, int start, int B, int N) {
    long long first = (long long)start + (pos ? pos[0] : 0);
    for (long long b = (long long)blockIdx.x * blockDim.x + threadIdx.x; b < B;
         b += (long long)gridDim.x * blockDim.x)
        if (first + b < N) out[b] = labels[perm[first + b]];
}

// out (B,D) = data (N,D) float32 [perm (N,) int64 [row + b]] * scale + shift
extern "C" __global__ void gather_rows_f32_i64(float* out, const float* data, const long long* perm, const int* pos,
                                               int start, int B, int N, int D, float scale, float shift) {
    ga_rows(out, data, perm, pos, start, B, N, D, scale, shift);
}

// out (B,D) = data (N,D) float32 [perm (N,) int32 [row + b]] * scale + shift
extern "C" __global__ void gather_rows_f32_i32(float* out, const float* data, const int* perm, const int* pos,
                                               int start, int B, int N, int D, float scale, float shift) {
    ga_rows(out, data, perm, pos, start, B, N, D, scale, shift);
}

// out (B,D) = data (N,D) uint8 [perm (N,) int64 [row + b]] * scale + shift   (e.g. scale 1/255/std)
extern "C" __global__ void gather_rows_u8_i64(float* out, const unsigned char* data, const long long* perm,
                                              const int* pos, int start, int B, int N, int D, float scale, float shift) {
    ga_rows(out, data, perm, pos, start, B, N, D, scale, shift);
}

// out (B,D) = data (N,D) uint8 [perm (N,) int32 [row + b]] * scale + shift
extern "C" __global__ void gather_rows_u8_i32(float* out, const unsigned char* data, const int* perm,
                                              const int* pos, int start, int B, int N, int D, float scale, float shift) {
    ga_rows(out, data, perm, pos, start, B, N, D, scale, shift);
}

// out (B,) int64 = labels (N,) int64 [perm (N,) int64 [row + b]]
extern "C" __global__ void gather_labels_i64(long long* out, const long long* labels, const long long* perm,
                                             const int* pos, int start, int B, int N) {
    ga_labels(out, labels, perm, pos, start, B, N);
}

// out (B,) int64 = labels (N,) int64 [perm (N,) int32 [row + b]]
extern "C" __global__ void gather_labels_i32(long long* out, const long long* labels, const int* perm,
                                             const int* pos, int start, int B, int N) {
    ga_labels(out, labels, perm, pos, start, B, N);
}

// pos[0] = (pos[0] + B < N) ? pos[0] + B : 0   — next batch; wraps to 0 after the epoch's last batch
extern "C" __global__ void advance_cursor(int* pos, int B, int N) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        int next = pos[0] + B;
        pos[0] = next < N ? next : 0;
    }
}

// loss_sum[0] = 0; correct[0] = 0   (either may be NULL)
extern "C" __global__ void epoch_reset(float* loss_sum, int* correct) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        if (loss_sum) loss_sum[0] = 0.0f;
        if (correct) correct[0] = 0;
    }
}

__device__ __forceinline__ void ga_merge(float* v, int* i, float w, int k) {
    if (w > *v || (w == *v && k < *i)) { *v = w; *i = k; }
}

// loss_sum[0] += sum(loss_rows (B,)) (NULL loss_rows: skipped); correct[0] += #(argmax logits (B,C) == labels (B,))
extern "C" __global__ void epoch_accumulate(float* loss_sum, int* correct, const float* loss_rows,
                                            const float* logits, const long long* labels, int B, int C) {
    __shared__ float shv[32];
    __shared__ int shi[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    for (int row = blockIdx.x; row < B; row += gridDim.x) {
        const float* xr = logits + (long long)row * C;
        float v = __int_as_float(0xff800000);
        int arg = C;
        for (int j = threadIdx.x; j < C; j += blockDim.x) ga_merge(&v, &arg, xr[j], j);
        #pragma unroll
        for (int o = 16; o > 0; o >>= 1)
            ga_merge(&v, &arg, __shfl_xor_sync(GA_FULL_MASK, v, o), __shfl_xor_sync(GA_FULL_MASK, arg, o));
        __syncthreads();
        if (lane == 0) { shv[warp] = v; shi[warp] = arg; }
        __syncthreads();
        if (threadIdx.x == 0) {
            for (int w = 1; w < nwarps; ++w) ga_merge(&v, &arg, shv[w], shi[w]);
            if (correct && arg == labels[row]) atomicAdd(correct, 1);
            if (loss_sum && loss_rows) atomicAdd(loss_sum, loss_rows[row]);
        }
    }
}

// splitmix64 finalizer of fused_mlp/ref.py: dropout_uniform(seed, step, layer, index) = top 24 bits / 2^24
__device__ __forceinline__ double ga_uniform(unsigned long long seed, unsigned long long step,
                                             unsigned long long layer, unsigned long long index) {
    const unsigned long long M1 = 0x9E3779B97F4A7C15ull, M2 = 0xBF58476D1CE4E5B9ull, M3 = 0x94D049BB133111EBull;
    unsigned long long z = seed * M1 + step * M2 + layer * M3 + index + M1;
    z = (z ^ (z >> 30)) * M2;
    z = (z ^ (z >> 27)) * M3;
    z = z ^ (z >> 31);
    return (double)(z >> 40) * 5.9604644775390625e-08;  // 2^-24
}

// out (n,) = x (n,) * mask,  mask = (u >= p) / (1 - p),  u = dropout_uniform(seed, t, layer, index0 + i)
// t = step + (step_ptr ? (long long)step_ptr[0] : 0): pass the optimizer's device hp buffer (hp[0] = steps
// taken so far) with step = 1 to get the ref's already-incremented count under graph replay.
// seed_ptr (when not NULL) replaces seed by seed_ptr[0]: a device value a captured graph reads at each
// replay, so the caller can draw a new seed per call without a re-capture.
// The same launch with x = dout gives the backward dx = dout * mask (the mask is recomputed, not stored).
// index0 offsets the hashed index (u of element i uses index0 + i): a data-parallel rank whose rows
// start at row r0 of the global batch passes r0 * width, so N ranks draw the one-process masks.
extern "C" __global__ void dropout_hash(float* out, const float* x, unsigned long long seed,
                                        const unsigned long long* seed_ptr, const double* step_ptr,
                                        long long step, int layer, int n, double p, long long index0) {
    unsigned long long t = (unsigned long long)(step + (step_ptr ? (long long)step_ptr[0] : 0));
    if (seed_ptr) seed = seed_ptr[0];
    float keep_scale = (float)(1.0 / (1.0 - p));
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        bool keep = ga_uniform(seed, t, (unsigned long long)layer, (unsigned long long)(index0 + i)) >= p;
        out[i] = keep ? x[i] * keep_scale : 0.0f;
    }
}

// MSELoss(mean) over pred (B,C) vs y (B,C): loss_rows (B,) = sum_c (pred - y)^2 / C, so that
// sum(loss_rows) / B is the mean loss; dpred (B,C) = 2 * (pred - y) / (B * C);
// optional *correct += #(argmax pred row == argmax y row), *loss_sum += sum(loss_rows) (atomics)
extern "C" __global__ void mse_fused(float* loss_rows, float* dpred, const float* pred, const float* y,
                                     int B, int C, float* loss_sum, int* correct) {
    __shared__ float shv[32];
    __shared__ int shi[32];
    __shared__ float shs[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    float g = 2.0f / ((float)B * (float)C);
    for (int row = blockIdx.x; row < B; row += gridDim.x) {
        long long base = (long long)row * C;
        float s = 0.0f, vp = __int_as_float(0xff800000), vy = __int_as_float(0xff800000);
        int ip = C, iy = C;
        for (int j = threadIdx.x; j < C; j += blockDim.x) {
            float d = pred[base + j] - y[base + j];
            s += d * d;
            dpred[base + j] = g * d;
            ga_merge(&vp, &ip, pred[base + j], j);
            ga_merge(&vy, &iy, y[base + j], j);
        }
        #pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            s += __shfl_xor_sync(GA_FULL_MASK, s, o);
            ga_merge(&vp, &ip, __shfl_xor_sync(GA_FULL_MASK, vp, o), __shfl_xor_sync(GA_FULL_MASK, ip, o));
        }
        __syncthreads();
        if (lane == 0) { shv[warp] = vp; shi[warp] = ip; shs[warp] = s; }
        __syncthreads();
        if (threadIdx.x == 0)
            for (int w = 1; w < nwarps; ++w) { ga_merge(&vp, &ip, shv[w], shi[w]); s += shs[w]; }
        // second pass for the target's argmax (reuses shv/shi once thread 0 is done with them)
        #pragma unroll
        for (int o = 16; o > 0; o >>= 1)
            ga_merge(&vy, &iy, __shfl_xor_sync(GA_FULL_MASK, vy, o), __shfl_xor_sync(GA_FULL_MASK, iy, o));
        __syncthreads();
        if (lane == 0) { shv[warp] = vy; shi[warp] = iy; }
        __syncthreads();
        if (threadIdx.x == 0) {
            for (int w = 1; w < nwarps; ++w) ga_merge(&vy, &iy, shv[w], shi[w]);
            float loss = s / (float)C;
            loss_rows[row] = loss;
            if (loss_sum) atomicAdd(loss_sum, loss);
            if (correct && ip == iy) atomicAdd(correct, 1);
        }
    }
}

// clip[1] += sum(g (n,)^2), accumulated in double: per-thread sums, a warp/block reduction, one atomicAdd
// per block
extern "C" __global__ void grad_sumsq(double* clip, const float* g, int n) {
    __shared__ double part[32];
    double s = 0.0;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        double v = (double)g[i];
        s += v * v;
    }
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(GA_FULL_MASK, s, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    if (lane == 0) part[warp] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < nwarps; ++w) s += part[w];
        atomicAdd(&clip[1], s);
    }
}

// clip[2] = clip[0] / (sqrt(clip[1]) + 1e-6); clip[1] = 0 for the next step
extern "C" __global__ void clip_coef(double* clip) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        clip[2] = clip[0] / (sqrt(clip[1]) + 1e-6);
        clip[1] = 0.0;
    }
}

// g (n,) *= (float)clip[2] unless clip[2] >= 1 (a NaN coefficient scales, as eager clip_grad_norm_ does)
extern "C" __global__ void grad_clip(float* g, const double* clip, int n) {
    double c = clip[2];
    if (c >= 1.0) return;
    float k = (float)c;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        g[i] *= k;
}
