"""Avro readers and writers generated for a schema (and the optional C writer), checked
byte for byte against fastavro in the tests."""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Mapping
from typing import Any

# --------------------------------------------------------------------------- compiled codecs
#
# fastavro interprets the schema for every record (~0.7 µs per field here). For the flat record
# shapes tocsin writes (primitives, enums, [null, X] unions, maps and arrays of those) we
# generate a Python writer and reader specialised to the schema once: on ~1.2 KB events the
# writer took ~8 µs vs ~18 µs and the reader ~12 µs vs ~17 µs of CPU on the dev machine.
# Anything else (nested records, other unions) returns None and fastavro is used.
# The tests check byte-for-byte equality with fastavro on generated, edge-case and fuzzed data.


class _AvroDataError(ValueError):
    """Bytes that cannot be Avro data of the schema (bad union/enum index, negative length)."""


class _Unsupported(Exception):
    """The schema shape is outside what the compiler handles: use fastavro."""


_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "string", "bytes"})
_SMALL_LONGS = 16384


def _zigzag_varint(n: int) -> bytes:
    if not -(1 << 63) <= n < (1 << 63):
        raise OverflowError(f"{n} does not fit a 64-bit long")
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


_SMALL = tuple(_zigzag_varint(i) for i in range(_SMALL_LONGS))


def _long_bytes(n: int) -> bytes:
    if 0 <= n < _SMALL_LONGS:
        return _SMALL[n]
    return _zigzag_varint(n)


def _read_long(b: bytes, pos: int) -> tuple[int, int]:
    shift = 0
    z = 0
    while True:
        c = b[pos]
        pos += 1
        z |= (c & 0x7F) << shift
        if c < 0x80:
            return (z >> 1) ^ -(z & 1), pos
        shift += 7
        if shift == 63 and b[pos] & 0x7E:
            raise _AvroDataError("varint overflows 64 bits")
        if shift > 63:
            raise _AvroDataError("varint longer than 10 bytes")


def _normalize_type(t: Any) -> Any:
    if isinstance(t, dict) and t.get("type") in _PRIMITIVES and len(t) == 1:
        return t["type"]
    return t


class _CodeGen:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}

    def const(self, value: Any) -> str:
        name = f"K{len(self.consts)}"
        self.consts[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)


def _is_simple(t: Any) -> bool:
    t = _normalize_type(t)
    return (isinstance(t, str) and t in _PRIMITIVES) or (
        isinstance(t, dict) and t.get("type") == "enum"
    )


def _nullable_union(t: list[Any]) -> tuple[int, Any]:
    """(index of the null branch, the other branch) of a ``["null", T]`` union.

    >>> _nullable_union(["null", "string"])
    (0, 'string')
    """
    branches = [_normalize_type(b) for b in t]
    if len(branches) != 2 or "null" not in branches:
        raise _Unsupported("union")
    ni = branches.index("null")
    other = branches[1 - ni]
    if isinstance(other, list):
        raise _Unsupported("nested union")
    return ni, other


def _gen_write(g: _CodeGen, t: Any, var: str, ind: int, depth: int = 0) -> None:
    t = _normalize_type(t)
    if isinstance(t, str):
        if t == "null":
            g.emit(ind, f"if {var} is not None: raise TypeError('null')")
        elif t == "boolean":
            g.emit(ind, f"if {var} is True: o += b'\\x01'")
            g.emit(ind, f"elif {var} is False: o += b'\\x00'")
            g.emit(ind, "else: raise TypeError('boolean')")
        elif t == "int":
            g.emit(ind, f"if not -2147483648 <= {var} <= 2147483647: raise OverflowError('int')")
            g.emit(ind, f"o += LB({var})")
        elif t == "long":
            g.emit(ind, f"o += LB({var})")
        elif t == "float":
            g.emit(ind, f"o += PF({var})")
        elif t == "double":
            g.emit(ind, f"o += PD({var})")
        elif t == "string":
            g.emit(ind, f"s = {var}.encode(); n = len(s)")
            g.emit(ind, "o += SM[n] if n < 16384 else LB(n); o += s")
        elif t == "bytes":
            g.emit(ind, f"o += LB(len({var})); o += {var}")
        else:
            raise _Unsupported(t)
        return
    if isinstance(t, list):
        ni, other = _nullable_union(t)
        g.emit(ind, f"if {var} is None: o += {g.const(_long_bytes(ni))}")
        g.emit(ind, "else:")
        g.emit(ind + 1, f"o += {g.const(_long_bytes(1 - ni))}")
        _gen_write(g, other, var, ind + 1, depth)
        return
    if isinstance(t, dict):
        kind = t.get("type")
        if kind == "enum":
            table = {sym: _long_bytes(i) for i, sym in enumerate(t["symbols"])}
            g.emit(ind, f"o += {g.const(table)}[{var}]")
            return
        if kind in ("map", "array") and depth == 0:
            inner = t["values"] if kind == "map" else t["items"]
            if not _is_simple(inner):
                raise _Unsupported("nested container")
            g.emit(ind, f"if {var}:")
            g.emit(ind + 1, f"o += LB(len({var}))")
            if kind == "map":
                g.emit(ind + 1, f"for mk, mv in {var}.items():")
                g.emit(ind + 2, "s = mk.encode(); n = len(s)")
                g.emit(ind + 2, "o += SM[n] if n < 16384 else LB(n); o += s")
            else:
                g.emit(ind + 1, f"for mv in {var}:")
            _gen_write(g, inner, "mv", ind + 2, depth + 1)
            g.emit(ind, "o += b'\\x00'")
            return
    raise _Unsupported(repr(t)[:40])


def _gen_read_long(g: _CodeGen, target: str, ind: int) -> None:
    # one- and two-byte varints inline (lengths up to 8191), longer ones in _read_long
    g.emit(ind, "c = b[pos]")
    g.emit(ind, "if c < 128:")
    g.emit(ind + 1, f"pos += 1; {target} = (c >> 1) ^ -(c & 1)")
    g.emit(ind, "else:")
    g.emit(ind + 1, "d = b[pos + 1]")
    g.emit(ind + 1, "if d < 128:")
    g.emit(ind + 2, f"z = (c & 127) | (d << 7); pos += 2; {target} = (z >> 1) ^ -(z & 1)")
    g.emit(ind + 1, "else:")
    g.emit(ind + 2, f"{target}, pos = RL(b, pos)")


def _gen_read(g: _CodeGen, t: Any, target: str, ind: int, depth: int = 0) -> None:
    t = _normalize_type(t)
    if isinstance(t, str):
        if t == "null":
            g.emit(ind, f"{target} = None")
        elif t == "boolean":
            g.emit(ind, "c = b[pos]; pos += 1")
            g.emit(ind, "if c > 1: raise AE('boolean byte')")
            g.emit(ind, f"{target} = c == 1")
        elif t == "long":
            _gen_read_long(g, target, ind)
        elif t == "int":  # 32 bits: a larger value would fail the insert into an Int32 column
            _gen_read_long(g, target, ind)
            g.emit(
                ind, f"if not -2147483648 <= {target} <= 2147483647: raise AE('int out of range')"
            )
        elif t in ("float", "double"):
            size, unpack = (4, "UF") if t == "float" else (8, "UD")
            g.emit(ind, f"if pos + {size} > end: raise EOFError")
            g.emit(ind, f"{target} = {unpack}(b, pos)[0]; pos += {size}")
        elif t in ("string", "bytes"):
            _gen_read_long(g, "n", ind)
            g.emit(ind, "if n < 0: raise AE('negative length')")
            g.emit(ind, "e = pos + n")
            g.emit(ind, "if e > end: raise EOFError")
            decode = ".decode()" if t == "string" else ""
            g.emit(ind, f"{target} = b[pos:e]{decode}; pos = e")
        else:
            raise _Unsupported(t)
        return
    if isinstance(t, list):
        ni, other = _nullable_union(t)
        _gen_read_long(g, "u", ind)
        g.emit(ind, f"if u == {ni}: {target} = None")
        g.emit(ind, f"elif u == {1 - ni}:")
        _gen_read(g, other, target, ind + 1, depth)
        g.emit(ind, "else: raise AE('union index')")
        return
    if isinstance(t, dict):
        kind = t.get("type")
        if kind == "enum":
            symbols = g.const(tuple(t["symbols"]))
            _gen_read_long(g, "u", ind)
            g.emit(ind, f"if not 0 <= u < {len(t['symbols'])}: raise AE('enum index')")
            g.emit(ind, f"{target} = {symbols}[u]")
            return
        if kind in ("map", "array") and depth == 0:
            inner = t["values"] if kind == "map" else t["items"]
            if not _is_simple(inner):
                raise _Unsupported("nested container")
            g.emit(ind, "acc = {}" if kind == "map" else "acc = []")
            _gen_read_long(g, "cnt", ind)
            g.emit(ind, "while cnt:")
            g.emit(ind + 1, "if cnt < 0:")
            g.emit(ind + 2, "cnt = -cnt")
            _gen_read_long(g, "n", ind + 2)
            g.emit(ind + 1, "for _ in range(cnt):")
            if kind == "map":
                _gen_read(g, "string", "mk", ind + 2, depth + 1)
                _gen_read(g, inner, "acc[mk]", ind + 2, depth + 1)
            else:
                _gen_read(g, inner, "mv", ind + 2, depth + 1)
                g.emit(ind + 2, "acc.append(mv)")
            _gen_read_long(g, "cnt", ind + 1)
            g.emit(ind, f"{target} = acc")
            return
    raise _Unsupported(repr(t)[:40])


_RUNTIME = {
    "LB": _long_bytes,
    "SM": _SMALL,
    "RL": _read_long,
    "AE": _AvroDataError,
    "PF": struct.Struct("<f").pack,
    "PD": struct.Struct("<d").pack,
    "UF": struct.Struct("<f").unpack_from,
    "UD": struct.Struct("<d").unpack_from,
}


def _compile(g: _CodeGen, name: str) -> Callable[..., Any]:
    namespace: dict[str, Any] = {**_RUNTIME, **g.consts}
    # Safe: names enter the source only through repr(), symbols and constants as objects.
    exec(compile("\n".join(g.lines), f"<tocsin-avro-{name}>", "exec"), namespace)
    fn: Callable[..., Any] = namespace[name]
    return fn


def compile_writer(
    schema: Mapping[str, Any],
) -> Callable[[bytearray, Mapping[str, Any]], None] | None:
    """A specialised Avro writer for a flat record schema, or None (use fastavro).

    The writer appends the body of ``record`` to a bytearray. Logical types are ignored
    (values are written as their underlying type).

    >>> w = compile_writer({"type": "record", "name": "R", "fields": [
    ...     {"name": "a", "type": "long"}, {"name": "b", "type": ["null", "string"]}]})
    >>> out = bytearray(); w(out, {"a": -1, "b": "hé"}); bytes(out)
    b'\\x01\\x02\\x06h\\xc3\\xa9'
    """
    if schema.get("type") != "record":
        return None
    g = _CodeGen()
    g.emit(0, "def write(o, r):")
    try:
        for i, f in enumerate(schema["fields"]):
            g.emit(1, f"v{i} = r[{f['name']!r}]")
            _gen_write(g, f["type"], f"v{i}", 1)
    except _Unsupported:
        return None
    return _compile(g, "write")


_KINDS = {
    "null": 0,
    "boolean": 1,
    "int": 2,
    "long": 3,
    "float": 4,
    "double": 5,
    "string": 6,
    "bytes": 7,
}
_K_ENUM, _K_MAP, _K_ARRAY = 8, 9, 10


def _plan_type(t: Any, depth: int) -> tuple[int, Any]:
    t = _normalize_type(t)
    if isinstance(t, str) and t in _KINDS:
        return _KINDS[t], None
    if isinstance(t, dict):
        kind = t.get("type")
        if kind == "enum":
            return _K_ENUM, {sym: i for i, sym in enumerate(t["symbols"])}
        if kind in ("map", "array") and depth == 0:
            inner = t["values"] if kind == "map" else t["items"]
            if not _is_simple(inner):
                raise _Unsupported("nested container")
            return (_K_MAP if kind == "map" else _K_ARRAY), _plan_type(inner, depth + 1)
    raise _Unsupported(repr(t)[:40])


def build_write_plan(schema: Mapping[str, Any]) -> tuple[tuple[str, int, int, Any], ...] | None:
    """The field plan of the native writer (``streams._avro_writer``), or None if unsupported.

    The same schemas as :func:`compile_writer`: flat records of primitives, enums,
    ``["null", T]`` unions and maps/arrays of simple types.

    >>> build_write_plan({"type": "record", "name": "R", "fields": [
    ...     {"name": "a", "type": "long"}, {"name": "b", "type": ["null", "string"]}]})
    (('a', -1, 3, None), ('b', 0, 6, None))
    """
    if schema.get("type") != "record":
        return None
    plan = []
    try:
        for f in schema["fields"]:
            t = _normalize_type(f["type"])
            null_index = -1
            if isinstance(t, list):
                null_index, t = _nullable_union(t)
            kind, extra = _plan_type(t, 0)
            plan.append((str(f["name"]), null_index, kind, extra))
    except _Unsupported:
        return None
    return tuple(plan)


def native_writer() -> Callable[[bytes, tuple[Any, ...], Mapping[str, Any]], bytes] | None:
    """``streams._avro_writer.encode`` when the optional C extension is built, else None.

    Tests and benchmarks compare both writers by passing ``native=False`` to
    :class:`EventEncoder`.
    """
    try:
        from streams._avro_writer import encode
    except ImportError:
        return None
    return encode  # type: ignore[no-any-return]


def build_read_plan(schema: Mapping[str, Any]) -> tuple[tuple[str, int, int, Any], ...] | None:
    """The field plan of the native reader (``streams._avro_reader``), or None if unsupported.

    :func:`build_write_plan` with each enum's symbols as a tuple in index order.

    >>> build_read_plan({"type": "record", "name": "R", "fields": [
    ...     {"name": "t", "type": {"type": "enum", "name": "T", "symbols": ["a", "b"]}}]})
    (('t', -1, 8, ('a', 'b')),)
    """

    def symbols(kind: int, extra: Any) -> Any:
        if kind == _K_ENUM:
            return tuple(sorted(extra, key=extra.__getitem__))
        if kind in (_K_MAP, _K_ARRAY):
            return (extra[0], symbols(*extra))
        return extra

    plan = build_write_plan(schema)
    if plan is None:
        return None
    return tuple((name, ni, kind, symbols(kind, extra)) for name, ni, kind, extra in plan)


def native_reader(
    schema: Mapping[str, Any],
) -> Callable[[bytes, int, int], tuple[dict[str, Any], int]] | None:
    """The C reader (``streams._avro_reader``) bound to ``schema``, or None when the optional
    extension is not built or the schema is outside what it reads.

    Same records and the same errors as the generated Python reader of
    :func:`compile_reader` (``EOFError`` instead of ``IndexError`` for data that ends early),
    about 5x faster on inference events.
    """
    try:
        from streams._avro_reader import read
    except ImportError:
        return None
    plan = build_read_plan(schema)
    if plan is None:
        return None
    return functools.partial(read, plan, _AvroDataError)


def compile_reader(
    schema: Mapping[str, Any], *, native: bool = True
) -> Callable[[bytes, int, int], tuple[dict[str, Any], int]] | None:
    """A specialised Avro reader for a flat record schema, or None (use fastavro).

    ``reader(data, pos, end)`` returns the record and the position after it. It raises
    ``IndexError``/``EOFError`` when the data ends early, ``UnicodeDecodeError`` for bad UTF-8
    and ``ValueError`` for data that is not of the schema. No schema resolution: use it only
    when writer and reader schemas are the same. With ``native`` (the default) it is the C
    reader when the optional extension is built (:func:`native_reader`), else Python code
    generated for the schema.

    >>> r = compile_reader({"type": "record", "name": "R", "fields": [
    ...     {"name": "a", "type": "long"}, {"name": "b", "type": ["null", "string"]}]})
    >>> data = b'\\x01\\x02\\x06h\\xc3\\xa9'
    >>> r(data, 0, len(data))
    ({'a': -1, 'b': 'hé'}, 6)
    """
    if schema.get("type") != "record":
        return None
    if native:
        fast = native_reader(schema)
        if fast is not None:
            return fast
    g = _CodeGen()
    g.emit(0, "def read(b, pos, end):")
    names = []
    try:
        for i, f in enumerate(schema["fields"]):
            _gen_read(g, f["type"], f"v{i}", 1)
            names.append(f"{f['name']!r}: v{i}")
    except _Unsupported:
        return None
    g.emit(1, "return {" + ", ".join(names) + "}, pos")
    return _compile(g, "read")
