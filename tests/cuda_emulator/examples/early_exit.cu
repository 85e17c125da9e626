// early_exit.cu — threads past n leave before a barrier; the rest still synchronise through it.

// out (n) = x (n) reversed within each block's slice, computed through shared memory
extern "C" __global__ void reverse_blocks(float* out, const float* x, int n) {
    __shared__ float s[1024];
    int base = blockIdx.x * blockDim.x, i = base + threadIdx.x;
    if (i >= n) return;  // the ragged tail exits early and must not hold up the barrier
    int len = min(n - base, (int)blockDim.x);
    s[threadIdx.x] = x[i];
    __syncthreads();
    out[i] = s[len - 1 - threadIdx.x];
}
