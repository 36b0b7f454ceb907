"""The versioned binary format of drift-monitor checkpoints.

``b"TCDR"`` magic, one format-version byte, a 4-byte big-endian header length, a JSON
header (parameters, keys, counters) and an ``.npz`` archive of the state arrays (loaded
with ``allow_pickle=False``: a checkpoint read back from a state topic cannot run code).

Example
-------
>>> import numpy as np
>>> blob = encode({"a": 1}, {"x": np.arange(3)})
>>> blob[:4], decode(blob)[0], decode(blob)[1]["x"].tolist()
(b'TCDR', {'a': 1}, [0, 1, 2])
"""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import numpy as np

MAGIC = b"TCDR"
FORMAT_VERSION = 1


def encode(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """Header + arrays -> bytes."""
    head = json.dumps(header, separators=(",", ":")).encode()
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    return MAGIC + bytes([FORMAT_VERSION]) + struct.pack(">I", len(head)) + head + buf.getvalue()


def decode(blob: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Bytes -> header + arrays; clear errors for foreign or newer data."""
    if blob[:4] != MAGIC:
        raise ValueError("not a tocsin drift checkpoint (bad magic): was it written by tocsin?")
    version = blob[4]
    if version != FORMAT_VERSION:
        raise ValueError(
            f"drift checkpoint format v{version} is not supported by this version "
            f"(reads v{FORMAT_VERSION}): upgrade tocsin or discard the checkpoint"
        )
    (n,) = struct.unpack(">I", blob[5:9])
    header = json.loads(blob[9 : 9 + n])
    with np.load(io.BytesIO(blob[9 + n :]), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return header, arrays
