"""fastnn.utils.data: torch.utils.data names, re-exported from the one implementation in fastnn.data."""
from ...data.dataloader import DataLoader, default_collate
from ...data.dataset import Dataset, Subset, TensorDataset, random_split

__all__ = ["DataLoader", "Dataset", "Subset", "TensorDataset", "random_split", "default_collate"]
