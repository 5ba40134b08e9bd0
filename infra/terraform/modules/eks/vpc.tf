# A VPC of its own: public subnets hold the NAT gateway and load balancers, private
# subnets the nodes, so no node has a public address.
#
# Zone letters map to different physical zones in each account, and EKS refuses a few zone
# ids for the control plane (UnsupportedAvailabilityZoneException). Source: Amazon EKS User
# Guide, "View Amazon EKS networking requirements for VPC and subnets", subnet requirements:
# use1-az3, usw1-az2 and cac1-az3. So the zones come from the account's own list, opted-in
# zones and those ids left out; availability_zones pins them instead.
#
# The lookup takes the first zone_count names of the sorted list, with no filter on the
# zones' state: a zone AWS adds later (a later letter) or one that is impaired for a while
# does not move the subnets, so a later plan never replaces them.
data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first zone_count names of the sorted list are used, so a zone AWS adds later does not enter the VPC; availability_zones pins exact zones
  count = var.create && length(var.availability_zones) == 0 ? 1 : 0

  exclude_zone_ids = var.unsupported_zone_ids

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  # The first zones of the sorted list: the layout shifts only if a zone goes away.
  azs = !var.create ? [] : length(var.availability_zones) > 0 ? var.availability_zones : slice(
    sort(data.aws_availability_zones.available[0].names), 0, var.zone_count
  )
}

resource "aws_vpc" "this" {
  #checkov:skip=CKV2_AWS_11:Flow logs belong to the account's network baseline (destination, retention, cost), not to this module
  count = var.create ? 1 : 0

  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = !var.skip_provider_waits
  tags                 = merge(var.tags, { Name = var.cluster_name })
}

# Adopt the default security group and leave it without rules: nothing may use it by accident.
resource "aws_default_security_group" "this" {
  count = var.create ? 1 : 0

  vpc_id = aws_vpc.this[0].id
  tags   = merge(var.tags, { Name = "${var.cluster_name}-default-unused" })
}

resource "aws_subnet" "public" {
  count = length(local.azs)

  vpc_id            = aws_vpc.this[0].id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, count.index)
  tags = merge(var.tags, {
    Name                     = "${var.cluster_name}-public-${local.azs[count.index]}"
    "kubernetes.io/role/elb" = "1"
  })
}

resource "aws_subnet" "private" {
  count = length(local.azs)

  vpc_id            = aws_vpc.this[0].id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, count.index + 8)
  tags = merge(var.tags, {
    Name                              = "${var.cluster_name}-private-${local.azs[count.index]}"
    "kubernetes.io/role/internal-elb" = "1"
  })
}

resource "aws_internet_gateway" "this" {
  count = var.create ? 1 : 0

  vpc_id = aws_vpc.this[0].id
  tags   = merge(var.tags, { Name = var.cluster_name })
}

resource "aws_eip" "nat" {
  count = var.create ? 1 : 0

  domain = "vpc"
  tags   = merge(var.tags, { Name = "${var.cluster_name}-nat" })

  depends_on = [aws_internet_gateway.this]
}

# One NAT gateway: cheaper than one per zone; a zone outage cuts egress, not the cluster.
resource "aws_nat_gateway" "this" {
  count = var.create ? 1 : 0

  allocation_id = aws_eip.nat[0].id
  subnet_id     = aws_subnet.public[0].id
  tags          = merge(var.tags, { Name = var.cluster_name })
}

resource "aws_route_table" "public" {
  count = var.create ? 1 : 0

  vpc_id = aws_vpc.this[0].id
  tags   = merge(var.tags, { Name = "${var.cluster_name}-public" })
}

resource "aws_route" "public_internet" {
  count = var.create ? 1 : 0

  route_table_id         = aws_route_table.public[0].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this[0].id
}

resource "aws_route_table_association" "public" {
  count = length(local.azs)

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public[0].id
}

resource "aws_route_table" "private" {
  count = var.create ? 1 : 0

  vpc_id = aws_vpc.this[0].id
  tags   = merge(var.tags, { Name = "${var.cluster_name}-private" })
}

resource "aws_route" "private_nat" {
  count = var.create ? 1 : 0

  route_table_id         = aws_route_table.private[0].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[0].id
}

resource "aws_route_table_association" "private" {
  count = length(local.azs)

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[0].id
}
