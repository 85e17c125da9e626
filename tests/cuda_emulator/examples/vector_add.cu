// vector_add.cu — elementwise add with a ragged tail, and a kernel reporting its thread/block indices.

// out (n) = a (n) + b (n)
extern "C" __global__ void vector_add(float* __restrict__ out, const float* __restrict__ a,
                                      const float* __restrict__ b, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = a[i] + b[i];
}

// out (gz,gy,gx,bz,by,bx, 6) = the (threadIdx, blockIdx) of each thread, in launch order
extern "C" __global__ void __launch_bounds__(1024) whoami(int* out) {
    unsigned block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    unsigned t = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
    int* o = out + 6 * (block * blockDim.x * blockDim.y * blockDim.z + t);
    o[0] = threadIdx.x, o[1] = threadIdx.y, o[2] = threadIdx.z;
    o[3] = blockIdx.x, o[4] = blockIdx.y, o[5] = blockIdx.z;
}

// out (n) = a (n) * alpha, in double, int64 n
extern "C" __global__ void scale_f64(double* out, const double* a, double alpha, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = alpha * a[i];
}
