# Credentials come from the environment (GitHub OIDC in CI, SSO on a laptop): none here.
provider "aws" {
  region              = var.region
  allowed_account_ids = [var.account_id]

  # On every resource the provider creates, so cost and ownership reports find them all.
  default_tags {
    tags = var.default_tags
  }
}
