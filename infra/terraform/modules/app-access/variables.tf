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

variable "service_secret_arns" {
  description = "ARNs of the Secrets Manager secrets each service mounts (its SecretProviderClass), keyed by service name: one read policy per service."
  type        = map(list(string))

  validation {
    condition     = alltrue([for arns in values(var.service_secret_arns) : length(arns) > 0 && alltrue([for arn in arns : !strcontains(arn, "*")])])
    error_message = "List each service's secret ARNs explicitly, without wildcards."
  }
}

variable "tags" {
  description = "Tags added to the policies."
  type        = map(string)
  default     = {}
}
