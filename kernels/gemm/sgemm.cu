// sgemm.cu — tiled float32 GEMM on row-major (C-contiguous) matrices: sgemm_nn, sgemm_nt (a @ b.T),
// sgemm_tn (a.T @ b) with out = alpha * op(a) @ op(b) + beta * out, the fused Linear forward
// sgemm_nt_bias_act: out = act(a @ b.T + bias), and the batched bmm_nn/nt/tn (same tile code, one
// matrix product per z; per-operand batch strides, stride 0 = broadcast that operand).
//
// Launch (all kernels): block = 256 threads (1-D, exactly SG_NT), grid = (ceil(N/64), ceil(M/64), 1),
// no dynamic shared memory. Each block computes one 64x64 tile of out; thread (tx = tid % 16,
// ty = tid / 16) owns the 4x4 outputs at rows ty + 16*i, cols tx + 16*j, so shared-memory reads are
// broadcasts / conflict-free and global stores coalesce along tx. Ragged M, N, K are bounds-checked
// (zero-filled tiles). beta == 0 never reads out (so out may hold garbage/NaN on entry).
// act codes: 0 none, 1 relu, 2 sigmoid, 3 tanh.

#define SG_BM 64
#define SG_BN 64
#define SG_BK 16
#define SG_TM 4
#define SG_TN 4
#define SG_NT 256
#define SG_PAD 4
#define SG_LDS (SG_BM + SG_PAD)

// a_tile[k][m] = op(a)[m0+m][k0+k]; op(a) is (M,K); a is (M,K) when !TA, (K,M) when TA.
template <bool TA>
__device__ __forceinline__ void sg_load_a(float* As, const float* __restrict__ a,
                                          int M, int K, int m0, int k0, int tid) {
    #pragma unroll
    for (int r = 0; r < (SG_BM * SG_BK) / SG_NT; ++r) {
        int e = tid + r * SG_NT;
        int m = TA ? (e % SG_BM) : (e / SG_BK);
        int k = TA ? (e / SG_BM) : (e % SG_BK);
        int gm = m0 + m, gk = k0 + k;
        float v = 0.0f;
        if (gm < M && gk < K)
            v = TA ? a[(long long)gk * M + gm] : a[(long long)gm * K + gk];
        As[k * SG_LDS + m] = v;
    }
}

// b_tile[k][n] = op(b)[k0+k][n0+n]; op(b) is (K,N); b is (K,N) when !TB, (N,K) when TB.
template <bool TB>
__device__ __forceinline__ void sg_load_b(float* Bs, const float* __restrict__ b,
                                          int N, int K, int n0, int k0, int tid) {
    #pragma unroll
    for (int r = 0; r < (SG_BN * SG_BK) / SG_NT; ++r) {
        int e = tid + r * SG_NT;
        int n = TB ? (e / SG_BK) : (e % SG_BN);
        int k = TB ? (e % SG_BK) : (e / SG_BN);
        int gn = n0 + n, gk = k0 + k;
        float v = 0.0f;
        if (gn < N && gk < K)
            v = TB ? b[(long long)gn * K + gk] : b[(long long)gk * N + gn];
        Bs[k * SG_LDS + n] = v;
    }
}

// acc (4x4 per thread) = op(a)[m0:m0+64, :] @ op(b)[:, n0:n0+64]   (this thread's share)
template <bool TA, bool TB>
__device__ __forceinline__ void sg_mainloop(float acc[SG_TM][SG_TN], float* As, float* Bs,
                                            const float* __restrict__ a, const float* __restrict__ b,
                                            int M, int N, int K, int m0, int n0) {
    int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    #pragma unroll
    for (int i = 0; i < SG_TM; ++i)
        #pragma unroll
        for (int j = 0; j < SG_TN; ++j) acc[i][j] = 0.0f;
    for (int k0 = 0; k0 < K; k0 += SG_BK) {
        sg_load_a<TA>(As, a, M, K, m0, k0, tid);
        sg_load_b<TB>(Bs, b, N, K, n0, k0, tid);
        __syncthreads();
        #pragma unroll
        for (int k = 0; k < SG_BK; ++k) {
            float ra[SG_TM], rb[SG_TN];
            #pragma unroll
            for (int i = 0; i < SG_TM; ++i) ra[i] = As[k * SG_LDS + ty + 16 * i];
            #pragma unroll
            for (int j = 0; j < SG_TN; ++j) rb[j] = Bs[k * SG_LDS + tx + 16 * j];
            #pragma unroll
            for (int i = 0; i < SG_TM; ++i)
                #pragma unroll
                for (int j = 0; j < SG_TN; ++j) acc[i][j] = fmaf(ra[i], rb[j], acc[i][j]);
        }
        __syncthreads();
    }
}

// out (M,N) = alpha * op(a) @ op(b) + beta * out
template <bool TA, bool TB>
__device__ __forceinline__ void sg_gemm(float* __restrict__ out, const float* __restrict__ a,
                                        const float* __restrict__ b, int M, int N, int K,
                                        float alpha, float beta, float* As, float* Bs) {
    int m0 = blockIdx.y * SG_BM, n0 = blockIdx.x * SG_BN;
    float acc[SG_TM][SG_TN];
    sg_mainloop<TA, TB>(acc, As, Bs, a, b, M, N, K, m0, n0);
    int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    #pragma unroll
    for (int i = 0; i < SG_TM; ++i) {
        int r = m0 + ty + 16 * i;
        #pragma unroll
        for (int j = 0; j < SG_TN; ++j) {
            int c = n0 + tx + 16 * j;
            if (r < M && c < N) {
                long long idx = (long long)r * N + c;
                float v = alpha * acc[i][j];
                if (beta != 0.0f) v = fmaf(beta, out[idx], v);
                out[idx] = v;
            }
        }
    }
}

__device__ __forceinline__ float sg_act(float v, int act) {
    if (act == 1) return v > 0.0f ? v : 0.0f;
    if (act == 2) {  // stable sigmoid: never exp of a large positive number
        if (v >= 0.0f) return 1.0f / (1.0f + expf(-v));
        float e = expf(v);
        return e / (1.0f + e);
    }
    if (act == 3) return tanhf(v);
    return v;
}

// out (M,N) = alpha * a (M,K) @ b (K,N) + beta * out
extern "C" __global__ void __launch_bounds__(SG_NT)
sgemm_nn(float* out, const float* a, const float* b, int M, int N, int K, float alpha, float beta) {
    __shared__ float As[SG_BK * SG_LDS];
    __shared__ float Bs[SG_BK * SG_LDS];
    sg_gemm<false, false>(out, a, b, M, N, K, alpha, beta, As, Bs);
}

// out (M,N) = alpha * a (M,K) @ b (N,K).T + beta * out
extern "C" __global__ void __launch_bounds__(SG_NT)
sgemm_nt(float* out, const float* a, const float* b, int M, int N, int K, float alpha, float beta) {
    __shared__ float As[SG_BK * SG_LDS];
    __shared__ float Bs[SG_BK * SG_LDS];
    sg_gemm<false, true>(out, a, b, M, N, K, alpha, beta, As, Bs);
}

// out (M,N) = alpha * a (K,M).T @ b (K,N) + beta * out
extern "C" __global__ void __launch_bounds__(SG_NT)
sgemm_tn(float* out, const float* a, const float* b, int M, int N, int K, float alpha, float beta) {
    __shared__ float As[SG_BK * SG_LDS];
    __shared__ float Bs[SG_BK * SG_LDS];
    sg_gemm<true, false>(out, a, b, M, N, K, alpha, beta, As, Bs);
}

// out (M,N) = act(a (M,K) @ b (N,K).T + bias (N,))   — Linear forward; bias may be NULL
extern "C" __global__ void __launch_bounds__(SG_NT)
sgemm_nt_bias_act(float* out, const float* a, const float* b, const float* bias,
                  int M, int N, int K, int act) {
    __shared__ float As[SG_BK * SG_LDS];
    __shared__ float Bs[SG_BK * SG_LDS];
    int m0 = blockIdx.y * SG_BM, n0 = blockIdx.x * SG_BN;
    float acc[SG_TM][SG_TN];
    sg_mainloop<false, true>(acc, As, Bs, a, b, M, N, K, m0, n0);
    int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    #pragma unroll
    for (int j = 0; j < SG_TN; ++j) {
        int c = n0 + tx + 16 * j;
        if (c >= N) continue;
        float bj = bias ? bias[c] : 0.0f;
        #pragma unroll
        for (int i = 0; i < SG_TM; ++i) {
            int r = m0 + ty + 16 * i;
            if (r < M) out[(long long)r * N + c] = sg_act(acc[i][j] + bj, act);
        }
    }
}


// ---- batched GEMM (bmm and batch-broadcast matmul) ------------------------------------------------
// Launch: block = 256, grid = (ceil(N/64), ceil(M/64), min(batch, 65535)); blocks loop over z in steps
// of gridDim.z, so any batch size works. Strides are in elements; 0 broadcasts that operand.

// out (B,M,N) = alpha * a (B,M,K) @ b (B,K,N) + beta * out
extern "C" __global__ void __launch_bounds__(SG_NT)
bmm_nn(float* out, const float* a, const float* b, int batch, int M, int N, int K,
       long long stride_a, long long stride_b, long long stride_out, float alpha, float beta) {
    __shared__ float As[SG_BK * SG_LDS];
    __shared__ float Bs[SG_BK * SG_LDS];
    for (int z = blockIdx.z; z < batch; z += gridDim.z)
        sg_gemm<false, false>(out + z * stride_out, a + z * stride_a, b + z * stride_b,
                              M, N, K, alpha, beta, As, Bs);
}

// out (B,M,N) = alpha * a (B,M,K) @ b (B,N,K).T + beta * out
extern "C" __global__ void __launch_bounds__(SG_NT)
bmm_nt(float* out, const float* a, const float* b, int batch, int M, int N, int K,
       long long stride_a, long long stride_b, long long stride_out, float alpha, float beta) {
    __shared__ float As[SG_BK * SG_LDS];
    __shared__ float Bs[SG_BK * SG_LDS];
    for (int z = blockIdx.z; z < batch; z += gridDim.z)
        sg_gemm<false, true>(out + z * stride_out, a + z * stride_a, b + z * stride_b,
                             M, N, K, alpha, beta, As, Bs);
}

// out (B,M,N) = alpha * a (B,K,M).T @ b (B,K,N) + beta * out
extern "C" __global__ void __launch_bounds__(SG_NT)
bmm_tn(float* out, const float* a, const float* b, int batch, int M, int N, int K,
       long long stride_a, long long stride_b, long long stride_out, float alpha, float beta) {
    __shared__ float As[SG_BK * SG_LDS];
    __shared__ float Bs[SG_BK * SG_LDS];
    for (int z = blockIdx.z; z < batch; z += gridDim.z)
        sg_gemm<true, false>(out + z * stride_out, a + z * stride_a, b + z * stride_b,
                             M, N, K, alpha, beta, As, Bs);
}
