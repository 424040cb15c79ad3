"""The package list, which pyproject.toml alone cannot say: every package under newsletter/, plus the
top-level templates/ folder shipped inside the wheel as the package ``newsletter.templates``
(found at run time through importlib.resources, installed or editable). Everything else is in
pyproject.toml."""

from setuptools import find_namespace_packages, setup

CACHES = ["__pycache__", "*.__pycache__"]
TEMPLATES = [
    "newsletter.templates",
    *(f"newsletter.templates.{name}" for name in find_namespace_packages("templates", exclude=CACHES)),
]

setup(
    packages=[*find_namespace_packages(include=["newsletter", "newsletter.*"], exclude=CACHES), *TEMPLATES],
    package_dir={"newsletter.templates": "templates"},
)  # the files that travel with them (package-data) are listed in pyproject.toml
