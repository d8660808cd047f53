"""The wire between the gate and an adapter's worker: length-prefixed frames of data, never pickle.

The worker runs the code under test, so everything it sends is hostile until checked. A frame is
``MAGIC | header length (u32) | blob length (u64) | header JSON | blob``. The header is UTF-8 JSON
(no NaN/Infinity literals); arrays travel as ``{"$array": [dtype, shape, offset]}`` pointing into the
blob, raw little-endian bytes of a declared real dtype. The reader checks both lengths against its
limits *before* reading the body, and an array's byte count against its shape before it is viewed,
so a worker can neither run code in the gate nor make it allocate without bound.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

MAGIC = b"ACW1"
_HEAD = struct.Struct("<4sIQ")
MAX_HEADER = 8 << 20  # JSON part of one frame
DEFAULT_MAX_BLOB = 256 << 20  # array bytes of one outcome (docs/gate.md: outcome size limit)
WIRE_DTYPES = ("float64",)  # what arrays are sent as; the worker converts real arrays to float64
_MAX_DEPTH = 64


class ProtocolError(ValueError):
    """What a worker sent is not a valid frame or message (the adapter's fault, never the gate's)."""


# ---- encoding (used in the worker) -----------------------------------------------------------------

def encode(message: dict[str, Any]) -> bytes:
    """One frame for ``message``; numpy arrays anywhere inside go to the blob as float64 bytes."""
    chunks: list[bytes] = []
    size = 0

    def walk(x: Any) -> Any:
        nonlocal size
        if isinstance(x, np.ndarray):
            data = np.ascontiguousarray(x, dtype="<f8").tobytes()
            chunks.append(data)
            ref = {"$array": ["float64", list(x.shape), size]}
            size += len(data)
            return ref
        if isinstance(x, dict):  # a key of the payload that starts with "$" is escaped as "$$...": the wire's
            return {_escape(str(k)): walk(v) for k, v in x.items()}  # own tags can never be confused with data
        if isinstance(x, (list, tuple)):
            return [walk(v) for v in x]
        if isinstance(x, float) and not math.isfinite(x):
            return {"$float": repr(x)}
        if isinstance(x, (np.floating, np.integer, np.bool_)):
            return walk(x.item())
        return x

    header = json.dumps(walk(message), allow_nan=False, separators=(",", ":")).encode()
    blob = b"".join(chunks)
    return _HEAD.pack(MAGIC, len(header), len(blob)) + header + blob


# ---- decoding (used in the gate) -------------------------------------------------------------------

class FrameReader:
    """Incremental decoder over bytes read from a worker's pipe; limits are checked before buffering."""

    def __init__(self, max_blob: int = DEFAULT_MAX_BLOB) -> None:
        self.max_blob = max_blob
        self._buf = bytearray()
        self.error: ProtocolError | None = None  # what follows the messages last returned (raised next time)

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Messages completed by ``data``; raises ProtocolError on anything malformed or too large.

        Valid messages before the bad bytes are returned first (a "begin" must not be lost to the junk
        after it, or the fault is charged to the wrong case); the error is then in ``error``, and raised
        by the next call."""
        if self.error is not None:
            raise self.error
        self._buf += data
        out: list[dict[str, Any]] = []
        try:
            self._parse(out)
        except ProtocolError as e:
            if not out:
                raise
            self.error = e
        return out

    def _parse(self, out: list[dict[str, Any]]) -> None:
        while len(self._buf) >= _HEAD.size:
            magic, hlen, blen = _HEAD.unpack_from(self._buf)
            if magic != MAGIC:
                raise ProtocolError("the worker wrote something that is not a frame on the result channel")
            if hlen > MAX_HEADER:
                raise ProtocolError(f"a message header of {hlen} bytes (limit {MAX_HEADER})")
            if blen > self.max_blob:
                raise ProtocolError(f"an outcome of {blen / 2**20:.0f} MiB of arrays (limit "
                                    f"{self.max_blob / 2**20:.0f} MiB per outcome)")
            end = _HEAD.size + hlen + blen
            if len(self._buf) < end:
                break
            header = bytes(self._buf[_HEAD.size:_HEAD.size + hlen])
            blob = bytes(self._buf[_HEAD.size + hlen:end])
            del self._buf[:end]
            out.append(decode(header, blob))


def _escape(key: str) -> str:
    return "$" + key if key.startswith("$") else key


def _unescape(key: str) -> str:
    return key[1:] if key.startswith("$$") else key


def _refuse_constant(name: str) -> Any:
    raise ProtocolError(f"the message holds the non-JSON literal {name}")


def decode(header: bytes, blob: bytes) -> dict[str, Any]:
    try:
        text = header.decode("utf-8")
        obj = json.loads(text, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ProtocolError(f"a message that is not UTF-8 JSON ({type(e).__name__})") from None
    if not isinstance(obj, dict):
        raise ProtocolError("a message that is not a JSON object")
    # The data once, as native float64 (one copy): every array of the message is a slice of it.
    flat = np.frombuffer(blob, dtype="<f8", count=len(blob) // 8).astype(np.float64)
    return _resolve(obj, flat, 0)


def _array(spec: Any, flat: np.ndarray) -> np.ndarray:
    if not (isinstance(spec, list) and len(spec) == 3 and spec[0] in WIRE_DTYPES and isinstance(spec[1], list)
            and all(type(n) is int and n >= 0 for n in spec[1]) and type(spec[2]) is int and spec[2] >= 0
            and spec[2] % 8 == 0 and len(spec[1]) <= 32):
        raise ProtocolError("a malformed array reference")
    count = math.prod(spec[1])
    start = spec[2] // 8
    if start + count > len(flat):
        raise ProtocolError("an array reference past the end of the data sent")
    return flat[start:start + count].reshape(spec[1])


def _resolve(x: Any, blob: np.ndarray, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise ProtocolError(f"a message nested deeper than {_MAX_DEPTH}")
    if isinstance(x, dict):
        if len(x) == 1 and "$array" in x:
            return _array(x["$array"], blob)
        if len(x) == 1 and "$float" in x:
            if x["$float"] not in ("inf", "-inf", "nan"):
                raise ProtocolError("a malformed float")
            return float(x["$float"])
        return {_unescape(k): _resolve(v, blob, depth + 1) for k, v in x.items()}
    if isinstance(x, list):
        return [_resolve(v, blob, depth + 1) for v in x]
    return x


def read_exact(read: Callable[[int], bytes], n: int) -> bytes | None:
    """``n`` bytes from a blocking reader, or None at end of stream."""
    parts = bytearray()
    while len(parts) < n:
        chunk = read(n - len(parts))
        if not chunk:
            return None
        parts += chunk
    return bytes(parts)


def read_frame(read: Callable[[int], bytes]) -> dict[str, Any] | None:
    """One message from a blocking stream (the worker reads the gate's requests this way)."""
    head = read_exact(read, _HEAD.size)
    if head is None:
        return None
    magic, hlen, blen = _HEAD.unpack(head)
    if magic != MAGIC:
        raise ProtocolError("not a frame")
    body = read_exact(read, hlen + blen)
    if body is None:
        return None
    return decode(body[:hlen], body[hlen:])
