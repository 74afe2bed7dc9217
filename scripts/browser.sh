#!/usr/bin/env bash
# Makes sure a headless browser is there for the report's browser test: Debian's `chromium`
# (and a font package, which chromium does not depend on). Installs them when run as root on
# a Debian machine, as `make up` does for Prometheus; otherwise says what to install.
set -euo pipefail
LIB_NAME="browser"
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if command -v chromium >/dev/null 2>&1 && [[ -d /usr/share/fonts/truetype/dejavu ]]; then
  exit 0
fi
if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
  die "chromium missing: apt-get install chromium fonts-dejavu-core (as root)"
fi
say "installing Debian packages chromium fonts-dejavu-core"
log=$(mktemp)
{
  DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
} >"$log" 2>&1 || {
  tail -n 30 "$log" >&2
  die "apt-get install chromium fonts-dejavu-core failed"
}
rm -f "$log"
chromium --version
