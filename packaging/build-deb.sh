#!/usr/bin/env bash
# Builds the lazy-transcode .deb (dh-virtualenv) from this work tree: `make deb` calls it.
#
#   packaging/build-deb.sh [OUTDIR]     (default OUTDIR: dist/; prints the .deb's path last)
#
# Built on the host, not in a build container: the package's venv must run under the target's
# /usr/bin/python3, and this host is Debian bookworm with the same Debian python3.11 (3.11.2) as
# the bookworm systems it is for, so a venv made here is the one a bookworm build container would
# make, minus the minute a container costs. On a host that is not bookworm this script refuses.
# Needs: debhelper, dh-virtualenv, python3.11-venv (packaging/ci/host-deps.sh installs them), and
# PyPI for the wheels. Works on a copy of the sources: the work tree is never touched.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
out=${1:-$top/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)

. /etc/os-release
if [[ ${VERSION_CODENAME:-} != bookworm ]]; then
  echo "build-deb: this host is ${PRETTY_NAME:-unknown}; build on Debian bookworm (its python3.11 is the target's)" >&2
  exit 1
fi
for tool in dpkg-buildpackage dh dh_virtualenv; do
  if ! command -v "$tool" >/dev/null; then
    echo "build-deb: $tool is missing: run packaging/ci/host-deps.sh as root" >&2
    exit 1
  fi
done
if [[ ! -x /usr/bin/python3 ]] || ! /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "build-deb: Debian's /usr/bin/python3 with venv is missing: run packaging/ci/host-deps.sh as root" >&2
  exit 1
fi

version=$(/usr/bin/python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' \
  "$top/pyproject.toml")

work=$(mktemp -d /tmp/lazy-transcode-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
src="$work/lazy-transcode-$version"
mkdir -p "$src"
# Only what the package is made of: no .venv, caches or tests.
cp -a "$top/pyproject.toml" "$top/README.md" "$top/lazy_transcode" "$top/systemd" "$src/"
mkdir -p "$src/packaging"
cp -a "$top/packaging/config.toml" "$src/packaging/"
cp -a "$top/packaging/debian" "$src/debian"
find "$src" \( -name __pycache__ -o -name '*.pyc' -o -name .debhelper \) -prune -exec rm -rf {} +

# The package version follows pyproject.toml.
sed -i "1s/^lazy-transcode ([^)]*)/lazy-transcode ($version)/" "$src/debian/changelog"

log="$work/build.log"
if ! (cd "$src" && dpkg-buildpackage -b -us -uc --no-pre-clean >"$log" 2>&1); then
  tail -n 40 "$log" >&2
  echo "build-deb: dpkg-buildpackage failed (last lines above)" >&2
  exit 1
fi
deb=$(ls "$work"/lazy-transcode_"$version"_*.deb)
cp "$deb" "$out/"
echo "$out/$(basename "$deb")"
