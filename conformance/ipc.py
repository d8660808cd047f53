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
import os
import re
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
_INT = {int}
_NUMBER = {int, float}


class ProtocolError(ValueError):
    """What a worker sent is not a valid frame or message (the adapter's fault, never the gate's)."""


# ---- encoding (used in the worker) -----------------------------------------------------------------

def encode(message: dict[str, Any]) -> bytes:
    """One frame for ``message``, as bytes (``encode_parts``, joined)."""
    return b"".join(encode_parts(message))


def encode_parts(message: dict[str, Any]) -> list[bytes | memoryview]:
    """One frame for ``message`` as the buffers to write in order; arrays go to the blob as float64 bytes.

    A float64 array already contiguous is not copied: its buffer is one of the parts, so the worker
    writes a large outcome straight from the adapter's memory, and the gate refuses one past its limit
    on the frame's first bytes (before the worker has built anything the size of the outcome).

    A worker's answer (``"type": "result"``, built by ``worker.outcome_to_wire``: every key a str) is
    mostly arrays in small dicts: the C JSON encoder walks it and hands each array (and NumPy scalar) to
    a hook. Whenever that could differ from the walk below -- a non-finite float, a key or string
    starting with "$" (the wire's tags), anything the hook cannot take -- the walk encodes the message
    instead, so the bytes are always the walk's (tests/test_ipc.py holds both to that)."""
    if type(message) is not dict or message.get("type") != "result":
        return _walk_encode_parts(message)
    blob = _Blob()

    def hook(x: Any) -> Any:
        if isinstance(x, np.ndarray):
            return blob.ref(x)
        if isinstance(x, (np.floating, np.integer, np.bool_)):
            return x.item()
        raise TypeError(type(x).__name__)

    try:
        text = json.dumps(message, default=hook, allow_nan=False, separators=(",", ":"))
        if text.count('"$') == len(blob.chunks):  # no "$" but the array tags the hook wrote
            return blob.frame(text)
    except (TypeError, ValueError, RecursionError):
        pass
    return _walk_encode_parts(message)


class _Blob:
    """A frame's array bytes as they are collected, and the reference each array leaves in the JSON."""

    def __init__(self) -> None:
        self.chunks: list[memoryview] = []
        self.size = 0

    def ref(self, x: np.ndarray) -> dict[str, Any]:
        data = memoryview(np.ascontiguousarray(x, dtype="<f8").reshape(-1).view(np.uint8))  # a view, no copy
        self.chunks.append(data)
        ref = {"$array": ["float64", list(x.shape), self.size]}
        self.size += data.nbytes
        return ref

    def frame(self, text: str) -> list[bytes | memoryview]:
        header = text.encode()
        return [_HEAD.pack(MAGIC, len(header), self.size), header, *self.chunks]


def _walk_encode(message: dict[str, Any]) -> bytes:
    """``encode``, by the walk alone (tests hold the fast path to it)."""
    return b"".join(_walk_encode_parts(message))


def _walk_encode_parts(message: dict[str, Any]) -> list[bytes | memoryview]:
    """``encode_parts``, by a walk over every value.

    The gate encodes every case it sends, and a case is mostly small dicts and lists of numbers: the
    plain types are looked at first, by exact type, and a list of plain ints and finite floats goes to
    the JSON encoder as it is (its sum is finite only when every float in it is), without a look at
    each number."""
    blob = _Blob()

    def walk(x: Any) -> Any:
        kind = type(x)
        if kind is str or kind is int or kind is bool or x is None:
            return x
        if kind is float:
            return x if math.isfinite(x) else {"$float": repr(x)}
        if kind is dict:  # as below, a str key that does not start with "$" as it is
            return {k if type(k) is str and k[:1] != "$" else _escape(str(k)): walk(v) for k, v in x.items()}
        if kind is list:
            kinds = set(map(type, x))
            if kinds <= _INT:
                return x
            if kinds <= _NUMBER:
                try:
                    total = sum(x)
                except OverflowError:  # an int too large for a float: look at each number
                    total = math.inf
                if math.isfinite(total):
                    return x
        if isinstance(x, np.ndarray):
            return blob.ref(x)
        if isinstance(x, dict):  # a key of the payload that starts with "$" is escaped as "$$...": the wire's
            return {_escape(str(k)): walk(v) for k, v in x.items()}  # own tags can never be confused with data
        if isinstance(x, (list, tuple)):
            return [walk(v) for v in x]
        if isinstance(x, float) and not math.isfinite(x):  # np.float64 too (a float subclass: repr "np.float64(nan)")
            return {"$float": repr(float(x))}
        if isinstance(x, (np.floating, np.integer, np.bool_)):
            return walk(x.item())
        return x

    return blob.frame(json.dumps(walk(message), allow_nan=False, separators=(",", ":")))


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
            blob = self._buf[_HEAD.size + hlen:end]  # a fresh bytearray: decode views it, no second copy
            del self._buf[:end]
            out.append(decode(header, blob))


def _escape(key: str) -> str:
    return "$" + key if key.startswith("$") else key


def _refuse_constant(name: str) -> Any:
    raise ProtocolError(f"the message holds the non-JSON literal {name}")


def decode(header: bytes, blob: bytes | bytearray) -> dict[str, Any]:
    """One message from a frame's two parts; raises ProtocolError on anything a worker got wrong.

    The wire's tags are resolved while the C parser builds the objects (``object_hook``: each JSON
    object is handed over once, its values already final), so no pass over the decoded tree is
    needed. ``blob`` may be a ``bytearray`` the caller owns: its arrays are then views of it, with no
    copy (``FrameReader`` passes a fresh one); ``bytes`` are copied once, so arrays are writable
    either way. Nesting is checked on the text first (``_nesting``, in C), and value by value only
    for a text that nests deeper than the limit."""
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("a message that is not UTF-8 JSON (UnicodeDecodeError)") from None
    # The data as native float64, writable: every array of the message is a slice of it.
    flat = np.frombuffer(blob, dtype="<f8", count=len(blob) // 8)
    if not flat.flags.writeable or flat.dtype != np.float64:  # read-only bytes, or a big-endian machine
        flat = flat.astype(np.float64)
    # A key that starts with "$$" is written ``"$$`` in the text, or with ``\u0024`` for a "$": with
    # neither anywhere (the common case) no key needs unescaping, and the hook looks at one-key objects only.
    escaped = '"$$' in text or "\\u0024" in text

    def hook(d: dict[str, Any]) -> Any:
        if len(d) == 1:
            if "$array" in d:
                return _array(d["$array"], flat)
            if "$float" in d:
                v = d["$float"]
                if type(v) is not str or v not in ("inf", "-inf", "nan"):
                    raise ProtocolError("a malformed float")
                return float(v)
        if escaped:
            return {k[1:] if k.startswith("$$") else k: v for k, v in d.items()}
        return d

    try:
        obj = json.loads(text, parse_constant=_refuse_constant, object_hook=hook)
    except ProtocolError:
        raise
    except (json.JSONDecodeError, RecursionError) as e:
        raise ProtocolError(f"a message that is not UTF-8 JSON ({type(e).__name__})") from None
    except ValueError as e:  # e.g. an integer literal of thousands of digits (int's digit limit)
        raise ProtocolError(f"a message that is not UTF-8 JSON ({str(e).splitlines()[0][:80]})") from None
    if not isinstance(obj, dict):  # a list, a scalar, or a whole message that is one tag
        raise ProtocolError("a message that is not a JSON object")
    if header.count(b"[") + header.count(b"{") > _MAX_DEPTH and _nesting(header) > _MAX_DEPTH \
            and _deeper(obj, 0):
        raise ProtocolError(f"a message nested deeper than {_MAX_DEPTH}")
    return obj


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_OTHERS = bytes(c for c in range(256) if c not in b'[]{}"')  # what the bracket count deletes
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # an opening bracket +1, a closing one -1 (int8)


def _nesting(header: bytes) -> int:
    """How deep the containers of a valid JSON text nest: a bound on the depth of every value in it
    (a value inside n containers is at depth n, the root at 0).

    In C and NumPy, no loop per character: keep only brackets and quotes; an adjacent pair of quotes
    encloses no bracket, so deleting every such pair keeps the brackets inside strings inside quotes
    (without a backslash, quotes alternate open and close). Usually no quote is left, and the nesting
    is the highest running sum of +1 per opening and -1 per closing bracket. Otherwise (brackets in
    strings, or escapes) strings are cut out by a regular expression first."""
    kept = header.translate(None, _OTHERS)
    brackets = kept.replace(b'""', b"")
    if b'"' in brackets or b"\\" in header:
        brackets = _STRING.sub(b"", header).translate(None, _OTHERS)
    if not brackets:
        return 0
    return int(np.cumsum(np.frombuffer(brackets.translate(_STEPS), dtype=np.int8), dtype=np.int64).max())


def _deeper(x: Any, depth: int) -> bool:
    """Whether a decoded value, at ``depth``, holds anything deeper than ``_MAX_DEPTH`` (a resolved
    array or non-finite float is one value, as its tag was). Only for texts that nest that deep, and
    it stops at the first value too deep, so it recurses at most ``_MAX_DEPTH + 1`` levels."""
    if depth > _MAX_DEPTH:
        return True
    if isinstance(x, dict):
        return any(_deeper(v, depth + 1) for v in x.values())
    if isinstance(x, list):
        return any(_deeper(v, depth + 1) for v in x)
    return False


def _array(spec: Any, flat: np.ndarray) -> np.ndarray:
    """The array a ``["float64", shape, offset]`` reference names: a view of ``flat``, checked first.

    Called once per array of every answer, so the common one-dimensional shape takes a short path."""
    if not (type(spec) is list and len(spec) == 3 and type(spec[0]) is str and spec[0] in WIRE_DTYPES):
        raise ProtocolError("a malformed array reference")
    shape, offset = spec[1], spec[2]
    if type(shape) is not list or type(offset) is not int or offset < 0 or offset % 8:
        raise ProtocolError("a malformed array reference")
    if len(shape) == 1:
        count = shape[0]
        if type(count) is not int or count < 0:  # bool is not an int here
            raise ProtocolError("a malformed array reference")
    elif len(shape) <= 32 and set(map(type, shape)) <= _INT and min(shape, default=0) >= 0:
        count = math.prod(shape)
    else:
        raise ProtocolError("a malformed array reference")
    start = offset // 8
    if start + count > len(flat):
        raise ProtocolError("an array reference past the end of the data sent")
    view = flat[start:start + count]
    return view if len(shape) == 1 else view.reshape(shape)


def read_ready(fd: int) -> bytes | None:
    """What a non-blocking pipe holds now: its bytes, ``b""`` at the end of the stream (or on an error:
    the other side is gone either way), None when nothing is there yet."""
    try:
        return os.read(fd, 1 << 20)
    except BlockingIOError:
        return None
    except OSError:
        return b""


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
