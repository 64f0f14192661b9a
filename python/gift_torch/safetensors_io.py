"""safetensors files for gift_torch: the `safetensors` package when it is installed, else a small
reader and writer of the format (F32, F16, BF16 and the integer types giftjs writes)."""
import json
import os
import struct

import torch
from .errors import GiftTorchError

try:  # pragma: no cover - depends on the environment
    from safetensors.torch import load_file as _load_file, save_file as _save_file
except ImportError:  # Debian's python3-torch has no safetensors package
    _load_file = _save_file = None

_DTYPES = {
    "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}


def load_file(path):
    """Every tensor of a .safetensors file, by name."""
    if _load_file is not None:
        return _load_file(path)
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise GiftTorchError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise GiftTorchError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise GiftTorchError(f"{path}: tensor {name!r} has dtype {info['dtype']}, which gift_torch does not read")
        begin, end = info["data_offsets"]
        if not 0 <= begin <= end <= len(data):
            raise GiftTorchError(f"{path}: tensor {name!r} lies outside the file")
        buf = bytearray(data[begin:end])
        t = torch.frombuffer(buf, dtype=dtype) if end > begin else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"]).clone()
    return out


def save_file(tensors, path, metadata=None):
    """Writes tensors (contiguous copies) to path, atomically (a temporary file, then a rename)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    if _save_file is not None:
        _save_file({k: v.detach().contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
    else:
        header, chunks, offset = {}, [], 0
        if metadata:
            header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
        for name in sorted(tensors):
            t = tensors[name].detach().contiguous().cpu()
            if t.dtype not in _NAMES:
                raise GiftTorchError(f"tensor {name!r} has dtype {t.dtype}, which gift_torch does not write")
            data = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
            header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
            chunks.append(data)
            offset += len(data)
        h = json.dumps(header).encode()
        h += b" " * ((8 - len(h) % 8) % 8)
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(h)))
            f.write(h)
            for c in chunks:
                f.write(c)
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
