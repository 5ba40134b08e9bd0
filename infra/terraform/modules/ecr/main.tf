resource "aws_ecr_repository" "this" {
  for_each = var.repository_names

  name = each.value
  # Immutable tags: an image tag (a git SHA on EKS) always names the same bytes,
  # so a promotion pull request cannot be changed under Argo CD's feet.
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name
  # ECR lifecycle policies are not IAM documents: jsonencode of HCL keeps them free of JSON strings.
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Expire untagged images after ${var.untagged_image_expiry_days} days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = var.untagged_image_expiry_days
        }
        action = { type = "expire" }
      },
      {
        # An image matched by a rule is never expired by a rule of lower priority (ECR User
        # Guide, "Lifecycle policy evaluation rules"): an image tagged with the release prefix,
        # which promotion adds to the image an environment runs, stays while it is referenced.
        rulePriority = 2
        description  = "Never expire released images (tag prefix ${var.release_tag_prefix})"
        selection = {
          tagStatus     = "tagged"
          tagPrefixList = [var.release_tag_prefix]
          countType     = "imageCountMoreThan"
          countNumber   = 10000
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 3
        description  = "Keep the newest ${var.tagged_images_to_keep} unreleased images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.tagged_images_to_keep
        }
        action = { type = "expire" }
      },
    ]
  })
}
