#!/usr/bin/env bash
# Installs the benchmark peer (Hive Gateway + GraphQL Mesh compose + @omnigraph/json-schema,
# exact versions from package-lock.json) under bench/peer/node_modules, and checks that
# the supergraph composes. Needs Node.js >= 20 and npm; the npm registry is the only
# network it uses. The harness (go run ./bench) composes again at every run, against the
# simulator it starts, so nothing composed here is reused.
#
#   bench/peer/setup.sh                 install, then compose against a throwaway simulator
#   AMR_URL=http://127.0.0.1:PORT AMR_API_KEY=KEY bench/peer/setup.sh
#                                       install, then compose against a running `gateway sim`
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "setup.sh: node and npm are needed for the peer (Node.js >= 20); the harness skips the peer without them" >&2
  exit 1
fi
# Exact versions: package.json pins the direct dependencies, package-lock.json all of them.
# Some transitive packages declare node >= 22 (EBADENGINE warnings); they run on node 20.
if [ -f package-lock.json ]; then
  echo "== npm ci ($(node --version), npm $(npm --version))"
  npm ci --no-audit --no-fund --loglevel=error
else
  echo "== npm install ($(node --version), npm $(npm --version)): no package-lock.json"
  npm install --no-audit --no-fund --loglevel=error
fi

sim_pid=""
cleanup() { if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

if [ -z "${AMR_URL:-}" ]; then
  echo "== starting a throwaway AMR simulator (gateway sim) to compose against"
  repo="$(cd ../.. && pwd)"
  tmp="$(mktemp -d)"
  (cd "$repo" && go build -o "$tmp/gateway" ./cmd/gateway)
  "$tmp/gateway" sim --data "$tmp/data" --citizens 1000 --enterprises 100 --credit-records 100 >"$tmp/sim.log" 2>&1 &
  sim_pid=$!
  for _ in $(seq 1 100); do
    grep -q "A gateway for these simulators" "$tmp/sim.log" 2>/dev/null && break
    sleep 0.2
  done
  AMR_URL="$(sed -n 's/.*department=amr protocol=rest addr=\(http[^ ]*\).*/\1/p' "$tmp/sim.log")"
  AMR_API_KEY="$(awk '/- id: amr/{a=1} a&&/key:/{print $2; exit}' "$tmp/data/sim/gateway.yaml")"
  export AMR_URL AMR_API_KEY
fi

echo "== mesh-compose against $AMR_URL"
AMR_URL="$AMR_URL" AMR_API_KEY="${AMR_API_KEY:-}" ./node_modules/.bin/mesh-compose -o supergraph.graphql
grep -q "legalRepEnterprises" supergraph.graphql
echo "== OK: bench/peer/supergraph.graphql composed; run the benchmark with: go run ./bench"
