"""git in a test repository, with a fixed test identity (shared by the tests that make repos)."""

import subprocess
from pathlib import Path


def git(repo: Path, *args: str) -> str:
    """Run `git -C repo args` as a test user; its stripped stdout (raises on failure)."""
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
