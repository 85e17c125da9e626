// sort.cu — stable sort and top-k of the rows of x (M, N), torch's order: ascending puts NaN last,
// descending NaN first, equal values keep index order. One block per row (grid-stride over rows), a
// bitonic sort in dynamic shared memory of P = N rounded up to a power of two (key, index) pairs.
// Each value becomes an unsigned key whose integer order is the wanted order (no float compares, so
// -ftz cannot merge subnormals): -0.0 -> +0.0, negatives bit-flipped, positives with the sign bit set,
// NaN the largest key; descending complements the key. Pairs compare by (key, index): all distinct,
// so the unstable bitonic network yields the stable order. Padding slots get the largest key and
// indices N.., so they sort last. Writes the first K of each sorted row (K = N: sort; K < N: top-k).
// Shared memory: P * (sizeof(key) + 4) bytes: P <= SORT_MAX = 4096 (48 KB for double). Longer rows
// are sorted by the backend through kernels/sort/ref.py on CuPy (its stable radix argsort).
// Oracle: kernels/sort/ref.py.

extern __shared__ double sort_smem[];

__device__ __forceinline__ unsigned int sort_key(float v, int desc) {
    unsigned int u = __float_as_uint(v);
    if ((u & 0x7fffffffu) == 0u) u = 0u;                                   // -0.0 ties with +0.0
    unsigned int k = (u & 0x7fffffffu) > 0x7f800000u ? 0xffffffffu         // NaN: the largest
                     : (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return desc ? ~k : k;
}

__device__ __forceinline__ unsigned long long sort_key(double v, int desc) {
    unsigned long long u = (unsigned long long)__double_as_longlong(v);
    const unsigned long long sign = 0x8000000000000000ull, inf = 0x7ff0000000000000ull;
    if ((u & ~sign) == 0ull) u = 0ull;
    unsigned long long k = (u & ~sign) > inf ? ~0ull : (u & sign) ? ~u : (u | sign);
    return desc ? ~k : k;
}

// values, indices (M,K) = the first K of each row of x (M,N) in stable order; P = pow2 >= N
template <typename T, typename U>
__device__ void sort_rows_impl(T* values, long long* indices, const T* x, int M, int N, int K, int P,
                               int desc) {
    U* key = (U*)sort_smem;
    int* idx = (int*)(key + P);
    for (int r = blockIdx.x; r < M; r += gridDim.x) {
        const T* row = x + (long long)r * N;
        for (int j = threadIdx.x; j < P; j += blockDim.x) {
            key[j] = j < N ? sort_key(row[j], desc) : (U)~(U)0;
            idx[j] = j;
        }
        for (int size = 2; size <= P; size <<= 1) {
            for (int stride = size >> 1; stride > 0; stride >>= 1) {
                __syncthreads();
                for (int t = threadIdx.x; t < P / 2; t += blockDim.x) {
                    int lo = 2 * stride * (t / stride) + t % stride, hi = lo + stride;
                    bool hi_first = key[hi] < key[lo] || (key[hi] == key[lo] && idx[hi] < idx[lo]);
                    if (hi_first == ((lo & size) == 0)) {                 // ascending half: hi first -> swap
                        U tk = key[lo]; key[lo] = key[hi]; key[hi] = tk;
                        int ti = idx[lo]; idx[lo] = idx[hi]; idx[hi] = ti;
                    }
                }
            }
        }
        __syncthreads();
        for (int j = threadIdx.x; j < K; j += blockDim.x) {
            indices[(long long)r * K + j] = idx[j];
            values[(long long)r * K + j] = row[idx[j]];
        }
        __syncthreads();                                                  // before the next row's loads
    }
}

extern "C" __global__ void sort_rows_f32(float* values, long long* indices, const float* x, int M, int N, int K,
                                         int P, int descending) {
    sort_rows_impl<float, unsigned int>(values, indices, x, M, N, K, P, descending);
}

extern "C" __global__ void sort_rows_f64(double* values, long long* indices, const double* x, int M, int N,
                                         int K, int P, int descending) {
    sort_rows_impl<double, unsigned long long>(values, indices, x, M, N, K, P, descending);
}
