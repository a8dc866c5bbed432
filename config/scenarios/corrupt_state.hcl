description = "the state is cut short, as an interrupted write leaves it: drift cannot run"

corrupt_state {
  truncate_to = 100
}

expect {
  exit_code = 1
}
