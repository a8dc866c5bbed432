#!/usr/bin/env python3
"""Generates a workspace for the drift bench: N null_resource blocks over F .tf files
(fmt-clean, ~180 bytes each) and a version-4 state (~680 bytes per resource) where one
resource in a thousand has drifted (a changed trigger).
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
                f'resource "null_resource" "service_{i}" {{\n'
                f'  triggers = {{\n'
                f'    name    = "service_{i}"\n'
                f'    owner   = "team-{i % 17}"\n'
                f'    version = "{i % 5}"\n'
                f'  }}\n'
                f'}}\n\n'
            )
            resources.append({
                "mode": "managed", "type": "null_resource", "name": f"service_{i}",
                "provider": "provider[\"registry.terraform.io/hashicorp/null\"]",
                "instances": [{
                    "schema_version": 0,
                    "attributes": {
                        "id": str(4425463214330446128 + i),
                        "triggers": {"name": f"service_{i}", "owner": f"team-{i % 17}",
                                     "version": str(i % 5 + (1 if i % 1000 == 7 else 0))},
                        "note": "x" * 120,
                    },
                    "sensitive_attributes": [],
                    "private": "bnVsbA==",
                }],
            })
with open(os.path.join(iac, "terraform.tfstate"), "w") as fh:
    json.dump({"version": 4, "terraform_version": "1.0.3", "serial": 1,
               "lineage": str(uuid.uuid4()), "outputs": {}, "resources": resources}, fh, indent=2)
