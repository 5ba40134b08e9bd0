"""The docs and the README point only at files, headings and Task targets that exist."""

import re
from pathlib import Path

import pytest
from markdown_checks import ROOT, broken_links, links, listed_targets, missing_paths, task_names

DOCS = ROOT / "docs"
# What issue 9 asks for; cicd.md and oidc.md come with the workflows (issue 8).
REQUIRED = (
    "architecture.md",
    "deployment-guide.md",
    "terraform.md",
    "argocd.md",
    "cicd.md",
    "oidc.md",
    "secrets-manager.md",
    "monitoring.md",
    "local-development.md",
    "api-testing.md",
    "adding-a-service.md",
    "golden-image.md",
)


def documents() -> list[Path]:
    """README.md and every Markdown file under docs/."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


@pytest.fixture(scope="module")
def targets() -> set[str]:
    """Every target of `./task --list-all`."""
    return listed_targets()


def test_required_documents_exist() -> None:
    missing = [name for name in REQUIRED if not (DOCS / name).is_file()]
    assert not missing, f"docs/ lacks {missing}"


def test_readme_links_every_document() -> None:
    linked = {
        (ROOT / link.target.partition("#")[0]).resolve()
        for link in links(ROOT / "README.md")
        if not link.target.startswith(("http:", "https:"))
    }
    unlinked = [p.name for p in sorted(DOCS.glob("*.md")) if p.resolve() not in linked]
    assert not unlinked, f"README.md links none of {unlinked}"


@pytest.mark.parametrize("document", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(document: Path) -> None:
    problems = broken_links(document)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("document", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_task_targets_exist(document: Path, targets: set[str]) -> None:
    unknown = sorted(task_names(document.read_text()) - targets)
    assert not unknown, (
        f"{document.relative_to(ROOT)} names Task targets that ./task --list-all lacks: {unknown}"
    )


# The checklist of adding-a-service.md names the files of its example service.
EXAMPLE_SERVICE = ("report-service", "report_service")


@pytest.mark.parametrize("document", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_named_paths_exist(document: Path) -> None:
    """A repository path in the code of a doc names a real file, or one the doc creates."""
    text = document.read_text()
    created = set(re.findall(r"\bcp \S+ (\S+)", text))
    missing = [
        path
        for path in missing_paths(text)
        if path not in created and not any(name in path for name in EXAMPLE_SERVICE)
    ]
    assert not missing, f"{document.relative_to(ROOT)} names files that do not exist: {missing}"


def test_the_docs_name_targets_at_all() -> None:
    """The extraction finds the quickstart's commands (a broken pattern would find nothing)."""
    assert {"local-up", "test"} <= task_names((ROOT / "README.md").read_text())
