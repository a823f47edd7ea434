"""pyproject.toml in the form today's setuptools reads without a deprecation warning."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_the_license_is_an_spdx_expression_for_a_setuptools_that_reads_it() -> None:
    """A ``{ text = "MIT" }`` table makes every install print setuptools' deprecation
    warning (and stops building in 2027); the string form needs setuptools 77."""
    data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    assert data["project"]["license"] == "MIT"
    (setuptools,) = [r for r in data["build-system"]["requires"] if r.startswith("setuptools")]
    found = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", setuptools)
    assert found and int(found.group(1)) >= 77
