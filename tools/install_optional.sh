#!/usr/bin/env bash
# usage: bash tools/install_optional.sh COMMAND PACKAGE [PACKAGE ...]
# Make sure COMMAND is installed; install the Debian PACKAGEs with apt-get when it is missing
# and this user may. Used for what the tests need but can do without: bubblewrap (bwrap, the
# grader's sandbox: `make test`, `make grade`) and Slurm with munge (slurmctld: the test that
# grades a class as a real Slurm array job, in `make test-slow`). Never fails: when COMMAND
# cannot be had, it says how to get it, and the tests that need it are skipped with a reason
# (without bwrap, `python -m coursekit grade` refuses to run unless --no-sandbox).
set -uo pipefail

COMMAND="$1"
shift
if command -v "$COMMAND" >/dev/null || [[ -x "/usr/sbin/$COMMAND" ]]; then
    exit 0
fi
if [[ "$(id -u)" -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo)
else
    echo "install_optional: $COMMAND is missing; install your system's package(s) $*" \
        "(Debian/Ubuntu: sudo apt-get install $*)" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "install_optional: $COMMAND is missing and there is no apt-get here;" \
        "install the package(s) $* with your system's package manager" >&2
    exit 0
fi
echo "install_optional: installing Debian's $*" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q >&2 || true
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "$@" >&2 \
    || echo "install_optional: the install failed; the tests that need $COMMAND will be skipped" >&2
