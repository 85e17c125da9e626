# torch.utils.data beyond the basics: samplers, batch samplers, IterableDataset, ConcatDataset and
# random_split with a seeded generator. Orders that depend on torch's random generator are printed
# sorted (which elements, not which order).
import math

import torch
from torch.utils.data import (BatchSampler, ConcatDataset, DataLoader, IterableDataset, RandomSampler,
                              SequentialSampler, TensorDataset, random_split)

ds = TensorDataset(torch.arange(10).float(), torch.arange(10) % 3)
print(list(SequentialSampler(ds)))
print(sorted(RandomSampler(ds)))
print(list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=False)))
print(list(BatchSampler(SequentialSampler(range(10)), batch_size=3, drop_last=True)))

loader = DataLoader(ds, batch_sampler=BatchSampler(SequentialSampler(ds), batch_size=4, drop_last=False))
print([yb.tolist() for _, yb in loader])
loader = DataLoader(ds, sampler=SequentialSampler(ds), batch_size=5)
print([xb.tolist() for xb, _ in loader])

g = torch.Generator().manual_seed(42)
train_set, val_set = random_split(ds, [8, 2], generator=g)
print(len(train_set), len(val_set), sorted(train_set.indices + val_set.indices))
parts = random_split(range(10), [0.5, 0.3, 0.2], generator=torch.Generator().manual_seed(0))
print([len(p) for p in parts])

both = ConcatDataset([ds, TensorDataset(torch.tensor([-1.0, -2.0]), torch.tensor([7, 8]))])
print(len(both), both[9], both[10], both[11])


class MyIterableDataset(IterableDataset):
    def __init__(self, start, end):
        super().__init__()
        self.start, self.end = start, end

    def __iter__(self):
        worker_info = torch.utils.data.get_worker_info()
        if worker_info is None:
            iter_start, iter_end = self.start, self.end
        else:
            per_worker = int(math.ceil((self.end - self.start) / float(worker_info.num_workers)))
            iter_start = self.start + worker_info.id * per_worker
            iter_end = min(iter_start + per_worker, self.end)
        return iter(range(iter_start, iter_end))


print(list(DataLoader(MyIterableDataset(3, 7), num_workers=0)))
print([b.tolist() for b in DataLoader(MyIterableDataset(0, 7), batch_size=3)])
