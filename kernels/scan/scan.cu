// scan.cu — cumsum, cumprod and cumprod's backward along a dim over C-contiguous (A, N, B) views,
// scanning axis 1. Running values are double (for float too, like torch's CPU accumulation type).
//   *_lines: one thread per line (a, b), grid-stride; neighbouring threads read neighbouring b
//            (coalesced for B >= 32). Used when B > 1, and for cumprod_backward always.
//   *_rows:  B == 1 (the scanned dim is the last): one warp per row; each step the 32 lanes load 32
//            consecutive entries, scan them with shuffles and add the carry of the previous step.
// cumprod_backward divides by nothing (zeros are exact): S[k] = dout[k] + x[k+1] * S[k+1] scanned
// backwards, dx[k] = out[k-1] * S[k]. Oracle: kernels/scan/ref.py.

__device__ __forceinline__ long long sc_start() { return (long long)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ long long sc_step() { return (long long)gridDim.x * blockDim.x; }

template <bool PROD>
__device__ __forceinline__ double sc_op(double a, double b) { return PROD ? a * b : a + b; }

// out (A,N,B) = scan of x (A,N,B) along axis 1, one thread per (a, b)
template <typename T, bool PROD>
__device__ void scan_lines(T* out, const T* x, long long A, long long N, long long B) {
    for (long long l = sc_start(); l < A * B; l += sc_step()) {
        long long at = (l / B) * N * B + l % B;
        double acc = PROD ? 1.0 : 0.0;
        for (long long n = 0; n < N; ++n, at += B) {
            acc = sc_op<PROD>(acc, (double)x[at]);
            out[at] = (T)acc;
        }
    }
}

// out (M,N) = scan of x (M,N) along each row, one warp per row (blockDim.x a multiple of 32)
template <typename T, bool PROD>
__device__ void scan_rows(T* out, const T* x, long long M, long long N) {
    const unsigned full = 0xffffffffu;
    int lane = threadIdx.x & 31;
    long long warp = sc_start() >> 5, nwarps = sc_step() >> 5;
    for (long long r = warp; r < M; r += nwarps) {
        double carry = PROD ? 1.0 : 0.0;
        for (long long j0 = 0; j0 < N; j0 += 32) {
            long long j = j0 + lane;
            double v = j < N ? (double)x[r * N + j] : (PROD ? 1.0 : 0.0);
            for (int d = 1; d < 32; d <<= 1) {
                double u = __shfl_up_sync(full, v, d);
                if (lane >= d) v = sc_op<PROD>(u, v);
            }
            v = sc_op<PROD>(carry, v);
            if (j < N) out[r * N + j] = (T)v;
            carry = __shfl_sync(full, v, 31);
        }
    }
}

// dx (A,N,B) of out = cumprod(x) along axis 1, for dout (A,N,B); one thread per (a, b)
template <typename T>
__device__ void cumprod_backward_lines(T* dx, const T* dout, const T* x, const T* out, long long A, long long N,
                                       long long B) {
    if (N == 0) return;
    for (long long l = sc_start(); l < A * B; l += sc_step()) {
        long long at = (l / B) * N * B + l % B + (N - 1) * B;   // the line's last entry
        double s = (double)dout[at];
        for (long long n = N - 2; n >= 0; --n, at -= B) {
            dx[at] = (T)(s * (double)out[at - B]);                // dx[n+1] = out[n] * S[n+1]
            s = (double)dout[at - B] + (double)x[at] * s;         // S[n] = dout[n] + x[n+1] * S[n+1]
        }
        dx[at] = (T)s;
    }
}

extern "C" __global__ void cumsum_lines_f32(float* out, const float* x, long long A, long long N, long long B) {
    scan_lines<float, false>(out, x, A, N, B);
}
extern "C" __global__ void cumsum_lines_f64(double* out, const double* x, long long A, long long N, long long B) {
    scan_lines<double, false>(out, x, A, N, B);
}
extern "C" __global__ void cumprod_lines_f32(float* out, const float* x, long long A, long long N, long long B) {
    scan_lines<float, true>(out, x, A, N, B);
}
extern "C" __global__ void cumprod_lines_f64(double* out, const double* x, long long A, long long N, long long B) {
    scan_lines<double, true>(out, x, A, N, B);
}
extern "C" __global__ void cumsum_rows_f32(float* out, const float* x, long long M, long long N) {
    scan_rows<float, false>(out, x, M, N);
}
extern "C" __global__ void cumsum_rows_f64(double* out, const double* x, long long M, long long N) {
    scan_rows<double, false>(out, x, M, N);
}
extern "C" __global__ void cumprod_rows_f32(float* out, const float* x, long long M, long long N) {
    scan_rows<float, true>(out, x, M, N);
}
extern "C" __global__ void cumprod_rows_f64(double* out, const double* x, long long M, long long N) {
    scan_rows<double, true>(out, x, M, N);
}
extern "C" __global__ void cumprod_backward_f32(float* dx, const float* dout, const float* x, const float* out,
                                                long long A, long long N, long long B) {
    cumprod_backward_lines(dx, dout, x, out, A, N, B);
}
extern "C" __global__ void cumprod_backward_f64(double* dx, const double* dout, const double* x,
                                                const double* out, long long A, long long N, long long B) {
    cumprod_backward_lines(dx, dout, x, out, A, N, B);
}
