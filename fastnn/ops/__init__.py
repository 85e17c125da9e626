"""Differentiable ops: each a `Function` with a forward and a hand-derived backward, written once."""
