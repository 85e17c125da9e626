# Everyday tensor operations from the tutorials and the docs' examples: reductions, indexing with
# gather / index_select / masked_fill / where, sort and topk, cumulative ops, chunk / split, einsum,
# norms, comparisons, dtype conversions and in-place variants, on fixed values.
import torch

t = torch.tensor([[3.0, 1.0, 2.0], [0.5, 4.0, -1.0]])
print(t.sum(), t.sum(dim=0), t.mean(dim=1, keepdim=True))
print(t.max(), t.max(dim=1), t.argmax(dim=0))
print(t.std(), t.var(dim=1), t.prod(dim=1))
print(t.norm(), torch.norm(t, p=1), t.abs().min())
print(torch.logsumexp(t, dim=1))

print(torch.gather(t, 1, torch.tensor([[2, 0], [1, 1]])))
print(t.index_select(1, torch.tensor([2, 0])))
print(t.masked_fill(t < 1, 0.0))
print(torch.where(t > 1.5, t, torch.zeros_like(t)))
print(t[t > 1])
print(torch.zeros(3, 5).scatter_(1, torch.tensor([[0], [4], [2]]), 1.0))
print(torch.zeros(5).scatter_add_(0, torch.tensor([0, 1, 0, 4]), torch.tensor([1.0, 2.0, 3.0, 4.0])))

values, indices = torch.sort(torch.tensor([3, 1, 4, 1, 5, 9, 2, 6]), descending=True)
print(values, indices)
print(torch.topk(torch.tensor([1.0, 7.0, 3.0, 5.0]), 2))
print(torch.argsort(torch.tensor([0.3, -1.0, 2.0])))
print(torch.cumsum(torch.arange(1, 6), dim=0), torch.cumprod(torch.tensor([1.0, 2.0, 3.0]), dim=0))

x = torch.arange(10)
print(x.chunk(3), x.split([2, 3, 5]), x.split(4))
print(x.view(2, 5).t(), x.reshape(5, 2).flatten())
print(x.flip(0), torch.roll(x, 2), x.narrow(0, 2, 3))
print(x.unsqueeze(0).expand(2, 10).shape, x.repeat(2).shape, x.view(2, 5).repeat(2, 1).shape)
print(torch.tril(torch.ones(3, 3)), torch.triu(torch.ones(3, 3), diagonal=1))

a = torch.arange(6.0).reshape(2, 3)
b = torch.arange(12.0).reshape(3, 4)
print(torch.einsum("ij,jk->ik", a, b))
print(torch.einsum("ii->i", torch.arange(9.0).reshape(3, 3)), torch.einsum("i,j->ij", a[0], a[1]))
print(torch.outer(a[0], a[1]), torch.diag(torch.tensor([1, 2, 3])))

print(torch.allclose(a, a + 1e-9), torch.equal(a, a.clone()), (a == 2).any(), (a >= 0).all())
print(torch.isnan(torch.tensor([1.0, float("nan")])), torch.clamp(a, 1, 4))
print(a.long(), a.int().dtype, a.double().dtype, a.bool(), a.to(torch.int64).dtype)
print(a.type(torch.LongTensor), a.new_zeros(2), a.new_ones((1, 2)), a.new_full((2,), 7.0))
print(torch.linspace(0, 1, 5), torch.arange(0, 1, 0.25), torch.full((2, 2), 3))
print(torch.eye(3), torch.zeros(2, dtype=torch.long), torch.ones(2, 1).dtype)

c = torch.ones(3)
c.mul_(2).add_(1).sub_(0.5).div_(2)
print(c, c.exp_(), c.sqrt_().shape)
print(torch.round(torch.tensor([0.5, 1.5, -0.5, 2.4])), torch.floor(torch.tensor([-1.5, 1.5])))
print(torch.div(torch.tensor([7, -7]), 2, rounding_mode="floor"), torch.tensor([7, -7]) // 2)
print(torch.tensor([1, 2, 3]) / 2, torch.tensor([1, 2, 3]) * 1.5, torch.tensor([True, False]).sum())
