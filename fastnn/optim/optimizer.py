"""Optimizer base: param groups like torch, packed into one flat buffer per (group, dtype) so ONE kernel
call updates every parameter; per-parameter state exposed (and saved) in torch's layout.

At construction each parameter's values are copied into a flat buffer and `param._data` becomes a
reshaped view into it; state buffers (`exp_avg`, ...) are flat too. `step()` concatenates the grads
into one flat grad buffer and calls `backend.optimizer_step(<kernel>, ...)` once per (group, dtype).
Parameters whose `.grad` is None are skipped like torch (that step falls back to one kernel call per
parameter on slices of the flat buffers). Moving the model (`Module.to(device)`) after building the
optimizer is unsupported, as in torch: build the optimizer after moving the model.
"""
from collections import defaultdict

import numpy as np

from ..autograd import enable_grad, no_grad
from fastnn.kernels.optim import table
from ..tensor import Tensor, zero_grads


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


class FlatBuffer:
    """The parameters of one group with one (backend, dtype), packed into one flat array (plus flat state).

    Public (Optimizer.flat_buffers; fastnn/fused.py trains on these in place):
        params   the parameters, in the group's order; each `p._data` is a view into `flat`
        backend  their backend;  flat  the (n,) array;  offsets  [(start, end)] per parameter
        state    {torch state name: (n,) array} in the same layout (allocated by Optimizer.init_flat_state)
        steps    the step count per parameter (list of ints; assign a new list to set it)
        sync()   re-binds parameters whose storage was replaced (`p.data = t`) to their slice
    """

    def __init__(self, params, backend, dtype):
        xp = backend.xp
        self.backend, self.params, self.offsets = backend, params, []
        total = 0
        for p in params:
            self.offsets.append((total, total + p.numel()))
            total += p.numel()
        self.flat = xp.empty(total, dtype=dtype)
        self.views = []
        for p, (a, b) in zip(params, self.offsets):
            self.flat[a:b] = p._data.reshape(-1)
            view = self.flat[a:b].reshape(p._data.shape)
            p._data = view
            self.views.append(view)
        self.state = {}  # name -> flat array (n,)
        self.steps = [0] * len(params)

    def sync(self):
        """Re-bind parameters whose storage was replaced (e.g. `p.data = t`) to their flat slice."""
        for i, p in enumerate(self.params):
            if p._data is not self.views[i]:
                if p.backend is not self.backend or p._data.dtype != self.flat.dtype:
                    raise RuntimeError(f"parameter {i} was moved to {p.backend.name}/{p._data.dtype} after the "
                                       f"optimizer was built on {self.backend.name}/{self.flat.dtype}; build the "
                                       "optimizer after Module.to(device/dtype)")
                if tuple(p._data.shape) != tuple(self.views[i].shape):
                    raise RuntimeError(f"parameter {i} changed shape from {tuple(self.views[i].shape)} to "
                                       f"{tuple(p._data.shape)} after the optimizer was built")
                a, b = self.offsets[i]
                self.flat[a:b] = p._data.reshape(-1)
                p._data = self.views[i]

    def state_view(self, name, i):
        a, b = self.offsets[i]
        return self.state[name][a:b].reshape(self.views[i].shape)


class Optimizer:
    """Base class: holds `param_groups` (list of dicts, each with 'params' and hyper-parameters)."""

    # subclasses set _optim, the name of their descriptor in kernels/optim/table.py (update kernel,
    # packed scalars, state buffers, 'step'), or override _state_names/_init_value/_counts_step/_update
    _optim = None
    _desc = None          # its Descriptor (set from _optim)
    _has_step = True      # torch keeps 'step'
    _eager_state = False  # Adagrad: torch creates state for every parameter at construction

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("_optim") is not None:
            d = cls._desc = table.get(cls._optim)
            cls._has_step, cls._eager_state = d.has_step, d.eager_state

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.param_groups = []
        self._segments = []  # per group: list of FlatBuffer
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {type(params).__name__}")
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for g in params:
            self.add_param_group(g)

    # ---- groups --------------------------------------------------------------------------------
    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = dict(param_group)
        ps = group["params"]
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        for p in ps:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
            if not p.dtype.is_floating_point:
                raise TypeError(f"optimizer can only optimize floating-point Tensors, got {p.dtype}")
        if len({id(p) for p in ps}) != len(ps):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in ps):
            raise ValueError("some parameters appear in more than one parameter group")
        for k, v in self.defaults.items():
            if v is required and k not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {k}")
            group.setdefault(k, v)
        self._validate(group)
        group["params"] = ps
        self.param_groups.append(group)
        self._segments.append(self._pack(ps))
        if self._eager_state:
            for seg in self._segments[-1]:
                self._init_state(group, seg)

    def _validate(self, group):
        lr = group.get("lr")
        if lr is not None and not (isinstance(lr, (int, float)) and lr >= 0):
            raise ValueError(f"Invalid learning rate: {lr}")

    def _pack(self, ps):
        by_key = defaultdict(list)
        for p in ps:
            by_key[(id(p.backend), p._data.dtype)].append(p)
        return [FlatBuffer(plist, plist[0].backend, dt) for (_, dt), plist in by_key.items()]

    # ---- state ---------------------------------------------------------------------------------
    def _state_names(self, group):
        if self._optim is None:
            raise NotImplementedError
        return table.state_names(self._desc, group)

    def _init_value(self, name, group):
        return 0.0 if self._optim is None else table.state_fill(self._desc, name, group)

    def _init_state(self, group, seg):
        """Allocate the flat state buffers this group's settings need (kept when already present)."""
        xp = seg.backend.xp
        for name in self._state_names(group):
            if name not in seg.state:
                seg.state[name] = xp.full(seg.flat.shape, self._init_value(name, group), dtype=seg.flat.dtype)

    def _counts_step(self, group):
        return True if self._optim is None else table.counts_step(self._desc, group)

    # ---- the flat buffers, public (fastnn/fused.py trains on them in place) ---------------------
    def flat_buffers(self, group_index=0):
        """The FlatBuffers of param group `group_index`: one per (backend, dtype) of its parameters."""
        return list(self._segments[group_index])

    def init_flat_state(self, group_index=0):
        """Allocate the flat state buffers that group `group_index`'s settings need (existing ones kept)."""
        for seg in self._segments[group_index]:
            self._init_state(self.param_groups[group_index], seg)

    def step_advances_count(self, group_index=0):
        """Whether a step of group `group_index` advances its step count (torch's SGD: only with momentum)."""
        return self._counts_step(self.param_groups[group_index])

    @property
    def state(self):
        """param -> dict of its state in torch's layout (Tensors viewing the flat buffers)."""
        out = {}
        for group, segs in zip(self.param_groups, self._segments):
            for seg in segs:
                for i, p in enumerate(seg.params):
                    st = self._param_state(group, seg, i, copy=False)
                    if st is not None:
                        out[p] = st
        return out

    def _param_state(self, group, seg, i, copy):
        if seg.steps[i] == 0 and not self._eager_state:
            return None
        st = {}
        if self._has_step:
            st["step"] = Tensor._wrap(np.asarray(float(seg.steps[i]), dtype=np.float32), _cpu())
        for name in self._state_names(group):
            if name in seg.state:
                v = seg.state_view(name, i)
                st[name] = Tensor._wrap(seg.backend.xp.array(v, copy=True) if copy else v, seg.backend)
        return st

    # ---- stepping ------------------------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        zero_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    def step(self, closure=None):
        """One update of every parameter that has a grad; returns closure() when given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group, segs in zip(self.param_groups, self._segments):
                for seg in segs:
                    self._step_segment(group, seg)
        return loss

    def _step_segment(self, group, seg):
        seg.sync()
        has = [p.grad is not None for p in seg.params]
        if not any(has):
            return
        self._init_state(group, seg)
        dt, count = seg.flat.dtype, self._counts_step(group)
        if all(has) and len(set(seg.steps)) == 1:
            grads = [p.grad._data.reshape(-1) for p in seg.params]
            grad = grads[0] if len(grads) == 1 else seg.backend.xp.concatenate(grads)
            grad = seg.backend.xp.ascontiguousarray(grad.astype(dt, copy=False))
            step = seg.steps[0] + 1 if count else seg.steps[0]
            self._update(group, seg.backend, seg.flat, grad, seg.state, step)
            seg.steps = [step] * len(seg.params)
            return
        for i, p in enumerate(seg.params):  # some grads are None (or steps differ): per parameter
            if p.grad is None:
                continue
            a, b = seg.offsets[i]
            grad = seg.backend.xp.ascontiguousarray(p.grad._data.reshape(-1).astype(dt, copy=False))
            step = seg.steps[i] + 1 if count else seg.steps[i]
            self._update(group, seg.backend, seg.flat[a:b], grad, {k: v[a:b] for k, v in seg.state.items()}, step)
            seg.steps[i] = step

    def _update(self, group, backend, param, grad, state, step):
        """Run the kernel over flat views: param (n,), grad (n,), state name -> (n,), step = new step count.
        Table optimizers: kernels/optim's update(param, *state in the table's order (unused: empty),
        grad, step, *scalars from the group)."""
        if self._optim is None:
            raise NotImplementedError
        d = self._desc
        bufs = [state[n] if state.get(n) is not None else backend.xp.empty(0, dtype=param.dtype) for n in d.args]
        backend.optimizer_step(d.update, param, *bufs, grad, int(step),
                               *table.field_values(d, group, as_kernel_args=True))

    # ---- state_dict ----------------------------------------------------------------------------
    def state_dict(self):
        """{'state': {index: {'step': tensor, <buffers>...}}, 'param_groups': [{..., 'params': [indices]}]}.

        Buffers are copies (a saved checkpoint does not change as training continues)."""
        index, state, groups = 0, {}, []
        for group, segs in zip(self.param_groups, self._segments):
            where = {id(p): (seg, i) for seg in segs for i, p in enumerate(seg.params)}
            ids = []
            for p in group["params"]:
                seg, i = where[id(p)]
                st = self._param_state(group, seg, i, copy=True)
                if st is not None:
                    state[index] = st
                ids.append(index)
                index += 1
            g = {k: v for k, v in group.items() if k != "params"}
            g["params"] = ids
            groups.append(g)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a state_dict from `state_dict()` (or torch's, same layout): values are copied in place."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for g, sg in zip(self.param_groups, groups):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                                 "optimizer's group")
        saved_state = state_dict["state"]
        for group, sg, segs in zip(self.param_groups, groups, self._segments):
            for k, v in sg.items():
                if k != "params":
                    group[k] = tuple(v) if isinstance(v, list) and k == "betas" else v
            where = {id(p): (seg, i) for seg in segs for i, p in enumerate(seg.params)}
            for p, idx in zip(group["params"], sg["params"]):
                seg, i = where[id(p)]
                self._load_param_state(group, seg, i, saved_state.get(idx, saved_state.get(str(idx))))

    def _load_param_state(self, group, seg, i, st):
        self._init_state(group, seg)
        a, b = seg.offsets[i]
        if st is None:
            seg.steps[i] = 0
            for name, buf in seg.state.items():
                buf[a:b] = self._init_value(name, group)
            return
        for name in self._state_names(group):
            if name in st and st[name] is not None:
                arr = _host(st[name]).reshape(-1)
                if arr.size != b - a:
                    raise ValueError(f"state '{name}' of parameter {i} has {arr.size} elements, expected {b - a}")
                seg.state[name][a:b] = seg.backend.asarray(arr.astype(seg.flat.dtype, copy=False))
        if self._has_step:
            seg.steps[i] = int(round(float(_host(st["step"]).reshape(()))))
        else:
            seg.steps[i] = 1 if any(st.get(n) is not None for n in self._state_names(group)) else 0

    def __repr__(self):
        s = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}"
            for k in sorted(group):
                if k != "params":
                    s += f"\n    {k}: {group[k]}"
        return s + "\n)"


def _cpu():
    from ..backends import get_backend

    return get_backend("cpu")


def _host(v):
    if isinstance(v, Tensor):
        return np.asarray(v.backend.to_numpy(v._data))
    if hasattr(v, "detach") and hasattr(v, "cpu"):  # a torch tensor, without importing torch
        return v.detach().cpu().numpy()
    return np.asarray(v)
