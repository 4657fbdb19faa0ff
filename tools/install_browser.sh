#!/usr/bin/env bash
# What tests/test_browser.py needs besides Python packages: Debian's Chromium at
# /usr/bin/chromium (Playwright drives it; Playwright's own browser download is not used).
# Installs it only when it is missing and we are root; otherwise says why not and goes on.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    echo "chromium: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null; then
    echo "chromium is missing and cannot be installed here (needs root and apt-get):" \
         "tests/test_browser.py will be skipped" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q chromium
/usr/bin/chromium --version
