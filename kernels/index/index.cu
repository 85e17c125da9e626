// index.cu — gather and scatter_add along a dim over C-contiguous (A, N, B) views (the indexed dim in
// the middle; A = prod(shape[:dim]), B = prod(shape[dim+1:])); index (A, K, B) int64. One thread per
// index element, grid-stride. scatter_add adds with atomicAdd (float: any arch; double: sm_60+), so the
// order of repeated-index sums is unspecified. Indices outside [0, N) are skipped (gather writes 0): the
// ops check bounds with torch's wording before launching. index_add_rows: out[index[k], :] += src[k, :]
// (a 1-D index along the first axis), one thread per src element, atomicAdd. Oracle: kernels/index/ref.py.

__device__ __forceinline__ long long ix_start() { return (long long)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ long long ix_step() { return (long long)gridDim.x * blockDim.x; }

// out (A,K,B) = x (A,N,B)[a, index[a,k,b], b]
template <typename T>
__device__ void gather_impl(T* out, const T* x, const long long* index, long long A, long long N, long long B,
                            long long K) {
    long long total = A * K * B;
    for (long long e = ix_start(); e < total; e += ix_step()) {
        long long b = e % B, a = e / (K * B), i = index[e];
        out[e] = (i >= 0 && i < N) ? x[(a * N + i) * B + b] : (T)0;
    }
}

// out (A,N,B)[a, index[a,k,b], b] += src (A,K,B)
template <typename T>
__device__ void scatter_add_impl(T* out, const long long* index, const T* src, long long A, long long N,
                                 long long B, long long K) {
    long long total = A * K * B;
    for (long long e = ix_start(); e < total; e += ix_step()) {
        long long b = e % B, a = e / (K * B), i = index[e];
        if (i >= 0 && i < N) atomicAdd(out + (a * N + i) * B + b, src[e]);
    }
}

// out (N,B)[index[k], :] += src (K,B); negative indices count from the end
template <typename T>
__device__ void index_add_rows_impl(T* out, const long long* index, const T* src, long long N, long long B,
                                    long long K) {
    for (long long e = ix_start(); e < K * B; e += ix_step()) {
        long long i = index[e / B];
        i = i < 0 ? i + N : i;
        if (i >= 0 && i < N) atomicAdd(out + i * B + e % B, src[e]);
    }
}

extern "C" __global__ void gather_f32(float* out, const float* x, const long long* index, long long A,
                                      long long N, long long B, long long K) {
    gather_impl(out, x, index, A, N, B, K);
}

extern "C" __global__ void gather_f64(double* out, const double* x, const long long* index, long long A,
                                      long long N, long long B, long long K) {
    gather_impl(out, x, index, A, N, B, K);
}

extern "C" __global__ void scatter_add_f32(float* out, const long long* index, const float* src, long long A,
                                           long long N, long long B, long long K) {
    scatter_add_impl(out, index, src, A, N, B, K);
}

extern "C" __global__ void scatter_add_f64(double* out, const long long* index, const double* src, long long A,
                                           long long N, long long B, long long K) {
    scatter_add_impl(out, index, src, A, N, B, K);
}

extern "C" __global__ void index_add_rows_f32(float* out, const long long* index, const float* src, long long N,
                                              long long B, long long K) {
    index_add_rows_impl(out, index, src, N, B, K);
}

extern "C" __global__ void index_add_rows_f64(double* out, const long long* index, const double* src,
                                              long long N, long long B, long long K) {
    index_add_rows_impl(out, index, src, N, B, K);
}
