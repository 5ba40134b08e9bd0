output "role_arn" {
  description = "ARN of the role: the eks.amazonaws.com/role-arn annotation of the service account."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the role."
  value       = aws_iam_role.this.name
}

output "subject" {
  description = "The only OIDC subject the role trusts."
  value       = local.subject
}

output "trust_policy_json" {
  description = "Rendered trust policy."
  value       = data.aws_iam_policy_document.trust.json
}
