# LocalStack's free edition has neither EKS nor ECR: trust a given (kind) issuer
# instead of a created cluster, and only name the ECR repositories in the CI policy.
# A 12-digit access key is LocalStack's account id: the same account as moto's.
create_eks              = false
create_ecr_repositories = false
cluster_oidc_issuer_url = "https://oidc.kind.kontaxa.local"
emulator_access_key     = "123456789012"
