#!/usr/bin/env python3
"""Generate ``python/wsbeat/_abi.py`` (the ctypes declarations) from ``include/wsbeat.h``.

wasmtime-py's way: the C header is the one source of the ABI's numbers, types and layouts; the
Python package never writes them by hand. This script reads the cbindgen-generated header
(a regular shape: ``#define NAME number``, ``enum name { A = n, ... }``, ``typedef struct name
{ type field; ... } name;``, callback typedefs, and one prototype per function) and writes
every constant, enum value, struct layout, callback type and function signature as ctypes.

    python3 python/tools/gen_abi.py            # rewrite python/wsbeat/_abi.py
    python3 python/tools/gen_abi.py --check    # exit 1 if the committed file is stale

The test suite (``tests/test_abi.py``) runs ``--check``, so a header change that is not
regenerated fails the tests. Anything in the header this script does not understand is an
error, not a silent omission.
"""

from __future__ import annotations

import argparse
import ast
import operator
import re
import sys
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[2]
HEADER = ROOT / "include" / "wsbeat.h"
OUTPUT = ROOT / "python" / "wsbeat" / "_abi.py"

# Scalar C types -> ctypes.
SCALARS = {
    "bool": "c_bool",
    "uint8_t": "c_uint8",
    "uint16_t": "c_uint16",
    "uint32_t": "c_uint32",
    "uint64_t": "c_uint64",
    "int": "c_int",
    "int32_t": "c_int32",
    "int64_t": "c_int64",
    "size_t": "c_size_t",
    "double": "c_double",
    "char": "c_char",
}

# One deliberate deviation from the mechanical mapping, with its reason. ``ws_event.data`` is
# ``const uint8_t *``; it is declared ``c_char_p`` (same size and alignment: a pointer) because
# the library NUL-terminates message payloads, so reading the field copies the payload to
# ``bytes`` in C, several times cheaper than ``ctypes.string_at`` (events.py falls back to
# ``string_at`` on the raw pointer when a payload contains a NUL byte).
FIELD_OVERRIDES = {("ws_event", "data"): "c_char_p"}

# The same kind of deviation for callback parameters, the other way round: ctypes turns a
# ``c_char_p`` callback argument into ``bytes`` cut at the first NUL, which would truncate a
# binary payload; a ``c_void_p`` arrives as the address, read with ``string_at(ptr, len)``.
CALLBACK_PARAM_OVERRIDES = {("ws_heartbeat_matcher_callback", 1): "c_void_p"}


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def safe_eval(expr: str) -> int:
    """Evaluate a ``#define`` value made of integer literals, + - * << and parentheses."""
    ops = {
        ast.Add: operator.add,
        ast.Sub: operator.sub,
        ast.Mult: operator.mul,
        ast.LShift: operator.lshift,
    }

    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            return ops[type(node.op)](ev(node.left), ev(node.right))
        raise ValueError(f"unsupported #define expression: {expr!r}")

    return ev(ast.parse(expr, mode="eval"))


class Header:
    def __init__(self, text: str) -> None:
        self.text = strip_comments(text)
        self.defines: Dict[str, int] = {}
        self.enums: Dict[str, List[Tuple[str, int]]] = {}
        self.structs: Dict[str, List[Tuple[str, str, str]]] = {}  # (ctype, name, array len)
        self.opaque: List[str] = []
        self.callbacks: Dict[str, Tuple[str, List[str]]] = {}
        self.functions: Dict[str, Tuple[str, List[str]]] = {}
        self._parse()

    def _parse(self) -> None:
        t = self.text
        for m in re.finditer(r"^#define\s+(WS_\w+)\s+(.+)$", t, flags=re.M):
            self.defines[m.group(1)] = safe_eval(m.group(2).strip())
        for m in re.finditer(r"\benum\s+(ws_\w+)\s*(?:#if.*?#endif[^\n]*\n)?\s*\{(.*?)\}", t, re.S):
            members = []
            for item in m.group(2).split(","):
                item = item.strip()
                if not item:
                    continue
                mm = re.fullmatch(r"(WS_\w+)\s*=\s*(\d+)", item)
                if not mm:
                    raise ValueError(f"enum {m.group(1)}: cannot read {item!r}")
                members.append((mm.group(1), int(mm.group(2))))
            self.enums[m.group(1)] = members
        for m in re.finditer(r"typedef struct (ws_\w+) (ws_\w+);", t):
            self.opaque.append(m.group(1))
        for m in re.finditer(r"typedef struct (ws_\w+)\s*\{(.*?)\}\s*(\w+);", t, re.S):
            fields = []
            for decl in m.group(2).split(";"):
                decl = " ".join(decl.split())
                if not decl:
                    continue
                fm = re.fullmatch(r"(.+?)\s*\b(\w+)(?:\[(\w+)\])?", decl)
                if not fm:
                    raise ValueError(f"struct {m.group(1)}: cannot read {decl!r}")
                fields.append((fm.group(1).strip(), fm.group(2), fm.group(3) or ""))
            self.structs[m.group(1)] = fields
        for m in re.finditer(r"typedef\s+(\w+)\s*\(\*(ws_\w+)\)\((.*?)\);", t, re.S):
            self.callbacks[m.group(2)] = (m.group(1), _params(m.group(3)))
        body = t.split('extern "C" {', 1)[1] if 'extern "C" {' in t else t
        for m in re.finditer(r"^([\w][\w \*]*?[\s\*])(ws_\w+)\((.*?)\);", body, re.S | re.M):
            self.functions[m.group(2)] = (" ".join(m.group(1).split()), _params(m.group(3)))

    # ---- C type -> ctypes ----------------------------------------------------------------

    def ctype(self, c: str, *, where: str) -> str:
        c = " ".join(c.replace("*", " * ").split())
        base = c.replace("const ", "").replace("struct ", "")
        stars = base.count("*")
        base = base.replace("*", "").strip()
        if base in self.enums:
            base_ct = "c_uint32"  # cbindgen: `typedef uint32_t ws_x;` before C23
        elif base in SCALARS:
            base_ct = SCALARS[base]
        elif base in self.callbacks:
            if stars:
                raise ValueError(f"{where}: pointer to callback {c!r}")
            return base.upper()
        elif base in self.structs or base in self.opaque or base == "void":
            base_ct = base
        else:
            raise ValueError(f"{where}: unknown C type {c!r}")
        if stars == 0:
            if base_ct == "void":
                return "None"
            if base_ct in self.opaque:
                raise ValueError(f"{where}: opaque struct by value {c!r}")
            return base_ct
        if stars == 1:
            if base_ct == "void" or base_ct in self.opaque:
                return "c_void_p"  # opaque handles travel as addresses
            if base_ct in ("c_char", "c_uint8"):
                # Function parameters take Python bytes; struct fields and returns are read
                # as addresses (fields) or NUL-terminated strings (returns).
                return "c_char_p" if where.startswith(("param", "return")) else "c_void_p"
            return f"POINTER({base_ct})"
        if stars == 2 and (base_ct in self.opaque):
            return "POINTER(c_void_p)"
        raise ValueError(f"{where}: unsupported pointer type {c!r}")


def _params(text: str) -> List[str]:
    text = " ".join(text.split())
    if text in ("", "void"):
        return []
    out = []
    for p in text.split(","):
        p = p.strip()
        m = re.fullmatch(r"(.+?)\s*\b\w+", p)
        if not m:
            raise ValueError(f"cannot read parameter {p!r}")
        out.append(m.group(1))
    return out


def generate(header_text: str) -> str:
    h = Header(header_text)
    out: List[str] = []
    w = out.append
    w('"""The C ABI of libwsbeat as ctypes declarations.')
    w("")
    w("DO NOT EDIT: generated from include/wsbeat.h by python/tools/gen_abi.py")
    w("(``python3 python/tools/gen_abi.py``); tests/test_abi.py fails when it is stale.")
    w('"""')
    w("")
    w("# fmt: off")
    w("from ctypes import (")
    for name in ("CFUNCTYPE", "POINTER", "Structure", "c_bool", "c_char", "c_char_p", "c_double",
                 "c_int", "c_int32", "c_int64", "c_size_t", "c_uint8", "c_uint16", "c_uint32",
                 "c_uint64", "c_void_p"):
        w(f"    {name},")
    w(")")
    w("from typing import Any, Dict, List, Tuple")
    w("")
    w("# ---- #define")
    for name, value in h.defines.items():
        w(f"{name} = {value}")
    w("")
    w("# ---- enums (each also as a name -> value table)")
    for enum, members in h.enums.items():
        w(f"# enum {enum}")
        for name, value in members:
            w(f"{name} = {value}")
        w(f"{enum.upper()}: Dict[str, int] = {{")
        for name, value in members:
            w(f"    {name!r}: {value},")
        w("}")
        w("")
    w("# ---- structs (field order and C types as in the header)")
    struct_order = list(h.structs)
    for s in struct_order:
        fields = h.structs[s]
        w("")
        w(f"class {s}(Structure):")
        w(f"    _fields_ = [")
        for ctype, name, arr in fields:
            ct = FIELD_OVERRIDES.get((s, name)) or h.ctype(ctype, where=f"field {s}.{name}")
            if arr:
                if arr not in h.defines and not arr.isdigit():
                    raise ValueError(f"struct {s}: unknown array length {arr}")
                ct = f"{ct} * {arr}"
            w(f"        ({name!r}, {ct}),")
        w("    ]")
        w("")
    w("")
    w("# The C declarations of every struct field, for tests/test_abi.py's offset check.")
    w("STRUCT_C_FIELDS: Dict[str, List[Tuple[str, str]]] = {")
    for s in struct_order:
        w(f"    {s!r}: [")
        for ctype, name, arr in h.structs[s]:
            w(f"        ({name!r}, {(ctype + (f'[{arr}]' if arr else ''))!r}),")
        w("    ],")
    w("}")
    w("")
    w("# ---- callback types")
    for cb, (ret, params) in h.callbacks.items():
        args = [h.ctype(ret, where=f"return of {cb}")]
        args += [
            CALLBACK_PARAM_OVERRIDES.get((cb, i)) or h.ctype(p, where=f"param of {cb}")
            for i, p in enumerate(params)
        ]
        w(f"{cb.upper()}: Any = CFUNCTYPE({', '.join(args)})")
    w("")
    w("# ---- functions: name -> (argtypes, restype)")
    w("FUNCTIONS: Dict[str, Tuple[List[Any], Any]] = {")
    for fn, (ret, params) in h.functions.items():
        args = [h.ctype(p, where=f"param of {fn}") for p in params]
        res = h.ctype(ret, where=f"return of {fn}")
        w(f"    {fn!r}: ([{', '.join(args)}], {res}),")
    w("}")
    return "\n".join(out) + "\n"


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="fail if the committed file is stale")
    ap.add_argument("--header", type=Path, default=HEADER)
    ap.add_argument("--output", type=Path, default=OUTPUT)
    a = ap.parse_args(argv)
    text = generate(a.header.read_text())
    if a.check:
        current = a.output.read_text() if a.output.exists() else ""
        if current != text:
            print(f"{a.output} is stale: run python3 python/tools/gen_abi.py", file=sys.stderr)
            return 1
        return 0
    a.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
