#!/usr/bin/env bash
# Make sure Debian's Chromium is installed; install it with apt-get when it is missing.
# Browser downloads by test tools (`playwright install`) fail on the course machines, so the
# end-to-end tests drive this system Chromium instead. Prints the browser's path.
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [[ ! -x "$CHROMIUM" ]]; then
    if [[ "$CHROMIUM" != /usr/bin/chromium ]]; then
        echo "install_chromium: CHROMIUM=$CHROMIUM is not an executable" >&2
        exit 1
    fi
    if [[ "$(id -u)" -eq 0 ]]; then
        SUDO=()
    elif command -v sudo >/dev/null; then
        SUDO=(sudo)
    else
        echo "install_chromium: /usr/bin/chromium is missing and this user cannot run apt-get;" \
            "install Debian's 'chromium' package (or set CHROMIUM=/path/to/chromium)" >&2
        exit 1
    fi
    echo "install_chromium: installing Debian's chromium package (about a minute)" >&2
    export DEBIAN_FRONTEND=noninteractive
    # A stale package list makes apt-get fetch files that no longer exist: refresh it first.
    "${SUDO[@]}" apt-get update -q >&2
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends chromium >&2
fi

"$CHROMIUM" --version >&2
echo "$CHROMIUM"
