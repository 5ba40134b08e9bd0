terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Local state: the emulator is thrown away with it. Tests and the Task targets pass
  # -backend-config=path=... to keep several states apart.
  backend "local" {}
}
