"""fastnn: a from-scratch deep-learning engine with PyTorch's API, Numba CPU kernels and CUDA C GPU kernels."""
from .autograd import (enable_grad, inference_mode, is_anomaly_check_nan_enabled, is_anomaly_enabled,
                       is_grad_enabled, is_inference_mode_enabled, no_grad,
                       set_grad_enabled)
from .creation import (arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace,
                       ones, ones_like, rand, rand_like, randint, randn, randn_like, randperm, tensor, zeros,
                       zeros_like)
from .dtypes import (BoolTensor, ByteTensor, DoubleTensor, FloatTensor, IntTensor, LongTensor, bool_ as bool, device, double, dtype, float, float16, float32, float64, half, int, int8,
                     int16, int32, int64, long, short, uint8)
from .functions import (abs, allclose, argmax, argmin, bmm, cat, clamp, concat, dot, equal, exp, flatten, ger,
                        is_tensor, log, log_softmax, matmul, max, mean, min, mm, numel, outer, permute, pow, relu,
                        reshape, sigmoid, softmax, sqrt, squeeze, stack, sum, tanh, transpose, unsqueeze, where)
from .random import Generator, initial_seed, manual_seed
from .serialization import load, save
from .tensor import Size, Tensor
from .threads import get_num_threads, set_num_threads

from .functions import (add, addmm, addmv, all, any, argsort, baddbmm, bernoulli, ceil, chunk, clip, clone, cos,
                        cumprod, cumsum, diag, div, divide, einsum, exp2, expm1, fix, flip, floor, gather,
                        index_select, isclose, isfinite, isinf, isnan, log1p, logspace, logsumexp, masked_fill,
                        masked_select, maximum, minimum, mul, multinomial, multiply, multinomial, mv, nan_to_num,
                        narrow, neg, norm, normal, prod, reciprocal, roll, round, rsqrt, scatter, scatter_add,
                        set_printoptions, sign, sin, sort, split, square, std, sub, subtract, tensordot, topk,
                        tril, triu, trunc, var)
from .functions import floor_divide, remainder, unique

__version__ = "0.1.0"

from . import cuda, linalg, utils  # noqa: E402  (torch-shaped namespaces: fastnn.cuda, fastnn.linalg, fastnn.utils.data)
from . import nn, optim  # noqa: E402  (torch.nn / torch.optim are there after `import torch`, so are ours)
