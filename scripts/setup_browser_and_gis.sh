#!/usr/bin/env bash
# Debian packages the web tests drive for real: Chromium (browser tests, with
# CJK fonts for screenshots) and GDAL's command-line tools (ogrinfo reads the
# OGC API – Features endpoint); and wrk, the load generator of
# bench/bench_web.py. Idempotent; needs root (CI is).
set -euo pipefail

if [ "$(id -u)" != "0" ]; then
    echo "setup_browser_and_gis: not root; browser and GDAL tests need chromium and gdal-bin" >&2
    exit 0
fi

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v ogrinfo >/dev/null || missing+=(gdal-bin)
fc-list 2>/dev/null | grep -qi "noto sans cjk" || missing+=(fonts-noto-cjk)
command -v wrk >/dev/null || missing+=(wrk)
# faketime: tests/test_clock.py runs the date-sensitive tests a year ahead.
command -v faketime >/dev/null || missing+=(faketime)
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
