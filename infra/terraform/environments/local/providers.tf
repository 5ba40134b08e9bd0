# Everything points at the emulator; nothing here is written for AWS. The emulator's URL
# comes from AWS_ENDPOINT_URL, the AWS SDKs' standard setting for every service, which the
# provider reads (kontaxa_local.terraform and the tf: tasks set it). Not an `endpoints`
# block: the provider validates that block for about 2 s of CPU in each of the three walks
# of an apply, a third of the local bring-up (docs/performance.md). Without the variable the
# provider would go to AWS with the emulator key `test`, which no account accepts, and
# allowed_account_ids names only the emulators' default accounts. tflocal adds endpoints
# of its own, so the same root also runs through tflocal.
provider "aws" {
  region              = var.region
  access_key          = var.emulator_access_key
  secret_key          = var.emulator_secret_key
  allowed_account_ids = var.emulator_account_ids

  skip_metadata_api_check     = true
  skip_credentials_validation = true
  skip_region_validation      = true
  s3_use_path_style           = true
}
