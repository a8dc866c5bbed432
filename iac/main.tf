# The three dummy services of the original course project. null_resource needs no cloud:
# each one stands for a service that tfops balances requests to.

terraform {
  required_providers {
    null = {
      source  = "hashicorp/null"
      version = "~> 3.0"
    }
  }
}

resource "null_resource" "service_1" {
  triggers = {
    name = "service_1"
  }
}

resource "null_resource" "service_2" {
  triggers = {
    name = "service_2"
  }
}

resource "null_resource" "service_3" {
  triggers = {
    name = "service_3"
  }
}
