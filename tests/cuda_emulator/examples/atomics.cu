// atomics.cu — atomicAdd histogram (int), float/double sums, atomicMax, atomicCAS, atomicExch.

// hist (nbins) += counts of bin (n) values in [0, nbins)
extern "C" __global__ void histogram(int* hist, const int* bin, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        atomicAdd(&hist[bin[i]], 1);
}

// out (4) = [sum(x) float, max(bits) int, count via CAS, last exchanged]; out64 (1) = sum(x) double
extern "C" __global__ void atomic_mix(float* fsum, double* dsum, int* imax, int* cas_count, int* exch,
                                      const float* x, const int* v, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    atomicAdd(fsum, x[i]);
    atomicAdd(dsum, (double)x[i]);
    atomicMax(imax, v[i]);
    int old = *cas_count, assumed;
    do { assumed = old; old = atomicCAS(cas_count, assumed, assumed + 1); } while (old != assumed);
    atomicExch(exch, 7);
}
