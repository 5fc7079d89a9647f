#!/usr/bin/env bash
# The Debian packages the test suite runs for real: PostgreSQL (the central server's second database), Mosquitto
# (the MQTT broker), Chromium and its WebDriver (the pages in a real browser). `make test` runs this once (then only when this file changes);
# it installs what is missing with apt-get, as root or through sudo, and says so.
set -euo pipefail
PACKAGES=(postgresql chromium chromium-driver mosquitto)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing the Debian packages the tests need: ${missing[*]}"
if ! command -v apt-get >/dev/null; then
    echo "no apt-get here: install ${missing[*]} by hand (or your system's equivalents)" >&2
    exit 1
fi
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
