#!/usr/bin/env bash
# Drift at scale: `tfops drift --json` on generated workspaces of 10,000 and 100,000
# terraform_data resources (scripts/gen-drift-workspace.py: Terraform 1.11's state format, one
# resource in a thousand drifted), in the same run: wall time (best and median of RUNS) and
# peak resident memory (GNU time), then the 100k/10k ratios. Linear time is a ratio near 10.
# Usage: [BASE=other/tfops] scripts/bench-drift-scale.sh [RUNS=3] [BIN=target/release/tfops]
# With BASE, that binary (e.g. a build of the previous commit) is measured on the same
# workspaces in the same run, and the before/after ratios printed.
# Needs: python3, GNU time at /usr/bin/time; builds the release binary unless BIN is given.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
bin=${2:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet
  bin=$PWD/target/release/tfops
fi
[ -x /usr/bin/time ] || { echo "GNU time (/usr/bin/time) is needed for peak memory" >&2; exit 1; }
base=$(mktemp -d /tmp/tfops-bench-scale.XXXXXX)
trap 'rm -rf "$base"' EXIT

# Prints "best_ms median_ms median_peak_mb max_peak_mb" for `tfops drift --json` on workspace
# $1 (binary $2). Peak memory varies from run to run with the threads' timing: both are shown.
measure() {
  local ws=$1 bin=$2 t=() p=()
  for _ in $(seq "$runs"); do
    local s e kb
    s=$(date +%s%N)
    kb=$(/usr/bin/time -v "$bin" --root "$ws" drift --json 2>&1 >/dev/null |
      awk -F: '/Maximum resident/ {gsub(/ /, "", $2); print $2}')
    e=$(date +%s%N)
    t+=($(((e - s) / 1000000)))
    p+=($((kb / 1024)))
  done
  local med='{a[NR]=$1} END {print a[int((NR+1)/2)]}'
  echo "$(printf '%s\n' "${t[@]}" | sort -n | head -1) $(printf '%s\n' "${t[@]}" | sort -n | awk "$med")" \
    "$(printf '%s\n' "${p[@]}" | sort -n | awk "$med") $(printf '%s\n' "${p[@]}" | sort -n | tail -1)"
}

declare -A best median peak maxpeak
bins=(new)
[ -n "${BASE:-}" ] && bins=(base new)
for n in 10000 100000; do
  ws=$base/w$n
  python3 scripts/gen-drift-workspace.py "$ws" "$n" 10
  hcl=$(cat "$ws"/iac/*.tf | wc -c)
  st=$(wc -c <"$ws/iac/terraform.tfstate")
  for which in "${bins[@]}"; do
    b=$bin
    [ "$which" = base ] && b=$BASE
    read -r best[$which$n] median[$which$n] peak[$which$n] maxpeak[$which$n] < <(measure "$ws" "$b")
    drifted=$("$b" --root "$ws" drift --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["update"])')
    printf '%-4s %6d resources (%d MiB HCL, %d MiB state): best %5d ms, median %5d ms, peak %4d MiB (median; max %d); %d updates found\n' \
      "$which" "$n" $((hcl >> 20)) $((st >> 20)) "${best[$which$n]}" "${median[$which$n]}" "${peak[$which$n]}" "${maxpeak[$which$n]}" "$drifted"
  done
  rm -rf "$ws"
done
for which in "${bins[@]}"; do
  awk -v w="$which" -v a="${median[${which}10000]}" -v b="${median[${which}100000]}" \
    -v pa="${peak[${which}10000]}" -v pb="${peak[${which}100000]}" 'BEGIN {
    printf "%s: 100k / 10k: time %.1fx (linear is 10x), peak memory %.1fx; at 100k %d MiB median peak, goal <= 300 MiB (%s)\n",
      w, b / a, pb / pa, pb, (pb <= 300 ? "met" : "not met") }'
done
if [ -n "${BASE:-}" ]; then
  awk -v bt="${median[base100000]}" -v nt="${median[new100000]}" -v bp="${peak[base100000]}" -v np="${peak[new100000]}" 'BEGIN {
    printf "at 100k, new / base: time %.2fx, peak memory %.2fx\n", nt / bt, np / bp }'
fi
