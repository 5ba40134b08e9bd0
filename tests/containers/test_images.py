"""What each image is: its user, labels, port and command, its packages, and what is not in it."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from catalog import EMULATOR, GOLDEN, ROOT, SERVICE_IMAGES, ServiceImage, uv
from packaging.markers import Marker

from kontaxa_e2e.docker_run import docker

pytestmark = [pytest.mark.timeout(1800), pytest.mark.usefixtures("built_images")]

OCI = "org.opencontainers.image."
# The target for what a service adds on top of the golden image.
SERVICE_LAYERS_MAX_BYTES = 25_000_000
OUR_PACKAGES = ("kontaxa_common", "main_api", "aux_service", "secrets_provider")

# Runs inside an image (as root, no network): the facts the assertions below judge.
SURVEY = r"""
import importlib.metadata, json, os, shutil, stat, sys
skip = ("/proc", "/sys", "/dev")
site = next(p for p in sys.path if p.endswith("site-packages"))
facts = {"git": [], "tests": [], "cache_files": [], "setuid": [], "pycache_ours": [],
         "build_leftovers": [], "files": 0}
for top, dirs, files in os.walk("/"):
    if top.startswith(skip):
        dirs[:] = []
        continue
    for d in dirs:
        if d == ".git":
            facts["git"].append(os.path.join(top, d))
    ours = top.startswith(tuple(os.path.join(site, p) for p in OURS))
    for f in files:
        path = os.path.join(top, f)
        facts["files"] += 1
        # A third-party wheel is installed as hashed in uv.lock, test files and all (moto's
        # networkx ships a conftest.py); ours and anything outside site-packages must not.
        third_party = top.startswith(site) and not ours
        if (f == "conftest.py" and not third_party) or (
                ours and (f.startswith("test_") or "/tests" in top)):
            facts["tests"].append(path)
        if ours and "__pycache__" in top:
            facts["pycache_ours"].append(path)
        if top.startswith(("/root/.cache", "/var/cache/apt/archives", "/var/lib/apt/lists",
                           "/tmp", "/var/tmp")) and f not in ("lock",):
            facts["cache_files"].append(path)
        if f in ("uv.lock", "requirements.txt", "pyproject.toml", "ca-bundle", "package-index",
                 ".env", ".dockerignore", "Dockerfile"):
            facts["build_leftovers"].append(path)
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            continue
        if stat.S_ISREG(mode) and mode & (stat.S_ISUID | stat.S_ISGID):
            facts["setuid"].append(path)
facts["tools"] = {t: shutil.which(t) for t in ("gcc", "cc", "c++", "make", "pip", "pip3", "uv",
                                                "apt-get", "python3")}
facts["run"] = sorted(os.listdir("/run"))
facts["dists"] = {d.metadata["Name"]: d.version for d in importlib.metadata.distributions()}
facts["python"] = list(sys.version_info[:2])
print(json.dumps(facts))
"""


def inspect(image: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(docker("image", "inspect", image))
    return data[0]


def survey(image: str) -> dict[str, Any]:
    """Facts gathered inside `image` by SURVEY."""
    script = f"OURS = {OUR_PACKAGES!r}\n" + SURVEY
    out = docker(
        "run",
        "--rm",
        "--user",
        "0",
        "--network",
        "none",
        "--read-only",
        "--entrypoint",
        "python",
        image,
        "-c",
        script,
        timeout=300,
    )
    facts: dict[str, Any] = json.loads(out)
    return facts


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(*args: str) -> dict[str, str]:
    """name -> version of `uv export --frozen --no-dev --no-emit-workspace ARGS`."""
    out = subprocess.run(
        [
            uv(),
            "export",
            "--frozen",
            "--no-dev",
            "--no-emit-workspace",
            "--no-hashes",
            "--no-header",
            "--no-annotate",
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    pins = (line.split(";")[0].strip() for line in out.splitlines())
    return {normalize(n): v for n, v in (p.split("==") for p in pins if "==" in p)}


def layers_on_top_of_golden(image: str) -> int:
    """Bytes that `image` adds to the golden image (the layers of its own build steps)."""
    golden_layers = inspect(GOLDEN)["RootFS"]["Layers"]
    assert inspect(image)["RootFS"]["Layers"][: len(golden_layers)] == golden_layers, (
        f"{image} is not built on {GOLDEN}"
    )
    sizes = [
        int(size)
        for size in docker("history", "--human=false", "--format", "{{.Size}}", image).split()
    ]
    golden_steps = len(docker("history", "--quiet", GOLDEN).split())
    return sum(sizes[: len(sizes) - golden_steps])


ALL_IMAGES = [pytest.param(GOLDEN, id="golden")] + [
    pytest.param(image.ref, id=image.service) for image in [*SERVICE_IMAGES, EMULATOR]
]
SERVICES = [pytest.param(image, id=image.service) for image in SERVICE_IMAGES]


@pytest.mark.parametrize("image", ALL_IMAGES)
def test_runs_as_the_fixed_non_root_user(image: str) -> None:
    assert inspect(image)["Config"]["User"] == "10001:10001"
    ids = docker("run", "--rm", "--network", "none", "--entrypoint", "id", image).split()
    assert ids[:2] == ["uid=10001(kontaxa)", "gid=10001(kontaxa)"]


@pytest.mark.parametrize("image", ALL_IMAGES)
def test_carries_the_oci_labels(image: str) -> None:
    labels = inspect(image)["Config"]["Labels"]

    # What a service image must name: HEAD, "-dirty" when the tree has uncommitted changes
    # (a developer's run of the tier builds from the working tree). Read with git here, not
    # through build.sh's own revision_of, so a wrong label cannot match a wrong expectation.
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    tree = git("rev-parse", "--verify", "HEAD") + ("-dirty" if git("status", "--porcelain") else "")
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", labels[OCI + "revision"])
    if image != GOLDEN:  # the golden image names the last commit that changed its inputs
        assert labels[OCI + "revision"] == tree
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", labels[OCI + "created"])
    assert labels[OCI + "source"].startswith("https://")
    assert labels[OCI + "title"] == image.rsplit(":", 1)[0]
    assert labels[OCI + "base.name"]


@pytest.mark.parametrize("service", SERVICES)
def test_service_image_metadata(service: ServiceImage) -> None:
    config = inspect(service.ref)["Config"]
    project = tomllib.loads((ROOT / "services" / service.service / "pyproject.toml").read_text())
    assert config["Labels"][OCI + "version"] == project["project"]["version"]
    assert config["Labels"][OCI + "base.name"] == GOLDEN
    assert config["Cmd"] == ["python", "-m", service.module]
    assert not config.get("Entrypoint")
    assert not config.get("Healthcheck"), "Kubernetes probes do health checks, not the image"
    expected_ports = {"8080/tcp": {}} if service.http else None
    assert config.get("ExposedPorts") == expected_ports


def test_golden_image_metadata() -> None:
    config = inspect(GOLDEN)["Config"]
    assert not config.get("ExposedPorts")
    assert not config.get("Healthcheck")
    assert "/opt/venv/bin" in next(e for e in config["Env"] if e.startswith("PATH="))


@pytest.mark.parametrize("image", ALL_IMAGES)
def test_holds_no_secret_git_test_cache_or_build_tool(image: str) -> None:
    facts = survey(image)
    assert facts["files"] > 1000, "the survey saw too few files to be trusted"
    assert facts["python"] == [3, 11]
    assert facts["git"] == []
    assert facts["tests"] == []
    assert facts["cache_files"] == []
    assert facts["pycache_ours"] == []
    assert facts["build_leftovers"] == []
    assert facts["setuid"] == []
    # Build secrets were mounted at /run/<id> for single steps only.
    assert set(facts["run"]) <= {"lock", "mount"}
    tools = facts["tools"]
    assert tools["python3"], "the runtime is there"
    assert [t for t in ("gcc", "cc", "c++", "make", "pip", "pip3", "uv") if tools[t]] == []


@pytest.mark.parametrize("image", ALL_IMAGES)
def test_history_holds_no_build_secret(image: str) -> None:
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image)
    assert "BEGIN CERTIFICATE" not in history
    for variable in ("UV_INDEX", "UV_DEFAULT_INDEX", "PIP_INDEX_URL", "SSL_CERT_FILE="):
        assert variable not in history


def _pem_bodies(text: str) -> set[str]:
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.S)
    return {"".join(block.split()) for block in blocks}


@pytest.mark.parametrize("image", ALL_IMAGES)
def test_the_hosts_own_certificates_stay_out(image: str) -> None:
    """The CAs this host adds to its trust (a TLS-intercepting proxy's) reach builds only."""
    local_certificates = set()
    for path in sorted(Path("/usr/local/share/ca-certificates").rglob("*.crt")):
        local_certificates |= _pem_bodies(path.read_text())
    if not local_certificates:
        pytest.skip("this host trusts no CA of its own (/usr/local/share/ca-certificates)")
    # A 64-character slice from the middle of each host-only certificate, searched for in
    # every file of the image.
    needles = sorted(body[len(body) // 2 : len(body) // 2 + 64] for body in local_certificates)
    script = (
        "import os, sys\n"
        f"needles = [n.encode() for n in {needles!r}]\n"
        "hits = []\n"
        "for top, dirs, files in os.walk('/'):\n"
        "    if top.startswith(('/proc', '/sys', '/dev')):\n"
        "        dirs[:] = []; continue\n"
        "    for f in files:\n"
        "        p = os.path.join(top, f)\n"
        "        if not os.path.isfile(p) or os.path.islink(p): continue\n"
        "        data = open(p, 'rb').read().replace(b'\\n', b'')\n"
        "        hits += [p for n in needles if n in data]\n"
        "print('\\n'.join(sorted(set(hits))))\n"
    )
    hits = docker(
        "run",
        "--rm",
        "--user",
        "0",
        "--network",
        "none",
        "--entrypoint",
        "python",
        image,
        "-c",
        script,
        timeout=300,
    ).split()
    assert hits == []


def test_golden_holds_the_locked_shared_stack() -> None:
    """stack.txt's packages and their dependencies, at uv.lock's versions, and nothing else."""
    installed = {normalize(n): v for n, v in survey(GOLDEN)["dists"].items()}
    lock = locked("--all-packages")
    stack = [
        line.strip()
        for line in (ROOT / "services/golden-image/stack.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for name in stack:
        assert installed.get(normalize(name)) == lock[normalize(name)], name
    unlocked = {n: v for n, v in installed.items() if lock.get(n) != v}
    assert unlocked == {}, "installed but not at a locked version"


@pytest.mark.parametrize("service", SERVICES)
def test_service_holds_exactly_its_locked_dependencies(service: ServiceImage) -> None:
    installed = {normalize(n): v for n, v in survey(service.ref)["dists"].items()}
    own = locked("--package", service.distribution)
    missing = {n: v for n, v in own.items() if installed.get(n) != v}
    assert missing == {}, "locked dependencies missing or at another version"
    project = tomllib.loads((ROOT / "services" / service.service / "pyproject.toml").read_text())
    assert installed[normalize(service.distribution)] == project["project"]["version"]
    lock = locked("--all-packages")
    workspace = {normalize(service.distribution), "kontaxa-common"}
    unlocked = {n: v for n, v in installed.items() if n not in workspace and lock.get(n) != v}
    assert unlocked == {}


@pytest.mark.parametrize("service", SERVICES)
def test_service_layers_stay_small(service: ServiceImage) -> None:
    added = layers_on_top_of_golden(service.ref)
    assert 0 < added < SERVICE_LAYERS_MAX_BYTES, f"{service.ref} adds {added / 1e6:.1f} MB"


def test_emulator_image_is_the_locked_moto_that_kind_deploys() -> None:
    """kontaxa/aws-emulator: the golden image plus exactly the locked moto[server] closure,
    serving on 4566 as the platform's Deployment expects (which names this very image)."""
    from kontaxa_e2e.containers import EMULATOR_IMAGE

    config = inspect(EMULATOR.ref)["Config"]
    assert config["Labels"][OCI + "base.name"] == GOLDEN
    # In a pod: every interface of the pod (the containers target binds 127.0.0.1 instead).
    assert config["Cmd"] == ["python", "-m", "moto.server", "-H", "0.0.0.0", "-p", "4566"]  # noqa: S104
    assert config.get("ExposedPorts") == {"4566/tcp": {}}
    installed = {normalize(n): v for n, v in survey(EMULATOR.ref)["dists"].items()}
    # The pins whose markers hold in the image (Linux, Python 3.11, as this test runs).
    export = subprocess.run(
        [uv(), "export", "--frozen", "--no-dev", "--no-emit-workspace", "--no-hashes",
         "--no-header", "--no-annotate", "--package", EMULATOR.distribution],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    own: dict[str, str] = {}
    for line in export.splitlines():
        pin, _, marker = line.partition(";")
        if "==" in pin and (not marker.strip() or Marker(marker.strip()).evaluate()):
            name, version = pin.strip().split("==")
            own[normalize(name)] = version
    assert own["moto"] == installed["moto"]
    missing = {n: v for n, v in own.items() if installed.get(n) != v}
    assert missing == {}, "locked dependencies missing or at another version"
    extra = {n: v for n, v in installed.items() if n not in own}
    golden = {normalize(n): v for n, v in survey(GOLDEN)["dists"].items()}
    assert extra.keys() <= golden.keys(), "installed beyond moto's closure and the golden image"
    deployment = yaml.safe_load(
        (ROOT / "infra/k8s/platform/aws-emulator/deployment.yaml").read_text()
    )
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == EMULATOR.ref == EMULATOR_IMAGE


if __name__ == "__main__":  # pragma: no cover - debugging aid
    print(json.dumps(survey(sys.argv[1]), indent=1))
