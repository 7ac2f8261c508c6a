"""What pyproject.toml cannot say statically: which packages and commands go into the wheel.

`pip install .` (and `-e .`) gets all three packages: the operator, the Wallaroo simulator and
`localcluster`. WALLAROO_BUILD_OPERATOR_ONLY=1 builds the production wheel: the operator and its
command alone, so the image ships no simulator and no control-plane tooling.
"""

import os

from setuptools import setup

OPERATOR = {"wallaroo-operator": "wallaroo_operator.cli:main"}
TOOLS = {"wallaroo-simulator": "wallaroo_simulator.__main__:main", "localcluster": "localcluster.__main__:main"}
SOURCES = "operator/src"


def operator_only() -> bool:
    return os.environ.get("WALLAROO_BUILD_OPERATOR_ONLY", "") == "1"


def packages() -> list[str]:
    # src layout under operator/: the folder itself is never a package, so it cannot shadow the
    # standard library's `operator` module.
    from setuptools import find_packages

    found = find_packages(where=SOURCES)
    if operator_only():
        found = [name for name in found if name.split(".")[0] == "wallaroo_operator"]
    return found


def commands() -> dict[str, str]:
    return OPERATOR if operator_only() else {**OPERATOR, **TOOLS}


if __name__ == "__main__":
    setup(
        packages=packages(),
        package_dir={"": SOURCES},
        package_data={"wallaroo_simulator": ["*.yaml"]},
        entry_points={"console_scripts": [f"{name} = {target}" for name, target in commands().items()]},
    )
