#!/usr/bin/env bash
# Make sure bubblewrap (bwrap), the grader's sandbox, is installed; install Debian's package
# with apt-get when it is missing and this user may. `make test` and `make grade` call it.
# Without it, `python -m coursekit grade` refuses to run (unless --no-sandbox) and the
# grading tests are skipped, so a machine that cannot install it still runs the rest.
set -uo pipefail

if command -v bwrap >/dev/null; then
    exit 0
fi
if [[ "$(id -u)" -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo)
else
    echo "install_bubblewrap: bwrap is missing; install your system's 'bubblewrap' package" \
        "(Debian/Ubuntu: sudo apt-get install bubblewrap) to grade in a sandbox" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "install_bubblewrap: bwrap is missing and there is no apt-get here;" \
        "install the 'bubblewrap' package with your system's package manager" >&2
    exit 0
fi
echo "install_bubblewrap: installing Debian's bubblewrap package" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q >&2 || true
"${SUDO[@]}" apt-get install -y -q --no-install-recommends bubblewrap >&2 \
    || echo "install_bubblewrap: the install failed; grading tests will be skipped" >&2
