"""Maps the four top-level folders under the `pycri` import root."""

from setuptools import find_packages, setup

ROOTS = {"api": "pycri.api", "cri": "pycri.cri", "runtime": "pycri.runtime", "cni": "pycri.cni"}

packages: list[str] = []
package_dir: dict[str, str] = {}
for folder, name in ROOTS.items():
    package_dir[name] = folder
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(folder)]

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={name: ["py.typed", "*.proto", "*.json", "*.conflist", "**/*.pyi"] for name in packages},
)
