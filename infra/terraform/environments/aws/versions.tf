terraform {
  required_version = ">= 1.11.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # S3 state with S3-native locking (no DynamoDB table). bucket, key and region come
  # from -backend-config (see backend.hcl.example), so no account is written here.
  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }
}
