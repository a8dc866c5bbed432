description = "change an attribute: service_2 gets a new input (an update in place)"

set {
  address   = "terraform_data.service_2"
  attribute = "input"
  value     = "service_2-v2"
}

expect {
  create    = 0
  destroy   = 0
  update    = ["terraform_data.service_2"]
  exit_code = 2
}
