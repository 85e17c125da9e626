# Loss functions as modules (torch.nn's loss table): regression, classification with class weights,
# ignore_index, label smoothing and probability targets, BCE with pos_weight, KL divergence, ranking
# and embedding losses, every reduction, and the gradients they produce.
import torch
import torch.nn as nn

pred = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]], requires_grad=True)
target = torch.tensor([[1.0, -1.0, 0.0], [0.0, 0.5, -0.5]])
for loss_fn in [nn.MSELoss(), nn.L1Loss(reduction="sum"), nn.SmoothL1Loss(beta=0.5),
                nn.HuberLoss(delta=0.8), nn.MSELoss(reduction="none")]:
    print(loss_fn, loss_fn(pred, target))

logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0], [0.0, 0.0, 0.0]],
                      requires_grad=True)
labels = torch.tensor([0, 2, 1, 1])
print(nn.CrossEntropyLoss()(logits, labels))
print(nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5]))(logits, labels))
print(nn.CrossEntropyLoss(ignore_index=1)(logits, labels))
print(nn.CrossEntropyLoss(label_smoothing=0.2, reduction="sum")(logits, labels))
probs = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5], [0.1, 0.8, 0.1], [1 / 3, 1 / 3, 1 / 3]])
print(nn.CrossEntropyLoss()(logits, probs))
print(nn.NLLLoss(weight=torch.tensor([0.2, 1.0, 1.0]))(torch.log_softmax(logits, dim=1), labels))

loss = nn.CrossEntropyLoss()(logits, labels)
loss.backward()
print(logits.grad)

p = torch.tensor([0.9, 0.2, 0.6])
t = torch.tensor([1.0, 0.0, 1.0])
print(nn.BCELoss()(p, t), nn.BCELoss(weight=torch.tensor([1.0, 2.0, 3.0]))(p, t))
z = torch.tensor([[1.5, -0.5], [-2.0, 0.3]])
tz = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
print(nn.BCEWithLogitsLoss(pos_weight=torch.tensor([3.0, 0.5]))(z, tz))

log_q = torch.log_softmax(torch.tensor([[0.2, 0.3, 0.5], [1.0, 1.0, 2.0]]), dim=1)
p_target = torch.tensor([[0.1, 0.6, 0.3], [0.25, 0.25, 0.5]])
print(nn.KLDivLoss(reduction="batchmean")(log_q, p_target))
print(nn.KLDivLoss(reduction="sum", log_target=True)(log_q, p_target.log()))

a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
b = torch.tensor([[1.0, 0.0], [1.0, 0.0], [-1.0, -1.0]])
print(nn.CosineEmbeddingLoss(margin=0.1)(a, b, torch.tensor([1, -1, -1])))
print(nn.MarginRankingLoss(margin=0.5)(torch.tensor([1.0, 2.0, 0.0]), torch.tensor([0.5, 2.5, 1.0]),
                                       torch.tensor([1.0, 1.0, -1.0])))
