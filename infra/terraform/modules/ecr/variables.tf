variable "repository_names" {
  description = "Names of the ECR repositories to create, one per image (for example kontaxa/main-api)."
  type        = set(string)
}

variable "force_delete" {
  description = "Delete repositories even when they still hold images. Only for disposable environments."
  type        = bool
  default     = false
}

variable "tagged_images_to_keep" {
  description = "How many images to keep per repository; older ones are expired by the lifecycle policy."
  type        = number
  default     = 50

  validation {
    condition     = var.tagged_images_to_keep >= 1
    error_message = "Keep at least one image."
  }
}

variable "release_tag_prefix" {
  description = "Tag prefix of released images (the promotion adds it to the image it promotes): the lifecycle policy never expires them."
  type        = string
  default     = "release-"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.release_tag_prefix))
    error_message = "release_tag_prefix must be a non-empty image tag prefix."
  }
}

variable "untagged_image_expiry_days" {
  description = "Days after which untagged images (dangling layers of rebuilt tags) are expired."
  type        = number
  default     = 7

  validation {
    condition     = var.untagged_image_expiry_days >= 1
    error_message = "Untagged images must live at least one day."
  }
}

variable "kms_key_arn" {
  description = "KMS key for image encryption. Null uses the AWS managed key aws/ecr."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every repository."
  type        = map(string)
  default     = {}
}
