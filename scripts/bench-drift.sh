#!/usr/bin/env bash
# Drift bench: `tfops drift` on a generated workspace of 10,000 resources (~1.8 MB of HCL in
# 10 files, ~6.8 MB of state), timed in the same run beside Terraform reading the same files:
# `terraform fmt -check` on the .tf files plus `terraform state list -state=`.
# Usage: scripts/bench-drift.sh [RESOURCES=10000] [RUNS=5]
# Needs: a release build (built here once), terraform on PATH (or $TFOPS_TERRAFORM), python3,
# GNU time at /usr/bin/time for peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
runs=${2:-5}
tf=${TFOPS_TERRAFORM:-$(command -v terraform)}
ws=$(mktemp -d /tmp/tfops-bench-drift.XXXXXX)
trap 'rm -rf "$ws"' EXIT
python3 scripts/gen-drift-workspace.py "$ws" "$n" 10
cargo build --release --quiet
bin=$PWD/target/release/tfops
export TF_CLI_CONFIG_FILE=/dev/null CHECKPOINT_DISABLE=1
echo "workspace: $n resources, $(cat "$ws"/iac/*.tf | wc -c) bytes of HCL, $(wc -c <"$ws/iac/terraform.tfstate") bytes of state; $runs runs each, best and median"

# Runs "$@" $runs times; prints best and median wall time in ms.
timeit() {
  local t=()
  for _ in $(seq "$runs"); do
    local s e
    s=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    e=$(date +%s%N)
    t+=($(( (e - s) / 1000000 )))
  done
  printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {print a[1], a[int((NR+1)/2)]}'
}

fmt() { (cd "$ws/iac" && "$tf" fmt -check -list=false .); }
list() { "$tf" state list -state="$ws/iac/terraform.tfstate"; }
both() { fmt; list; }
ours() { "$bin" --root "$ws" drift --json; }

read -r ours_b ours_m < <(timeit ours)
read -r fmt_b fmt_m < <(timeit fmt)
read -r list_b list_m < <(timeit list)
read -r both_b both_m < <(timeit both)
echo "tfops drift --json         best ${ours_b} ms, median ${ours_m} ms"
echo "terraform fmt -check       best ${fmt_b} ms, median ${fmt_m} ms"
echo "terraform state list       best ${list_b} ms, median ${list_m} ms"
echo "fmt -check + state list    best ${both_b} ms, median ${both_m} ms"
awk -v o="$ours_m" -v b="$both_m" -v l="$list_m" 'BEGIN {
  printf "ratio (median): %.1fx faster than fmt -check + state list (goal >= 10x), %.1fx faster than state list alone (goal >= 2x)\n", b / o, l / o }'
if [ -x /usr/bin/time ]; then
  peak=$(/usr/bin/time -v "$bin" --root "$ws" drift --json 2>&1 >/dev/null | awk -F: '/Maximum resident/ {gsub(/ /, "", $2); print $2}')
  echo "peak memory (tfops drift): $((peak / 1024)) MB (goal <= 150 MB)"
fi
"$bin" --root "$ws" drift | tail -1
