#!/usr/bin/env bash
# Benchmark of a state snapshot against the raw filesystem tools, in the same run:
#   tfops backup of a generated state (read, sha256, validation, write, fsync, rename, meta.json)
#   versus `cp` + `sha256sum` of the same file (no validation, no fsync).
# Prints the medians, the ratio tfops / (cp + sha256sum) (goal <= 1.5), the peak memory of
# tfops (/usr/bin/time -v) against the state size (goal well under 3x), and checks that an
# unchanged state costs no new bytes (a hard link).
#
#   scripts/bench-snapshot.sh            # 50 MB, 5 runs
#   MB=200 RUNS=3 scripts/bench-snapshot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${MB:-50}
RUNS=${RUNS:-5}

cargo build --release --quiet
bin=$(pwd)/target/release/tfops

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ws/iac" "$work/copies"
state="$work/ws/iac/terraform.tfstate"

python3 - "$state" "$MB" <<'PY'
import json, sys
path, mb = sys.argv[1], int(sys.argv[2])
pad = "x" * 900
with open(path, "w") as f:
    f.write('{"version": 4, "terraform_version": "1.0.3", "serial": 1000000, '
            '"lineage": "6c1a0c2e-52b1-4a4b-9d6e-3f1c9a7b2d10", "outputs": {}, "resources": [')
    i, size = 0, 0
    while size < mb << 20:
        r = json.dumps({"mode": "managed", "type": "null_resource", "name": f"r{i}",
                        "provider": "provider[\"registry.terraform.io/hashicorp/null\"]",
                        "instances": [{"schema_version": 0,
                                       "attributes": {"id": str(i), "triggers": {"pad": pad}},
                                       "sensitive_attributes": []}]})
        f.write(("," if i else "") + r)
        size += len(r) + 1
        i += 1
    f.write("]}\n")
PY
bytes=$(stat -c %s "$state")

# Each run gets a different serial (same length) so that no run is deduplicated.
set_serial() {
  python3 - "$state" "$1" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    head = f.read(200)
    i = head.index(b'"serial": ') + len(b'"serial": ')
    f.seek(i)
    f.write(str(1000000 + n).encode())
PY
}

now_ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

cp_t=(); sha_t=(); tf_t=()
for i in $(seq 1 "$RUNS"); do
  set_serial "$i"
  rm -rf "$work/ws/backups" "$work/copies/"*
  sync
  cat "$state" >/dev/null # same page-cache state for everyone
  t0=$(now_ns); cp "$state" "$work/copies/copy"; t1=$(now_ns)
  sha256sum "$state" >/dev/null; t2=$(now_ns)
  "$bin" --root "$work/ws" backup >/dev/null 2>&1; t3=$(now_ns)
  cp_t+=($((t1 - t0))); sha_t+=($((t2 - t1))); tf_t+=($((t3 - t2)))
done

cp_m=$(printf '%s\n' "${cp_t[@]}" | median)
sha_m=$(printf '%s\n' "${sha_t[@]}" | median)
tf_m=$(printf '%s\n' "${tf_t[@]}" | median)

# Peak memory of one snapshot.
set_serial 99
rm -rf "$work/ws/backups"
/usr/bin/time -v "$bin" --root "$work/ws" backup >/dev/null 2>"$work/time.txt"
rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$work/time.txt")

# An unchanged state: a hard link, no new bytes.
before=$(du -sk --count-links "$work/ws/backups" | cut -f1)
before_real=$(du -sk "$work/ws/backups" | cut -f1)
"$bin" --root "$work/ws" backup >/dev/null 2>&1
after_real=$(du -sk "$work/ws/backups" | cut -f1)
links=$(find "$work/ws/backups" -name terraform.tfstate -printf '%n\n' | sort -u | tr '\n' ' ')

awk -v b="$bytes" -v cp="$cp_m" -v sha="$sha_m" -v tf="$tf_m" -v rss="$rss_kb" \
    -v nb="$before_real" -v na="$after_real" -v links="$links" -v runs="$RUNS" -v lb="$before" 'BEGIN {
  printf "state: %.1f MB, %d runs, medians\n", b / 1048576, runs
  printf "  cp                 %8.1f ms\n", cp / 1e6
  printf "  sha256sum          %8.1f ms\n", sha / 1e6
  printf "  cp + sha256sum     %8.1f ms\n", (cp + sha) / 1e6
  printf "  tfops backup       %8.1f ms  (process start, validation, fsync and meta.json included)\n", tf / 1e6
  printf "  ratio tfops / (cp + sha256sum) = %.2f  (goal <= 1.5)\n", tf / (cp + sha)
  printf "  peak RSS %.1f MB = %.2f x the state (goal well under 3x)\n", rss / 1024, rss * 1024 / b
  printf "  unchanged state: backups folder %d kB -> %d kB on disk (hard link count %s)\n", nb, na, links
}'
