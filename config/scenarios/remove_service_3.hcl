description = "remove a resource from the configuration: service_3 would be destroyed"

remove {
  address = "terraform_data.service_3"
}

expect {
  create    = 0
  destroy   = ["terraform_data.service_3"]
  update    = 0
  exit_code = 2
}
