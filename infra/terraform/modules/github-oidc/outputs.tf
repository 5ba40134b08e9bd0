output "provider_arn" {
  description = "ARN of the GitHub OIDC provider (created or given)."
  value       = local.provider_arn
}

output "role_arn" {
  description = "ARN of the CI role: the role-to-assume of aws-actions/configure-aws-credentials."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the CI role."
  value       = aws_iam_role.this.name
}

output "subjects" {
  description = "OIDC subjects (sub claims) the CI role trusts."
  value       = local.subjects
}

output "trust_policy_json" {
  description = "Rendered trust policy of the CI role."
  value       = data.aws_iam_policy_document.trust["ci"].json
}

output "policy_json" {
  description = "Rendered permissions policy of the CI role."
  value       = data.aws_iam_policy_document.ecr_push.json
}

output "plan_role_arn" {
  description = "ARN of the pull request plan role (null without plan_role): the role-to-assume of the plan job."
  value       = one(aws_iam_role.plan[*].arn)
}

output "plan_role_name" {
  description = "Name of the pull request plan role (null without plan_role)."
  value       = one(aws_iam_role.plan[*].name)
}

output "plan_subjects" {
  description = "OIDC subjects the plan role trusts (empty without plan_role)."
  value       = lookup(local.role_subjects, "plan", [])
}

output "plan_trust_policy_json" {
  description = "Rendered trust policy of the plan role (null without plan_role)."
  value       = try(data.aws_iam_policy_document.trust["plan"].json, null)
}

output "plan_policy_json" {
  description = "Rendered permissions policy of the plan role (null without plan_role)."
  value       = one(data.aws_iam_policy_document.plan[*].json)
}
