# LocalStack's free edition has neither EKS nor ECR: the IRSA roles trust the default
# (kind) issuer instead of a created cluster, and the CI policy only names the repositories.
# With the access key "test" LocalStack uses its default account, 000000000000.
create_eks              = false
create_ecr_repositories = false
