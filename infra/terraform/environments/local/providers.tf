# Everything points at the emulator; nothing here is written for AWS. tflocal replaces
# this block with its own endpoints, so the same root also runs through tflocal.
provider "aws" {
  region              = var.region
  access_key          = var.emulator_access_key
  secret_key          = var.emulator_secret_key
  allowed_account_ids = var.emulator_account_ids

  skip_metadata_api_check     = true
  skip_credentials_validation = true
  skip_region_validation      = true
  s3_use_path_style           = true

  endpoints {
    ec2            = var.endpoint_url
    ecr            = var.endpoint_url
    eks            = var.endpoint_url
    iam            = var.endpoint_url
    kms            = var.endpoint_url
    logs           = var.endpoint_url
    s3             = var.endpoint_url
    secretsmanager = var.endpoint_url
    ssm            = var.endpoint_url
    sts            = var.endpoint_url
  }
}
