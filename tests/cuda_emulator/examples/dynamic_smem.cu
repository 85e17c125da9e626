// dynamic_smem.cu — extern __shared__ buffers sized at launch; reading one uninitialised gives NaN.

// out (n) = 2 * x[next index in the same block, wrapping; 0 past n], via dynamic shared memory
extern "C" __global__ void stage_double(float* out, const float* x, int n) {
    extern __shared__ __align__(16) float smem[];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    smem[threadIdx.x] = i < n ? x[i] : 0.0f;
    __syncthreads();
    if (i < n) out[i] = 2.0f * smem[(threadIdx.x + 1) % blockDim.x];
}

// out (blockDim.x) = dynamic shared memory read without any write (a bug the emulator exposes)
extern "C" __global__ void read_uninit(float* out) {
    extern __shared__ float buf[];
    out[threadIdx.x] = buf[threadIdx.x];
}
