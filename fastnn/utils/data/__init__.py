"""fastnn.utils.data: torch.utils.data's names, re-exported from the one implementation in fastnn.data
(distributed: DistributedSampler)."""
from ...data.dataloader import DataLoader, default_collate, default_convert, get_worker_info
from ...data.dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset,
                             random_split)
from ...data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler
from . import distributed
from .distributed import DistributedSampler

__all__ = ["DataLoader", "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "ChainDataset",
           "random_split", "default_collate", "default_convert", "Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "BatchSampler", "DistributedSampler", "distributed", "get_worker_info"]
