"""Build hook: the repository's top-level cli.py is installed as allocator/cli.py.

Everything else is declared in pyproject.toml; setuptools maps folders to packages but
not a single file to a module inside a package, hence this one step.
"""
import os
import shutil

from setuptools import setup
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


setup(cmdclass={"build_py": BuildPy})
