"""The SLO rules evaluated by Prometheus's own engine: `promtool test rules`, fire and no-fire.

The rule file is the one the process runtime generates from the PrometheusRule (its
spec.groups, at the cluster's intervals); the cases are monitoring/tests/slo-rules.test.yaml.
"""

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_manifests import K8S_ROOT

from kontaxa_local import monitoring

CASES = K8S_ROOT / "monitoring/tests/slo-rules.test.yaml"


@pytest.fixture(scope="module")
def rule_files() -> dict[str, dict[str, Any]]:
    return monitoring.rule_files(monitoring.cluster_objects(), None)


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (apt-get install prometheus; local-up does it)")
    return path


def _alerts(rule_files: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        rule["alert"]: rule
        for content in rule_files.values()
        for group in content["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def _minutes(duration: str) -> float:
    match = re.fullmatch(r"(\d+)([smh])", duration)
    assert match, duration
    return int(match[1]) * {"s": 1 / 60, "m": 1, "h": 60}[match[2]]


def test_every_alert_has_a_fire_and_a_no_fire_case(rule_files: dict[str, dict[str, Any]]) -> None:
    """Each alert: a case where it fires, having been checked silent before its `for:` elapsed,
    and a case of its own where it never fires (a spike, a burn within budget, a short outage).
    """
    cases = yaml.safe_load(CASES.read_text())
    assert cases["rule_files"] == list(rule_files)
    for name, rule in _alerts(rule_files).items():
        fires, quiet_cases = [], []
        for case in cases["tests"]:
            checks = [c for c in case.get("alert_rule_test", []) if c["alertname"] == name]
            firing = [_minutes(c["eval_time"]) for c in checks if c["exp_alerts"]]
            silent = [_minutes(c["eval_time"]) for c in checks if not c["exp_alerts"]]
            if firing:
                fires.append((min(firing), silent))
            elif silent:
                quiet_cases.append(case["name"])
        assert fires, f"{name}: no case makes it fire"
        assert quiet_cases, f"{name}: no case where it must stay silent"
        wait = _minutes(rule.get("for", "0s"))
        # Silent at most `for:` plus two evaluations (the burn becoming visible) before it fires.
        assert any(any(first - wait - 2 <= t < first for t in silent) for first, silent in fires), (
            f"{name}: no check that it stays silent before its for: {rule.get('for')} elapses"
        )


def _promtool_test(
    promtool: str, rules: dict[str, dict[str, Any]], cases: dict[str, Any], directory: Path
) -> subprocess.CompletedProcess[str]:
    for name, content in rules.items():
        (directory / name).write_text(yaml.safe_dump(content, sort_keys=False))
    (directory / CASES.name).write_text(yaml.safe_dump(cases, sort_keys=False))
    return subprocess.run(
        [promtool, "test", "rules", CASES.name],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_promtool_runs_every_case(
    promtool: str, rule_files: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    result = _promtool_test(promtool, rule_files, yaml.safe_load(CASES.read_text()), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_fails_a_rule_that_does_not_fire(
    promtool: str, rule_files: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """The cases catch a broken alert: TargetDown made to wait 1 h no longer fires in time."""
    broken = yaml.safe_load(yaml.safe_dump(rule_files))
    for content in broken.values():
        for group in content["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == "KontaxaTargetDown":
                    rule["for"] = "1h"
    cases = yaml.safe_load(CASES.read_text())
    cases["tests"] = [c for c in cases["tests"] if "target down" in c["name"]]
    assert cases["tests"]
    result = _promtool_test(promtool, broken, cases, tmp_path)
    assert result.returncode != 0
    assert "KontaxaTargetDown" in result.stdout + result.stderr
