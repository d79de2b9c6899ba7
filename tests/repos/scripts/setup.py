from pathlib import Path

Path(__file__).with_name("SENTINEL_setup").write_text("imported\n")

from setuptools import setup  # noqa: E402

setup(name="scripts-fixture", py_modules=["model"])
