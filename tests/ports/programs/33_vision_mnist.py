# torchvision's MNIST with transforms, read from the standard root layout (data/MNIST/raw/...), as
# the tutorials load it: ToTensor + Normalize, a DataLoader, the first images' labels and statistics.
import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
train_set = datasets.MNIST("data", train=True, download=False, transform=transform)
test_set = datasets.MNIST(root="data", train=False, transform=transforms.ToTensor())
print(len(train_set), len(test_set))
img, label = train_set[0]
print(img.shape, img.dtype, label, type(label))
print(f"{img.mean().item():.4f} {img.min().item():.4f} {img.max().item():.4f}")
img, label = test_set[0]
print(img.shape, label, f"{img.sum().item():.4f}")
print(train_set.data.shape, train_set.data.dtype, train_set.targets[:10])
print(train_set.classes[:3])

loader = DataLoader(test_set, batch_size=32, shuffle=False)
images, labels = next(iter(loader))
print(images.shape, labels.shape, labels[:8])
print(f"{images.mean().item():.4f}")
