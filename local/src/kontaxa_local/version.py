"""Version metadata of a stack: the commit it runs and when it was built or brought up.

The services report `GIT_SHA` and `BUILD_TIME` from their ConfigMap (envFrom), as in the
cluster. A runtime sets those keys of every ConfigMap a Deployment takes its env from,
finding the ConfigMaps through the Deployments (by key, not by name), so a generated,
hash-suffixed ConfigMap is stamped as well as a plain one.
"""

import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kontaxa_local.executor import Executor, run_command
from kontaxa_local.settings import REPO_ROOT

GIT_SHA_KEY = "GIT_SHA"
BUILD_TIME_KEY = "BUILD_TIME"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Version:
    """What a service reports as `git_sha` and `build_time`."""

    git_sha: str
    build_time: str


def rfc3339(epoch: float) -> str:
    """`epoch` as RFC 3339 in UTC, to the second (the form the images' `created` label has)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _git(repo: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(  # noqa: S603 - fixed git arguments
            ["git", "-C", str(repo), *args],  # noqa: S607 - git from PATH
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def head_commit(repo: Path = REPO_ROOT) -> str:
    """HEAD's commit id, or "" (an unborn HEAD, or no git repository)."""
    return (_git(repo, "rev-parse", "--verify", "HEAD") or "").strip()


def working_tree_revision(repo: Path = REPO_ROOT) -> str:
    """HEAD's commit, with `-dirty` when the working tree differs from it (untracked files
    count: the process runtime runs them too); `unknown` outside a git repository."""
    head = head_commit(repo)
    if not head:
        return UNKNOWN
    status = _git(repo, "status", "--porcelain")
    return head if status == "" else f"{head}-dirty"


def stamp(objects: list[dict[str, Any]], version_of: Callable[[str], Version]) -> None:
    """Set GIT_SHA and BUILD_TIME in the ConfigMaps each Deployment's containers read with
    envFrom, to `version_of(container image)`; a ConfigMap without those keys is left alone."""
    config_maps = {
        (o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
        for o in objects
        if o.get("kind") == "ConfigMap"
    }
    for deployment in (o for o in objects if o.get("kind") == "Deployment"):
        namespace = deployment["metadata"].get("namespace", "")
        for container in deployment["spec"]["template"]["spec"].get("containers", []):
            version = version_of(container.get("image", ""))
            for source in container.get("envFrom", []):
                name = source.get("configMapRef", {}).get("name")
                config_map = config_maps.get((namespace, name)) or config_maps.get(("", name))
                data = (config_map or {}).get("data") or {}
                if GIT_SHA_KEY in data:
                    data[GIT_SHA_KEY] = version.git_sha
                if BUILD_TIME_KEY in data:
                    data[BUILD_TIME_KEY] = version.build_time


# Where the local overlay's version values live in a tree: the apps' bases and the overlay.
VERSIONED_PATHS = ("infra/k8s/apps", "infra/k8s/overlays/local")
_VALUE_LINE = re.compile(
    rf"^(?P<lead>\s*(?:-\s*)?)(?P<key>{GIT_SHA_KEY}|{BUILD_TIME_KEY})(?P<sep>:\s*|=)(?P<value>.*)$",
    re.MULTILINE,
)


def stamp_text(text: str, stamped: Version) -> str:
    """`text` (a manifest or kustomization) with every GIT_SHA and BUILD_TIME value set: the
    ConfigMap form `KEY: "value"` and the configMapGenerator literal form `- KEY=value`."""

    def value(match: re.Match[str]) -> str:
        new = stamped.git_sha if match["key"] == GIT_SHA_KEY else stamped.build_time
        quoted = f'"{new}"' if match["sep"].startswith(":") else new
        return f"{match['lead']}{match['key']}{match['sep']}{quoted}"

    return _VALUE_LINE.sub(value, text)


def stamped_commit(
    executor: Executor, parent: str, stamped: Version, index: Path, repo: Path = REPO_ROOT
) -> str:
    """A child of `parent` whose ConfigMaps say `stamped` (what Argo CD syncs in kind: the
    snapshot can hold no commit id of its own, so its child names it). HEAD is untouched."""
    git = ["git", "-C", str(repo)]
    env = git_env(index)
    step = f"write the version commit (GIT_SHA={stamped.git_sha})"
    if executor.dry_run:
        executor.record("run", step, [*git, "commit-tree", "<tree>", "-p", parent])
        return f"{parent}+version"
    index.parent.mkdir(parents=True, exist_ok=True)
    index.unlink(missing_ok=True)
    run_command("read the snapshot tree", [*git, "read-tree", parent], env=env)
    listing = run_command("list the manifests", [*git, "ls-tree", "-r", parent, *VERSIONED_PATHS])
    for entry in listing.splitlines():
        mode, _, blob, path = entry.replace("\t", " ", 1).split(" ", 3)
        text = run_command(f"read {path}", [*git, "cat-file", "blob", blob])
        new = stamp_text(text, stamped)
        if new == text:
            continue
        blob = run_command(
            f"write {path}", [*git, "hash-object", "-w", "--stdin"], input_text=new
        ).strip()
        run_command(
            f"stage {path}", [*git, "update-index", "--cacheinfo", f"{mode},{blob},{path}"], env=env
        )
    tree = run_command("write the version tree", [*git, "write-tree"], env=env).strip()
    message = f"local version: GIT_SHA={stamped.git_sha} BUILD_TIME={stamped.build_time}"
    commit = commit_tree(step, repo, tree, parent, message, env)
    executor.record("run", "version commit", [*git, "commit-tree", tree], manifest=commit)
    return commit


def git_env(index: Path) -> dict[str, str]:
    """The environment of the runner's git commands on a temporary index: the user's HOME and
    XDG_CONFIG_HOME stay, so their global excludes (core.excludesFile, ~/.config/git/ignore)
    keep what they hide (.env, editor folders) out of a snapshot, as in their own commits."""
    env = {"GIT_INDEX_FILE": str(index), "PATH": "/usr/bin:/bin"}
    env.update({k: os.environ[k] for k in ("HOME", "XDG_CONFIG_HOME") if k in os.environ})
    return env


def commit_tree(
    step: str, repo: Path, tree: str, parent: str, message: str, env: dict[str, str]
) -> str:
    """A commit of `tree` on `parent` (none when empty) by the local runner; no ref moves."""
    command = ["git", "-C", str(repo), "-c", "user.name=kontaxa-local"]
    command += ["-c", "user.email=local@kontaxa.invalid", "commit-tree", tree]
    command += ["-p", parent] if parent else []
    return run_command(step, [*command, "-m", message], env=env).strip()
