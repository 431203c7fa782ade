#!/usr/bin/env bash
# Creates models/.venv with the exact pins of models/requirements.txt. Idempotent: does nothing when the
# venv exists and its stamp (hash of requirements.txt + Python version) matches; rebuilds it otherwise.
# Python: $PYTHON, else python3.11, else python3 (>= 3.11). On Debian, installs python3-venv when missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
stamp="$venv/.requirements.stamp"

py="${PYTHON:-}"
if [ -z "$py" ]; then
    if command -v python3.11 >/dev/null 2>&1; then py=python3.11; else py=python3; fi
fi
if ! "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    echo "models/setup.sh: need CPython >= 3.11 (set PYTHON=...); found: $("$py" --version 2>&1 || echo none)" >&2
    exit 1
fi
want="$(sha256sum "$req" | cut -d' ' -f1) $("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "models/.venv is up to date"
    exit 0
fi

if ! "$py" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get update -q >/dev/null && apt-get install -y -q python3-venv >/dev/null
    else
        echo "models/setup.sh: $py has no venv/ensurepip (Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
fi

echo "models/setup.sh: creating models/.venv ($("$py" --version))"
rm -rf "$venv"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --disable-pip-version-check -q --no-input -r "$req"
"$venv/bin/python" -m pip check --disable-pip-version-check
echo "$want" > "$stamp"
echo "models/.venv ready"
