#!/usr/bin/env bash
# End-to-end tests in a real browser: `make e2e` (one lesson) or `make e2e E2E_LESSONS=all`.
#
# 1. Debian's Chromium, installed with apt-get when missing (no browser downloads here).
# 2. pytest e2e/: the rendered course (`make html`'s pages) checked in Chromium, then each
#    chosen lesson run in JupyterLab, started by `make lab` on a temporary copy of the
#    lessons, with Run -> Run All Cells. Screenshots and the server log go to build/e2e/.
#
# Usage: tools/e2e.sh [LESSONS] [pytest args...]; LESSONS is "all" or "01,03" (default:
# $E2E_LESSONS, else 01). Extra arguments go to pytest (e.g. -k html).
set -euo pipefail
cd "$(dirname "$0")/.."

lessons="${1:-${E2E_LESSONS:-01}}"
shift || true

CHROMIUM="$(bash tools/install_chromium.sh)"
export CHROMIUM

exec .venv/bin/python -m pytest e2e -v -p no:cacheprovider --lessons "$lessons" "$@"
