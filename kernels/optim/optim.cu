// optim.cu — optimizer updates over one flat float32 parameter buffer (every parameter of a group in
// ONE launch): SGD (momentum, dampening, Nesterov, weight decay), Adagrad, RMSprop, Adam / AdamW, Adadelta.
// Formulas follow torch.optim's single-tensor implementations operation by operation.
//
// Every scalar lives in a small DEVICE buffer `hp` (double[HP_N]), so a captured CUDA graph replays
// correctly with no host update and a scheduler that changes lr, betas or momentum every step
// (OneCycleLR) only copies new values in — no re-capture:
//   hp[0]  step t — incremented by the tick kernel; after the tick it equals torch's state['step']
//   hp[1]  lr
//   hp[2]  Adam: step_size = lr / (1 - beta1^t);   Adagrad: clr = lr / (1 + (t - 1) * lr_decay)
//   hp[3]  Adam: sqrt(1 - beta2^t)
//   hp[4..] the optimizer's hyper-parameters after lr, in kernels/optim/table.py's field order
//           (booleans as 0.0 / 1.0):
//     sgd      momentum, dampening, weight_decay, nesterov, maximize
//     adagrad  lr_decay, weight_decay, eps, maximize
//     rmsprop  alpha, eps, weight_decay, momentum, centered, maximize
//     adam     beta1, beta2, eps, weight_decay, amsgrad, decoupled, maximize
//     adadelta rho, eps, weight_decay, maximize
// Update signature: (param, state buffers in the table's `args` order, grad, hp, n).
// Per step launch the tick (grid 1, block 1) and then the update (1-D grid-stride, any grid):
//   SGD / RMSprop / Adadelta: optim_tick; Adam / AdamW: adam_tick; Adagrad: adagrad_tick.
// torch keeps hyper-parameters as Python floats and derives e.g. 1 - beta2 in double before casting
// to float32; so do we.
// State buffers (n floats each) are allocated and zero-filled by the host; Adagrad's state_sum is
// filled with initial_accumulator_value. Unused optional state may be NULL (SGD momentum_buf when
// momentum == 0, Adam max_exp_avg_sq without amsgrad, RMSprop grad_avg without centered,
// RMSprop momentum_buf when momentum == 0).

__device__ __forceinline__ long long op_start() { return (long long)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ long long op_step() { return (long long)gridDim.x * blockDim.x; }

// torch's lerp for weight < 0.5 (all our uses: 1-beta1, 1-alpha): a + w * (b - a)
__device__ __forceinline__ float op_lerp(float a, float b, float w) {
    return w < 0.5f ? a + w * (b - a) : b - (b - a) * (1.0f - w);
}

// hp[0] += 1   (SGD, RMSprop, Adadelta)
extern "C" __global__ void optim_tick(double* hp) {
    if (blockIdx.x == 0 && threadIdx.x == 0) hp[0] += 1.0;
}

// hp[0] += 1; hp[2] = lr / (1 - beta1^t); hp[3] = sqrt(1 - beta2^t)   (beta1 = hp[4], beta2 = hp[5])
extern "C" __global__ void adam_tick(double* hp) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        double t = hp[0] + 1.0, beta1 = hp[4], beta2 = hp[5];
        hp[0] = t;
        hp[2] = hp[1] / (1.0 - pow(beta1, t));
        hp[3] = sqrt(1.0 - pow(beta2, t));
    }
}

// hp[0] += 1; hp[2] = lr / (1 + (t - 1) * lr_decay)   (lr_decay = hp[4])
extern "C" __global__ void adagrad_tick(double* hp) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        double t = hp[0] + 1.0, lr_decay = hp[4];
        hp[0] = t;
        hp[2] = hp[1] / (1.0 + (t - 1.0) * lr_decay);
    }
}

// param (n,), momentum_buf (n,) updated in place from grad (n,); lr = hp[1], first step when hp[0] == 1
extern "C" __global__ void sgd_step(float* param, float* momentum_buf, const float* grad, const double* hp,
                                    int n) {
    double momentum = hp[4], dampening = hp[5], weight_decay = hp[6];
    bool nesterov = hp[7] != 0.0, maximize = hp[8] != 0.0;
    float lr = (float)hp[1], mom = (float)momentum, omd = (float)(1.0 - dampening), wd = (float)weight_decay;
    bool first = hp[0] <= 1.0;
    for (long long i = op_start(); i < n; i += op_step()) {
        float p = param[i], g = maximize ? -grad[i] : grad[i];
        if (weight_decay != 0.0) g = g + wd * p;
        if (momentum != 0.0) {
            float buf = first ? g : momentum_buf[i] * mom + omd * g;
            momentum_buf[i] = buf;
            g = nesterov ? g + mom * buf : buf;
        }
        param[i] = p + (-lr) * g;
    }
}

// param, exp_avg, exp_avg_sq, max_exp_avg_sq (n,) updated in place from grad (n,); uses hp[1..3]
// decoupled = 1: AdamW (param *= 1 - lr * weight_decay); 0: Adam (grad += weight_decay * param)
extern "C" __global__ void adam_step(float* param, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
                                     const float* grad, const double* hp, int n) {
    double beta1 = hp[4], beta2 = hp[5], eps = hp[6], weight_decay = hp[7];
    bool amsgrad = hp[8] != 0.0, decoupled = hp[9] != 0.0, maximize = hp[10] != 0.0;
    float omb1 = (float)(1.0 - beta1), b2 = (float)beta2, omb2 = (float)(1.0 - beta2);
    float wd = (float)weight_decay, decay = (float)(1.0 - hp[1] * weight_decay);
    float step_size = (float)hp[2], bc2_sqrt = (float)hp[3], e = (float)eps;
    for (long long i = op_start(); i < n; i += op_step()) {
        float p = param[i], g = maximize ? -grad[i] : grad[i];
        if (weight_decay != 0.0) {
            if (decoupled) p = p * decay;
            else g = g + wd * p;
        }
        float m = op_lerp(exp_avg[i], g, omb1);
        float v = exp_avg_sq[i] * b2 + omb2 * g * g;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        if (amsgrad) {
            v = fmaxf(max_exp_avg_sq[i], v);
            max_exp_avg_sq[i] = v;
        }
        float denom = sqrtf(v) / bc2_sqrt + e;
        param[i] = p + (-step_size) * (m / denom);
    }
}

// param, state_sum (n,) updated in place from grad (n,); clr = hp[2]
extern "C" __global__ void adagrad_step(float* param, float* state_sum, const float* grad, const double* hp,
                                        int n) {
    double weight_decay = hp[5], eps = hp[6];
    bool maximize = hp[7] != 0.0;
    float clr = (float)hp[2], wd = (float)weight_decay, e = (float)eps;
    for (long long i = op_start(); i < n; i += op_step()) {
        float p = param[i], g = maximize ? -grad[i] : grad[i];
        if (weight_decay != 0.0) g = g + wd * p;
        float s = state_sum[i] + g * g;
        state_sum[i] = s;
        param[i] = p + (-clr) * (g / (sqrtf(s) + e));
    }
}

// param, square_avg, grad_avg, momentum_buf (n,) updated in place from grad (n,); lr = hp[1]
extern "C" __global__ void rmsprop_step(float* param, float* square_avg, float* grad_avg, float* momentum_buf,
                                        const float* grad, const double* hp, int n) {
    double alpha = hp[4], eps = hp[5], weight_decay = hp[6], momentum = hp[7];
    bool centered = hp[8] != 0.0, maximize = hp[9] != 0.0;
    float lr = (float)hp[1], a = (float)alpha, oma = (float)(1.0 - alpha);
    float wd = (float)weight_decay, e = (float)eps, mom = (float)momentum;
    for (long long i = op_start(); i < n; i += op_step()) {
        float p = param[i], g = maximize ? -grad[i] : grad[i];
        if (weight_decay != 0.0) g = g + wd * p;
        float sq = square_avg[i] * a + oma * g * g;
        square_avg[i] = sq;
        float avg;
        if (centered) {
            float ga = op_lerp(grad_avg[i], g, oma);
            grad_avg[i] = ga;
            avg = sqrtf(sq + (-1.0f) * ga * ga);
        } else {
            avg = sqrtf(sq);
        }
        avg = avg + e;
        if (momentum > 0.0) {
            float buf = momentum_buf[i] * mom + g / avg;
            momentum_buf[i] = buf;
            param[i] = p + (-lr) * buf;
        } else {
            param[i] = p + (-lr) * (g / avg);
        }
    }
}

// param, square_avg, acc_delta (n,) updated in place from grad (n,); lr = hp[1]   (torch.optim.Adadelta)
extern "C" __global__ void adadelta_step(float* param, float* square_avg, float* acc_delta, const float* grad,
                                         const double* hp, int n) {
    double rho = hp[4], eps = hp[5], weight_decay = hp[6];
    bool maximize = hp[7] != 0.0;
    float lr = (float)hp[1], r = (float)rho, omr = (float)(1.0 - rho), e = (float)eps, wd = (float)weight_decay;
    for (long long i = op_start(); i < n; i += op_step()) {
        float p = param[i], g = maximize ? -grad[i] : grad[i];
        if (weight_decay != 0.0) g = g + wd * p;
        float sq = square_avg[i] * r + omr * g * g;
        square_avg[i] = sq;
        float a = acc_delta[i];
        float delta = sqrtf(a + e) / sqrtf(sq + e) * g;
        acc_delta[i] = a * r + omr * delta * delta;
        param[i] = p + (-lr) * delta;
    }
}
