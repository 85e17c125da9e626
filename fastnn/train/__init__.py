"""fastnn.train: the training behind `fastnn train` (config, model zoo, loop, fused glue, checkpoints, runs)."""
from .checkpoint import check_compatible, load_checkpoint, save_checkpoint
from .config import TrainConfig, make_optimizer, make_scheduler
from .loop import evaluate, run
from .models import ZOO, build_model, expected_shapes

__all__ = ["TrainConfig", "run", "evaluate", "build_model", "expected_shapes", "ZOO", "save_checkpoint",
           "load_checkpoint", "check_compatible", "make_optimizer", "make_scheduler"]
