"""Fused CNN training (CPU): a layer program of conv / activation / max-pool / dropout ops per image, then the fused MLP head, one compiled call per epoch."""
