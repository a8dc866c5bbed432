#!/usr/bin/env python3
"""Generates a workspace for the drift bench: N terraform_data blocks over F .tf files
(fmt-clean) and the version-4 state Terraform 1.11 writes for them (input/output as
{"value", "type"} wrappers, triggers_replace, the builtin provider), where one resource in a
thousand has drifted (a changed input). `terraform plan -refresh=false` reads it offline.
Usage: gen-drift-workspace.py DIR [N=10000] [FILES=10]"""
import json, os, sys, uuid

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
files = int(sys.argv[3]) if len(sys.argv) > 3 else 10
iac = os.path.join(out, "iac")
os.makedirs(iac, exist_ok=True)
per = (n + files - 1) // files
resources = []
for f in range(files):
    with open(os.path.join(iac, f"svc_{f:02d}.tf"), "w") as fh:
        for i in range(f * per, min(n, (f + 1) * per)):
            fh.write(
                f'# Service {i}: generated for the drift bench.\n'
                f'resource "terraform_data" "service_{i}" {{\n'
                f'  input = {{\n'
                f'    name    = "service_{i}"\n'
                f'    owner   = "team-{i % 17}"\n'
                f'    version = {i % 5}\n'
                f'  }}\n'
                f'}}\n\n'
            )
            value = {"name": f"service_{i}", "owner": f"team-{i % 17}",
                     "version": (i % 5) + (1 if i % 1000 == 999 else 0)}
            typed = {"value": value,
                     "type": ["object", {"name": "string", "owner": "string", "version": "number"}]}
            resources.append({
                "mode": "managed", "type": "terraform_data", "name": f"service_{i}",
                "provider": "provider[\"terraform.io/builtin/terraform\"]",
                "instances": [{"schema_version": 0, "attributes": {
                    "id": str(uuid.UUID(int=i)), "input": typed, "output": typed,
                    "triggers_replace": None}, "sensitive_attributes": []}],
            })
state = {"version": 4, "terraform_version": "1.11.4", "serial": 1,
         "lineage": str(uuid.UUID(int=n)), "outputs": {}, "resources": resources,
         "check_results": None}
with open(os.path.join(iac, "terraform.tfstate"), "w") as fh:
    json.dump(state, fh, indent=2)
os.makedirs(os.path.join(out, "config"), exist_ok=True)
open(os.path.join(out, "config", "tfops.hcl"), "w").close()
