// bmm.cu — batched float32 GEMM over row-major matrices with per-operand batch strides (stride 0 =
// broadcast that operand over the batch): bmm_nn, bmm_nt (a @ b.T), bmm_tn (a.T @ b), each computing
// out[z] = alpha * op(a[z]) @ op(b[z]) + beta * out[z] for z in [0, batch).
//
// Launch: block = 256 threads (1-D), grid = (ceil(N/64), ceil(M/64), min(batch, 65535)), no dynamic
// shared memory; blocks loop over z in steps of gridDim.z, so any batch size works. Same 64x64 block
// tile / 4x4 register tile as sgemm.cu (this file repeats that code so each .cu stays
// self-contained). Ragged M, N, K are bounds-checked; beta == 0 never reads out.

#define BG_BM 64
#define BG_BN 64
#define BG_BK 16
#define BG_TM 4
#define BG_TN 4
#define BG_NT 256
#define BG_PAD 4
#define BG_LDS (BG_BM + BG_PAD)

// a_tile[k][m] = op(a)[m0+m][k0+k]; op(a) is (M,K); a is (M,K) when !TA, (K,M) when TA.
template <bool TA>
__device__ __forceinline__ void bg_load_a(float* As, const float* __restrict__ a,
                                          int M, int K, int m0, int k0, int tid) {
    #pragma unroll
    for (int r = 0; r < (BG_BM * BG_BK) / BG_NT; ++r) {
        int e = tid + r * BG_NT;
        int m = TA ? (e % BG_BM) : (e / BG_BK);
        int k = TA ? (e / BG_BM) : (e % BG_BK);
        int gm = m0 + m, gk = k0 + k;
        float v = 0.0f;
        if (gm < M && gk < K)
            v = TA ? a[(long long)gk * M + gm] : a[(long long)gm * K + gk];
        As[k * BG_LDS + m] = v;
    }
}

// b_tile[k][n] = op(b)[k0+k][n0+n]; op(b) is (K,N); b is (K,N) when !TB, (N,K) when TB.
template <bool TB>
__device__ __forceinline__ void bg_load_b(float* Bs, const float* __restrict__ b,
                                          int N, int K, int n0, int k0, int tid) {
    #pragma unroll
    for (int r = 0; r < (BG_BN * BG_BK) / BG_NT; ++r) {
        int e = tid + r * BG_NT;
        int n = TB ? (e / BG_BK) : (e % BG_BN);
        int k = TB ? (e % BG_BK) : (e / BG_BN);
        int gn = n0 + n, gk = k0 + k;
        float v = 0.0f;
        if (gn < N && gk < K)
            v = TB ? b[(long long)gn * K + gk] : b[(long long)gk * N + gn];
        Bs[k * BG_LDS + n] = v;
    }
}

// acc (4x4 per thread) = op(a)[m0:m0+64, :] @ op(b)[:, n0:n0+64]   (this thread's share)
template <bool TA, bool TB>
__device__ __forceinline__ void bg_mainloop(float acc[BG_TM][BG_TN], float* As, float* Bs,
                                            const float* __restrict__ a, const float* __restrict__ b,
                                            int M, int N, int K, int m0, int n0) {
    int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    #pragma unroll
    for (int i = 0; i < BG_TM; ++i)
        #pragma unroll
        for (int j = 0; j < BG_TN; ++j) acc[i][j] = 0.0f;
    for (int k0 = 0; k0 < K; k0 += BG_BK) {
        bg_load_a<TA>(As, a, M, K, m0, k0, tid);
        bg_load_b<TB>(Bs, b, N, K, n0, k0, tid);
        __syncthreads();
        #pragma unroll
        for (int k = 0; k < BG_BK; ++k) {
            float ra[BG_TM], rb[BG_TN];
            #pragma unroll
            for (int i = 0; i < BG_TM; ++i) ra[i] = As[k * BG_LDS + ty + 16 * i];
            #pragma unroll
            for (int j = 0; j < BG_TN; ++j) rb[j] = Bs[k * BG_LDS + tx + 16 * j];
            #pragma unroll
            for (int i = 0; i < BG_TM; ++i)
                #pragma unroll
                for (int j = 0; j < BG_TN; ++j) acc[i][j] = fmaf(ra[i], rb[j], acc[i][j]);
        }
        __syncthreads();
    }
}

// out (M,N) = alpha * op(a) @ op(b) + beta * out
template <bool TA, bool TB>
__device__ __forceinline__ void bg_gemm(float* __restrict__ out, const float* __restrict__ a,
                                        const float* __restrict__ b, int M, int N, int K,
                                        float alpha, float beta, float* As, float* Bs) {
    int m0 = blockIdx.y * BG_BM, n0 = blockIdx.x * BG_BN;
    float acc[BG_TM][BG_TN];
    bg_mainloop<TA, TB>(acc, As, Bs, a, b, M, N, K, m0, n0);
    int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    #pragma unroll
    for (int i = 0; i < BG_TM; ++i) {
        int r = m0 + ty + 16 * i;
        #pragma unroll
        for (int j = 0; j < BG_TN; ++j) {
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


// out (B,M,N) = alpha * a (B,M,K) @ b (B,K,N) + beta * out     (batch strides in elements)
extern "C" __global__ void __launch_bounds__(BG_NT)
bmm_nn(float* out, const float* a, const float* b, int batch, int M, int N, int K,
       long long stride_a, long long stride_b, long long stride_out, float alpha, float beta) {
    __shared__ float As[BG_BK * BG_LDS];
    __shared__ float Bs[BG_BK * BG_LDS];
    for (int z = blockIdx.z; z < batch; z += gridDim.z)
        bg_gemm<false, false>(out + z * stride_out, a + z * stride_a, b + z * stride_b,
                             M, N, K, alpha, beta, As, Bs);
}

// out (B,M,N) = alpha * a (B,M,K) @ b (B,N,K).T + beta * out
extern "C" __global__ void __launch_bounds__(BG_NT)
bmm_nt(float* out, const float* a, const float* b, int batch, int M, int N, int K,
       long long stride_a, long long stride_b, long long stride_out, float alpha, float beta) {
    __shared__ float As[BG_BK * BG_LDS];
    __shared__ float Bs[BG_BK * BG_LDS];
    for (int z = blockIdx.z; z < batch; z += gridDim.z)
        bg_gemm<false, true>(out + z * stride_out, a + z * stride_a, b + z * stride_b,
                             M, N, K, alpha, beta, As, Bs);
}

// out (B,M,N) = alpha * a (B,K,M).T @ b (B,K,N) + beta * out
extern "C" __global__ void __launch_bounds__(BG_NT)
bmm_tn(float* out, const float* a, const float* b, int batch, int M, int N, int K,
       long long stride_a, long long stride_b, long long stride_out, float alpha, float beta) {
    __shared__ float As[BG_BK * BG_LDS];
    __shared__ float Bs[BG_BK * BG_LDS];
    for (int z = blockIdx.z; z < batch; z += gridDim.z)
        bg_gemm<true, false>(out + z * stride_out, a + z * stride_a, b + z * stride_b,
                             M, N, K, alpha, beta, As, Bs);
}
