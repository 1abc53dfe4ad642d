#!/usr/bin/env bash
# Idempotent setup shared by run.sh and test.sh: the system libraries Qt needs, a virtual
# environment in .venv, and the Python packages. A second run only checks and returns.
#
#   scripts/bootstrap.sh app   # what the app needs (requirements.txt)
#   scripts/bootstrap.sh dev   # plus the test and lint tools (requirements-dev.txt)
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${1:-app}
case "$profile" in
  app) requirements=requirements.txt ;;
  dev) requirements=requirements-dev.txt ;;
  *) echo "usage: $0 app|dev" >&2; exit 2 ;;
esac
python=${PYTHON:-python3}
venv=.venv

say() { printf '[setup] %s\n' "$*" >&2; }

# Debian packages that a bare machine lacks and the PySide6 wheel does not bring: GL/EGL, fonts,
# the xcb libraries of Qt's desktop platform plugin, and a font with Bengali digits (NumtaDB).
system_packages=(
  python3-venv libgl1 libegl1 libglib2.0-0 libdbus-1-3 libfontconfig1 libfreetype6
  libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0
  libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1
  fonts-dejavu-core fonts-lohit-beng-bengali
)

install_system_packages() {
  command -v dpkg-query >/dev/null 2>&1 || return 0   # not Debian-like: nothing we can check
  local missing=()
  for package in "${system_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo)
    else
      say "missing system packages (Qt may not start): ${missing[*]}"
      say "install them with: sudo apt-get install ${missing[*]}"
      return 0
    fi
  fi
  say "installing system packages: ${missing[*]}"
  # A failure here is reported, not fatal: headless tests need none of these, and the app
  # says which library is missing when Qt cannot start.
  if ! { "${sudo[@]}" apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
           --no-install-recommends "${missing[@]}" >/dev/null; }; then
    say "could not install: ${missing[*]} (try: sudo apt-get install ${missing[*]})"
  fi
}

check_python() {
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    say "CNN Studio needs Python 3.11 or newer; '$python' is $("$python" --version 2>&1)."
    say "Set PYTHON=/path/to/python3.11 and run again."
    exit 1
  fi
}

make_venv() {
  [ -x "$venv/bin/python" ] && return 0
  say "creating the virtual environment in $venv"
  "$python" -m venv "$venv"
}

install_requirements() {
  # The stamp holds a hash of the requirement files and the interpreter: unchanged, nothing to do.
  local stamp="$venv/.requirements-$profile.sha256"
  local want
  want=$(cat requirements.txt "$requirements" <("$venv/bin/python" --version) | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  say "installing Python packages from $requirements"
  "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$requirements"
  echo "$want" > "$stamp"
}

install_system_packages
check_python
make_venv
install_requirements
