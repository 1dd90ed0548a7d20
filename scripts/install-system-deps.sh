#!/usr/bin/env bash
# Install the Debian packages the test suite and benchmarks use, if any is missing.
#   chromium          browser tests (Playwright drives /usr/bin/chromium; never `playwright install`)
#   nginx-light|nginx forward-auth tests (auth_request)
#   wrk               load benchmarks
#   caddy             forward-auth tests behind Caddy (forward_auth); its service is not left running
#   libpango-1.0-0, libpangoft2-1.0-0   WeasyPrint (posture report as PDF) lays text out with pango
# Quick and silent when everything is there; apt-get update only when something must be installed.
# Not root: warns about what is missing and exits 0, so the tests that need it skip (or fail in CI).
set -euo pipefail

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing=()
is_installed chromium || missing+=(chromium)
is_installed nginx-light || is_installed nginx || missing+=(nginx-light)
is_installed wrk || missing+=(wrk)
is_installed caddy || missing+=(caddy)
is_installed libpango-1.0-0 || missing+=(libpango-1.0-0)
is_installed libpangoft2-1.0-0 || missing+=(libpangoft2-1.0-0)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "WARNING: missing Debian packages: ${missing[*]}" >&2
    echo "WARNING: as root, run: apt-get install ${missing[*]}; the tests that need them will skip." >&2
    exit 0
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Another apt/dpkg may be running (e.g. an unattended install): wait up to 10 minutes for its lock.
apt_opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)
apt-get "${apt_opts[@]}" update -qq
apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}"
# Debian's caddy package enables a server on port 80; the tests start their own.
if [[ " ${missing[*]} " == *" caddy "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now caddy.service || true
fi
echo "install-system-deps: done"
