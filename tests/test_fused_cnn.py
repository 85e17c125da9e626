"""fastnn.fused_cnn.FusedCNN (cpu: kernels/fused_cnn): the fused CNN step against its NumPy reference
(kernels/fused_cnn/ref.py, float64 and float32, dropout on, row shards, an uneven last batch) and against
the eager nn + optim path (float64, LeNet-5, the examples Net, a net with stride/padding/dilation)."""
import numpy as np
import pytest

import fastnn
from fastnn import nn, optim
from fastnn.fused_cnn import FusedCNN, fused_cnn_unsupported_reason
from fastnn.kernels.fused_cnn import ref
from fastnn.kernels.gemm.cpu import KC
from fastnn.kernels.optim import table
from fastnn.vision.models import lenet5, mnist_net

OPTIMIZERS = {
    "sgd": lambda p: optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3),
    "adam": lambda p: optim.Adam(p, lr=1e-3, betas=(0.8, 0.99), weight_decay=1e-3),
}


def _odd_net(p_conv=0.0, p_head=0.0):
    """Strides, zero padding, dilation, a non-square kernel, ceil-mode padded pooling, tanh/sigmoid."""
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.Tanh(),
        nn.Conv2d(4, 5, (3, 2), padding=(2, 1), dilation=(2, 1)), nn.Sigmoid(),
        nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), nn.Dropout(p_conv), nn.Flatten(),
        nn.Linear(5 * 4 * 5, 12), nn.ReLU(), nn.Dropout(p_head), nn.Linear(12, 5))


def _grouped_net():
    """Grouped convolutions, convs and a Linear without bias, a dilated max-pool, two activations in a row."""
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, groups=2, bias=False), nn.ReLU(), nn.Tanh(),
        nn.MaxPool2d(2, stride=1, dilation=2), nn.Conv2d(4, 6, 3, groups=2), nn.ReLU(), nn.Flatten(),
        nn.Linear(6 * 6 * 6, 7, bias=False), nn.Tanh(), nn.Linear(7, 5))


def _relu_pool_net():
    """ReLU before a padded ceil-mode 3x3 pool (the fused program runs it after the pool) and before a
    2x2 pool over an odd size (the index-free pool, last row and column in no window)."""
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
        nn.Conv2d(4, 3, 1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3 * 2 * 2, 5))


def _lanes_net():
    """A net the lane layout takes (kernels/fused_cnn/lanes.py): strides, padding and dilation, a padded conv
    reading an activation in place (the conv before it writes into a bordered region), two activations in
    a row, 2x2 pools over odd sizes, a 1x1 conv with padding."""
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.Sigmoid(),
        nn.Conv2d(4, 5, (3, 2), padding=(2, 1), dilation=(2, 1)), nn.ReLU(), nn.Tanh(), nn.MaxPool2d(2),
        nn.Conv2d(5, 3, 1, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3 * 2 * 3, 5))


MODELS = {  # name -> (factory, input shape, classes)
    "lenet5": (lenet5, (1, 28, 28), 10),
    "lanes": (_lanes_net, (2, 13, 13), 5),
    "relu_pool": (_relu_pool_net, (2, 9, 9), 5),
    "odd": (_odd_net, (2, 13, 13), 5),
    "grouped": (_grouped_net, (2, 10, 10), 5),
}


def _data(shape, classes, n, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n,) + shape), rng.integers(0, classes, n).astype(np.int64)


def _pair(factory, seed=0, double=True):
    fastnn.manual_seed(seed)
    a = factory()
    fastnn.manual_seed(seed)
    b = factory()
    return (a.double(), b.double()) if double else (a, b)


def _eager_steps(model, opt, X, Y, batch, clip=None):
    """Eager steps over X in order; returns the sample-weighted mean training loss."""
    loss_fn, total = nn.CrossEntropyLoss(), 0.0
    for s in range(0, X.shape[0], batch):
        x, y = fastnn.tensor(X[s:s + batch]), fastnn.tensor(Y[s:s + batch])
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        total += loss.item() * x.shape[0]
    return total / X.shape[0]


def _np(v):
    return v.detach().numpy() if hasattr(v, "detach") else np.asarray(v)


def _assert_same_params(fused_model, eager_model, rtol, atol):
    for (name, pe), pf in zip(eager_model.named_parameters(), fused_model.parameters()):
        np.testing.assert_allclose(pf.detach().numpy(), pe.detach().numpy(), rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_cnn_equals_eager_float64(name, opt, threads):
    """Steps of fused and eager from the same init (batch 32, then a last batch of one row): the float64
    weights agree to 1e-10 relative, with each batch cut into 1 or 2 row shards (on 2 threads the last
    batch's first shard is empty, and the head's first weight gradient is summed over both shards)."""
    factory, shape, classes = MODELS[name]
    X, Y = _data(shape, classes, 33)
    fused_model, eager_model = _pair(factory)
    fo, eo = OPTIMIZERS[opt](fused_model.parameters()), OPTIMIZERS[opt](eager_model.parameters())
    fc = FusedCNN(fused_model, nn.CrossEntropyLoss(), fo, shape)
    fc.impl.nthreads = threads
    eager_loss = _eager_steps(eager_model, eo, X, Y, 32)
    loss, _ = fc.epoch(X, Y, batch_size=32, shuffle=False)
    np.testing.assert_allclose(loss, eager_loss, rtol=1e-10)
    _assert_same_params(fused_model, eager_model, 1e-10, 1e-13)
    se, sf = eo.state_dict()["state"], fo.state_dict()["state"]      # the shared optimizer state too
    assert sorted(se) == sorted(sf)
    for k in se:
        for key in se[k]:
            np.testing.assert_allclose(_np(sf[k][key]), _np(se[k][key]), rtol=1e-10, atol=1e-13)


def test_a_batch_longer_than_a_gemm_k_block_equals_eager_float64():
    """On 2 threads the head's first weight gradient sums the whole batch (w0_backward_) in k-blocks of the
    GEMM's KC rows: a batch of KC + 88 (the second block spans both shards' rows), then one of 3;
    12 output rows (an edge row tile) over 12 features (one partial column panel)."""
    batch = KC + 88
    X, Y = _data((2, 13, 13), 5, batch + 3, seed=4)
    fused_model, eager_model = _pair(_odd_net)
    fo, eo = OPTIMIZERS["adam"](fused_model.parameters()), OPTIMIZERS["adam"](eager_model.parameters())
    fc = FusedCNN(fused_model, nn.CrossEntropyLoss(), fo, (2, 13, 13))
    fc.impl.nthreads = 2
    eager_loss = _eager_steps(eager_model, eo, X, Y, batch)
    loss, _ = fc.epoch(X, Y, batch_size=batch, shuffle=False)
    np.testing.assert_allclose(loss, eager_loss, rtol=1e-10)
    _assert_same_params(fused_model, eager_model, 1e-10, 1e-13)


def test_mnist_net_logsoftmax_head_equals_eager_float64():
    """The examples Net (Conv 32, Conv 64, pool, FC 9216-128-10, LogSoftmax) with cross-entropy as
    `fastnn train` uses it; dropout set to 0 so the eager masks do not matter (dropout: test below)."""
    fused_model, eager_model = _pair(mnist_net)
    for m in list(fused_model) + list(eager_model):
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    X, Y = _data((1, 28, 28), 10, 6)
    fo, eo = optim.Adam(fused_model.parameters(), lr=1e-3), optim.Adam(eager_model.parameters(), lr=1e-3)
    fc = FusedCNN(fused_model, nn.CrossEntropyLoss(), fo, (1, 28, 28))
    fc.impl.nthreads = 1
    _eager_steps(eager_model, eo, X, Y, 4)
    fc.epoch(X, Y, batch_size=4, shuffle=False)
    _assert_same_params(fused_model, eager_model, 1e-10, 1e-13)


@pytest.mark.parametrize("factory, expected", [(lenet5, False), (mnist_net, True), (_odd_net, False)])
def test_program_takes_winograd_only_where_a_conv_runs_it(factory, expected):
    """Program.winograd (train_epoch's `wino`: None keeps Winograd's kernels out of the step's compile)
    is true just when a conv is a 3x3 stride-1 shape between wide layers that conv2d/images.py does not
    run: the examples Net's conv2 (32->64 channels, 24x24 outputs); no LeNet-5 conv (5x5)."""
    model = factory()
    fc = FusedCNN(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                  (2, 13, 13) if factory is _odd_net else (1, 28, 28))
    assert fc.impl.program.winograd is expected


@pytest.mark.parametrize("name, expected", [("lenet5", True), ("lanes", True), ("relu_pool", False), ("odd", False),
                                            ("grouped", False)])
def test_program_takes_the_lane_layout_only_where_every_op_has_a_lane_kernel(name, expected):
    """Program.lanes: convs of groups 1 outside Winograd's shapes, activations and 2x2 pools only (the
    relu_pool net has a 3x3 pool, odd a dropout and a padded pool, grouped groups 2; the examples Net
    a Winograd conv)."""
    factory, shape, _ = MODELS[name]
    model = factory()
    fc = FusedCNN(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), shape)
    assert fc.impl.program.lanes is expected
    net = mnist_net()
    fc = FusedCNN(net, nn.CrossEntropyLoss(), optim.SGD(net.parameters(), lr=0.1), (1, 28, 28))
    assert fc.impl.program.lanes is False


def test_batch_of_one_and_clip_grad_norm_equal_eager():
    fused_model, eager_model = _pair(lenet5)
    X, Y = _data((1, 28, 28), 10, 3)
    fo, eo = OPTIMIZERS["sgd"](fused_model.parameters()), OPTIMIZERS["sgd"](eager_model.parameters())
    fc = FusedCNN(fused_model, nn.CrossEntropyLoss(), fo, (1, 28, 28))
    fc.clip_grad_norm = 0.05
    _eager_steps(eager_model, eo, X, Y, 1, clip=0.05)
    for i in range(3):
        fc.step(fastnn.tensor(X[i:i + 1]), fastnn.tensor(Y[i:i + 1]))
    _assert_same_params(fused_model, eager_model, 1e-10, 1e-13)


@pytest.mark.parametrize("double", [True, False])
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_cnn_epoch_equals_reference_with_dropout(double, threads):
    """The compiled epoch == kernels/fused_cnn/ref.py's (NumPy, per-layer family references) with
    dropout in the conv part and the head, the same seed, a shuffled order and an uneven last batch."""
    model = _odd_net(p_conv=0.3, p_head=0.4)
    model = model.double() if double else model
    opt = OPTIMIZERS["adam"](model.parameters())
    fc = FusedCNN(model, nn.CrossEntropyLoss(), opt, (2, 13, 13))
    impl = fc.impl
    impl.nthreads, impl.seed = threads, 12345
    X, Y = _data((2, 13, 13), 5, 75)
    perm = np.random.default_rng(3).permutation(75)
    dt = impl.params.dtype
    p0, s0 = impl.params.copy(), impl.state.copy()
    loss, acc = impl.epoch(X.reshape(75, -1).astype(dt), Y, 32, perm)
    params, state, grads = p0.copy(), s0.copy(), np.zeros_like(p0)
    opt_code, hp = table.pack_group("adam", fc.group)
    pr = impl.program
    rl, ra, steps = ref.train_epoch(params, grads, state, X.astype(dt), Y, perm, 32, False, 1.0, 0.0, hp, opt_code,
                                    0, pr, impl.act_codes, impl.drop_p, 12345)
    assert steps == 3 and impl.steps == 3
    rtol, atol = (1e-12, 1e-14) if double else (2e-4, 1e-6)
    np.testing.assert_allclose(impl.params, params, rtol=rtol, atol=atol)
    np.testing.assert_allclose(impl.state, state, rtol=10 * rtol, atol=atol)
    np.testing.assert_allclose(loss, rl, rtol=rtol)
    assert acc == ra
    assert not np.array_equal(impl.params, p0)


def test_dropout_follows_manual_seed():
    """Two runs after the same manual_seed are identical, another seed draws other masks."""
    def run(seed):
        fastnn.manual_seed(0)
        model = _odd_net(p_conv=0.5, p_head=0.5)
        fc = FusedCNN(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (2, 13, 13))
        X, Y = _data((2, 13, 13), 5, 8)
        fastnn.manual_seed(seed)
        fc.epoch(X, Y, batch_size=4, shuffle=False)
        return np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])
    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_unsupported_layers_say_why_and_train_eager(tmp_path):
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(2 * 13 * 13, 3))
    why = fused_cnn_unsupported_reason(m, nn.CrossEntropyLoss(), optim.Adam(m.parameters()), (1, 28, 28))
    assert "AvgPool2d" in why
    m = nn.Sequential(nn.Conv2d(1, 2, 3, padding_mode="reflect", padding=1), nn.Flatten(), nn.Linear(2 * 28 * 28, 3))
    assert "padding_mode" in fused_cnn_unsupported_reason(m, nn.CrossEntropyLoss(), optim.Adam(m.parameters()),
                                                          (1, 28, 28))
    with pytest.raises(ValueError, match="FusedCNN cannot train this model"):
        FusedCNN(m, nn.CrossEntropyLoss(), optim.Adam(m.parameters()), (1, 28, 28))
    from fastnn.train import TrainConfig, run

    res = run(TrainConfig(model="resnet18", dataset="synthetic", synthetic_size=(8, 4), epochs=1, batch_size=4,
                          quiet=True, out=str(tmp_path)), log=lambda *a: None)
    assert res["path"] == "eager" and "ResNet, not an nn.Sequential" in res["reason"]


def test_fastnn_train_lenet5_takes_the_fused_path(tmp_path):
    from fastnn.train import TrainConfig, run

    lines = []
    res = run(TrainConfig(model="lenet5", dataset="synthetic", synthetic_size=(256, 64), epochs=3, lr=3e-3,
                          normalize=True, batch_size=32, quiet=True, out=str(tmp_path)), log=lines.append)
    assert res["path"] == "fused" and "FusedCNN" in res["reason"]
    h = res["history"]
    assert h[-1]["train_loss"] < h[0]["train_loss"]


def test_fastnn_compile_and_the_cache_probe_cover_the_fused_cnn():
    """`fastnn compile --model lenet5` compiles (or loads) the fused CNN kernel, and the background
    compile's probe then finds it cached (so a warm `fastnn train` starts fused)."""
    from fastnn.train import TrainConfig
    from fastnn.train.precompile import precompile
    from fastnn.train.warmup import fused_cached

    cfg = TrainConfig(model="lenet5", dataset="synthetic")
    lines = []
    out = precompile(cfg, log=lines.append)
    assert out["fused"] is not None and lines[0].startswith("fused kernel:")
    assert fused_cached(cfg)


def test_fastnn_train_stops_a_diverging_fused_cnn_run(tmp_path):
    """The fused CNN's epoch mean loss goes through `fastnn train`'s NaN/Inf check (train/loop.py)."""
    from fastnn.train import TrainConfig, run

    cfg = TrainConfig(model="lenet5", dataset="synthetic", synthetic_size=(128, 32), epochs=2, lr=1e9,
                      optimizer="sgd", batch_size=32, quiet=True, out=str(tmp_path))
    with pytest.raises(RuntimeError, match="training diverged at epoch 1"):
        run(cfg, log=lambda *a: None)


def test_backends_without_a_fused_cnn_say_so(backend):
    """cpu runs the fused CNN; cuda has none (Backend.fused_cnn_features is None): the reason says so, and
    `fastnn train` then trains such a model on the eager path."""
    model = _odd_net().to(backend)
    why = fused_cnn_unsupported_reason(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), (2, 13, 13))
    if backend == "cpu":
        assert why is None
    else:
        assert why == f"the {backend} backend has no fused CNN"
