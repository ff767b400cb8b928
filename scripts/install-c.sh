#!/usr/bin/env bash
# Builds libwsbeat (the C ABI, package wsbeat-ffi) and installs it into a prefix, the way C and
# CMake users consume a library (docs/C_API.md, "Install"):
#
#   scripts/install-c.sh --prefix DIR [--destdir DIR] [--release|--debug]
#
#   DIR/lib/libwsbeat.so.X.Y.Z          the shared library, SONAME libwsbeat.so.0.Y (X from 1.0)
#   DIR/lib/libwsbeat.so.0.Y            -> libwsbeat.so.X.Y.Z (what programs load)
#   DIR/lib/libwsbeat.so                -> libwsbeat.so.0.Y   (what -lwsbeat finds)
#   DIR/lib/libwsbeat.a                 the static library
#   DIR/lib/.debug/libwsbeat.so.X.Y.Z.debug   its debug info (named by its .gnu_debuglink;
#                                       release: with the split DWARF in ...debug.dwp)
#   DIR/include/wsbeat/wsbeat.h         the C header (C99 / C++)
#   DIR/include/wsbeat/wsbeat.hpp       the C++17 wrapper
#   DIR/lib/pkgconfig/wsbeat.pc         pkg-config (Libs.private: for --static)
#   DIR/lib/cmake/wsbeat/wsbeatConfig.cmake, wsbeatConfigVersion.cmake
#                                       find_package(wsbeat CONFIG): wsbeat::wsbeat,
#                                       wsbeat::wsbeat_static
#
# --destdir STAGE writes everything under STAGE/DIR while the installed files still name DIR
# (for packagers: DESTDIR as in `make install`). --release (the default) or --debug picks the
# cargo profile. The artifacts are stripped; the shared library's debug info is split off.
#
# Why not `cargo cinstall` (cargo-c, the ecosystem's tool)? It does the same and this script
# follows its conventions (SONAME rule, include/wsbeat/, .pc contents), but cargo-c is one more
# tool to compile (minutes on a 2-core CI machine) and it would replace the SONAME the root
# build.rs already sets, while everything it does here fits in this script with cargo,
# binutils (objcopy) and install(1).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: scripts/install-c.sh --prefix DIR [--destdir DIR] [--release|--debug]" >&2
  exit 2
}

prefix=""
destdir=""
profile="release"
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || usage; prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    --destdir) [ $# -ge 2 ] || usage; destdir="$2"; shift 2 ;;
    --destdir=*) destdir="${1#--destdir=}"; shift ;;
    --release) profile="release"; shift ;;
    --debug) profile="dev"; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "install-c.sh: unknown argument: $1" >&2; usage ;;
  esac
done
[ -n "${prefix}" ] || usage
case "${prefix}" in
  /*) ;;
  *) echo "install-c.sh: --prefix must be an absolute path (it is written into wsbeat.pc)" >&2
     exit 2 ;;
esac
prefix="${prefix%/}"
case "$(uname -s)" in
  Linux|*BSD|DragonFly) ;;
  *) echo "install-c.sh: only ELF platforms (Linux, the BSDs) are supported" >&2; exit 2 ;;
esac
for tool in cargo objcopy ar install; do
  command -v "${tool}" >/dev/null || { echo "install-c.sh: needs ${tool}" >&2; exit 1; }
done

# The version (0.1.0) and the SONAME version (0.1 while 0.x, then the major: build.rs's rule).
pkgid="$(cargo pkgid -p wsbeat-ffi)"
version="${pkgid##*[#@]}"
IFS=. read -r major minor patch <<<"${version%%[-+]*}"
if [ "${major}" = 0 ]; then sover="0.${minor}"; else sover="${major}"; fi

# One build of both library kinds; rustc prints the system libraries the static library needs
# (cargo replays the note when the build is already fresh).
log="$(mktemp)"
trap 'rm -f "${log}"' EXIT
echo "install-c.sh: building wsbeat-ffi ${version} (profile ${profile})" >&2
cargo rustc -p wsbeat-ffi --lib --profile "${profile}" --crate-type cdylib,staticlib \
  -- --print native-static-libs 2>&1 | tee "${log}" >&2
libs_private="$(sed -n 's/^note: native-static-libs: //p' "${log}" | tail -n 1)"
if [ -z "${libs_private}" ]; then
  echo "install-c.sh: rustc printed no native-static-libs note" >&2
  exit 1
fi
# -lc is linked anyway; -lfoo -> foo for CMake's INTERFACE_LINK_LIBRARIES.
libs_private="$(echo "${libs_private}" | sed 's/ *-lc$//; s/ -lc / /g')"
libs_private_cmake="$(echo "${libs_private}" | sed 's/-l//g; s/ \+/;/g')"

if [ "${profile}" = dev ]; then outdir="debug"; else outdir="${profile}"; fi
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
built="${target_dir}/${outdir}"
# The crate's documentation URL (pkg-config's URL field; the project has no public home yet).
repository="$(sed -n 's/^documentation = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
pointer_bytes=$(( $(getconf LONG_BIT) / 8 ))

root="${destdir%/}${prefix}"
libdir="${root}/lib"
install -d "${libdir}/pkgconfig" "${libdir}/cmake/wsbeat" "${libdir}/.debug" \
  "${root}/include/wsbeat"

# The shared library: debug info split off into lib/.debug/, the rest stripped, with a
# .gnu_debuglink naming the debug file.
so="libwsbeat.so.${version}"
work="$(mktemp -d)"
trap 'rm -f "${log}"; rm -rf "${work}"' EXIT
cp "${built}/libwsbeat.so" "${work}/${so}"
objcopy --only-keep-debug "${work}/${so}" "${work}/${so}.debug"
(cd "${work}" && objcopy --strip-unneeded --add-gnu-debuglink="${so}.debug" "${so}")
install -m 0755 "${work}/${so}" "${libdir}/${so}"
install -m 0644 "${work}/${so}.debug" "${libdir}/.debug/${so}.debug"
# With split-debuginfo = "packed" (the release profile) the DWARF itself is in a .dwp package
# beside the library; it goes next to the debug file as DEBUGFILE.dwp.
if [ -f "${built}/libwsbeat.so.dwp" ]; then
  install -m 0644 "${built}/libwsbeat.so.dwp" "${libdir}/.debug/${so}.debug.dwp"
fi
ln -sfn "${so}" "${libdir}/libwsbeat.so.${sover}"
ln -sfn "libwsbeat.so.${sover}" "${libdir}/libwsbeat.so"

# The static library without debug info (its symbols are needed to link against it).
# binutils with an LLVM plugin installed complains about rustc's bitcode members; harmless.
# (Used for commands whose output is only diagnostics; it keeps their exit status.)
no_plugin_noise() { "$@" 2>&1 | { grep -v '^bfd plugin: ' || true; } >&2; }

# Split DWARF leaves .dwo members in the archive (debug info only, and objcopy refuses them):
# drop them first.
cp "${built}/libwsbeat.a" "${work}/libwsbeat.a"
dwo_members="$(ar t "${work}/libwsbeat.a" | grep '\.dwo$' || true)"
if [ -n "${dwo_members}" ]; then
  # shellcheck disable=SC2086 # one member name per word (rustc's names have no spaces)
  no_plugin_noise ar d "${work}/libwsbeat.a" ${dwo_members}
fi
no_plugin_noise objcopy --strip-debug "${work}/libwsbeat.a"
install -m 0644 "${work}/libwsbeat.a" "${libdir}/libwsbeat.a"

install -m 0644 include/wsbeat.h include/wsbeat.hpp "${root}/include/wsbeat/"

subst() {
  sed -e "s|@PREFIX@|${prefix}|g" -e "s|@VERSION@|${version}|g" \
    -e "s|@VERSION_MAJOR@|${major}|g" -e "s|@VERSION_MINOR@|${minor}|g" \
    -e "s|@SOVERSION@|${sover}|g" -e "s|@REPOSITORY@|${repository}|g" \
    -e "s|@LIBS_PRIVATE@|${libs_private}|g" -e "s|@LIBS_PRIVATE_CMAKE@|${libs_private_cmake}|g" \
    -e "s|@SIZEOF_VOID_P@|${pointer_bytes}|g" -e "s|@SIZEOF_VOID_P_BITS@|$((pointer_bytes * 8))|g" \
    "$1"
}
subst ffi/pkg/wsbeat.pc.in >"${work}/wsbeat.pc"
subst ffi/pkg/wsbeatConfig.cmake.in >"${work}/wsbeatConfig.cmake"
subst ffi/pkg/wsbeatConfigVersion.cmake.in >"${work}/wsbeatConfigVersion.cmake"
if grep -n '@[A-Z_]*@' "${work}/wsbeat.pc" "${work}/"*.cmake; then
  echo "install-c.sh: a template placeholder was left unreplaced" >&2
  exit 1
fi
install -m 0644 "${work}/wsbeat.pc" "${libdir}/pkgconfig/wsbeat.pc"
install -m 0644 "${work}/wsbeatConfig.cmake" "${work}/wsbeatConfigVersion.cmake" \
  "${libdir}/cmake/wsbeat/"

echo "install-c.sh: installed libwsbeat ${version} (SONAME libwsbeat.so.${sover}) into ${root}" >&2
