description = "rename service_1, as the original drift script did"

# The original script ran `sed` on iac/main.tf to rename service_1 to service_1_drift, then
# `terraform plan`, and never put main.tf back. Here the block label is renamed (comments and
# layout kept), drift is detected offline, and every file is put back.
rename {
  from = "terraform_data.service_1"
  to   = "terraform_data.service_1_drift"
}

expect {
  create    = ["terraform_data.service_1_drift"]
  destroy   = ["terraform_data.service_1"]
  renamed   = [{ from = "terraform_data.service_1", to = "terraform_data.service_1_drift" }]
  update    = 0
  exit_code = 2
}
