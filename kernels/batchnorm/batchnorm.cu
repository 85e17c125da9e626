// batchnorm.cu — batch normalisation of a row-major x (N,C,L) per channel c (NCHW is (N,C,H*W),
// (N,C) is (N,C,1)): fused statistics + normalisation forward, and the backward from the saved
// mean / invstd. One block per channel (blocks loop over channels in steps of gridDim.x); each
// thread strides over the channel's M = N*L elements, partial sums meet in a block reduction
// (warp shuffles, then one 32-float shared array).
//
// Launch: block = (T,1,1), T a multiple of 32, 32 <= T <= 1024 (256 is a good default);
// grid = (min(C, 65535),1,1). No dynamic shared memory. Accumulation in float; the variance is a
// second pass over (x - mean)^2 (no one-pass cancellation). An empty channel has mean 0, var 0.

#define BN_FULL_MASK 0xffffffffu

__device__ __forceinline__ float bn_warp_sum(float v) {
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(BN_FULL_MASK, v, o);
    return v;
}

// block-wide sum of v; every thread gets the result. sh: 32 floats of shared memory.
__device__ __forceinline__ float bn_block_sum(float v, float* sh) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = bn_warp_sum(v);
    __syncthreads();                 // sh may still be read by a previous reduction
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    return bn_warp_sum(lane < nwarps ? sh[lane] : 0.0f);
}

// flat offset of element j (0 <= j < N*L) of channel c in x (N,C,L)
__device__ __forceinline__ long long bn_offset(long long j, int C, int L, int c) {
    long long n = j / L;
    return (n * C + c) * L + (j - n * L);
}

// out (N,C,L) = (x - mean[c]) * invstd[c] * weight[c] + bias[c], invstd = 1 / sqrt(var + eps);
// training != 0: mean, biased var over (N,L); else running_mean, running_var (NULL when training).
// mean, invstd, var (C,) written for the backward and the running-stat update.
extern "C" __global__ void batch_norm_forward(float* out, float* mean, float* invstd, float* var,
                                              const float* x, const float* weight, const float* bias,
                                              const float* running_mean, const float* running_var,
                                              int N, int C, int L, float eps, int training) {
    __shared__ float sh[32];
    long long M = (long long)N * L;
    float inv_m = M > 0 ? 1.0f / (float)M : 0.0f;
    for (int c = blockIdx.x; c < C; c += gridDim.x) {
        float m, v;
        if (training) {
            float s = 0.0f;
            for (long long j = threadIdx.x; j < M; j += blockDim.x) s += x[bn_offset(j, C, L, c)];
            m = bn_block_sum(s, sh) * inv_m;
            float q = 0.0f;
            for (long long j = threadIdx.x; j < M; j += blockDim.x) {
                float d = x[bn_offset(j, C, L, c)] - m;
                q += d * d;
            }
            v = bn_block_sum(q, sh) * inv_m;
        } else {
            m = running_mean[c];
            v = running_var[c];
        }
        float r = 1.0f / sqrtf(v + eps);
        float scale = r * weight[c], b = bias[c];
        for (long long j = threadIdx.x; j < M; j += blockDim.x) {
            long long o = bn_offset(j, C, L, c);
            out[o] = (x[o] - m) * scale + b;
        }
        if (threadIdx.x == 0) {
            mean[c] = m;
            invstd[c] = r;
            var[c] = v;
        }
    }
}

// dx (N,C,L), dweight, dbias (C,) from the forward's saved mean, invstd (C,); per channel
// S1 = sum dout, S2 = sum dout * (x - mean): dbias = S1, dweight = S2 * invstd,
// dx = weight * invstd * (dout - S1/M - (x - mean) * S2 * invstd^2 / M) when training (M = N*L),
// else weight * invstd * dout (derivation in cpu.py).
extern "C" __global__ void batch_norm_backward(float* dx, float* dweight, float* dbias,
                                               const float* dout, const float* x, const float* weight,
                                               const float* mean, const float* invstd,
                                               int N, int C, int L, int training) {
    __shared__ float sh[32];
    long long M = (long long)N * L;
    float inv_m = M > 0 ? 1.0f / (float)M : 0.0f;
    for (int c = blockIdx.x; c < C; c += gridDim.x) {
        float m = mean[c], r = invstd[c];
        float s1 = 0.0f, s2 = 0.0f;
        for (long long j = threadIdx.x; j < M; j += blockDim.x) {
            long long o = bn_offset(j, C, L, c);
            s1 += dout[o];
            s2 += dout[o] * (x[o] - m);
        }
        s1 = bn_block_sum(s1, sh);
        s2 = bn_block_sum(s2, sh);
        float k = weight[c] * r;
        float a = training ? s1 * inv_m : 0.0f;
        float q = training ? s2 * r * r * inv_m : 0.0f;
        for (long long j = threadIdx.x; j < M; j += blockDim.x) {
            long long o = bn_offset(j, C, L, c);
            dx[o] = k * ((dout[o] - a) - (x[o] - m) * q);
        }
        if (threadIdx.x == 0) {
            dbias[c] = s1;
            dweight[c] = s2 * r;
        }
    }
}
