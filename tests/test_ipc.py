"""The gate's wire (conformance/ipc.py): what a worker sends comes back as plain data, and everything
malformed -- at any depth, in any tag -- is a ProtocolError, never another exception (which would
escape the gate's protocol handling) and never a wrong value. docs/isolation.md point 2."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance import ipc


def roundtrip(message: dict[str, Any]) -> dict[str, Any]:
    frame = ipc.encode(message)
    got = ipc.FrameReader().feed(frame)
    assert len(got) == 1
    _, hlen, _ = ipc._HEAD.unpack_from(frame)
    body = frame[ipc._HEAD.size:]
    same(ipc.decode(body[:hlen], body[hlen:]), got[0])  # bytes (read_frame) and bytearray (FrameReader)
    return got[0]


def same(a: Any, b: Any) -> None:
    """Equal as data: the same types all the way down, arrays equal bit for bit."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            same(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def decode_text(header: str, blob: bytes = b"") -> dict[str, Any]:
    return ipc.decode(header.encode(), blob)


# ---- what goes through comes back ------------------------------------------------------------------------

def test_a_message_comes_back_as_it_was_sent() -> None:
    inf = float("inf")
    w = np.arange(6.0).reshape(2, 3)
    message = {"type": "result", "key": 7, "outcome": {
        "kind": "ran", "steps": [{"w0": {"w": w, "m": np.zeros(0), "v": np.full((), 2.5)}}],
        "list": [1.0, -0.0, 5e-324, 1e308, 3, True, None, "s", [inf, -inf], (1.0, 2.0)],
        "scalars": [np.float32(1.5), np.int64(4), np.bool_(True)],
        "$array": ["float64", [1], 0], "$float": "nan", "$$x": 1, "x$": {"$array": 2},
    }}
    got = roundtrip(message)["outcome"]
    same(got["steps"][0]["w0"]["w"], w)
    same(got["steps"][0]["w0"]["m"], np.zeros(0))
    same(got["steps"][0]["w0"]["v"], np.full((), 2.5))
    same(got["list"], [1.0, -0.0, 5e-324, 1e308, 3, True, None, "s", [inf, -inf], [1.0, 2.0]])
    same(got["scalars"], [1.5, 4, True])
    # payload keys that look like the wire's tags are data, escaped and unescaped
    same(got["$array"], ["float64", [1], 0])
    same(got["$float"], "nan")
    same(got["$$x"], 1)
    same(got["x$"], {"$array": 2})


@pytest.mark.parametrize("values", [[1.0, float("nan")], [float("inf"), 2], [1e308, 1e308], [10**400, 1.0],
                                    [10**400], [1, True], [1.0, None], [-float("inf")]])
def test_lists_of_numbers_keep_every_value(values: list[Any]) -> None:
    """A list of numbers goes to the encoder whole only when every float in it is finite."""
    got = roundtrip({"v": values})["v"]
    same(got, [float(x) if isinstance(x, float) else x for x in values])


def test_arrays_are_writable_native_float64_views() -> None:
    got = roundtrip({"a": np.arange(4.0), "b": np.ones((2, 2))})
    for a in (got["a"], got["b"]):
        assert a.dtype == np.float64 and a.dtype.isnative and a.flags.writeable
    got["a"][0] = 9.0  # the gate may work in place on what it received


def test_keys_written_with_unicode_escapes_are_unescaped_too() -> None:
    """``"\\u0024\\u0024x"`` is the key "$$x" (a payload key "$x"), however the JSON spells it."""
    same(decode_text('{"\\u0024\\u0024x": 1, "$\\u0024y": 2, "\\u0024z": 3}'), {"$x": 1, "$y": 2, "$z": 3})
    same(decode_text('{"a": {"\\u0024array": ["float64", [1], 0]}}', np.ones(1).tobytes()), {"a": np.ones(1)})


# ---- nesting: at most 64 -------------------------------------------------------------------------------

def nested(depth: int, leaf: str = "1") -> str:
    """A message whose deepest value is at ``depth`` (the message itself is at 0)."""
    return '{"a":' + "[" * (depth - 1) + leaf + "]" * (depth - 1) + "}"


def test_nesting_64_is_accepted_and_65_refused() -> None:
    assert decode_text(nested(64))
    with pytest.raises(ipc.ProtocolError, match="nested deeper than 64"):
        decode_text(nested(65))


def test_what_counts_is_the_depth_of_values() -> None:
    """An empty container or a tag is one value: at depth 64 it is accepted, as before the hook."""
    assert decode_text(nested(64, "[]"))
    assert decode_text(nested(64, "{}"))
    assert decode_text(nested(64, '{"$array":["float64",[1],0]}'), np.ones(1).tobytes())
    assert decode_text(nested(64, '{"$float":"nan"}'))
    with pytest.raises(ipc.ProtocolError, match="nested deeper than 64"):
        decode_text(nested(65, "[]"))


@pytest.mark.parametrize("text", ['"' + "[" * 200 + '"', '"' + "]" * 200 + "[" * 100 + '"', '"\\"' + "[" * 100 + '"',
                                  '"\\\\"' + ',"b":"' + "{" * 80 + '"'])
def test_brackets_in_strings_do_not_nest(text: str) -> None:
    assert decode_text('{"a":' + text + "}")


def test_brackets_in_strings_do_not_hide_nesting() -> None:
    closes = '"' + "]" * 100 + '"'
    with pytest.raises(ipc.ProtocolError, match="nested deeper than 64"):
        decode_text(nested(65, closes))
    with pytest.raises(ipc.ProtocolError, match="nested deeper than 64"):
        decode_text(nested(65, '"\\"' + "]" * 100 + '"'))


@pytest.mark.parametrize("depth", [100, 5000, 200_000])
def test_runaway_nesting_is_a_protocol_error(depth: int) -> None:
    with pytest.raises(ipc.ProtocolError):
        decode_text(nested(depth))


# ---- malformed messages --------------------------------------------------------------------------------

BLOB = np.arange(4.0).tobytes()  # four float64


@pytest.mark.parametrize("spec", [
    "1", '"float64"', "[]", '["float64",[2]]', '["float64",[2],0,0]', '["float32",[2],0]', '[1,[2],0]',
    '["float64",2,0]', '["float64",[-1],0]', '["float64",[true],0]', '["float64",[2.0],0]', '["float64",[2],4]',
    '["float64",[2],-8]', '["float64",[2],8.0]', '["float64",[2],true]', '["float64",[2],"0"]',
    '["float64",' + str([1] * 33) + ",0]", '["float64",[[2]],0]', '["float64",[2,null],0]',
    '[{"$float":"nan"},[2],0]', '[{"$array":["float64",[1],0]},[2],0]', '["float64",[{"$array":["float64",[1],0]}],0]',
    '["float64",[2],{"$array":["float64",[],0]}]', '["float64",{"$float":"inf"},0]',
])
def test_a_malformed_array_reference_is_refused(spec: str) -> None:
    with pytest.raises(ipc.ProtocolError, match="malformed"):
        decode_text('{"a":{"$array":' + spec + "}}", BLOB)


@pytest.mark.parametrize("spec", ['["float64",[5],0]', '["float64",[2],24]', '["float64",[2,3],0]',
                                  '["float64",[1],32]', '["float64",[' + str(2**62) + "],0]"])
def test_an_array_reference_past_the_data_is_refused(spec: str) -> None:
    with pytest.raises(ipc.ProtocolError, match="past the end"):
        decode_text('{"a":{"$array":' + spec + "}}", BLOB)


def test_references_inside_the_data_are_views_of_it() -> None:
    got = decode_text('{"a":{"$array":["float64",[2],16]},"b":{"$array":["float64",[0],32]},'
                      '"c":{"$array":["float64",[2,2],0]},"d":{"$array":["float64",[],24]}}', BLOB)
    same(got, {"a": np.array([2.0, 3.0]), "b": np.zeros(0), "c": np.arange(4.0).reshape(2, 2), "d": np.full((), 3.0)})


@pytest.mark.parametrize("body", ['"foo"', "1", "null", '["nan"]', '{"$float":"nan"}', '{"$array":["float64",[1],0]}',
                                  '"NaN"', '"Infinity"'])
def test_a_malformed_float_is_refused(body: str) -> None:
    with pytest.raises(ipc.ProtocolError, match="malformed float"):
        decode_text('{"a":{"$float":' + body + "}}", BLOB)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_json_literals_are_refused(literal: str) -> None:
    with pytest.raises(ipc.ProtocolError, match=f"non-JSON literal {literal}"):
        decode_text('{"a":[1,' + literal + "]}")


@pytest.mark.parametrize(("header", "match"), [
    (b"\xff\xfe{}", "not UTF-8 JSON"), (b'{"a":', "not UTF-8 JSON"), (b"{} {}", "not UTF-8 JSON"),
    (b'{"a":' + b"1" * 5000 + b"}", "not UTF-8 JSON"),  # past int's digit limit: a ValueError, not a JSON one
    (b"[1]", "not a JSON object"), (b'"x"', "not a JSON object"), (b"3", "not a JSON object"),
    (b'{"$array":["float64",[1],0]}', "not a JSON object"), (b'{"$float":"nan"}', "not a JSON object"),
])
def test_a_message_that_is_not_a_json_object_is_refused(header: bytes, match: str) -> None:
    with pytest.raises(ipc.ProtocolError, match=match):
        ipc.decode(header, BLOB)


def test_an_error_after_good_frames_waits_for_the_next_read() -> None:
    reader = ipc.FrameReader()
    bad = b'{"a":{"$float":"x"}}'
    frame = ipc.encode({"type": "begin", "key": 1}) + ipc._HEAD.pack(ipc.MAGIC, len(bad), 0) + bad
    assert reader.feed(frame) == [{"type": "begin", "key": 1}]
    assert isinstance(reader.error, ipc.ProtocolError)
    with pytest.raises(ipc.ProtocolError, match="malformed float"):
        reader.feed(b"")


def test_frames_split_anywhere_decode_the_same() -> None:
    frames = [ipc.encode({"type": "result", "key": k, "x": np.arange(float(k)), "y": [1.0, float("inf")]})
              for k in range(4)]
    whole = b"".join(frames)
    reader = ipc.FrameReader()
    got = [m for i in range(0, len(whole), 7) for m in reader.feed(whole[i:i + 7])]
    assert [m["key"] for m in got] == [0, 1, 2, 3]
    for k, m in enumerate(got):
        same(m["x"], np.arange(float(k)))
        same(m["y"], [1.0, float("inf")])


# ---- the nesting bound, against a direct count ----------------------------------------------------------

texts = st.text(alphabet=st.sampled_from('ab[]{}"\\$:,\u00e9\U0001f600\n'), max_size=6)
values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts),
                      lambda inner: st.one_of(st.lists(inner, max_size=3),
                                              st.dictionaries(texts, inner, max_size=3)), max_leaves=30)


def containers(x: Any) -> int:
    if isinstance(x, dict):
        return 1 + max(map(containers, x.values()), default=0)
    if isinstance(x, list):
        return 1 + max(map(containers, x), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(values, st.booleans(), st.booleans())
def test_the_text_nesting_is_the_container_nesting(x: Any, ascii_only: bool, spaced: bool) -> None:
    """Brackets, quotes and backslashes inside strings never change the count (escaped or not)."""
    text = json.dumps(x, ensure_ascii=ascii_only, separators=(", ", ": ") if spaced else (",", ":"))
    assert ipc._nesting(text.encode()) == containers(x)


@pytest.mark.parametrize("value", [np.float64("nan"), np.float64("inf"), np.float64("-inf"), np.float32("nan")])
def test_non_finite_numpy_scalars_round_trip(value: object) -> None:
    """A non-finite NumPy scalar in an answer (np.float64 is a float subclass; its repr under NumPy 2 is
    ``np.float64(nan)``) must arrive as the float it is, not as a malformed-float protocol error."""
    (got,) = ipc.FrameReader().feed(ipc.encode({"x": value, "xs": [value]}))
    want = float(value)  # type: ignore[arg-type]
    for x in (got["x"], got["xs"][0]):
        assert type(x) is float and (x == want or (np.isnan(x) and np.isnan(want)))


@pytest.mark.parametrize("said, want", [(1.5, 1.5), (0, 0.0), (-1.0, 0.0), (float("nan"), 0.0), (float("inf"), 0.0),
                                        (True, 0.0), ("2", 0.0), (None, 0.0)])
def test_durations_a_worker_reports_are_real_non_negative_numbers_or_zero(said: object, want: float) -> None:
    from conformance.workers import _seconds

    assert _seconds(said) == want


_names = st.text(alphabet="ab$_1", min_size=1, max_size=4)
_leaf = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10), st.booleans(), st.none(),
    st.text(alphabet=["x", "$", "\\", '"', "u", "0", "2", "4"], max_size=6),
    st.builds(lambda v: np.asarray(v, dtype=np.float64), st.lists(st.floats(width=32), max_size=3)),
    st.builds(np.float32, st.floats(width=32)), st.builds(np.int64, st.integers(-5, 5)))
_answer = st.fixed_dictionaries({
    "type": st.just("result"), "key": st.integers(0, 9),
    "outcome": st.fixed_dictionaries({"kind": st.just("ran"), "steps": st.lists(
        st.dictionaries(_names, st.dictionaries(st.sampled_from(["w", "m", "v", "$bad"]), _leaf, max_size=3),
                        max_size=3), max_size=3)}),
    "seconds": st.floats(allow_nan=True, allow_infinity=True)})


@settings(max_examples=300, deadline=None)
@given(_answer)
def test_an_answer_encodes_to_the_walks_bytes(message: dict[str, Any]) -> None:
    """The C-encoder path for answers gives byte for byte what the walk gives: with non-finite floats,
    "$" keys and strings, NumPy scalars and arrays anywhere."""
    assert ipc.encode(message) == ipc._walk_encode(message)
