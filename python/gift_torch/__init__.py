"""gift_torch: GIFT (Generative Parameter-Efficient Fine-Tuning) for PyTorch models, reading and
writing giftjs's adapter folders, so an adapter moves between giftjs and PyTorch unchanged."""
import os

from . import gift as _gift
from .errors import GiftTorchError
from .gift import apply_gift, merge, parse_config, remove_adapter, save_adapter, unmerge
from .lora import load_lora_adapter, read_config


def load_adapter(model, path):
    """Attaches an adapter folder: GIFT (giftjs's layout) or LoRA (PEFT's layout, from PEFT or giftjs)."""
    if not os.path.isfile(os.path.join(path, "adapter_config.json")):
        raise GiftTorchError(f"{path}: no adapter_config.json")
    try:
        peft_type = read_config(path).get("peft_type")
    except (OSError, ValueError) as err:
        raise GiftTorchError(f"{path}: cannot read adapter_config.json ({err})") from None
    if peft_type == "LORA":
        return load_lora_adapter(model, path)
    return _gift.load_adapter(model, path)


__all__ = ["apply_gift", "load_adapter", "load_lora_adapter", "remove_adapter", "save_adapter", "merge", "unmerge", "parse_config", "GiftTorchError"]
__version__ = "0.1.0"
