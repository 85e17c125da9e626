// activation.cu — elementwise activations (relu / sigmoid / tanh) forward and backward, by name or by
// act code (the code-switched pair serves the backend and the fused MLP's backward).
//
// act codes: 0 none (identity), 1 relu, 2 sigmoid, 3 tanh.
// Backward kernels take the forward's saved output (llm.c style): dx = dout * act'(out) with
// relu' = (out > 0), sigmoid' = out * (1 - out), tanh' = 1 - out^2.
// Launch: any 1-D grid / block (e.g. block 256, grid min(ceil(n/256), 65535)); every kernel uses a
// grid-stride loop, so the grid may be smaller than the problem. n counts elements.

__device__ __forceinline__ float act_fwd(float v, int act) {
    if (act == 1) return v > 0.0f ? v : 0.0f;
    if (act == 2) {  // stable sigmoid: never evaluates exp of a large positive argument
        if (v >= 0.0f) return 1.0f / (1.0f + expf(-v));
        float e = expf(v);
        return e / (1.0f + e);
    }
    if (act == 3) return tanhf(v);
    return v;
}

// derivative of the activation expressed through its output y = act(x)
__device__ __forceinline__ float act_grad(float y, int act) {
    if (act == 1) return y > 0.0f ? 1.0f : 0.0f;
    if (act == 2) return y * (1.0f - y);
    if (act == 3) return 1.0f - y * y;
    return 1.0f;
}

__device__ __forceinline__ long long grid_start() { return (long long)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ long long grid_step() { return (long long)gridDim.x * blockDim.x; }

// out (n,) = act(x (n,))
extern "C" __global__ void act_forward(float* out, const float* x, int n, int act) {
    for (long long i = grid_start(); i < n; i += grid_step()) out[i] = act_fwd(x[i], act);
}

// dx (n,) = dout (n,) * act'(out (n,))   — out is the forward's output
extern "C" __global__ void act_backward(float* dx, const float* dout, const float* out, int n, int act) {
    for (long long i = grid_start(); i < n; i += grid_step()) dx[i] = dout[i] * act_grad(out[i], act);
}

// out (n,) = max(x, 0)
extern "C" __global__ void relu_forward(float* out, const float* x, int n) {
    for (long long i = grid_start(); i < n; i += grid_step()) out[i] = act_fwd(x[i], 1);
}

// dx (n,) = dout * (out > 0)
extern "C" __global__ void relu_backward(float* dx, const float* dout, const float* out, int n) {
    for (long long i = grid_start(); i < n; i += grid_step()) dx[i] = dout[i] * act_grad(out[i], 1);
}

// out (n,) = 1 / (1 + exp(-x))   (stable for |x| ~ 1e4)
extern "C" __global__ void sigmoid_forward(float* out, const float* x, int n) {
    for (long long i = grid_start(); i < n; i += grid_step()) out[i] = act_fwd(x[i], 2);
}

// dx (n,) = dout * out * (1 - out)
extern "C" __global__ void sigmoid_backward(float* dx, const float* dout, const float* out, int n) {
    for (long long i = grid_start(); i < n; i += grid_step()) dx[i] = dout[i] * act_grad(out[i], 2);
}

// out (n,) = tanh(x)
extern "C" __global__ void tanh_forward(float* out, const float* x, int n) {
    for (long long i = grid_start(); i < n; i += grid_step()) out[i] = act_fwd(x[i], 3);
}

// dx (n,) = dout * (1 - out^2)
extern "C" __global__ void tanh_backward(float* dx, const float* dout, const float* out, int n) {
    for (long long i = grid_start(); i < n; i += grid_step()) dx[i] = dout[i] * act_grad(out[i], 3);
}
