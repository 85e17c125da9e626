"""JAX workers of bench/compare_cnn.py: LeNet-5 and the pytorch/examples MNIST Net written in jax.lax with
torch's default init and Adam(1e-3) by hand (as bench/compare.py's MLP), NCHW/OIHW like torch. Two modes:
"step" (one jitted train step per batch, the eager loop's shape) and "scan" (a whole epoch in one
jax.lax.scan, JAX's fused road). scan needs equal batches, so both modes drop the short last batch.
Dropout (the Net) draws from a key carried in the training state.
"""
import time

LR = 1e-3

# (kind, args) layers: conv (in, out, k, padding), pool k, flatten, linear (in, out), relu, dropout p
MODELS = {
    "lenet5": [("conv", (1, 6, 5, 2)), ("relu",), ("pool", 2), ("conv", (6, 16, 5, 0)), ("relu",), ("pool", 2),
               ("flatten",), ("linear", (400, 120)), ("relu",), ("linear", (120, 84)), ("relu",),
               ("linear", (84, 10))],
    "mnist-net": [("conv", (1, 32, 3, 0)), ("relu",), ("conv", (32, 64, 3, 0)), ("relu",), ("pool", 2),
                  ("dropout", 0.25), ("flatten",), ("linear", (9216, 128)), ("relu",), ("dropout", 0.5),
                  ("linear", (128, 10))],
}


def init_params(jax, layers, key):
    """torch's defaults: weight and bias uniform in +-1/sqrt(fan_in) (kaiming_uniform, a=sqrt(5))."""
    params = []
    for kind, *args in layers:
        if kind not in ("conv", "linear"):
            continue
        if kind == "conv":
            c, o, k, _ = args[0]
            shape, fan_in = (o, c, k, k), c * k * k
        else:
            i, o = args[0]
            shape, fan_in = (o, i), i
        key, k1, k2 = jax.random.split(key, 3)
        bound = 1.0 / fan_in ** 0.5
        params.append((jax.random.uniform(k1, shape, minval=-bound, maxval=bound),
                       jax.random.uniform(k2, (o,), minval=-bound, maxval=bound)))
    return params


def make_forward(jax, layers):
    lax, jnp = jax.lax, jax.numpy

    def forward(params, x, key, train):
        it = iter(params)
        for kind, *args in layers:
            if kind == "conv":
                w, b = next(it)
                p = args[0][3]
                x = lax.conv_general_dilated(x, w, (1, 1), [(p, p), (p, p)],
                                             dimension_numbers=("NCHW", "OIHW", "NCHW")) + b[None, :, None, None]
            elif kind == "linear":
                w, b = next(it)
                x = x @ w.T + b
            elif kind == "relu":
                x = jax.nn.relu(x)
            elif kind == "pool":
                k = args[0]
                x = lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, k, k), (1, 1, k, k), "VALID")
            elif kind == "flatten":
                x = x.reshape(x.shape[0], -1)
            elif kind == "dropout" and train:
                key, sub = jax.random.split(key)
                keep = jax.random.bernoulli(sub, 1.0 - args[0], x.shape)
                x = jnp.where(keep, x / (1.0 - args[0]), 0.0)
        return x
    return forward


def run(mode, model, xtr, ytr, batch, epochs, seed):
    """Per-epoch seconds (scaled by the caller), final loss: the compare_cnn worker contract."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    layers = MODELS[model]
    forward = make_forward(jax, layers)

    def loss_fn(p, x, y, key):
        logits = forward(p, x, key, True)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

    def step(carry, xy):
        p, m, v, t, key = carry
        key, sub = jax.random.split(key)
        loss, g = jax.value_and_grad(loss_fn)(p, *xy, sub)
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
        c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
        p = jax.tree_util.tree_map(lambda p, m, v: p - LR * (m / c1) / (jnp.sqrt(v / c2) + 1e-8), p, m, v)
        return (p, m, v, t, key), loss

    jstep = jax.jit(step)
    jepoch = jax.jit(lambda c, xs, ys: jax.lax.scan(step, c, (xs, ys)))
    key = jax.random.PRNGKey(seed)
    params = init_params(jax, layers, key)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    carry, rng, times = (params, zeros, zeros, 0.0, key), np.random.default_rng(seed), []
    xj, yj = jnp.asarray(xtr), jnp.asarray(ytr)
    nb = len(xtr) // batch
    loss = jnp.zeros(())
    for _ in range(epochs):
        perm = jnp.asarray(rng.permutation(len(xtr))[:nb * batch].reshape(nb, batch))
        t0 = time.perf_counter()
        if mode == "scan":
            carry, losses = jepoch(carry, xj[perm], yj[perm])
            loss = losses[-1]
        else:
            for k in range(nb):
                carry, loss = jstep(carry, (xj[perm[k]], yj[perm[k]]))
        jax.block_until_ready(carry)
        times.append((time.perf_counter() - t0) * len(xtr) / (nb * batch))
    return times, float(loss), jax.__version__
