#!/usr/bin/env bash
# Debian's Chromium, which the browser tests drive (playwright with the system browser: nothing
# downloads a browser of its own). Already there: nothing to do. Not root and no sudo, or no
# apt: say so and exit 0, so that the tests skip with their reason instead of the build failing.
set -uo pipefail
if command -v chromium >/dev/null 2>&1; then
    echo "chromium: $(chromium --version 2>/dev/null)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium is not installed and apt-get is absent: the browser tests will skip" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
        echo "chromium is not installed and this user cannot install it: the browser tests will skip" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
if $SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null 2>&1 \
         && $SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; }; then
    echo "chromium installed: $(chromium --version 2>/dev/null)"
else
    echo "chromium could not be installed from Debian's packages: the browser tests will skip" >&2
fi
exit 0
