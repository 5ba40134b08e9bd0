data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  bucket_name = "${var.name_prefix}-demo-${data.aws_caller_identity.current.account_id}-${data.aws_region.current.name}"
  api_keys    = toset(["primary", "secondary"])
}

# Generated values: ephemeral resources feed write-only attributes, so no value is
# written to the plan, the state or an output. Bump generated_value_version to rotate.
ephemeral "aws_secretsmanager_random_password" "service_token" {
  password_length     = var.password_length
  exclude_punctuation = true
}

ephemeral "aws_secretsmanager_random_password" "api_key" {
  for_each = local.api_keys

  password_length     = var.password_length
  exclude_punctuation = true
}

ephemeral "aws_secretsmanager_random_password" "parameter" {
  for_each = var.secure_parameters

  password_length     = var.password_length
  exclude_punctuation = true
}

resource "aws_ssm_parameter" "string" {
  #checkov:skip=CKV2_AWS_34:String parameters hold only non-secret settings whose values are in git; secrets are SecureStrings below
  for_each = var.string_parameters

  name  = "${var.parameter_prefix}/${each.key}"
  type  = "String"
  value = each.value
  tags  = var.tags
}

resource "aws_ssm_parameter" "secure" {
  for_each = var.secure_parameters

  name             = "${var.parameter_prefix}/${each.value}"
  type             = "SecureString"
  key_id           = var.kms_key_id
  value_wo         = ephemeral.aws_secretsmanager_random_password.parameter[each.value].random_password
  value_wo_version = var.generated_value_version
  tags             = var.tags
}

# The secrets, by alias: service-token and api-keys are what the services mount; grafana-admin
# is Grafana's admin password, created here so the first Argo CD sync finds it (the
# SecretProviderClass grafana-admin mounts it), read only by Grafana's own role.
ephemeral "aws_secretsmanager_random_password" "grafana_admin" {
  password_length     = var.password_length
  exclude_punctuation = true
}

locals {
  secret_descriptions = {
    "service-token" = "Shared token between main-api and aux-service"
    "api-keys"      = "Client API keys of main-api, JSON {\"primary\": ..., \"secondary\": ...}"
    "grafana-admin" = "Password of Grafana's admin user (kube-prometheus-stack)"
  }
  # Ephemeral (it holds ephemeral values): read only by the write-only attribute below.
  secret_values = {
    "service-token" = ephemeral.aws_secretsmanager_random_password.service_token.random_password
    "api-keys" = jsonencode({
      for name in local.api_keys : name => ephemeral.aws_secretsmanager_random_password.api_key[name].random_password
    })
    "grafana-admin" = ephemeral.aws_secretsmanager_random_password.grafana_admin.random_password
  }
}

resource "aws_secretsmanager_secret" "this" {
  #checkov:skip=CKV2_AWS_57:No rotation Lambda; values rotate by raising generated_value_version, and pods re-read the mounted files
  for_each = local.secret_descriptions

  name                    = "${var.name_prefix}/${each.key}"
  description             = each.value
  kms_key_id              = var.kms_key_id
  recovery_window_in_days = var.secret_recovery_window_in_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "this" {
  for_each = local.secret_descriptions

  secret_id                = aws_secretsmanager_secret.this[each.key].id
  secret_string_wo         = local.secret_values[each.key]
  secret_string_wo_version = var.generated_value_version
}

# The addresses of the one-block-per-secret version: an applied stack moves, nothing is replaced.
moved {
  from = aws_secretsmanager_secret.service_token
  to   = aws_secretsmanager_secret.this["service-token"]
}

moved {
  from = aws_secretsmanager_secret_version.service_token
  to   = aws_secretsmanager_secret_version.this["service-token"]
}

moved {
  from = aws_secretsmanager_secret.api_keys
  to   = aws_secretsmanager_secret.this["api-keys"]
}

moved {
  from = aws_secretsmanager_secret_version.api_keys
  to   = aws_secretsmanager_secret_version.this["api-keys"]
}

moved {
  from = aws_secretsmanager_secret.grafana_admin
  to   = aws_secretsmanager_secret.this["grafana-admin"]
}

moved {
  from = aws_secretsmanager_secret_version.grafana_admin
  to   = aws_secretsmanager_secret_version.this["grafana-admin"]
}

resource "aws_s3_bucket" "demo" {
  #checkov:skip=CKV_AWS_18:Demo bucket that aux-service only lists; access logging needs a log bucket of the account baseline
  #checkov:skip=CKV_AWS_144:Demo bucket with reproducible content: cross-region replication buys nothing
  #checkov:skip=CKV2_AWS_62:Nothing consumes events of the demo bucket
  bucket        = local.bucket_name
  force_destroy = var.bucket_force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "demo" {
  bucket = aws_s3_bucket.demo.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "demo" {
  bucket = aws_s3_bucket.demo.id

  rule {
    # ACLs off: access is decided by IAM alone.
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "demo" {
  bucket = aws_s3_bucket.demo.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_id
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "demo" {
  bucket = aws_s3_bucket.demo.id

  versioning_configuration {
    status = "Enabled"
  }
}

# Off only for throwaway emulator runs: after every change the AWS provider polls for about a
# minute until the rule reads back the same (it does so against emulators too).
resource "aws_s3_bucket_lifecycle_configuration" "demo" {
  count = var.enable_bucket_lifecycle ? 1 : 0

  bucket = aws_s3_bucket.demo.id

  rule {
    id     = "tidy-versions-and-uploads"
    status = "Enabled"

    filter {
      prefix = ""
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiry_days
    }
  }

  # Lifecycle rules on noncurrent versions need versioning to be on first.
  depends_on = [aws_s3_bucket_versioning.demo]
}
