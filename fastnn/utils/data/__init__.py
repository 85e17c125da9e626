"""fastnn.utils.data: torch.utils.data names, re-exported from the one implementation in fastnn.data
(distributed: DistributedSampler)."""
from ...data.dataloader import DataLoader, default_collate
from ...data.dataset import Dataset, Subset, TensorDataset, random_split
from . import distributed

__all__ = ["DataLoader", "Dataset", "Subset", "TensorDataset", "random_split", "default_collate", "distributed"]
