# Grafana (kube-prometheus-stack in namespace monitoring) reads its admin password from
# Secrets Manager through the CSI driver, whose AWS provider uses the pod's own service
# account: this role reads that one secret and nothing else.
# Source: aws/secrets-store-csi-driver-provider-aws README, "Configure access".
data "aws_iam_policy_document" "grafana_admin_read" {
  statement {
    sid       = "ReadGrafanaAdminPassword"
    actions   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    resources = [module.app_config.grafana_admin_secret.arn]
  }
}

resource "aws_iam_policy" "grafana_admin_read" {
  name        = "${var.name}-grafana-admin-read"
  description = "Grafana: read its admin password secret"
  policy      = data.aws_iam_policy_document.grafana_admin_read.json
  tags        = local.tags
}

module "grafana_irsa" {
  source = "../irsa"

  role_name         = "${var.name}-grafana"
  oidc_provider_arn = local.oidc_provider_arn
  oidc_issuer_url   = local.oidc_issuer_url
  namespace         = "monitoring"
  service_account   = "kube-prometheus-stack-grafana"
  policy_arns       = { grafana_admin_read = aws_iam_policy.grafana_admin_read.arn }

  permissions_boundary = var.permissions_boundary
  tags                 = local.tags
}
