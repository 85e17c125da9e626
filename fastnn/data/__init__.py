"""fastnn.data: IDX files, MNIST/FashionMNIST (verified fetch + cache), transforms, DataLoader."""
from . import transforms
from .dataloader import DataLoader, default_collate, default_convert
from .dataset import ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler
from .fetch import ChecksumError, DatasetFetchError, Resource, cache_dir
from .idx import read_idx, write_idx
from .mnist import FashionMNIST, MNIST

__all__ = ["DataLoader", "Dataset", "TensorDataset", "Subset", "random_split", "MNIST",
           "FashionMNIST", "transforms", "read_idx", "write_idx", "default_collate",
           "ChecksumError", "DatasetFetchError", "Resource", "cache_dir", "default_convert",
           "IterableDataset", "ConcatDataset", "ChainDataset", "Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "BatchSampler"]
