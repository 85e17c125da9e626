"""fastnn.utils: torch.utils-shaped namespace (data)."""
from . import data

__all__ = ["data"]
