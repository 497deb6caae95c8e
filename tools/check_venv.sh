#!/usr/bin/env bash
# The Makefile runs this before anything uses .venv:
#
#     bash tools/check_venv.sh PYTHON VENV MIN_VERSION ORIGIN
#
# PYTHON is the interpreter `make` would build VENV with (`python3.11` unless PYTHON=... is
# given), MIN_VERSION the oldest Python coursekit supports ("3.11", pyproject.toml's
# requires-python), ORIGIN how PYTHON was chosen (make's $(origin PYTHON): "command line" or
# "environment" when the user chose it).
#
# - A VENV that is broken (its python does not start, or has no pip: a half-made venv, or one
#   whose interpreter was removed), made by an unsupported Python, or made by another
#   interpreter than the PYTHON the user asked for is removed, saying why; make then rebuilds it.
# - When VENV has to be (re)built, PYTHON must exist, be MIN_VERSION or newer and have the
#   venv module; otherwise this stops with a message naming what was found and how to choose
#   another interpreter (PYTHON=...).
#
# Prints "ok" on its last line of stdout when make may go on; messages go to stderr.
set -uo pipefail

python="${1:-}"
venv="${2:-.venv}"
min="${3:-3.11}"
origin="${4:-file}"

say() { printf 'make: %s\n' "$*" >&2; }

# "3.12.1 /root/.pyenv/versions/3.12.1" for an interpreter: version, then its base prefix
# (the same for an interpreter and every venv made from it). Works on Python 2 as well, so
# an old interpreter is named rather than crashing.
identity='import sys, os; print("%d.%d.%d %s" % (sys.version_info[:3] + (os.path.realpath(getattr(sys, "base_prefix", sys.prefix)),)))'

# True when version $1 (x.y or x.y.z) is at least $min.
at_least() {
    local major minor want_major want_minor
    IFS=. read -r major minor _ <<<"$1"
    IFS=. read -r want_major want_minor _ <<<"$min"
    ((major > want_major || (major == want_major && minor >= want_minor)))
}

remove_venv() {
    say "$venv $1; removing it (it is rebuilt next)."
    rm -rf "$venv"
}

if [[ -e "$venv" || -L "$venv" ]]; then
    if ! venv_id="$("$venv/bin/python" -c "$identity" 2>/dev/null)"; then
        remove_venv "is broken: $venv/bin/python does not run (its interpreter was moved or removed?)"
    elif ! at_least "${venv_id%% *}"; then
        remove_venv "was made by Python ${venv_id%% *}; coursekit needs Python $min or newer"
    elif ! "$venv/bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("pip") is None)' 2>/dev/null; then
        remove_venv "is incomplete: it has no pip (an interrupted set-up?)"
    elif [[ "$origin" == "command line" || "$origin" == "environment" ]]; then
        # The user chose PYTHON: a .venv made by another interpreter is not what they asked for.
        if python_id="$("$python" -c "$identity" 2>/dev/null)" && [[ "$python_id" != "$venv_id" ]]; then
            remove_venv "was made by Python ${venv_id/ / (}) but PYTHON=$python is Python ${python_id/ / (})"
        fi
    fi
fi

if [[ ! -e "$venv" ]]; then
    how="Install Python $min or newer (3.11 to 3.13 are supported), then run e.g. \`make lab PYTHON=python3.12\` or \`make lab PYTHON=/path/to/python3\`."
    if [[ -z "$python" ]]; then
        say "no Python found (looked for python3.11, python3.12, python3.13, python3). $how"
        exit 1
    fi
    if ! python_id="$("$python" -c "$identity" 2>/dev/null)"; then
        say "PYTHON=$python does not run. $how"
        exit 1
    fi
    python_version="${python_id%% *}"
    if ! at_least "$python_version"; then
        say "PYTHON=$python is Python $python_version; coursekit needs Python $min or newer. $how"
        exit 1
    fi
    if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
        say "PYTHON=$python (Python $python_version) lacks the venv module. On Debian or Ubuntu: \`sudo apt install python${python_version%.*}-venv\`; or choose another with PYTHON=..."
        exit 1
    fi
fi
echo ok
