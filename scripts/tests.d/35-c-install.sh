#!/usr/bin/env bash
# The C install route, as docs/C_API.md ("Install", "Link") tells a user to take it:
# scripts/install-c.sh into a temporary prefix (and once more with --destdir), then
# examples/c/demo.c built with pkg-config (shared and static), examples/cpp/demo.cpp with
# pkg-config, and the CMake project examples/c/cmake (find_package(wsbeat CONFIG):
# wsbeat::wsbeat and wsbeat::wsbeat_static); each program runs against `wsbeat --serve` and
# must get its echo. readelf checks the SONAME, the symlinks, that nothing points into the
# build tree (no RUNPATH/RPATH, no target/ path), that the installed library is stripped with
# its debug info split off, and that static programs do not need libwsbeat.so. Every command
# line of the recipe blocks in docs/C_API.md and README.md (between the `c-install-recipe`
# markers) must appear in this file, so the docs cannot drift from what runs here.
#
# The test installs a debug build (the earlier steps built it, so CI pays for no release
# build); WSBEAT_C_INSTALL_PROFILE=release tests the default, release, route.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$(pwd)"

packages=()
command -v gcc >/dev/null || packages+=(gcc)
command -v g++ >/dev/null || packages+=(g++)
command -v make >/dev/null || packages+=(make)
command -v pkg-config >/dev/null || packages+=(pkg-config)
command -v cmake >/dev/null || packages+=(cmake)
{ command -v readelf && command -v objcopy; } >/dev/null || packages+=(binutils)
if [ ${#packages[@]} -gt 0 ]; then
  echo "installing ${packages[*]}"
  apt-get update -qq && apt-get install -y -qq "${packages[@]}"
fi

fail() {
  echo "35-c-install: FAIL: $*" >&2
  exit 1
}

# The docs' recipes are this file's commands (comments and the PREFIX=/URL= settings aside).
normalize() { sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]\+#[[:space:]].*$//' -e 's/[[:space:]]*$//'; }
recipe_lines="$(awk '/<!-- c-install-recipe -->/{on=1; next} /<!-- \/c-install-recipe -->/{on=0} on' docs/C_API.md README.md |
  grep -v '^```' | normalize | grep -v -e '^$' -e '^#' -e '^PREFIX=' -e '^URL=' || true)"
[ "$(echo "${recipe_lines}" | grep -c .)" -ge 8 ] || fail "docs/C_API.md has no c-install-recipe blocks"
# (A program run is `run_demo LABEL [env] COMMAND` here: the COMMAND is the docs' line.)
script_lines="$(normalize <"$0" | sed -E 's/^run_demo "[^"]*" (env )?//')"
while IFS= read -r line; do
  grep -qxF -- "${line}" <<<"${script_lines}" || fail "a recipe line of docs/C_API.md or README.md is not run by this test: ${line}"
done <<<"${recipe_lines}"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "${server_pid}" ]; then kill "${server_pid}" 2>/dev/null || true; wait "${server_pid}" 2>/dev/null || true; fi
  rm -rf "${work}"
}
trap cleanup EXIT

# The server the programs talk to: `wsbeat --serve` on an ephemeral port; its first line is
# the URL (docs/CLI.md).
cargo build --quiet -p wsbeat-cli
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
coproc SERVER { exec "${target_dir}/debug/wsbeat" --serve 127.0.0.1:0; }
server_pid="${SERVER_PID}"
IFS= read -r -t 60 -u "${SERVER[0]}" URL || fail "wsbeat --serve printed no URL within 60 s"
case "${URL}" in ws://127.0.0.1:*) ;; *) fail "unexpected server line: ${URL}" ;; esac
echo "server ${URL} (pid ${server_pid})"

version="$(cargo pkgid -p wsbeat-ffi)"
version="${version##*[#@]}"
minor="$(echo "${version}" | cut -d. -f2)"
soname="libwsbeat.so.0.${minor}"

PREFIX="${work}/prefix"
if [ "${WSBEAT_C_INSTALL_PROFILE:-debug}" = release ]; then
  scripts/install-c.sh --prefix "$PREFIX"
else
  scripts/install-c.sh --prefix "$PREFIX" --debug
fi

# --- the installed files ---------------------------------------------------------------------
lib="${PREFIX}/lib"
for f in "lib/libwsbeat.so.${version}" lib/libwsbeat.a include/wsbeat/wsbeat.h \
  include/wsbeat/wsbeat.hpp lib/pkgconfig/wsbeat.pc lib/cmake/wsbeat/wsbeatConfig.cmake \
  lib/cmake/wsbeat/wsbeatConfigVersion.cmake "lib/.debug/libwsbeat.so.${version}.debug"; do
  [ -f "${PREFIX}/${f}" ] || fail "missing ${f}"
done
[ "$(readlink "${lib}/${soname}")" = "libwsbeat.so.${version}" ] || fail "${soname} is not a link to libwsbeat.so.${version}"
[ "$(readlink "${lib}/libwsbeat.so")" = "${soname}" ] || fail "libwsbeat.so is not a link to ${soname}"
dyn="$(readelf -d "${lib}/libwsbeat.so.${version}")"
grep -q "Library soname: \[${soname}\]" <<<"${dyn}" || fail "SONAME is not ${soname}: ${dyn}"
! grep -qE 'RUNPATH|RPATH' <<<"${dyn}" || fail "the installed library has a RUNPATH/RPATH"
sections="$(readelf -S "${lib}/libwsbeat.so.${version}")"
! grep -qE '\.debug_info|\.symtab' <<<"${sections}" || fail "the installed library is not stripped"
grep -q '\.gnu_debuglink' <<<"${sections}" || fail "the installed library has no .gnu_debuglink"
readelf -S "${lib}/.debug/libwsbeat.so.${version}.debug" | grep -q '\.debug_info' ||
  fail "the split debug file has no debug info"
! readelf -S -W "${lib}/libwsbeat.a" 2>/dev/null | grep -q '\.debug_info' || fail "libwsbeat.a is not stripped of debug info"
! grep -qF "${repo}/target" "${lib}/pkgconfig/wsbeat.pc" "${lib}/cmake/wsbeat/"*.cmake ||
  fail "the pkg-config or CMake files name the build tree"

# The header's version macros and the library's ws_version() are the package version.
cat >"${work}/version.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <wsbeat/wsbeat.h>
int main(void) {
    printf("%d.%d.%d %s %s\n", WSBEAT_VERSION_MAJOR, WSBEAT_VERSION_MINOR, WSBEAT_VERSION_PATCH,
           WSBEAT_VERSION, ws_version());
    return strcmp(WSBEAT_VERSION, ws_version()) != 0;
}
EOF
gcc -std=c99 -Wall -Wextra -Werror -I"${PREFIX}/include" "${work}/version.c" -L"${lib}" -lwsbeat -o "${work}/version"
[ "$(LD_LIBRARY_PATH="${lib}" "${work}/version")" = "${version} ${version} ${version}" ] ||
  fail "version macros / ws_version(): $(LD_LIBRARY_PATH="${lib}" "${work}/version")"

# A program must depend on the SONAME only and point nowhere into the build tree.
check_program() { # program, "shared" | "static"
  local d
  d="$(readelf -d "$1")"
  ! grep -qE 'RUNPATH|RPATH' <<<"${d}" || fail "$1 has a RUNPATH/RPATH: ${d}"
  ! grep -qF "${repo}/target" "$1" || fail "$1 names the build tree"
  if [ "$2" = shared ]; then
    grep -q "Shared library: \[${soname}\]" <<<"${d}" || fail "$1 does not need ${soname}: ${d}"
  else
    ! grep -q 'libwsbeat' <<<"${d}" || fail "$1 (static) needs libwsbeat.so: ${d}"
  fi
}
# Each program sends the seed message and exits 0 once the echo arrived (10 s at most).
run_demo() { # label, command...
  local label="$1"
  shift
  local out
  out="$("$@" 2>&1)" || fail "${label} did not get its echo: ${out}"
  grep -q "wsbeat ${version}" <<<"${out}" || fail "${label} printed no version: ${out}"
  echo "${label}: echo received"
}

# --- pkg-config: shared, C++, static -- run exactly as docs/C_API.md says ---------------------
cd "${work}"
cp -r "${repo}/examples" examples
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
[ "$(pkg-config --modversion wsbeat)" = "${version}" ] || fail "pkg-config --modversion: $(pkg-config --modversion wsbeat)"
gcc -std=c99 -Wall -Wextra -Werror examples/c/demo.c $(pkg-config --cflags --libs wsbeat) -pthread -o demo
g++ -std=c++17 -Wall -Wextra -Werror examples/cpp/demo.cpp $(pkg-config --cflags --libs wsbeat) -pthread -o demo_cpp
gcc -std=c99 -Wall -Wextra -Werror examples/c/demo.c $(pkg-config --cflags wsbeat) -pthread -Wl,-Bstatic -lwsbeat -Wl,-Bdynamic -Wl,--as-needed $(pkg-config --static --libs wsbeat) -o demo_static
check_program demo shared
check_program demo_cpp shared
check_program demo_static static
run_demo "pkg-config shared" env LD_LIBRARY_PATH="$PREFIX/lib" ./demo "$URL"
run_demo "pkg-config C++" env LD_LIBRARY_PATH="$PREFIX/lib" ./demo_cpp "$URL"
run_demo "pkg-config static" ./demo_static "$URL"
# Without the library on the loader's path the shared program must not start (so the run
# above did load the installed library, not one found elsewhere).
if ./demo "$URL" >/dev/null 2>&1; then fail "demo started without LD_LIBRARY_PATH: it found a libwsbeat outside the prefix"; fi

# --- CMake: find_package(wsbeat CONFIG) --------------------------------------------------------
cmake -S examples/c/cmake -B build -DCMAKE_PREFIX_PATH="$PREFIX"
cmake --build build
# CMake links by full path and gives the build-tree program an RUNPATH to the prefix's lib/
# (that is CMake's, pointing into the install prefix, not into target/).
d="$(readelf -d build/demo)"
grep -q "Shared library: \[${soname}\]" <<<"${d}" || fail "CMake demo does not need ${soname}: ${d}"
! grep -qF "${repo}" <<<"${d}" || fail "CMake demo points into the repository: ${d}"
! grep -q 'libwsbeat' <<<"$(readelf -d build/demo_static)" || fail "CMake demo_static needs libwsbeat.so"
run_demo "CMake shared" ./build/demo "$URL"
run_demo "CMake static" ./build/demo_static "$URL"

# The package's version rule: 0.MINOR must match while the major version is 0.
mkdir -p vcheck
cat >vcheck/CMakeLists.txt <<EOF
cmake_minimum_required(VERSION 3.16)
project(vcheck C)
find_package(wsbeat 0.$((minor + 1)) CONFIG QUIET)
if(wsbeat_FOUND)
  message(FATAL_ERROR "0.$((minor + 1)) was accepted by ${version}")
endif()
find_package(wsbeat 0.${minor}...0.$((minor + 5)) CONFIG REQUIRED)
EOF
cmake -S vcheck -B vbuild -DCMAKE_PREFIX_PATH="$PREFIX" >/dev/null || fail "the CMake package's version rule"
echo "CMake version rule: 0.$((minor + 1)) refused, 0.${minor}...0.$((minor + 5)) found"

# --- --destdir: staged under STAGE, the files name the final prefix ---------------------------
cd "${repo}"
if [ "${WSBEAT_C_INSTALL_PROFILE:-debug}" = release ]; then profile=--release; else profile=--debug; fi
scripts/install-c.sh --prefix /opt/wsbeat --destdir "${work}/stage" "${profile}"
[ -f "${work}/stage/opt/wsbeat/lib/libwsbeat.so.${version}" ] || fail "--destdir: nothing under STAGE/opt/wsbeat"
grep -qx 'prefix=/opt/wsbeat' "${work}/stage/opt/wsbeat/lib/pkgconfig/wsbeat.pc" || fail "--destdir: wsbeat.pc does not name /opt/wsbeat"
echo "35-c-install: all checks passed"
