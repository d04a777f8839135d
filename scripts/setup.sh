#!/usr/bin/env bash
# Set up everything geogrid needs on a fresh Debian machine with Python 3.11:
# a virtualenv in .venv with the project and its dependencies from PyPI.
# Idempotent and quick when nothing changed (a stamp keyed on pyproject.toml).
#
#   scripts/setup.sh          # to serve
#   scripts/setup.sh test     # to run the tests as well
set -euo pipefail
cd "$(dirname "$0")/.."

purpose="${1:-serve}"
python="${PYTHON:-python3}"

"$python" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"geogrid needs Python 3.11 or newer, found {sys.version.split()[0]}")
PY

if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi

extras=""
if [ "$purpose" = "test" ]; then
    extras="[test]"
    # The PostGIS store, the browser pages and the OGC endpoint are tested
    # against the real thing: a PostGIS server, Chromium and GDAL (Debian's).
    scripts/setup_postgis.sh
    scripts/setup_browser_and_gis.sh
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-${purpose}"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".${extras}"
    touch "$stamp"
fi
