"""Embedding lookup out = weight[indices] with its backward (an index-add into the weight's shape, the
padding_idx row left zero, optional scaling by inverse index frequency) and torch's max_norm renorm."""
from ..autograd import Function


def check_indices(indices, num_embeddings):
    """torch's errors for non-integer or out-of-range embedding indices."""
    kind = indices.dtype.kind
    if kind not in "iu" or indices.dtype.itemsize < 4:
        from .activation_extra import torch_type_name

        name = {"f": {2: "Half", 4: "Float", 8: "Double"}.get(indices.dtype.itemsize, "Float")}.get(
            kind, torch_type_name(indices.dtype))
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got torch.{name}Tensor instead (while checking arguments for embedding)")
    if indices.size and (bool((indices < 0).any()) or bool((indices >= num_embeddings).any())):
        raise IndexError("index out of range in self")


class Embedding(Function):
    """out = weight[idx]; dweight = index_add(zeros, idx, dout), row padding_idx zeroed; with
    scale_grad_by_freq each row's gradient is divided by how often its index occurs in idx."""

    def forward(self, weight, indices, padding_idx=None, scale_grad_by_freq=False):
        check_indices(indices, weight.shape[0])
        self.save(indices, weight.shape, padding_idx, scale_grad_by_freq)
        return weight[indices]

    def backward(self, dout, indices, w_shape, padding_idx, scale_grad_by_freq):
        xp = self.xp
        flat = indices.reshape(-1).astype("int64", copy=False)
        rows = dout.reshape(flat.size, w_shape[1])
        if scale_grad_by_freq and flat.size:
            counts = xp.bincount(flat, minlength=w_shape[0])
            rows = rows / counts[flat].astype(rows.dtype)[:, None]
        dw = xp.zeros(w_shape, dtype=dout.dtype)
        self.backend.index_add(dw, flat, rows)
        if padding_idx is not None:
            dw[padding_idx] = 0
        return dw


def renorm_rows_(xp, weight, indices, max_norm, norm_type):
    """In place, like torch.embedding_renorm_: rows referenced by indices whose norm exceeds max_norm are
    scaled by max_norm / (norm + 1e-7)."""
    rows = xp.unique(indices.reshape(-1))
    if rows.size == 0:
        return
    sel = weight[rows]
    norms = (xp.abs(sel) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    big = norms > max_norm
    scale = xp.where(big, max_norm / (norms + 1e-7), 1.0).astype(weight.dtype)
    weight[rows] = sel * scale[:, None]
