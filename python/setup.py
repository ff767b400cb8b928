"""Build script: compiles the Rust C library (the workspace's ``ffi/`` crate, package
``wsbeat-ffi``) with setuptools-rust and bundles ``libwsbeat.so`` inside the ``wsbeat``
package. The metadata is in pyproject.toml.

setuptools-rust rather than maturin: maturin builds PyO3/cffi/uniffi modules or binaries, but
has no mode for a plain cdylib loaded with ctypes; setuptools-rust's ``Binding.NoBinding``
is exactly that ("bring your own bindings"), and the package stays a setuptools package.

The wheel is tagged ``py3-none-<platform>``: it contains a native library, so it is
platform-specific, but ctypes needs no Python ABI, so one wheel serves every Python 3.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools_rust import Binding, RustExtension, Strip
from setuptools_rust.build import build_rust

try:  # setuptools >= 70.1 ships bdist_wheel itself
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # pragma: no cover
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
FFI_MANIFEST = HERE.parent / "ffi" / "Cargo.toml"


class PlatformWheel(bdist_wheel):  # type: ignore[misc]
    """``py3-none-<platform>``: native code, no Python ABI."""

    def get_tag(self):  # type: ignore[no-untyped-def]
        _python, _abi, plat = super().get_tag()
        return "py3", "none", plat


class BuildPlainLibrary(build_rust):  # type: ignore[misc]
    """Bundle the library under its own name, ``wsbeat/libwsbeat.so``, not as a CPython
    extension module (``libwsbeat.cpython-311-x86_64-linux-gnu.so``): ctypes loads it by
    path, and one file name serves every Python version."""

    def get_dylib_ext_path(self, ext: RustExtension, target_fname: str) -> str:
        path = super().get_dylib_ext_path(ext, target_fname)
        suffix = ".dylib" if sys.platform == "darwin" else ".dll" if os.name == "nt" else ".so"
        name = "wsbeat" if os.name == "nt" else "libwsbeat"
        return os.path.join(os.path.dirname(path), name + suffix)


if not FFI_MANIFEST.is_file():
    raise SystemExit(
        f"{FFI_MANIFEST} not found: build the wsbeat Python package from a wsbeat checkout "
        "(pip install ./python in the repository), which holds the Rust library it bundles"
    )

setup(
    rust_extensions=[
        RustExtension(
            # NoBinding: the cdylib is copied into the package, as wsbeat/libwsbeat.so
            # (BuildPlainLibrary).
            "wsbeat.libwsbeat",
            path=os.path.relpath(FFI_MANIFEST, HERE),
            binding=Binding.NoBinding,
            strip=Strip.All,  # 23 MB with line tables -> a few MB
            py_limited_api=False,
        )
    ],
    cmdclass={"bdist_wheel": PlatformWheel, "build_rust": BuildPlainLibrary},
    zip_safe=False,
)
