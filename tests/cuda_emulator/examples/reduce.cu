// reduce.cu — per-block sums: a shared-memory tree with __syncthreads, and warp shuffles.

// partial (gridDim.x) = sums of x (n) over each block's blockDim.x-strided slice; blockDim a power of 2
extern "C" __global__ void block_sum_smem(float* partial, const float* x, int n) {
    __shared__ float s[1024];
    int t = threadIdx.x;
    float v = 0.0f;
    for (int i = blockIdx.x * blockDim.x + t; i < n; i += blockDim.x * gridDim.x) v += x[i];
    s[t] = v;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (t < stride) s[t] += s[t + stride];
        __syncthreads();
    }
    if (t == 0) partial[blockIdx.x] = s[0];
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int off = 16; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off);
    return v;
}

// partial (gridDim.x) = as block_sum_smem, via __shfl_down_sync; blockDim a multiple of 32
extern "C" __global__ void block_sum_shfl(float* partial, const float* x, int n) {
    __shared__ float warp_sums[32];
    int t = threadIdx.x, lane = t % 32, warp = t / 32;
    float v = 0.0f;
    for (int i = blockIdx.x * blockDim.x + t; i < n; i += blockDim.x * gridDim.x) v += x[i];
    v = warp_sum(v);
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < blockDim.x / 32 ? warp_sums[lane] : 0.0f;
        v = warp_sum(v);
        if (lane == 0) partial[blockIdx.x] = v;
    }
}

// out (32*k) = inclusive prefix sums within each warp of x, via __shfl_up_sync; plus ballot of x>0
extern "C" __global__ void warp_scan(int* out, unsigned* ballot, int* xor_max, const int* x) {
    int i = blockIdx.x * blockDim.x + threadIdx.x, lane = threadIdx.x % 32;
    int v = x[i];
    for (int d = 1; d < 32; d *= 2) {
        int u = __shfl_up_sync(0xffffffffu, v, d);
        if (lane >= d) v += u;
    }
    out[i] = v;
    unsigned b = __ballot_sync(0xffffffffu, x[i] > 0);
    if (lane == 0) ballot[i / 32] = b;
    int m = x[i];
    for (int k = 16; k > 0; k /= 2) m = max(m, __shfl_xor_sync(0xffffffffu, m, k));
    xor_max[i] = m;
}

// out (gridDim.x) = number of x (n) > 0 per block of blockDim.x elements, via __syncthreads_count
extern "C" __global__ void count_positive(int* out, const float* x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int c = __syncthreads_count(i < n && x[i] > 0.0f);
    if (threadIdx.x == 0) out[blockIdx.x] = c;
}
