"""The Python package's view of the C ABI is tied to include/wsbeat.h.

The declarations (`wsbeat/_abi.py`) are generated from the header by `python/tools/gen_abi.py`;
these tests fail when the committed (or installed) file is not what the generator makes from
the current header, when a struct's ctypes layout differs from the C compiler's, and when an
enum or error code used in Python differs from the header's.
"""

from __future__ import annotations

import ctypes
import importlib.util
import inspect
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

import wsbeat
from wsbeat import _abi, _lib, errors, events

from conftest import REPO

HEADER = REPO / "include" / "wsbeat.h"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_abi", REPO / "python" / "tools" / "gen_abi.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_committed_declarations_match_the_header():
    gen = _generator()
    expected = gen.generate(HEADER.read_text())
    committed = (REPO / "python" / "wsbeat" / "_abi.py").read_text()
    assert committed == expected, "python/wsbeat/_abi.py is stale: run python3 python/tools/gen_abi.py"
    # The package under test (installed or not) carries the same declarations.
    assert inspect.getsource(_abi) == expected


def test_generator_check_mode_fails_on_drift(tmp_path):
    gen = _generator()
    text = HEADER.read_text()
    # Each kind of drift changes the output: an enum value, a field's type, a field's order,
    # a function's parameter.
    drifts = [
        text.replace("WS_EVENT_STOPPED = 9", "WS_EVENT_STOPPED = 10"),
        text.replace("    uint16_t close_code;", "    uint32_t close_code;"),
        text.replace("    bool will_reconnect;", "    bool @@;").replace("    bool reconnect;", "    bool will_reconnect;").replace("    bool @@;", "    bool reconnect;"),
        text.replace("ws_result ws_close(const struct ws_client *client, uint16_t code,",
                     "ws_result ws_close(const struct ws_client *client, uint32_t code,"),
    ]
    base = gen.generate(text)
    for i, drifted in enumerate(drifts):
        assert drifted != text, f"drift {i} did not apply: the header's shape changed"
        assert gen.generate(drifted) != base, f"drift {i} is not seen by the generator"
    # And --check reports it with exit status 1.
    h = tmp_path / "wsbeat.h"
    h.write_text(drifts[0])
    out = tmp_path / "_abi.py"
    out.write_text(base)
    assert gen.main(["--check", "--header", str(h), "--output", str(out)]) == 1
    h.write_text(text)
    assert gen.main(["--check", "--header", str(h), "--output", str(out)]) == 0


def test_every_function_is_declared_on_the_loaded_library():
    lib = _lib.lib()
    gen = _generator()
    header = gen.Header(HEADER.read_text())
    assert set(_abi.FUNCTIONS) == set(header.functions)
    for name, (args, res) in _abi.FUNCTIONS.items():
        fn = getattr(lib, name)
        assert list(fn.argtypes) == list(args), name
        assert fn.restype is res, name


def _cc() -> str:
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        if os.environ.get("CI") == "true":
            pytest.fail("a C compiler is needed to check the struct layouts (CI must have one)")
        pytest.skip("no C compiler")
    return cc


def test_struct_layouts_match_the_c_compiler(tmp_path):
    cc = _cc()
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "wsbeat.h"', "int main(void) {"]
    for s, fields in _abi.STRUCT_C_FIELDS.items():
        lines.append(f'  printf("{s} size %zu align %zu\\n", sizeof({s}), _Alignof({s}));')
        for name, _ctype in fields:
            lines.append(
                f'  printf("{s}.{name} %zu %zu\\n", offsetof({s}, {name}), sizeof((({s} *)0)->{name}));'
            )
    lines += ["  return 0;", "}"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    subprocess.run(
        [cc, "-std=c11", "-Wall", "-Werror", "-I", str(REPO / "include"), str(src), "-o", str(exe)],
        check=True,
    )
    c_says = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    py_says = []
    for s in _abi.STRUCT_C_FIELDS:
        cls = getattr(_abi, s)
        py_says.append(f"{s} size {ctypes.sizeof(cls)} align {ctypes.alignment(cls)}")
        # Field order and names as in the header.
        assert [f[0] for f in cls._fields_] == [f[0] for f in _abi.STRUCT_C_FIELDS[s]]
        for name, _t in cls._fields_:
            d = getattr(cls, name)
            py_says.append(f"{s}.{name} {d.offset} {d.size}")
    assert c_says.split("\n")[:-1] == py_says


@pytest.mark.parametrize(
    "py_enum, c_enum, prefix",
    [
        (events.State, "WS_CLIENT_STATE", "WS_STATE_"),
        (events.Initiator, "WS_CLOSE_INITIATOR", "WS_INITIATOR_"),
        (events.ErrorKind, "WS_ERROR_KIND", "WS_ERROR_"),
        (events.StopReason, "WS_STOP_REASON", "WS_STOP_"),
    ],
)
def test_python_enums_are_the_headers(py_enum, c_enum, prefix):
    table = getattr(_abi, c_enum)
    assert {m.name: m.value for m in py_enum} == {
        k[len(prefix):]: v for k, v in table.items()
    }


def test_every_error_result_has_its_exception():
    for name, value in _abi.WS_RESULT.items():
        if name in ("WS_OK", "WS_ERR_TIMEOUT"):  # success; a timeout is a return value
            continue
        if name == "WS_ERR_CALLBACK":  # returned by host callbacks, never by the library
            continue
        cls = errors._BY_CODE[value]
        assert issubclass(cls, wsbeat.WsbeatError)
        if name != "WS_ERR_NULL_ARGUMENT":  # reported as InvalidArgumentError
            assert cls.code == value, name
    assert set(errors._BY_CODE) <= set(_abi.WS_RESULT.values())


def test_every_event_kind_becomes_its_event():
    seen = set()
    for name, value in _abi.WS_EVENT_KIND.items():
        ev = _abi.ws_event()
        ev.kind = value
        py = events.from_c(ev)
        if isinstance(py, wsbeat.Error):
            assert name == "WS_EVENT_ERROR", (name, py)
        seen.add(type(py))
    assert len(seen) == len(_abi.WS_EVENT_KIND)
    # ... and the library names each kind the way the header does.
    lib = _lib.lib()
    for name, value in _abi.WS_EVENT_KIND.items():
        assert lib.ws_event_kind_str(value), name


def test_package_constants_come_from_the_header():
    for alias, name in [
        ("EV_TEXT", "WS_EVENT_TEXT"), ("EV_STOPPED", "WS_EVENT_STOPPED"),
        ("MSG_TEXT", "WS_MESSAGE_TEXT"), ("MSG_BINARY", "WS_MESSAGE_BINARY"),
        ("HEARTBEAT_SEED_JSON", "WS_HEARTBEAT_SEED_JSON"), ("LOG_TRACE", "WS_LOG_TRACE"),
        ("WS_ERR_CLOSED", "WS_ERR_CLOSED"), ("WS_MAX_DURATION_MS", "WS_MAX_DURATION_MS"),
    ]:
        assert getattr(_lib, alias) == getattr(_abi, name)
    assert Path(HEADER).is_file()
