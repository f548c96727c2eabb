"""The import contract that keeps moderation behind the classifier's facade
names the modules it forbids: a module added to the classifier and not to the
list would be open to moderation without anyone deciding so."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path

import classifier

ROOT = Path(__file__).resolve().parent.parent
FACADE = {"classifier.inference", "classifier.contracts", "classifier.registry", "classifier.facade"}


def test_every_classifier_module_but_the_facade_is_forbidden_to_moderation():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = [
        c for c in config["tool"]["importlinter"]["contracts"] if c.get("source_modules") == ["moderation", "config"]
    ]
    modules = {f"classifier.{m.name}" for m in pkgutil.iter_modules(classifier.__path__)}
    assert FACADE <= modules
    assert set(contract["forbidden_modules"]) == modules - FACADE
