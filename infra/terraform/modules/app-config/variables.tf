variable "name_prefix" {
  description = "Application name: prefix of the secret names (NAME/service-token, NAME/api-keys) and of the bucket."
  type        = string
}

variable "parameter_prefix" {
  description = "SSM path under which the parameters are created, for example /kontaxa/app."
  type        = string

  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.-]+)+$", var.parameter_prefix))
    error_message = "parameter_prefix must be an absolute SSM path without a trailing slash."
  }
}

variable "string_parameters" {
  description = "Plain String parameters, keyed by name relative to parameter_prefix. Not secret: values are in git."
  type        = map(string)
  default     = {}
}

variable "secure_parameters" {
  description = "SecureString parameters, by name relative to parameter_prefix; their values are generated and never stored in state."
  type        = set(string)
  default     = []
}

variable "generated_value_version" {
  description = "Version of the generated values (secrets and SecureStrings). Increase it to generate and write new values."
  type        = number
  default     = 1
}

variable "password_length" {
  description = "Length of every generated value."
  type        = number
  default     = 40

  validation {
    condition     = var.password_length >= 24 && var.password_length <= 4096
    error_message = "password_length must be between 24 and 4096."
  }
}

variable "kms_key_id" {
  description = "KMS key for SecureStrings and secrets. Null uses the AWS managed keys (aws/ssm, aws/secretsmanager)."
  type        = string
  default     = null
}

variable "secret_recovery_window_in_days" {
  description = "Days a deleted secret can be restored. 0 deletes at once (disposable environments), else 7 to 30."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_in_days == 0 || (var.secret_recovery_window_in_days >= 7 && var.secret_recovery_window_in_days <= 30)
    error_message = "secret_recovery_window_in_days must be 0 or between 7 and 30."
  }
}

variable "bucket_force_destroy" {
  description = "Let terraform destroy the demo bucket with objects in it. Only for disposable environments."
  type        = bool
  default     = false
}

variable "enable_bucket_lifecycle" {
  description = "Give the demo bucket its lifecycle rule (delete old versions, abort stale uploads). False only for throwaway emulator runs: the AWS provider waits about a minute for the rule to settle on every apply."
  type        = bool
  default     = true
}

variable "noncurrent_version_expiry_days" {
  description = "Days after which overwritten object versions in the demo bucket are deleted."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
