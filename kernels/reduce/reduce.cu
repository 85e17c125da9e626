// reduce.cu — column sums of a row-major matrix, the bias gradient of a Linear layer:
// sum_rows: out (N,) = [out +] sum over rows of x (M,N).
//
// Launch: block = (32, TY, 1) with 1 <= TY <= 32 (8 is a good default), grid = (ceil(N/32), 1, 1),
// no dynamic shared memory. Each block owns 32 adjacent columns (coalesced row reads), its TY thread
// rows stride over M, and a shared-memory tree adds the TY partial sums: deterministic, no atomics.

// out (N,) = (accumulate ? out : 0) + sum_i x (M,N)[i, :]
extern "C" __global__ void sum_rows(float* out, const float* x, int M, int N, int accumulate) {
    __shared__ float part[32][33];  // [ty][tx], padded against bank conflicts
    int tx = threadIdx.x, ty = threadIdx.y;
    int col = blockIdx.x * 32 + tx;
    float s = 0.0f;
    if (col < N)
        for (int i = ty; i < M; i += blockDim.y) s += x[(long long)i * N + col];
    part[ty][tx] = s;
    __syncthreads();
    if (ty == 0 && col < N) {
        for (int k = 1; k < (int)blockDim.y; ++k) s += part[k][tx];
        out[col] = accumulate ? out[col] + s : s;
    }
}
