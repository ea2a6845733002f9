"""Which of the package's code a workflow script runs, and a hash of it.

Snakemake re-runs a job when its script changes, but not when a module the script imports
changes. Each rule therefore takes ``code_version(script)`` as a parameter: the sha256 of
the source of every package module the script imports, directly or through other package
modules. Editing the engine re-runs the jobs that use the engine and no others.
"""

from __future__ import annotations

import ast
import hashlib
import sys
from pathlib import Path

PACKAGE = "steering_reliability"
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def imports(path: Path, seen: set[Path] | None = None) -> tuple[set[Path], set[str]]:
    """(package source files, top-level third-party modules) that ``path`` imports, transitively in the package."""
    seen = set() if seen is None else seen
    files, third_party = set(), set()
    if path in seen:
        return files, third_party
    seen.add(path)
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            top = name.split(".")[0]
            if top == PACKAGE:
                module = PACKAGE_DIR.joinpath(*name.split(".")[1:])
                for candidate in (module.with_suffix(".py"), module / "__init__.py"):
                    if candidate.is_file():
                        files.add(candidate)
                        more_files, more_modules = imports(candidate, seen)
                        files |= more_files
                        third_party |= more_modules
            elif top not in sys.stdlib_module_names and top != "__future__":
                third_party.add(top)
    return files, third_party


def code_version(script: str | Path) -> str:
    """A short sha256 of the package source that ``script`` runs."""
    digest = hashlib.sha256()
    for path in sorted(imports(Path(script))[0]):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]
