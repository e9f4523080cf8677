#!/usr/bin/env bash
# Installs the npm packages the browser tests inject (axe-core), only when
# missing, into a cache folder outside the repository. The tests find it at
# the same path (ATLAS11_NPM_DIR overrides it) and fail, not skip, without it.
set -euo pipefail
dir="${ATLAS11_NPM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/atlas11/npm}"
axe="$dir/node_modules/axe-core/axe.min.js"
if [ ! -f "$axe" ]; then
  command -v npm >/dev/null 2>&1 || {
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends npm >/dev/null
  }
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --silent axe-core@4.14.1 >/dev/null
fi
test -f "$axe"
echo "npm-deps: axe-core at $axe"
