"""`python -m secrets_provider.lint`: one test per mistake class, and its exit status."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from secrets_provider.lint import lint_class, main


def spc(objects: str, **parameters: str) -> dict[str, object]:
    return {
        "apiVersion": "secrets-store.csi.x-k8s.io/v1",
        "kind": "SecretProviderClass",
        "metadata": {"name": "main-api-secrets", "namespace": "kontaxa"},
        "spec": {
            "provider": "aws",
            "parameters": {"region": "us-east-1", "objects": objects, **parameters},
        },
    }


def kinds(objects: str, **parameters: str) -> list[tuple[str, str]]:
    return [(f.kind, f.message) for f in lint_class(spc(objects, **parameters), "test.yaml")]


def test_a_clean_class_has_no_findings(main_api_objects: str) -> None:
    assert kinds(main_api_objects) == []


@pytest.mark.parametrize(
    ("objects", "parameters", "expected"),
    [
        (
            "- {objectName: a, objectType: secretsmanager, objectAliass: b}",
            {},
            "objects[0].objectAliass: unknown key",
        ),
        (
            "- {objectName: a, objectType: secretsmanager, objectalias: b}",
            {},
            "the key is 'objectAlias'",
        ),
        (
            "- {objectName: a, objectType: secretsmanager,"
            " jmesPath: [{path: k, objectAlias: x, mode: '0600'}]}",
            {},
            "objects[0].jmesPath[0].mode: unknown key",
        ),
        (
            "- {objectName: a, objectType: secretsmanager}",
            {"pathtranslation": "-"},
            "the key is 'pathTranslation'",
        ),
    ],
)
def test_unknown_keys(objects: str, parameters: dict[str, str], expected: str) -> None:
    found = kinds(objects, **parameters)
    assert [kind for kind, _ in found] == ["unknown-key"]
    assert expected in found[0][1]


@pytest.mark.parametrize(
    ("objects", "parameters"),
    [
        (
            "- {objectName: a/b, objectType: secretsmanager}\n"
            "- {objectName: c, objectType: secretsmanager, objectAlias: a_b}",
            {},
        ),
        (
            "- {objectName: k, objectType: secretsmanager, objectVersionLabel: AWSCURRENT}\n"
            "- {objectName: k, objectType: secretsmanager, objectVersionLabel: AWSPREVIOUS}",
            {},
        ),
        (
            "- {objectName: a, objectType: secretsmanager}\n"
            "- {objectName: a/b, objectType: secretsmanager}",
            {"pathTranslation": "False"},
        ),
    ],
)
def test_duplicate_file_names(objects: str, parameters: dict[str, str]) -> None:
    assert [kind for kind, _ in kinds(objects, **parameters)] == ["duplicate-file"]


@pytest.mark.parametrize(
    ("objects", "mounted_as"),
    [
        (
            "- {objectName: a, objectType: secretsmanager, objectAlias: keys/primary}",
            "'keys_primary'",
        ),
        (
            "- {objectName: a, objectType: secretsmanager,"
            " jmesPath: [{path: k, objectAlias: x/y}]}",
            "'x_y'",
        ),
    ],
)
def test_aliases_that_translation_changes(objects: str, mounted_as: str) -> None:
    found = kinds(objects)
    assert [kind for kind, _ in found] == ["alias-translated"]
    assert f"mounted as {mounted_as}" in found[0][1]


@pytest.mark.parametrize(
    "objects",
    [
        "- {objectName: p, objectType: ssmparameter, objectVersion: 3}",
        "- {objectName: s, objectType: secretsmanager, objectVersionLabel: yes}",
        "- {objectName: s, objectType: secretsmanager, objectAlias: s,"
        " failoverObject: {objectName: t, objectVersion: 1.0}}",
    ],
)
def test_unquoted_versions(objects: str) -> None:
    found = kinds(objects, failoverRegion="us-west-2")
    assert "unquoted-scalar" in [kind for kind, _ in found]


def test_what_fails_the_mount_anyway_is_reported() -> None:
    assert [kind for kind, _ in kinds("- {objectName: a}")] == ["invalid"]


def test_another_provider_is_not_linted() -> None:
    other = spc("- {objectName: a, oops: 1}")
    other["spec"]["provider"] = "vault"  # type: ignore[index]
    assert lint_class(other, "x") == []


def test_exit_status_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = tmp_path / "clean.yaml"
    clean.write_text(yaml.safe_dump(spc("- {objectName: a, objectType: secretsmanager}")))
    dirty = tmp_path / "dirty.yaml"
    dirty.write_text(
        yaml.safe_dump(spc("- {objectName: a, objectType: secretsmanager, objectAliass: b}"))
    )

    assert main([str(clean)]) == 0
    assert main([str(dirty)]) == 1
    assert "unknown-key" in capsys.readouterr().out
    assert main([str(tmp_path / "missing.yaml")]) == 2


def test_module_runs_on_standard_input(tmp_path: Path) -> None:
    manifest = yaml.safe_dump(
        spc("- {objectName: a, objectType: secretsmanager, objectVersion: 3}")
    )
    result = subprocess.run(
        [sys.executable, "-m", "secrets_provider.lint", "-"],
        input=manifest,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "unquoted-scalar" in result.stdout
