#!/usr/bin/env bash
# Installs the host tools that building the .deb and the systemd end-to-end test need, only when missing.
# Debian bookworm, as root. Safe to run again: it does nothing when every tool is there.
set -euo pipefail

# tool on PATH (or file) -> Debian package that provides it
declare -A NEEDS=(
  [systemd-nspawn]=systemd-container
  [debootstrap]=debootstrap
  [dh_virtualenv]=dh-virtualenv
  [dh]=debhelper
  [dpkg-buildpackage]=dpkg-dev
  [fakeroot]=fakeroot
  [systemd-analyze]=systemd
  [nsenter]=util-linux
  [/usr/bin/python3]=python3
  [/usr/lib/python3.11/venv/scripts/common/activate]=python3.11-venv
  [/usr/share/keyrings/debian-archive-keyring.gpg]=debian-archive-keyring
)

missing=()
for tool in "${!NEEDS[@]}"; do
  if [[ $tool == /* ]]; then
    [[ -e $tool ]] || missing+=("${NEEDS[$tool]}")
  else
    command -v "$tool" >/dev/null 2>&1 || missing+=("${NEEDS[$tool]}")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi
if ((EUID != 0)); then
  echo "host-deps: missing packages (${missing[*]}); run $0 as root to install them" >&2
  exit 1
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "host-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends: dh-virtualenv recommends a compiler toolchain and the like we do not need.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
