#!/usr/bin/env bash
# Set up everything waorch needs on a fresh Debian/Ubuntu machine with Python 3.11+:
# system packages (when missing), a virtualenv in .venv, and waorch with pinned dependencies.
# Usage: scripts/bootstrap.sh [--test]   (--test also installs the test tools, microsocks, tmux and redis-server)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1
python=${PYTHON:-python3}

"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "waorch needs Python 3.11 or newer; $python is $("$python" --version 2>&1)" >&2; exit 1; }

say() { echo "waorch setup: $*" >&2; }  # what the first set-up is doing (it takes about 30 s)

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

"$python" -m venv --help >/dev/null 2>&1 && "$python" -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
# redis-server: Debian's Redis 7.0 (no WAITAOF), the second server the tests run on besides the embedded Valkey
[ "$want_test" = 1 ] && apt_install microsocks libmagic1 tmux redis-server
command -v file >/dev/null 2>&1 || apt_install libmagic1

fresh() { [ -f "$1" ] && [ ! pyproject.toml -nt "$1" ]; }  # installed, and since the last pin change
if [ "$want_test" = 1 ]; then
  stamp=.venv/.installed-test extras="[test]"
elif fresh .venv/.installed-test; then
  stamp=.venv/.installed-test extras="[test]"  # the test install holds everything the app needs
else
  stamp=.venv/.installed extras=""
fi
if ! fresh "$stamp"; then
  [ -x .venv/bin/python ] || { say "creating the virtualenv in .venv"; "$python" -m venv .venv; }
  say "installing waorch and its pinned dependencies${extras:+ with the test tools} into .venv (about 30 s the first time)"
  .venv/bin/pip install -q --disable-pip-version-check -e ".$extras" 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -c 'import waorch'
  touch "$stamp"
  say "ready"
fi
