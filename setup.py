"""Packaging glue that pyproject.toml cannot express: the repository folder ``rules/`` ships as the
package ``modelcheck_rules`` (never as a bare top-level ``rules``), subpackages included."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["modelcheck", "modelcheck.*"])
    + ["modelcheck_rules"]
    + [f"modelcheck_rules.{p}" for p in find_packages("rules")],
    package_dir={"modelcheck_rules": "rules"},
)
