"""fastnn.utils.data: torch.utils.data-shaped data helpers (distributed: DistributedSampler)."""
