description = "the state is lost: everything in the configuration counts as to create"

delete_state {}

expect {
  create    = ["terraform_data.service_1", "terraform_data.service_2", "terraform_data.service_3"]
  destroy   = 0
  exit_code = 2
}
