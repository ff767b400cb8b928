#!/usr/bin/env bash
# crates.io: the crates meant for it (wsbeat, wsbeat-testkit, wsbeat-cli) package and build
# from their packages alone, in dependency order (`cargo publish --workspace --dry-run`: each
# is verified against the others' packages, not the workspace), ship only what builds (no
# python/, bench/, scripts/, CI, C ABI, tests), carry both license texts, and their READMEs'
# links are absolute (crates.io and docs.rs render a README without the repository around it).
# wsbeat-ffi, wsbeat-tools and wsbeat-autobahn must stay unpublishable.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() {
  echo "15-package: FAIL: $*" >&2
  exit 1
}

publishable=(wsbeat wsbeat-testkit wsbeat-cli)

# publish = false where it must be; nothing else unpublishable by accident.
for crate in wsbeat-ffi wsbeat-tools wsbeat-autobahn; do
  manifest="$(cargo pkgid -p "${crate}" | sed 's|^path+file://||; s|#.*$||')/Cargo.toml"
  grep -qx 'publish = false' "${manifest}" || fail "${crate} must keep publish = false"
done

log="$(mktemp)"
trap 'rm -f "${log}"' EXIT
# --allow-dirty: the check is about the sources as they are (CI's clone is clean anyway).
# The dry run verifies each crate against the others through a local registry, whose sources
# cargo unpacks once under $CARGO_HOME and never refreshes (a published version is immutable):
# a second run on the same machine would build against the first run's wsbeat. None of these
# crates is on crates.io, so every unpacked copy is such a leftover.
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/wsbeat-*0.* \
  "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/wsbeat-0.* 2>/dev/null || true
if ! cargo publish --workspace --dry-run --allow-dirty >"${log}" 2>&1; then
  cat "${log}" >&2
  fail "cargo publish --workspace --dry-run"
fi
for crate in "${publishable[@]}"; do
  grep -q "Verifying ${crate} v" "${log}" || { cat "${log}" >&2; fail "${crate} was not verified"; }
done
for crate in wsbeat-ffi wsbeat-tools wsbeat-autobahn; do
  ! grep -q "Packaging ${crate} v" "${log}" || fail "${crate} was packaged"
done
# The only warnings allowed: the tests and examples left out on purpose, and the dry run itself.
other_warnings="$(grep '^warning:' "${log}" |
  grep -v -e 'as `tests/[^`]*` is not included in the published package' \
    -e 'as `examples/[^`]*` is not included in the published package' \
    -e 'aborting upload due to dry run' || true)"
[ -z "${other_warnings}" ] || { cat "${log}" >&2; fail "cargo publish warned: ${other_warnings}"; }

# What each package contains: only these files.
allowed='^(\.cargo_vcs_info\.json|Cargo\.toml|Cargo\.toml\.orig|Cargo\.lock|README\.md|README-crates\.md|LICENSE-MIT|LICENSE-APACHE|src/.*\.rs)$'
for crate in "${publishable[@]}"; do
  files="$(cargo package -p "${crate}" --list --allow-dirty 2>/dev/null)"
  stray="$(grep -Ev "${allowed}" <<<"${files}" || true)"
  [ -z "${stray}" ] || fail "${crate} would ship files outside its sources: ${stray}"
  for f in Cargo.toml README.md LICENSE-MIT LICENSE-APACHE; do
    grep -qx "${f}" <<<"${files}" || fail "${crate} does not ship ${f}"
  done
  grep -q '^src/' <<<"${files}" || fail "${crate} ships no sources"
  echo "${crate}: $(grep -c . <<<"${files}") files"
done
grep -qx 'src/lib.rs' <<<"$(cargo package -p wsbeat --list --allow-dirty 2>/dev/null)" ||
  fail "wsbeat does not ship src/lib.rs"

# The license texts are the real ones (the crates' copies are links to the root's).
grep -q 'Permission is hereby granted, free of charge' LICENSE-MIT || fail "LICENSE-MIT is not the MIT text"
grep -q 'Apache License' LICENSE-APACHE && grep -q 'Version 2.0, January 2004' LICENSE-APACHE ||
  fail "LICENSE-APACHE is not the Apache-2.0 text"
for dir in testkit cli; do
  for f in LICENSE-MIT LICENSE-APACHE; do
    cmp -s "${f}" "${dir}/${f}" || fail "${dir}/${f} differs from the root's ${f}"
  done
done

# Metadata crates.io shows.
for crate in "${publishable[@]}"; do
  manifest="$(cargo pkgid -p "${crate}" | sed 's|^path+file://||; s|#.*$||')/Cargo.toml"
  # (No `repository` yet: the project has no public home to name; see Cargo.toml.)
  for key in description documentation keywords categories readme; do
    grep -Eq "^${key}(\.workspace)? = " "${manifest}" || fail "${crate}: no ${key} in ${manifest}"
  done
done

# The READMEs crates.io shows (wsbeat's is README-crates.md; the repository's README.md keeps
# links relative to the repository): absolute (http(s)://) or in-page anchors only.
grep -qx 'README-crates.md' <<<"$(cargo package -p wsbeat --list --allow-dirty 2>/dev/null)" ||
  fail "wsbeat does not ship README-crates.md"
for readme in README-crates.md testkit/README.md cli/README.md; do
  relative="$(grep -oE '\]\([^)#][^)]*\)' "${readme}" | grep -vE '^\]\(https?://' || true)"
  [ -z "${relative}" ] || fail "${readme} has relative links (broken on crates.io/docs.rs): ${relative}"
done
echo "15-package: all checks passed"
