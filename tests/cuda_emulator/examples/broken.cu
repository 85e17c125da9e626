// broken.cu — deliberately wrong kernels: deadlock, NULL write, infinite loop, missing barrier.

// odd lanes wait at __syncthreads while even lanes of the same warp wait at __syncwarp
extern "C" __global__ void deadlock(float* out) {
    if (threadIdx.x % 2) __syncthreads();
    else __syncwarp();
    out[threadIdx.x] = 1.0f;
}

// writes through a NULL pointer (the launcher passes None)
extern "C" __global__ void null_write(float* out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = 1.0f;
}

// spins until flag[0] != 0, which never happens
extern "C" __global__ void spin(const int* flag, int* out) {
    while (*(volatile const int*)flag == 0) {}
    out[0] = 1;
}

// out (n) = x (n) + 1, but writes one element past the end (caught by the ASan job)
extern "C" __global__ void oob_write(float* out, const float* x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) out[i] = (i < n ? x[i] : 0.0f) + 1.0f;
}

// total (1) += x (n), non-atomically from every block: an inter-block race (caught by the TSan job)
extern "C" __global__ void racy_sum(float* total, const float* x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (threadIdx.x == 0 && i < n) *total += x[i];
}

// out (blockDim.x) = neighbour's shared value, read without the __syncthreads between (intra-block race)
extern "C" __global__ void missing_barrier(float* out, const float* x) {
    __shared__ float s[1024];
    s[threadIdx.x] = x[threadIdx.x];
    out[threadIdx.x] = s[(threadIdx.x + 1) % blockDim.x];
}

// out (blockDim.x) = threadIdx.x, but the last thread uses a 256 KiB local array: more than a
// fiber's 128 KiB stack
extern "C" __global__ void stack_hog(float* out) {
    if (threadIdx.x + 1 < blockDim.x) { out[threadIdx.x] = threadIdx.x; return; }
    volatile float big[64 * 1024];
    for (int i = 0; i < 64 * 1024; ++i) big[i] = (float)i;
    out[threadIdx.x] = big[threadIdx.x];
}
