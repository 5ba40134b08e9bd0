"""What the eks tree needs from the cluster Terraform creates: the Kubernetes minor every
piece assumes, and the EBS CSI driver and gp3 StorageClass ahead of monitoring (issue 19).

Terraform's side is read from its code (infra/terraform/modules/eks): the add-on itself is
applied by Terraform, not by Argo CD, and its plan is checked against moto in
infra/terraform/tests/test_local_moto.py.
"""

import re

import yaml
from k8s_manifests import EKS_KUBERNETES_VERSION, K8S_ROOT, REPO_ROOT, find, one, render

TERRAFORM = REPO_ROOT / "infra" / "terraform"
EKS_MODULE = TERRAFORM / "modules" / "eks"

# The EBS CSI driver's name: kubernetes-sigs/aws-ebs-csi-driver, pkg/driver/driver.go
# (DriverName = "ebs.csi.aws.com"), the provisioner of every StorageClass it serves.
EBS_CSI_PROVISIONER = "ebs.csi.aws.com"


def _default(path: str, variable: str) -> object:
    """The default of a Terraform variable, read from its variables.tf."""
    text = (TERRAFORM / path / "variables.tf").read_text()
    block = re.search(rf'variable "{variable}" \{{(.*?)\n\}}', text, re.S)
    assert block, f"{path}: no variable {variable}"
    match = re.search(r"^\s+default\s+=\s+(.+)$", block.group(1), re.M)
    assert match, f"{path}: {variable} has no default"
    return yaml.safe_load(match.group(1))


def _minor(version: str) -> str:
    return ".".join(version.lstrip("v").split(".")[:2])


def test_one_kubernetes_minor_everywhere() -> None:
    """Cluster, schemas, Cluster Autoscaler and kube-proxy add-on on the same minor: the
    autoscaler's minor must match the control plane's (kubernetes/autoscaler README), and
    kube-proxy may not be newer than the control plane (Kubernetes version skew policy)."""
    versions = {
        "modules/eks": _default("modules/eks", "kubernetes_version"),
        "modules/platform": _default("modules/platform", "kubernetes_version"),
        "environments/aws": _default("environments/aws", "kubernetes_version"),
    }
    assert set(versions.values()) == {EKS_KUBERNETES_VERSION}, versions
    values = yaml.safe_load(
        (K8S_ROOT / "platform" / "values" / "cluster-autoscaler" / "eks.yaml").read_text()
    )
    assert _minor(values["image"]["tag"]) == EKS_KUBERNETES_VERSION
    addons = (EKS_MODULE / "variables.tf").read_text()
    (kube_proxy,) = re.findall(r'kube_proxy\s+=\s+"(v[0-9.]+)-eksbuild\.[0-9]+"', addons)
    assert _minor(kube_proxy) == EKS_KUBERNETES_VERSION


def test_every_eks_addon_version_is_pinned() -> None:
    text = (EKS_MODULE / "addons.tf").read_text()
    for block in re.findall(r'resource "aws_eks_addon" "[^"]+" \{(.*?)\n\}', text, re.S):
        assert re.search(r"addon_version\s+=\s+(var\.addon_versions\.|each\.value\.version)", block)
    variables = (EKS_MODULE / "variables.tf").read_text()
    block = re.search(r'variable "addon_versions" \{(.*?)\n\}', variables, re.S)
    assert block
    pins = dict(re.findall(r'^\s+(\w+)\s+=\s+"(v[0-9.]+-eksbuild\.[0-9]+)"$', block.group(1), re.M))
    assert set(pins) == {"vpc_cni", "kube_proxy", "coredns", "ebs_csi_driver"}, pins


def test_terraform_installs_the_ebs_csi_driver_with_its_own_role() -> None:
    """The add-on exists in Terraform with a role of its own (IRSA, the AWS managed policy),
    created with the cluster: before Argo CD, hence before any wave."""
    text = (EKS_MODULE / "addons.tf").read_text()
    block = re.search(r'resource "aws_eks_addon" "ebs_csi_driver" \{(.*?)\n\}', text, re.S)
    assert block, "no aws_eks_addon for the EBS CSI driver"
    assert '"aws-ebs-csi-driver"' in block.group(1)
    role = 'module.addon_irsa["ebs-csi-driver"].role_arn'
    assert f"service_account_role_arn    = {role}" in block.group(1)
    irsa = re.search(r'^    "ebs-csi-driver" = \{(.*?)\n    \}', text, re.S | re.M)
    assert irsa
    assert 'service_account = "ebs-csi-controller-sa"' in irsa.group(1)
    assert "policy/service-role/AmazonEBSCSIDriverPolicy" in irsa.group(1)


def test_gp3_storage_class_precedes_monitoring_on_eks() -> None:
    """The StorageClass Prometheus asks for is synced by the platform Application, a wave
    before monitoring, and is provisioned by the EBS CSI driver."""
    tree = render("argocd/eks")
    platform_app = one(tree, "Application", "platform")
    monitoring_app = one(tree, "Application", "monitoring")

    def wave(obj: dict) -> int:
        return int(obj["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))

    assert wave(platform_app) < wave(monitoring_app)
    (source,) = [s for s in platform_app["spec"]["sources"] if s.get("name") == "kontaxa"]
    platform = render(source["path"].removeprefix("infra/k8s/"))
    classes = {c["metadata"]["name"]: c for c in find(platform, "StorageClass")}
    assert classes["gp3"]["provisioner"] == EBS_CSI_PROVISIONER
    assert classes["gp3"]["parameters"]["type"] == "gp3"
    assert classes["gp3"]["parameters"]["encrypted"] == "true"
    assert classes["gp3"]["volumeBindingMode"] == "WaitForFirstConsumer"

    values = yaml.safe_load((K8S_ROOT / "monitoring" / "values" / "eks.yaml").read_text())
    claim = values["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]
    assert claim["spec"]["storageClassName"] in classes
    project = one(tree, "AppProject", platform_app["spec"]["project"])
    allowed = {(k["group"], k["kind"]) for k in project["spec"]["clusterResourceWhitelist"]}
    assert ("storage.k8s.io", "StorageClass") in allowed
