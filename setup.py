"""Package discovery, plus one mapping pyproject.toml cannot state beside `packages.find`: the top-level
resources/ folder is installed as the package `tlstudio.resources` (a wheel copies it in; an editable
install maps the name to the folder), so every way of running TL Studio finds its files in one place."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["tlstudio", "tlstudio.*"]), "tlstudio.resources"],
      package_dir={"tlstudio.resources": "resources"})
