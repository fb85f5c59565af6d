"""How the repository's layout installs as one package (the rest is in pyproject.toml).

    allocator/   -> allocator, with every subpackage found below it
    models/      -> allocator.models, with its subpackages
    cli.py       -> allocator/cli.py (setuptools maps folders to packages, not a single
                    file to a module inside one: the build step below copies it)
"""
import os
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


class BuildPy(build_py):
    def run(self) -> None:
        # A module deleted from the source must not linger in an old build folder and the wheel.
        shutil.rmtree(os.path.join(self.build_lib, "allocator"), ignore_errors=True)
        super().run()
        self.build_module("cli", "cli.py", "allocator")

    def get_output_mapping(self) -> dict[str, str]:
        mapping = super().get_output_mapping()
        mapping[os.path.join(self.build_lib, "allocator", "cli.py")] = "cli.py"
        return mapping


PACKAGES = (["allocator", *(f"allocator.{p}" for p in find_packages("allocator"))]
            + ["allocator.models", *(f"allocator.models.{p}" for p in find_packages("models"))])

setup(packages=PACKAGES, package_dir={"allocator.models": "models"}, cmdclass={"build_py": BuildPy})
