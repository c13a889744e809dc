"""What the published distribution holds and declares: typing marker, license, classifiers,
an upper bound on every dependency, and nothing of the developer tools."""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
BOUNDING = ("<", "<=", "==", "~=", "===")


def _declared() -> list[Requirement]:
    project = PYPROJECT["project"]
    texts = [*PYPROJECT["build-system"]["requires"], *project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        texts += extra
    return [Requirement(text) for text in texts]


def test_every_declared_dependency_has_an_upper_bound() -> None:
    declared = _declared()
    assert len(declared) > 20
    for requirement in declared:
        if requirement.name == "stigmer-actors":  # our own extras
            continue
        assert any(spec.operator in BOUNDING for spec in requirement.specifier), f"no upper bound: {requirement}"


def test_the_wheel_has_types_license_and_classifiers_but_no_generator(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(ROOT / "stigmer_actors", source / "stigmer_actors", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tools", source / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"),
         str(source)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = (tmp_path / "dist").glob("stigmer_actors-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [metadata_name] = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_string(archive.read(metadata_name).decode())
    assert "stigmer_actors/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not [n for n in names if n.startswith("tools/") or "generate" in n.rsplit("/", 1)[-1]]
    assert "stigmer_actors/_proto/pool.py" in names  # the generated code ships; its generator does not
    assert metadata["License-Expression"] == "MIT"
    classifiers = metadata.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers and "Programming Language :: Python :: 3.11" in classifiers
    requires = [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]
    assert {r.name for r in requires} >= {"grpcio", "protobuf", "rocksdict", "rich", "shtab", "pytest", "matplotlib"}
    for requirement in requires:
        if requirement.name != "stigmer-actors":
            assert any(spec.operator in BOUNDING for spec in requirement.specifier), f"no upper bound: {requirement}"
