"""DistributedSampler: each rank's share of a dataset's indices, with torch's padding and drop_last."""
import math

import numpy as np


class DistributedSampler:
    """Rank `rank` of `num_replicas` takes indices[rank::num_replicas] of the (seed + epoch)-shuffled
    index list, padded by wrapping around to a multiple of num_replicas (or cut, with drop_last).
    The shuffle uses NumPy's PCG64 seeded with seed + epoch, not torch's generator: same partitioning
    and padding rule as torch, a different permutation."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        from ... import distributed as dist

        if num_replicas is None:
            num_replicas = dist.get_world_size()
        if rank is None:
            rank = dist.get_rank()
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.epoch, self.drop_last, self.shuffle, self.seed = 0, drop_last, shuffle, seed
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def _indices(self):
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            pad = self.total_size - len(indices)
            if pad <= len(indices):
                indices += indices[:pad]
            else:
                indices += (indices * math.ceil(pad / len(indices)))[:pad]
        else:
            indices = indices[:self.total_size]
        assert len(indices) == self.total_size
        return indices[self.rank:self.total_size:self.num_replicas]

    def __iter__(self):
        return iter(self._indices())

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Reshuffle differently each epoch: call before creating the DataLoader's iterator."""
        self.epoch = epoch
