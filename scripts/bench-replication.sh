#!/usr/bin/env bash
# Benchmark (#12): replicating a 50 MB state to an S3 server (moto on 127.0.0.1) with tfops,
# beside boto3's upload_file of the same bytes (what `aws s3 cp` does), in the same run.
# Prints seconds for each and the ratio. Not part of `cargo test`.
#
#   scripts/bench-replication.sh            # builds target/release/tfops first
#   TFOPS_BIN=target/debug/tfops scripts/bench-replication.sh
#
# tfops's replication time is `tfops backup` with a replica minus `tfops backup` without one
# (the local snapshot: read, hash, validate, write), each the median of RUNS runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
if [ ! -x .tools/venv/bin/moto_server ]; then
  python3 -m venv .tools/venv
  .tools/venv/bin/pip install -q "moto[server]"
fi
bin=${TFOPS_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release -q
  bin=target/release/tfops
fi
case "$bin" in
  /*) TFOPS_BIN_ABS=$bin ;;
  *) TFOPS_BIN_ABS=$root/$bin ;;
esac
export TFOPS_BIN_ABS
exec .tools/venv/bin/python - <<'PY'
import os, socket, statistics, subprocess, sys, tempfile, time, json
import boto3

RUNS = int(os.environ.get("RUNS", "3"))
MB = int(os.environ.get("MB", "50"))
tfops = os.environ["TFOPS_BIN_ABS"]

s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
moto = subprocess.Popen([os.path.join(os.getcwd(), ".tools/venv/bin/moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close(); break
        except OSError:
            time.sleep(0.1)
    endpoint = f"http://127.0.0.1:{port}"
    env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench-secret",
               AWS_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint)
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench",
                      aws_secret_access_key="bench-secret", region_name="us-east-1")
    s3.create_bucket(Bucket="bench")

    def state(serial):
        pad = "x" * 100_000
        n = MB * 1024 * 1024 // 100_200
        res = ",".join(
            '{"mode":"managed","type":"terraform_data","name":"r%d","provider":"provider[\\"terraform.io/builtin/terraform\\"]","instances":[{"schema_version":0,"attributes":{"id":"%d-%d","input":{"value":"%s","type":"string"}}}]}' % (i, serial, i, pad)
            for i in range(n))
        return ('{"version":4,"terraform_version":"1.11.4","serial":%d,"lineage":"bench","outputs":{},"resources":[%s]}' % (serial, res)).encode()

    def backup(replicate, serial):
        d = tempfile.mkdtemp()
        os.makedirs(f"{d}/iac"); os.makedirs(f"{d}/config")
        with open(f"{d}/iac/terraform.tfstate", "wb") as f:
            f.write(state(serial))
        cfg = 'state {\n  replicate = ["s3://bench/run%d"]\n}\n' % serial if replicate else ""
        with open(f"{d}/config/tfops.hcl", "w") as f:
            f.write(cfg)
        t = time.perf_counter()
        r = subprocess.run([tfops, "--root", d, "backup"], env=env, capture_output=True)
        el = time.perf_counter() - t
        if r.returncode != 0 or (replicate and b"up to date" not in r.stdout):
            sys.exit(f"tfops backup failed: {r.stdout!r} {r.stderr!r}")
        subprocess.run(["rm", "-rf", d])
        return el

    def boto(serial):
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(state(serial)); p = f.name
        t = time.perf_counter()
        s3.upload_file(p, "bench", f"boto/{serial}")
        el = time.perf_counter() - t
        os.unlink(p)
        return el

    local = [backup(False, 1000 + i) for i in range(RUNS)]
    withrep = [backup(True, 2000 + i) for i in range(RUNS)]
    baseline = [boto(3000 + i) for i in range(RUNS)]
    lm, wm, bm = statistics.median(local), statistics.median(withrep), statistics.median(baseline)
    rep = max(wm - lm, 1e-9)
    print(f"state size: {len(state(1)) / 1048576:.1f} MiB, {RUNS} runs each (medians)")
    print(f"tfops backup, local only:         {lm:.3f} s")
    print(f"tfops backup + replication to S3: {wm:.3f} s  (replication ≈ {rep:.3f} s)")
    print(f"boto3 upload_file (baseline):     {bm:.3f} s")
    print(f"ratio replication / boto3 upload_file: {rep / bm:.2f}")
finally:
    moto.kill(); moto.wait()
PY
