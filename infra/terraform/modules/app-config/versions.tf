terraform {
  # 1.11: write-only attributes and ephemeral resources keep generated secrets out of state.
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 6.0.0"
    }
  }
}
