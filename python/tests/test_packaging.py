"""Where the library is found, the wheel, and `python -m wsbeat`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import wsbeat

from conftest import REPO, TIMEOUT

PKG = Path(wsbeat.__file__).resolve().parent
IN_CI = os.environ.get("CI") == "true"


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "WSBEAT_LIBRARY"}
    env.update(extra)
    return env


def _py(code: str, *, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=TIMEOUT,
    )


# --- the loader -------------------------------------------------------------------------------


def test_lookup_without_the_variable_works_from_any_directory(tmp_path):
    """Without WSBEAT_LIBRARY the package finds its bundled library (an installed wheel) or,
    imported from the checkout, the workspace build; never through the current directory."""
    code = "import wsbeat; print(wsbeat.find_library()); print(wsbeat.library_version())"
    out = _py(code, cwd=tmp_path, env=_env())
    assert out.returncode == 0, out
    path, version = out.stdout.split()
    assert version == wsbeat.__version__
    bundled = PKG / "libwsbeat.so"
    if bundled.is_file():
        assert Path(path) == bundled
    else:
        assert Path(path).parent in (REPO / "target" / "release", REPO / "target" / "debug")


def test_variable_overrides_the_bundled_library(tmp_path):
    lib = wsbeat.find_library()
    copy = tmp_path / "libwsbeat-copy.so"
    shutil.copy(lib, copy)
    out = _py("import wsbeat; print(wsbeat.find_library())", cwd=tmp_path,
              env=_env(WSBEAT_LIBRARY=str(copy)))
    assert out.returncode == 0 and Path(out.stdout.strip()) == copy, out


def test_a_checkout_finds_the_workspace_build(tmp_path):
    """Running from the repository (PYTHONPATH=python, or pip install -e) finds target/."""
    built = [REPO / "target" / p / "libwsbeat.so" for p in ("release", "debug")]
    if not any(p.is_file() for p in built):
        pytest.fail("no workspace build of libwsbeat.so (the test step builds it)")
    out = _py("import wsbeat; print(wsbeat.__file__); print(wsbeat.find_library())",
              cwd=tmp_path, env=_env(PYTHONPATH=str(REPO / "python")))
    assert out.returncode == 0, out
    pkg_file, path = out.stdout.split()
    assert Path(pkg_file).resolve().is_relative_to(REPO / "python")
    assert Path(path) in built + [REPO / "python" / "wsbeat" / "libwsbeat.so"]


def test_missing_library_names_the_places_tried(tmp_path):
    """A package without a bundled library, outside a checkout: a clear error naming exactly
    the place it looked (no meaningless site-packages/../target path)."""
    site = tmp_path / "site"
    shutil.copytree(PKG, site / "wsbeat", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    code = """
import wsbeat
try:
    wsbeat.Client("ws://127.0.0.1:1")
except wsbeat.LibraryNotFoundError as e:
    print("ERR", e)
"""
    out = _py(code, cwd=tmp_path, env=_env(PYTHONPATH=str(site)))
    assert "ERR libwsbeat shared library not found" in out.stdout, out
    assert str(site / "wsbeat" / "libwsbeat.so") in out.stdout
    assert "target" not in out.stdout and ".." not in out.stdout.replace("...", "")
    assert "pip install ./python" in out.stdout and "WSBEAT_LIBRARY" in out.stdout
    # A WSBEAT_LIBRARY that names nothing is reported as such.
    out = _py(code, cwd=tmp_path, env=_env(PYTHONPATH=str(site),
                                           WSBEAT_LIBRARY=str(tmp_path / "nope.so")))
    assert "ERR WSBEAT_LIBRARY=" in out.stdout and "nope.so" in out.stdout, out


# --- the wheel --------------------------------------------------------------------------------


def _wheel() -> Path:
    w = os.environ.get("WSBEAT_WHEEL")
    if not w:
        if IN_CI:
            pytest.fail("WSBEAT_WHEEL is not set: the test step builds the wheel")
        pytest.skip("set WSBEAT_WHEEL to a built wheel (scripts/tests.d/50-python.sh does)")
    return Path(w)


def test_wheel_is_platform_tagged_and_bundles_the_library():
    wheel = _wheel()
    name, version, python, abi, plat = wheel.name[: -len(".whl")].split("-")
    assert (name, version) == ("wsbeat", wsbeat.__version__)
    assert (python, abi) == ("py3", "none")  # ctypes: no Python ABI
    assert plat != "any" and ("linux" in plat or "macosx" in plat), plat
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(f"wsbeat-{version}.dist-info/WHEEL").decode()
        pkg_info = z.read(f"wsbeat-{version}.dist-info/METADATA").decode()
    assert "wsbeat/libwsbeat.so" in names
    assert "Root-Is-Purelib: false" in meta
    assert "License-Expression: MIT OR Apache-2.0" in pkg_info


def test_installed_package_uses_its_bundled_library():
    """The suite run against the installed wheel (WSBEAT_EXPECT_INSTALLED=1) really imports
    it, and the library comes from inside it."""
    if os.environ.get("WSBEAT_EXPECT_INSTALLED") != "1":
        if IN_CI:
            pytest.fail("the CI step runs the suite against the installed wheel")
        pytest.skip("only meaningful against an installed wheel")
    assert not PKG.is_relative_to(REPO), PKG
    assert "WSBEAT_LIBRARY" not in os.environ
    assert wsbeat.find_library() == PKG / "libwsbeat.so"


# --- python -m wsbeat -------------------------------------------------------------------------


def _cli(*args: str, stdin: str = "", timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "wsbeat", *args], input=stdin, capture_output=True, text=True,
        timeout=timeout, env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


@pytest.mark.parametrize(
    "args",
    [[], ["--interval", "soon", "ws://127.0.0.1:1"], ["--bogus", "ws://127.0.0.1:1"],
     ["--header", "no colon", "ws://127.0.0.1:1"], ["not a url"]],
)
def test_cli_usage_errors_exit_2(args):
    out = _cli(*args)
    assert out.returncode == 2, out
    assert out.stderr


def _cli_session(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "wsbeat", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


def test_cli_sends_stdin_lines_and_prints_messages(echo_server):
    p = _cli_session(echo_server.url, "--interval", "100ms", "--header", "X-Cli: yes")
    try:
        assert p.stdin is not None and p.stdout is not None
        for line in ("hello", "world"):
            p.stdin.write(line + "\n")
            p.stdin.flush()
            assert p.stdout.readline() == line + "\n"  # the echo, printed
        p.stdin.close()  # EOF: a graceful close, exit status 0
        assert p.wait(TIMEOUT) == 0
        err = p.stderr.read() if p.stderr else ""
    finally:
        p.kill()
    assert "Opened" in err and "Stopped: closed" in err, err
    assert echo_server.headers[0]["X-Cli"] == "yes"
    assert [echo_server.received.get(timeout=TIMEOUT) for _ in range(2)] == ["hello", "world"]


def test_cli_json(echo_server):
    p = _cli_session(echo_server.url, "--json")
    events = []
    try:
        assert p.stdin is not None and p.stdout is not None
        p.stdin.write("one\n")
        p.stdin.flush()
        while not events or events[-1]["event"] != "text":
            events.append(json.loads(p.stdout.readline()))
        p.stdin.close()
        assert p.wait(TIMEOUT) == 0
        events += [json.loads(line) for line in p.stdout.read().splitlines()]
    finally:
        p.kill()
    names = [e["event"] for e in events]
    assert names[0] == "connecting" and "opened" in names and names[-1] == "stopped", names
    text = next(e for e in events if e["event"] == "text")
    assert text["data"] == "one"
    assert events[-1]["reason"] == "closed"
    assert all(isinstance(e["ts"], int) for e in events)


def test_cli_no_reconnect_exits_1_when_the_connect_fails(free_port):
    out = _cli(f"ws://127.0.0.1:{free_port}", "--no-reconnect", "--no-stdin")
    assert out.returncode == 1, out
    assert "reconnect_disabled" in out.stderr.lower().replace(" ", "_"), out.stderr
