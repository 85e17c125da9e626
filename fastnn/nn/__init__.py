"""fastnn.nn: PyTorch-shaped modules, losses, functional API (fastnn.nn.functional) and initialisers."""
from . import functional, init, utils
from .activation import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .batchnorm import BatchNorm1d, BatchNorm2d
from .container import ModuleList, Sequential
from .conv import Conv2d
from .dropout import Dropout, Dropout2d
from .flatten import Flatten
from .linear import Identity, Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module
from .parameter import Parameter
from .pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d

from .activation import (CELU, ELU, GELU, Hardtanh, LeakyReLU, Mish, PReLU, ReLU6, SELU, SiLU, Softmin,  # issue 13
                         Softplus)
from .container import ModuleDict, ParameterDict, ParameterList
from .flatten import Unflatten
from .loss import CosineEmbeddingLoss, HuberLoss, KLDivLoss, MarginRankingLoss, SmoothL1Loss
from .normalization import GroupNorm, LayerNorm
from .sparse import Embedding

__all__ = ["AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "AvgPool2d", "MaxPool2d", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d", "Conv2d", "Dropout2d", "CrossEntropyLoss", "Dropout", "Flatten", "Identity",
           "L1Loss", "Linear", "LogSoftmax", "MSELoss", "Module", "ModuleList", "NLLLoss", "Parameter", "ReLU",
           "Sequential", "Sigmoid", "Softmax", "Tanh", "functional", "init", "utils"]
__all__ += ["CELU", "ELU", "GELU", "Hardtanh", "LeakyReLU", "Mish", "PReLU", "ReLU6", "SELU", "SiLU", "Softmin",
            "Softplus", "ModuleDict", "ParameterDict", "ParameterList", "Unflatten", "CosineEmbeddingLoss",
            "HuberLoss", "KLDivLoss", "MarginRankingLoss", "SmoothL1Loss", "GroupNorm", "LayerNorm", "Embedding"]
