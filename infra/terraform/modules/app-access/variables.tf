variable "name_prefix" {
  description = "Prefix of the policy names (the application name)."
  type        = string
}

variable "parameter_prefix" {
  description = "SSM path under which the application's parameters live, for example /kontaxa/app."
  type        = string

  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.-]+)+$", var.parameter_prefix))
    error_message = "parameter_prefix must be an absolute SSM path without a trailing slash."
  }
}

variable "secret_arns" {
  description = "ARNs of the Secrets Manager secrets the Secrets Store CSI driver may read for the application."
  type        = list(string)

  validation {
    condition     = length(var.secret_arns) > 0 && alltrue([for arn in var.secret_arns : !strcontains(arn, "*")])
    error_message = "List the secret ARNs explicitly, without wildcards."
  }
}

variable "tags" {
  description = "Tags added to the policies."
  type        = map(string)
  default     = {}
}
