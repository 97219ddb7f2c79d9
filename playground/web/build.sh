#!/bin/sh
# build.sh bundles the playground from src/ and the exact npm versions in
# package-lock.json into ../static/app.js, gathers the licences of everything in the
# bundle into ../static/THIRD_PARTY_LICENSES.txt, and writes MANIFEST.sha256: the
# checksums of the inputs and of what was built from them. The outputs are committed, so
# neither `go run ./cmd/gateway` nor `go test ./...` needs node; playground's
# TestBundleManifest fails when an input or an output no longer matches the manifest,
# i.e. when someone changed src/ or the lock file without running this script.
# See docs/playground.md.
set -eu
cd "$(dirname "$0")"

# npm ci installs exactly the lock file, or fails: no version is resolved at build time.
npm ci --no-audit --no-fund --loglevel=error

node_modules/.bin/esbuild src/app.js \
  --bundle --format=esm --target=es2020 --minify \
  --charset=utf8 --legal-comments=none \
  --banner:js='/* The gateway playground, built by playground/web/build.sh. Third-party licences: THIRD_PARTY_LICENSES.txt */' \
  --log-level=warning \
  --outfile=../static/app.js

node licenses.mjs > ../static/THIRD_PARTY_LICENSES.txt

# The manifest lists paths relative to this directory, sorted, so it is byte-identical
# from one build of the same inputs to the next.
{
  for f in build.sh licenses.mjs package.json package-lock.json $(ls src/*.js | LC_ALL=C sort) ../static/app.js ../static/THIRD_PARTY_LICENSES.txt; do
    sha256sum "$f"
  done
} > MANIFEST.sha256
echo "built ../static/app.js ($(wc -c < ../static/app.js) bytes); manifest in MANIFEST.sha256"
