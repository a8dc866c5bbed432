description = "the state is lost: everything in the configuration counts as to create"

delete_state {}

expect {
  create    = ["null_resource.service_1", "null_resource.service_2", "null_resource.service_3"]
  destroy   = 0
  exit_code = 2
}
