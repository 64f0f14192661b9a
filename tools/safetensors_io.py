"""The fixture scripts' safetensors writer: gift_torch's (the safetensors package is not in Debian)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from gift_torch.safetensors_io import save_file  # noqa: E402


def save_safetensors(path, tensors):
    save_file(tensors, path)
