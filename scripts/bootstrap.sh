#!/usr/bin/env bash
# Installs what mirrorlab needs on this machine, once, and is quick when everything is there:
#   - the Debian packages in scripts/apt-packages.txt that are missing (needs root, apt-get)
#   - a virtual environment .venv with the pinned Python packages of requirements.txt
# Re-runs are cheap: apt is skipped when dpkg already has every package, pip when the
# requirements file has not changed since the last successful install.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MIRRORLAB_VENV:-$ROOT/.venv}"
PYTHON="${MIRRORLAB_PYTHON:-python3}"

log() { printf 'bootstrap: %s\n' "$*" >&2; }

install_apt_packages() {
  local wanted missing=()
  mapfile -t wanted < <(grep -Ev '^\s*(#|$)' "$ROOT/scripts/apt-packages.txt")
  for pkg in "${wanted[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})"
    exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # wireshark-common asks whether non-root users may capture: keep the Debian default (no).
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_venv() {
  local stamp="$VENV/.mirrorlab-requirements.sha256" want
  want="$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1)"
  if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  log "creating the virtual environment $VENV (pinned packages of requirements.txt)"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip 2> >(grep -v "is ignored: it is neither" >&2)
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/requirements.txt" 2> >(grep -v "is ignored: it is neither" >&2)
  echo "$want" > "$stamp"
}

install_apt_packages
install_venv
