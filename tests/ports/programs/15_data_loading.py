# The "Datasets & DataLoaders" tutorial (pytorch.org/tutorials/beginner/basics/data_tutorial) with a
# custom Dataset over in-memory NumPy "images", transforms and the one-hot target_transform of the
# "Transforms" tutorial, plus TensorDataset, Subset, drop_last and a padding collate_fn.
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset


class CustomImageDataset(Dataset):
    def __init__(self, n, transform=None, target_transform=None):
        self.images = (np.arange(n * 2 * 3) % 251).astype(np.uint8).reshape(n, 2, 3)
        self.labels = np.arange(n) % 10
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        image = torch.from_numpy(self.images[idx])
        label = int(self.labels[idx])
        if self.transform:
            image = self.transform(image)
        if self.target_transform:
            label = self.target_transform(label)
        return image, label


def to_float(image):
    return image.float().div(255).unsqueeze(0)


def one_hot(y):
    return torch.zeros(10, dtype=torch.float).scatter_(0, torch.tensor(y), value=1)


training_data = CustomImageDataset(10, transform=to_float, target_transform=one_hot)
print(len(training_data))
img, label = training_data[3]
print(img.shape, img.dtype, label)

train_dataloader = DataLoader(training_data, batch_size=4, shuffle=False)
for train_features, train_labels in train_dataloader:
    print(f"Feature batch shape: {train_features.size()}")
    print(f"Labels batch shape: {train_labels.size()}")
print(len(train_dataloader))
print(train_features[0])
print(train_labels)

loader = DataLoader(CustomImageDataset(10), batch_size=4, drop_last=True)
print(len(loader), [(x.dtype, y.tolist()) for x, y in loader])

x = torch.arange(12, dtype=torch.float32).reshape(6, 2)
y = torch.tensor([0, 1, 0, 1, 1, 0])
ds = TensorDataset(x, y)
print(ds[2])
sub = Subset(ds, [5, 0, 3])
print(len(sub), sub[0])
for xb, yb in DataLoader(sub, batch_size=2):
    print(xb, yb)


# a collate_fn that pads variable-length sequences
seqs = [torch.arange(n) + 1 for n in (3, 1, 4, 2)]


def pad_collate(batch):
    longest = max(len(s) for s in batch)
    out = torch.zeros(len(batch), longest, dtype=torch.long)
    for i, s in enumerate(batch):
        out[i, :len(s)] = s
    return out, torch.tensor([len(s) for s in batch])


for padded, lengths in DataLoader(seqs, batch_size=2, collate_fn=pad_collate):
    print(padded, lengths)

# default collation of dicts and tuples
batch = next(iter(DataLoader([{"x": torch.ones(2), "y": i} for i in range(3)], batch_size=3)))
print(sorted(batch), batch["x"].shape, batch["y"])
