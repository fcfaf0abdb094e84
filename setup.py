"""Package discovery only: ``export/`` is installed as the ``tessera_export`` package.

All metadata lives in pyproject.toml.
"""

from setuptools import find_packages, setup

runtime = find_packages(include=["tessera_onnx", "tessera_onnx.*"])
toolchain = [
    "tessera_export" + name[len("export") :] for name in find_packages(include=["export", "export.*"])
]

setup(packages=runtime + toolchain, package_dir={"tessera_export": "export"})
