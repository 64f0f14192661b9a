"""gift_torch: GIFT (Generative Parameter-Efficient Fine-Tuning) for PyTorch models, reading and
writing giftjs's adapter folders, so an adapter moves between giftjs and PyTorch unchanged."""
from .gift import apply_gift, load_adapter, merge, parse_config, save_adapter, unmerge

__all__ = ["apply_gift", "load_adapter", "save_adapter", "merge", "unmerge", "parse_config"]
__version__ = "0.1.0"
