# torch.nn.functional as the tutorials use it: activations, softmax family, one_hot, pad, normalize,
# linear, conv2d and pooling, dropout in eval mode, embedding and the loss functions, on fixed inputs.
import torch
import torch.nn.functional as F

x = torch.linspace(-3, 3, 7)
print(F.relu(x))
print(F.leaky_relu(x, negative_slope=0.1))
print(F.gelu(x))
print(F.gelu(x, approximate="tanh"))
print(F.silu(x))
print(F.elu(x))
print(F.softplus(x))
print(F.hardtanh(x))
print(torch.sigmoid(x), torch.tanh(x))

logits = torch.tensor([[1.0, 2.0, 0.5], [-1.0, 0.0, 3.0]])
print(F.softmax(logits, dim=1))
print(F.log_softmax(logits, dim=1))
print(F.softmax(logits, dim=0).sum(dim=0))

print(F.one_hot(torch.tensor([0, 2, 1]), num_classes=4))
print(F.one_hot(torch.arange(0, 5) % 3))
print(F.pad(torch.ones(2, 2), (1, 1, 0, 1)))
print(F.pad(torch.arange(6.0).reshape(1, 2, 3), (2, 1), mode="reflect"))
print(F.normalize(torch.tensor([[3.0, 4.0], [0.0, 0.0]]), dim=1))

w = torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
b = torch.tensor([0.1, -0.1])
print(F.linear(logits, w, b))

img = torch.arange(32.0).reshape(1, 2, 4, 4)
kernel = torch.tensor([[[[1.0, 0.0], [0.0, -1.0]], [[0.0, 1.0], [1.0, 0.0]]]])
print(F.conv2d(img, kernel, bias=torch.tensor([0.5]), stride=1, padding=1).shape)
print(F.conv2d(img, kernel, stride=2))
print(F.max_pool2d(img, 2))
print(F.avg_pool2d(img, 2, stride=1).shape, F.adaptive_avg_pool2d(img, 1).flatten())
print(F.dropout(x, p=0.5, training=False))

emb = torch.arange(12.0).reshape(4, 3)
print(F.embedding(torch.tensor([[0, 2], [3, 0]]), emb))

target = torch.tensor([2, 2])
print(F.cross_entropy(logits, target))
print(F.cross_entropy(logits, target, label_smoothing=0.1))
print(F.nll_loss(F.log_softmax(logits, dim=1), target, reduction="sum"))
print(F.mse_loss(x, torch.zeros(7)), F.l1_loss(x, torch.ones(7)))
print(F.binary_cross_entropy(torch.tensor([0.2, 0.9]), torch.tensor([0.0, 1.0])))
print(F.binary_cross_entropy_with_logits(torch.tensor([0.5, -1.0]), torch.tensor([1.0, 0.0])))
print(F.smooth_l1_loss(x, torch.zeros(7), beta=0.5), F.huber_loss(x, torch.zeros(7), delta=2.0))
print(F.kl_div(F.log_softmax(logits, dim=1), F.softmax(logits.flip(1), dim=1), reduction="batchmean"))
