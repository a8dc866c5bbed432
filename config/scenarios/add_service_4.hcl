description = "add a resource to the configuration: service_4 would be created"

add {
  file  = "main.tf"
  block = <<EOT
# A fourth service, not yet applied.
resource "terraform_data" "service_4" {
  input = "service_4"
}
EOT
}

expect {
  create    = ["terraform_data.service_4"]
  destroy   = 0
  renamed   = 0
  exit_code = 2
}
