"""Every rule has a pinned conda environment that provides every module its script imports."""

from __future__ import annotations

import json
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml

from steering_reliability.run.code_version import imports

from conftest import REPO

RULES = REPO / "workflow" / "rules"
RULE_BLOCK = re.compile(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", re.MULTILINE)
# a model stage's rules, one per group of datasets, defined in a loop: named <stage>_<index>
GROUP_RULE_BLOCK = re.compile(
    r'^    rule:\n        name:\n            f"(\w+?)_\{index\}"\n((?:[ \t]+.*\n|\n)*)', re.MULTILINE
)
# pandas reads and writes parquet through pyarrow without importing it by name
IMPLIED = {"pandas": {"pyarrow"}}


def rules() -> dict[str, dict[str, str]]:
    found = {}
    for path in sorted(RULES.glob("*.smk")):
        text = path.read_text()
        for name, body in RULE_BLOCK.findall(text) + GROUP_RULE_BLOCK.findall(text):
            entry = {"file": path.name}
            for directive in ("conda", "script"):
                match = re.search(rf"^\s+{directive}:\s*\n\s+\"([^\"]+)\"", body, re.MULTILINE)
                if match:
                    entry[directive] = str((RULES / match.group(1)).resolve())
            found[name] = entry
    return found


def imported_modules(path: Path) -> set[str]:
    """Top-level third-party modules imported by a file, following imports into the package."""
    return imports(path)[1]


def env_packages(env_file: Path) -> dict[str, str]:
    """{normalised name: pinned version} of an environment file's conda and pip dependencies."""
    spec = yaml.safe_load(env_file.read_text())
    pins = {}
    for dependency in spec["dependencies"]:
        entries = dependency["pip"] if isinstance(dependency, dict) else [dependency]
        for entry in entries:
            if entry.startswith("-e "):
                continue
            name, _, version = re.split(r"(==|=)", entry, maxsplit=1) if "=" in entry else (entry, "", "")
            pins[name.strip().lower().replace("_", "-")] = version
    return pins


def distribution(module: str) -> str:
    names = packages_distributions().get(module, [module])
    return names[0].lower().replace("_", "-")


ALL_RULES = rules()


def test_rules_were_found():
    assert {"cache_activations", "evaluate_steering", "build_dataset", "bias_regression"} <= set(ALL_RULES)


@pytest.mark.parametrize("rule", [name for name in ALL_RULES if name != "all"])
def test_rule_has_an_env_providing_its_script_imports(rule):
    entry = ALL_RULES[rule]
    assert "conda" in entry, f"rule {rule} ({entry['file']}) has no conda: directive"
    pins = env_packages(Path(entry["conda"]))
    unpinned = [name for name, version in pins.items() if name not in ("python", "pip") and not version]
    assert not unpinned, f"{entry['conda']}: unpinned {unpinned}"
    assert "script" in entry, f"rule {rule} has no script"
    modules = imported_modules(Path(entry["script"]))
    for module in sorted(modules):
        for needed in {distribution(module)} | IMPLIED.get(module, set()):
            assert needed in pins, f"rule {rule}: {module} ({needed}) is not in {Path(entry['conda']).name}"


def test_env_pins_match_the_package_pins():
    """The env files and pyproject's extras pin the same versions (what pip installs is what conda gets)."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    pinned = {}
    for requirement in requirements:
        if "==" in requirement:
            name, version = requirement.split("==")
            pinned[name.lower()] = version
    for env_file in (REPO / "envs").glob("*.yaml"):
        for name, version in env_packages(env_file).items():
            if name in pinned:
                assert version == pinned[name], f"{env_file.name}: {name} {version} != pyproject {pinned[name]}"


def test_workflow_lints_clean_and_is_snakefmt_formatted():
    import subprocess

    lint = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True)
    assert lint.returncode == 0 and "good condition" in lint.stdout + lint.stderr, lint.stdout + lint.stderr
    snakefmt = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow/rules"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert snakefmt.returncode == 0, snakefmt.stderr


def test_python_code_is_ruff_clean():
    import subprocess

    paths = ["src", "workflow/scripts", "tests", "benchmarks"]
    check = subprocess.run([sys.executable, "-m", "ruff", "check", *paths], cwd=REPO, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", *paths], cwd=REPO, capture_output=True, text=True
    )
    assert formatted.returncode == 0, formatted.stdout


def test_env_files_install_no_local_path_and_the_snakefile_exports_the_package():
    """The envs must work from any working directory: they hold no path to the package, which jobs
    import from the workflow's src/ through the PYTHONPATH the Snakefile sets."""
    for env_file in (REPO / "envs").glob("*.yaml"):
        spec = yaml.safe_load(env_file.read_text())
        pip = [
            entry for dependency in spec["dependencies"] if isinstance(dependency, dict) for entry in dependency["pip"]
        ]
        local = [entry for entry in pip if entry.startswith(("-e", ".", "/", "file:"))]
        assert not local, f"{env_file.name}: local path dependencies {local}"
    assert (REPO / "src" / "steering_reliability" / "__init__.py").is_file()
    assert 'os.path.join(workflow.basedir, "src")' in (REPO / "Snakefile").read_text()


def test_a_wheel_of_the_package_holds_every_module_and_the_files_it_reads(tmp_path):
    """A non-editable install (``pip install .``) gets the pinned raw-file checksums and the paper models'
    configs (``steering-reliability size`` reads them), not only the modules."""
    import shutil
    import subprocess
    import zipfile

    source = tmp_path / "source"
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    completed = subprocess.run([*command, str(source)], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr[-3000:]
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    package = REPO / "src"
    expected = {path.relative_to(package).as_posix() for path in package.rglob("*.py")}
    expected |= {path.relative_to(package).as_posix() for path in package.rglob("model_configs/*.json")}
    expected.add("steering_reliability/data/raw_files.sha256")
    assert len(expected) > 50 and not expected - names, sorted(expected - names)


def test_catalog_file_describes_what_the_repository_has():
    catalog = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    usage = catalog["usage"]
    assert usage["software-stack-deployment"]["conda"] is True and list((REPO / "envs").glob("*.yaml"))
    assert usage["report"] is True and (REPO / "workflow" / "report" / "workflow.rst").is_file()
    for path in ("profiles/slurm", "profiles/kubernetes", "config/paper.yaml"):
        assert path in usage["mandatory-flags"]["desc"] and (REPO / path).exists()


def test_jobs_import_the_package_from_the_workflows_own_src_under_directory(tmp_path):
    """Run one job of a copy of the workflow under --directory elsewhere, with no PYTHONPATH and another copy
    of the package installed: the job's provenance says it used the copy's src/ (what a conda env gets)."""
    import os
    import shutil
    import subprocess

    from conftest import prepare_workdir, tiny_config, workflow_command

    project = tmp_path / "deployed"
    project.mkdir()
    for part in ("Snakefile", "workflow", "envs", "src"):
        source = REPO / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, project / part)
    config = tiny_config(full_study=False)
    workdir = prepare_workdir(tmp_path / "elsewhere", config)
    command = workflow_command(workdir, "results/datasets/anti-LGBTQ-rights.parquet")
    command[command.index("--snakefile") + 1] = str(project / "Snakefile")
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    completed = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-3000:]
    record = json.loads((workdir / "results/datasets/anti-LGBTQ-rights.parquet.prov.json").read_text())
    assert record["package_source"] == str(project / "src" / "steering_reliability")
