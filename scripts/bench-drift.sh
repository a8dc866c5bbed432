#!/usr/bin/env bash
# Drift bench: `tfops drift` beside `terraform plan -refresh=false` on the same generated
# workspace of 10,000 terraform_data resources (state in Terraform's exact format; applying
# 10k takes too long), in the same run: wall time and peak memory, and both ratios.
# Usage: scripts/bench-drift.sh [RESOURCES=10000] [RUNS=5]
# Needs: a release build (built here once), terraform on PATH (or $TFOPS_TERRAFORM), python3,
# GNU time at /usr/bin/time for peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
runs=${2:-5}
tf=${TFOPS_TERRAFORM_PLAN:-$(command -v terraform)}
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

ours() { "$bin" --root "$ws" drift --json; }
plan() { (cd "$ws/iac" && "$tf" plan -refresh=false -input=false -no-color -detailed-exitcode); }

read -r ours_b ours_m < <(timeit ours)
# Terraform takes seconds per plan here: one run is its measure.
runs_saved=$runs; runs=1
read -r plan_b plan_m < <(timeit plan)
runs=$runs_saved
echo "tfops drift --json                best ${ours_b} ms, median ${ours_m} ms"
echo "terraform plan -refresh=false     ${plan_m} ms (one run)"
peak() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F: '/Maximum resident/ {gsub(/ /, "", $2); print $2}'; }
if [ -x /usr/bin/time ]; then
  ours_kb=$(peak "$bin" --root "$ws" drift --json)
  plan_kb=$(cd "$ws/iac" && peak "$tf" plan -refresh=false -input=false -no-color)
  echo "peak memory: tfops $((ours_kb / 1024)) MB, terraform $((plan_kb / 1024)) MB"
  awk -v o="$ours_m" -v p="$plan_m" -v om="$ours_kb" -v pm="$plan_kb" 'BEGIN {
    printf "ratios: %.1fx faster than terraform plan (goal >= 50x), %.1fx less memory (goal >= 10x)\n", p / o, pm / om }'
else
  awk -v o="$ours_m" -v p="$plan_m" 'BEGIN { printf "ratio: %.1fx faster than terraform plan (goal >= 50x)\n", p / o }'
fi
# Both must find the same drift (one resource in a thousand).
echo "tfops:     $("$bin" --root "$ws" drift --no-color | tail -1)"
echo "terraform: $(cd "$ws/iac" && "$tf" plan -refresh=false -input=false -no-color 2>/dev/null | grep -E '^Plan:|No changes' | head -1)"
