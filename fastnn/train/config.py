"""TrainConfig: every option of `fastnn train` with its default, and the optimizer/scheduler factories."""
import dataclasses
from dataclasses import dataclass, field

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta")
SCHEDULES = ("none", "step", "cosine", "onecycle")
PATHS = ("auto", "fused", "eager")

# learning rate when --lr is not given (torch's defaults, except RMSprop: 1e-3 rather than 1e-2)
DEFAULT_LR = {"sgd": 0.01, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 0.01, "adadelta": 1.0}


@dataclass
class TrainConfig:
    dataset: str = "mnist"
    model: str = "mlp"
    optimizer: str = "adam"
    lr: float = None               # None -> DEFAULT_LR[optimizer]
    momentum: float = 0.0          # sgd, rmsprop
    weight_decay: float = None     # None -> 0.01 for adamw, 0 otherwise
    betas: tuple = (0.9, 0.999)    # adam, adamw
    eps: float = None              # None -> torch's default per optimizer
    alpha: float = 0.99            # rmsprop smoothing
    nesterov: bool = False         # sgd
    batch_size: int = 64
    epochs: int = 5
    device: str = "cpu"
    seed: int = 0
    threads: int = None
    schedule: str = "none"
    step_size: int = None          # StepLR: None -> max(1, epochs // 3)
    gamma: float = 0.1             # StepLR
    max_lr: float = None           # OneCycleLR: None -> 10 * lr
    path: str = "auto"
    data_dir: str = None
    out: str = None
    resume: str = None
    normalize: object = False      # False; True = (x - 0.5) / 0.5; (mean, std) = (x - mean) / std (x = pixel/255)
    quiet: bool = False
    eval_batch_size: int = 1000
    train_subset: int = None       # keep the first N training samples (quick runs)
    test_subset: int = None
    synthetic_size: tuple = (512, 256)
    clip_grad_norm: float = None   # nn.utils.clip_grad_norm_ max norm before every step (eager and fused)
    detect_anomaly: bool = False   # fastnn.autograd.detect_anomaly around the eager epochs
    extra: dict = field(default_factory=dict)

    def resolved_lr(self):
        return DEFAULT_LR[self.optimizer] if self.lr is None else float(self.lr)

    def resolved_weight_decay(self):
        if self.weight_decay is not None:
            return float(self.weight_decay)
        return 0.01 if self.optimizer == "adamw" else 0.0

    def validate(self):
        from .data import DATASETS
        from .models import ZOO

        for name, value, allowed in (("dataset", self.dataset, DATASETS), ("model", self.model, ZOO),
                                     ("optimizer", self.optimizer, OPTIMIZERS),
                                     ("schedule", self.schedule, SCHEDULES), ("path", self.path, PATHS)):
            if value not in allowed:
                raise ValueError(f"unknown {name} '{value}' (choose from: {', '.join(allowed)})")
        for name in ("batch_size", "epochs", "eval_batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.clip_grad_norm is not None and not float(self.clip_grad_norm) > 0:
            raise ValueError(f"--clip-grad-norm must be a positive max norm, got {self.clip_grad_norm}")
        from .data import normalization

        normalization(self.normalize)   # refuses a std <= 0
        if self.nesterov and (self.optimizer != "sgd" or not self.momentum):
            raise ValueError("--nesterov needs --optimizer sgd with --momentum > 0")
        return self

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        for k in ("betas", "synthetic_size", "normalize"):
            if k in d and d[k] is not None and not isinstance(d[k], bool):   # JSON lists -> tuples
                d[k] = tuple(d[k])
        return cls(**d)


def make_optimizer(cfg, params):
    """The fastnn.optim optimizer the config asks for (torch's constructor arguments)."""
    from .. import optim

    lr, wd, o = cfg.resolved_lr(), cfg.resolved_weight_decay(), cfg.optimizer
    kw = {} if cfg.eps is None else {"eps": cfg.eps}
    if o == "sgd":
        return optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=wd, nesterov=cfg.nesterov)
    if o == "adam":
        return optim.Adam(params, lr=lr, betas=tuple(cfg.betas), weight_decay=wd, **kw)
    if o == "adamw":
        return optim.AdamW(params, lr=lr, betas=tuple(cfg.betas), weight_decay=wd, **kw)
    if o == "rmsprop":
        return optim.RMSprop(params, lr=lr, alpha=cfg.alpha, momentum=cfg.momentum, weight_decay=wd, **kw)
    if o == "adadelta":
        return optim.Adadelta(params, lr=lr, weight_decay=wd, **kw)
    return optim.Adagrad(params, lr=lr, weight_decay=wd, **kw)


def make_scheduler(cfg, optimizer, steps_per_epoch):
    """(scheduler or None, 'epoch' | 'step'): StepLR and CosineAnnealingLR step per epoch, OneCycleLR per step."""
    if cfg.schedule == "none":
        return None, None
    from ..optim import lr_scheduler as S

    if cfg.schedule == "step":
        return S.StepLR(optimizer, step_size=cfg.step_size or max(1, cfg.epochs // 3), gamma=cfg.gamma), "epoch"
    if cfg.schedule == "cosine":
        return S.CosineAnnealingLR(optimizer, T_max=cfg.epochs), "epoch"
    max_lr = cfg.max_lr if cfg.max_lr is not None else 10 * cfg.resolved_lr()
    cycle = cfg.optimizer in ("adam", "adamw") or (cfg.optimizer in ("sgd", "rmsprop") and cfg.momentum > 0)
    return S.OneCycleLR(optimizer, max_lr=max_lr, total_steps=cfg.epochs * steps_per_epoch,
                        cycle_momentum=cycle), "step"
