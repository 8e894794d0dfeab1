# Shared by scripts/*: find Python 3.11+, create .venv and install the project when needed.
# Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

find_python() {
    for candidate in "${CIVICPULSE_PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "CivicPulse needs Python 3.11 or newer (set CIVICPULSE_PYTHON to its path)" >&2
    return 1
}

# ensure_venv [extras]: .venv with the project installed (editable); reinstalls when
# pyproject.toml changes.
ensure_venv() {
    local extras="${1:-}"
    local stamp=".venv/.installed${extras:+-$extras}"
    if [ ! -x .venv/bin/python ]; then
        "$(find_python)" -m venv .venv
    fi
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        echo "installing CivicPulse into .venv ..." >&2
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
        touch "$stamp"
    fi
}

# ensure_chromium: Debian's chromium for the resident page's browser test (Playwright drives it;
# it may not download browsers of its own). Installed with apt-get when missing and possible;
# when not, the test is skipped and says so, and so does this.
ensure_chromium() {
    if [ -n "${CIVICPULSE_CHROMIUM:-}" ] || [ -x /usr/lib/chromium/chromium ] ||
        command -v chromium >/dev/null 2>&1; then
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
    fi
    if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; }; then
        echo "installing chromium for the browser tests (apt-get install -y chromium) ..." >&2
        if $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null ||
            { $sudo apt-get update -q >/dev/null &&
                $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; then
            return 0
        fi
    fi
    echo "WARNING: no chromium, and it cannot be installed here: the resident page's browser" \
        "and accessibility test WILL BE SKIPPED (install Debian's chromium, or set" \
        "CIVICPULSE_CHROMIUM)" >&2
}
