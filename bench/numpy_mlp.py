"""A hand-written NumPy MLP (ReLU hidden layers, softmax cross-entropy, Adam) for bench/compare.py.

Plain NumPy + BLAS: one flat float32 parameter buffer (W (out,in) then b per layer, torch's layout) so
Adam is a handful of vectorized ops; forward/backward write into buffers allocated once per batch size.
"""
import numpy as np


class NumpyMLP:
    def __init__(self, dims, seed=0, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        rng = np.random.default_rng(seed)
        self.dims = tuple(dims)
        sizes = [(o * i, o) for i, o in zip(dims[:-1], dims[1:])]
        self.flat = np.empty(sum(a + b for a, b in sizes), np.float32)
        self.grad = np.zeros_like(self.flat)
        self.W, self.b, self.dW, self.db = [], [], [], []
        off = 0
        for (i, o), (nw, nb) in zip(zip(dims[:-1], dims[1:]), sizes):
            bound = 1.0 / np.sqrt(i)     # torch.nn.Linear's default init bound for W and b
            for store, gstore, n, shape in ((self.W, self.dW, nw, (o, i)), (self.b, self.db, nb, (o,))):
                view = self.flat[off:off + n].reshape(shape)
                view[...] = rng.uniform(-bound, bound, size=shape)
                store.append(view)
                gstore.append(self.grad[off:off + n].reshape(shape))
                off += n
        self.m, self.v = np.zeros_like(self.flat), np.zeros_like(self.flat)
        self.lr, self.b1, self.b2, self.eps, self.t = lr, betas[0], betas[1], eps, 0
        self._tmp = np.empty_like(self.flat)

    def forward(self, x):
        """Activations [x, h1, ..., logits]; hidden layers ReLU."""
        acts = [x]
        for k, (W, b) in enumerate(zip(self.W, self.b)):
            z = acts[-1] @ W.T
            z += b
            if k < len(self.W) - 1:
                np.maximum(z, 0, out=z)
            acts.append(z)
        return acts

    def train_step(self, x, y):
        """One Adam step on the batch (x float32 (B,784), y int64 (B,)); returns the mean loss."""
        acts = self.forward(x)
        logits = acts[-1]
        B = x.shape[0]
        z = logits - logits.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)                       # probs
        rows = np.arange(B)
        loss = -float(np.log(np.maximum(z[rows, y], 1e-30)).mean())
        z[rows, y] -= 1.0
        dz = z * np.float32(1.0 / B)                            # dlogits
        for k in range(len(self.W) - 1, -1, -1):
            np.matmul(dz.T, acts[k], out=self.dW[k])            # dW (out,in) = dz.T @ h_in
            dz.sum(axis=0, out=self.db[k])
            if k:
                dh = dz @ self.W[k]                             # dh_in (B,in)
                dh *= acts[k] > 0                               # ReLU backward (saved = out)
                dz = dh
        self.adam()
        return loss

    def adam(self):
        self.t += 1
        g, m, v, tmp = self.grad, self.m, self.v, self._tmp
        m *= self.b1
        m += (1 - self.b1) * g
        v *= self.b2
        np.multiply(g, g, out=tmp)
        tmp *= (1 - self.b2)
        v += tmp
        bc1, bc2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        np.sqrt(v, out=tmp)
        tmp *= np.float32(1 / np.sqrt(bc2))
        tmp += self.eps
        np.divide(m, tmp, out=tmp)
        tmp *= np.float32(self.lr / bc1)
        self.flat -= tmp

    def predict(self, x, batch=2000):
        return np.concatenate([self.forward(x[i:i + batch])[-1] for i in range(0, len(x), batch)])
