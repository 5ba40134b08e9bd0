locals {
  create_node_group = var.create && var.create_node_group
  # AmazonEKS_CNI_Policy is not here: the VPC CNI holds it on a role of its own (addons.tf), so
  # the nodes, and anything that reaches their credentials, cannot manage network interfaces.
  node_policies = toset([
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
  ])
}

# Source: Amazon EKS User Guide, "Amazon EKS node IAM role".
data "aws_iam_policy_document" "node_trust" {
  statement {
    sid     = "Ec2Instances"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  count = local.create_node_group ? 1 : 0

  name                 = "${var.cluster_name}-node"
  assume_role_policy   = data.aws_iam_policy_document.node_trust.json
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = local.create_node_group ? local.node_policies : toset([])

  role       = aws_iam_role.node[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.value}"
}

# Pods must not reach the node role's credentials through the instance metadata service:
# IMDSv2 only (a session token), and a hop limit of 1 so the token's reply dies at the node and
# never reaches a pod's network namespace. Source: Amazon EKS Best Practices Guide, Security,
# "Restrict access to the instance profile assigned to the worker node".
resource "aws_launch_template" "node" {
  count = local.create_node_group ? 1 : 0

  name_prefix = "${var.cluster_name}-node-"
  description = "Nodes of ${var.cluster_name}: IMDSv2 only, hop limit 1"

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.cluster_name}-node" })
  }

  tags = var.tags
}

resource "aws_eks_node_group" "this" {
  count = local.create_node_group ? 1 : 0

  cluster_name    = aws_eks_cluster.this[0].name
  node_group_name = "${var.cluster_name}-default"
  node_role_arn   = aws_iam_role.node[0].arn
  subnet_ids      = aws_subnet.private[*].id
  instance_types  = var.node_instance_types

  scaling_config {
    min_size     = var.node_scaling.min
    desired_size = var.node_scaling.desired
    max_size     = var.node_scaling.max
  }

  launch_template {
    id      = aws_launch_template.node[0].id
    version = aws_launch_template.node[0].latest_version
  }

  update_config {
    max_unavailable = 1
  }

  # Cluster Autoscaler's auto-discovery and its IAM condition read two tags on the Auto
  # Scaling group. EKS puts them there itself (Amazon EKS User Guide, "Simplify node lifecycle
  # with managed node groups": managed node group resources are tagged for Cluster Autoscaler);
  # the node group's own tags below are not copied to the group. They only mark the node group.
  tags = merge(var.tags, {
    "k8s.io/cluster-autoscaler/${var.cluster_name}" = "owned"
    "k8s.io/cluster-autoscaler/enabled"             = "true"
  })

  # Autoscaler owns desired_size after creation.
  lifecycle {
    ignore_changes = [scaling_config[0].desired_size]
  }

  # The network add-ons first: a node that joins before the VPC CNI is configured starts
  # without network policy enforcement.
  depends_on = [aws_iam_role_policy_attachment.node, aws_eks_addon.before_nodes]
}
