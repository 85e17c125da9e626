"""Plain NumPy reference optimizer updates over flat buffers (torch.optim single-tensor semantics).

Oracle for kernels/optim/cpu.py (Numba) and kernels/optim/optim.cu (CUDA). Every function updates
its outputs IN PLACE (outputs first: param, then state buffers), reads `grad`, and takes `step`, the
already-incremented step count (1 on the first update). Buffers are flat 1-D arrays of one dtype.
Scalars are Python floats; arithmetic happens in the buffers' dtype (NumPy 2 promotion), as torch does.
"""
import numpy as np


def _lerp_(a, b, w):
    """a <- torch.lerp(a, b, w): a + w*(b-a) when w < 0.5, else b - (b-a)*(1-w) (torch's two branches)."""
    if w < 0.5:
        a += w * (b - a)
    else:
        a[...] = b - (b - a) * (1.0 - w)


def _effective_grad(param, grad, weight_decay, maximize):
    """g = (-grad if maximize else grad) + weight_decay * param   (a new array; grad is not modified)."""
    g = -grad if maximize else grad.copy()
    if weight_decay != 0:
        g += weight_decay * param
    return g


def sgd_step(param, momentum_buffer, grad, step, lr, momentum=0.0, dampening=0.0,
             weight_decay=0.0, nesterov=False, maximize=False):
    """SGD (torch.optim.SGD).

    g = ±grad + wd*p
    if momentum != 0:  buf = g on the first step (step == 1, no dampening), else
                       buf = momentum*buf + (1-dampening)*g
                       g = g + momentum*buf if nesterov else buf
    p -= lr * g
    momentum_buffer is unused (may be empty) when momentum == 0.
    """
    g = _effective_grad(param, grad, weight_decay, maximize)
    if momentum != 0:
        if step <= 1:
            momentum_buffer[...] = g
        else:
            momentum_buffer *= momentum
            momentum_buffer += (1.0 - dampening) * g
        if nesterov:
            g += momentum * momentum_buffer
        else:
            g = momentum_buffer.copy()
    param -= lr * g


def adagrad_step(param, state_sum, grad, step, lr, lr_decay=0.0, weight_decay=0.0, eps=1e-10,
                 maximize=False):
    """Adagrad (torch.optim.Adagrad). state_sum starts filled with initial_accumulator_value.

    g = ±grad + wd*p;  clr = lr / (1 + (step-1)*lr_decay)
    state_sum += g*g;  p -= clr * g / (sqrt(state_sum) + eps)
    """
    g = _effective_grad(param, grad, weight_decay, maximize)
    clr = lr / (1.0 + (step - 1) * lr_decay)
    state_sum += g * g
    std = np.sqrt(state_sum) + eps
    param += (-clr) * g / std


def rmsprop_step(param, square_avg, grad_avg, momentum_buffer, grad, step, lr, alpha=0.99, eps=1e-8,
                 weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
    """RMSprop (torch.optim.RMSprop). All state starts at zero.

    g = ±grad + wd*p
    square_avg = alpha*square_avg + (1-alpha)*g*g
    if centered: grad_avg = lerp(grad_avg, g, 1-alpha); avg = sqrt(square_avg - grad_avg^2) + eps
    else:        avg = sqrt(square_avg) + eps
    if momentum > 0: buf = momentum*buf + g/avg; p -= lr*buf
    else:            p -= lr * g / avg
    grad_avg (centered=False) and momentum_buffer (momentum == 0) are unused and may be empty.
    """
    g = _effective_grad(param, grad, weight_decay, maximize)
    square_avg *= alpha
    square_avg += (1.0 - alpha) * g * g
    if centered:
        _lerp_(grad_avg, g, 1.0 - alpha)
        avg = np.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        avg = np.sqrt(square_avg) + eps
    if momentum > 0:
        momentum_buffer *= momentum
        momentum_buffer += g / avg
        param -= lr * momentum_buffer
    else:
        param += (-lr) * g / avg


def adam_step(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, step, lr, beta1=0.9, beta2=0.999,
              eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False, maximize=False):
    """Adam / AdamW (torch.optim.Adam, torch.optim.AdamW when decoupled=True). State starts at zero.

    g = ±grad;  decoupled: p *= 1 - lr*wd   else: g += wd*p
    exp_avg = lerp(exp_avg, g, 1-beta1);  exp_avg_sq = beta2*exp_avg_sq + (1-beta2)*g*g
    bc1 = 1 - beta1**step;  bc2 = 1 - beta2**step
    v = max(max_exp_avg_sq, exp_avg_sq) -> max_exp_avg_sq if amsgrad else exp_avg_sq
    p -= (lr/bc1) * exp_avg / (sqrt(v)/sqrt(bc2) + eps)
    max_exp_avg_sq is unused (may be empty) when amsgrad is False.
    """
    if decoupled:
        g = -grad if maximize else grad.copy()
        if weight_decay != 0:
            param *= 1.0 - lr * weight_decay
    else:
        g = _effective_grad(param, grad, weight_decay, maximize)
    _lerp_(exp_avg, g, 1.0 - beta1)
    exp_avg_sq *= beta2
    exp_avg_sq += (1.0 - beta2) * g * g
    bc1 = 1.0 - beta1 ** step
    bc2_sqrt = (1.0 - beta2 ** step) ** 0.5
    if amsgrad:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        v = max_exp_avg_sq
    else:
        v = exp_avg_sq
    denom = np.sqrt(v) / bc2_sqrt + eps
    param += (-(lr / bc1)) * exp_avg / denom


def adadelta_step(param, square_avg, acc_delta, grad, step, lr, rho=0.9, eps=1e-6, weight_decay=0.0,
                  maximize=False):
    """Adadelta (torch.optim.Adadelta). State starts at zero; `step` is unused (torch only counts it).

    g = ±grad + wd*p
    square_avg = rho*square_avg + (1-rho)*g*g
    delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
    acc_delta = rho*acc_delta + (1-rho)*delta*delta
    p -= lr * delta
    """
    g = _effective_grad(param, grad, weight_decay, maximize)
    square_avg *= rho
    square_avg += (1.0 - rho) * g * g
    std = np.sqrt(square_avg + eps)
    delta = np.sqrt(acc_delta + eps) / std * g
    acc_delta *= rho
    acc_delta += (1.0 - rho) * delta * delta
    param += (-lr) * delta
