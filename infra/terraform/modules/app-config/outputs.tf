output "parameter_names" {
  description = "Names of all the parameters (String and SecureString), keyed by name relative to the prefix."
  value = merge(
    { for key, parameter in aws_ssm_parameter.string : key => parameter.name },
    { for key, parameter in aws_ssm_parameter.secure : key => parameter.name },
  )
}

output "secret_arns" {
  description = "ARNs of the Secrets Manager secrets, keyed by their alias (service-token, api-keys). No values are output."
  value       = { for alias in ["service-token", "api-keys"] : alias => aws_secretsmanager_secret.this[alias].arn }
}

output "secret_names" {
  description = "Names of the Secrets Manager secrets (the objectName of the SecretProviderClass)."
  value       = { for alias in ["service-token", "api-keys"] : alias => aws_secretsmanager_secret.this[alias].name }
}

output "grafana_admin_secret" {
  description = "Name and ARN of Grafana's admin password secret (not in secret_arns: the services never read it). No value is output."
  value = {
    name = aws_secretsmanager_secret.this["grafana-admin"].name
    arn  = aws_secretsmanager_secret.this["grafana-admin"].arn
  }
}

output "bucket_name" {
  description = "Name of the demo bucket."
  value       = aws_s3_bucket.demo.bucket
}

output "bucket_arn" {
  description = "ARN of the demo bucket."
  value       = aws_s3_bucket.demo.arn
}
