output "repository_arns" {
  description = "ARN of each repository, keyed by repository name."
  value       = { for name, repo in aws_ecr_repository.this : name => repo.arn }
}

output "repository_urls" {
  description = "Push/pull URL of each repository, keyed by repository name."
  value       = { for name, repo in aws_ecr_repository.this : name => repo.repository_url }
}

output "registry_id" {
  description = "Registry (account) id that holds the repositories; null when none were created."
  value       = try(one(distinct([for repo in aws_ecr_repository.this : repo.registry_id])), null)
}
