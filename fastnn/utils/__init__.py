"""fastnn.utils: torch.utils-shaped helpers."""
