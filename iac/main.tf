# The three dummy services of the original course project. terraform_data is built into
# Terraform (1.4 and later): `terraform init && terraform apply` work here offline, with no
# provider to download. Each one stands for a service that tfops balances requests to.

resource "terraform_data" "service_1" {
  input = "service_1"
}

resource "terraform_data" "service_2" {
  input = "service_2"
}

resource "terraform_data" "service_3" {
  input = "service_3"
}
