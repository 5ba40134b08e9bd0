# Cluster administrators: one access entry per principal, with the EKS cluster admin access
# policy on the whole cluster. Source: Amazon EKS User Guide, "Grant IAM users and roles access
# to Kubernetes APIs" (access entries) and "Associate access policies with access entries".
resource "aws_eks_access_entry" "admin" {
  for_each = var.create && var.enable_access_entries ? toset(var.admin_principal_arns) : toset([])

  cluster_name  = aws_eks_cluster.this[0].name
  principal_arn = each.value
  type          = "STANDARD"
  tags          = var.tags
}

resource "aws_eks_access_policy_association" "admin" {
  for_each = aws_eks_access_entry.admin

  cluster_name  = each.value.cluster_name
  principal_arn = each.value.principal_arn
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }
}
