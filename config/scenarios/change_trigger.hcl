description = "change an attribute: service_2 gets a new trigger"

set {
  address   = "null_resource.service_2"
  attribute = "triggers"
  value     = { version = "2" }
}

expect {
  create    = 0
  destroy   = 0
  update    = ["null_resource.service_2"]
  exit_code = 2
}
