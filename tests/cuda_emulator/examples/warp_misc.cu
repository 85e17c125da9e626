// warp_misc.cu — votes (__all_sync/__any_sync), width-limited __shfl_sync, __syncthreads_and/_or.

// out (n, 4) = [all x>0 in warp, any x>0 in warp, x of lane 0 of the 8-lane group, and + 2*or over block]
extern "C" __global__ void votes(int* out, const int* x) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int p = x[i] > 0;
    out[4 * i + 0] = __all_sync(0xffffffffu, p);
    out[4 * i + 1] = __any_sync(0xffffffffu, p);
    out[4 * i + 2] = __shfl_sync(0xffffffffu, x[i], 0, 8);
    int a = __syncthreads_and(p);
    out[4 * i + 3] = a + 2 * __syncthreads_or(p);
}

// out (32) = sum over the lanes in `mask` of x, via __shfl_xor_sync, computed by the lanes in mask only
extern "C" __global__ void half_warp_sum(float* out, const float* x) {
    unsigned lane = threadIdx.x;
    if (lane >= 16) return;  // only the low half warp takes part: mask 0xffff
    float v = x[lane];
    for (int k = 8; k > 0; k /= 2) v += __shfl_xor_sync(0x0000ffffu, v, k);
    out[lane] = v;
}
