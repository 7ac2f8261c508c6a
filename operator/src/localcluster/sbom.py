"""A software bill of materials of the operator image: CycloneDX 1.5 JSON, written at `make image`.

Read from the image's own root filesystem, so it lists what is there, not what was meant to be:
- the Debian packages, from dpkg's status database (`var/lib/dpkg/status`, installed ones only);
- the Python packages, from every `*.dist-info/METADATA` under the image's /opt (the locked virtualenv
  and the operator's own package), as `pip inspect` reads them, with the lock file's sha256 hashes
  (requirements/runtime.txt) attached where the versions match.

    python -m localcluster.sbom ROOTFS -o build/sbom.cdx.json     # an unpacked root filesystem
    docker export CONTAINER | python -m localcluster.sbom --tar - -o build/sbom.cdx.json
"""

from __future__ import annotations

import argparse
import email.parser
import json
import re
import sys
import tarfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

DPKG_STATUS = "var/lib/dpkg/status"
PYTHON_ROOTS = ("opt/",)  # where the Dockerfile installs Python packages
SPEC_VERSION = "1.5"


@dataclass(frozen=True)
class Package:
    kind: str  # "deb" or "pypi"
    name: str
    version: str
    arch: str = ""
    hashes: tuple[str, ...] = ()  # sha256 hex digests (of the locked distribution files)

    @property
    def purl(self) -> str:
        if self.kind == "deb":
            return f"pkg:deb/debian/{quote(self.name)}@{quote(self.version)}" + (
                f"?arch={self.arch}" if self.arch else ""
            )
        return f"pkg:pypi/{normalized(self.name)}@{quote(self.version)}"


def normalized(name: str) -> str:
    """PEP 503: `Typing_Extensions` and `typing-extensions` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dpkg_packages(status: str) -> list[Package]:
    """The installed packages of a dpkg status file (stanzas separated by blank lines)."""
    packages = []
    for stanza in re.split(r"\n\s*\n", status):
        fields = dict(re.findall(r"^([A-Za-z-]+):[ \t]*(.*)$", stanza, flags=re.M))
        if fields.get("Package") and fields.get("Version") and fields.get("Status", "").endswith(" installed"):
            packages.append(Package("deb", fields["Package"], fields["Version"], fields.get("Architecture", "")))
    return packages


def python_package(metadata: str) -> Package | None:
    message = email.parser.Parser().parsestr(metadata, headersonly=True)
    name, version = message.get("Name"), message.get("Version")
    return Package("pypi", name.strip(), version.strip()) if name and version else None


def locked_hashes(lock: str) -> dict[tuple[str, str], tuple[str, ...]]:
    """(normalized name, version) -> sha256 digests, from a pip-compile lock with --generate-hashes."""
    hashes: dict[tuple[str, str], tuple[str, ...]] = {}
    for entry in re.split(r"\n(?=[A-Za-z0-9])", lock):
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", entry)
        if match:
            key = (normalized(match[1]), match[2])
            hashes[key] = tuple(re.findall(r"--hash=sha256:([0-9a-f]{64})", entry))
    return hashes


def with_locked_hashes(packages: Iterable[Package], lock: str | None) -> list[Package]:
    hashes = locked_hashes(lock) if lock else {}
    return [
        Package(p.kind, p.name, p.version, p.arch, hashes.get((normalized(p.name), p.version), ()))
        if p.kind == "pypi"
        else p
        for p in packages
    ]


# -- reading an image's files -------------------------------------------------------------------------


def _is_metadata(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return (
        len(parts) >= 2
        and parts[-1] == "METADATA"
        and parts[-2].endswith(".dist-info")
        and path.startswith(PYTHON_ROOTS)
    )


def files_of_rootfs(root: Path) -> Iterator[tuple[str, str]]:
    """(path relative to the root, text) of the files an SBOM reads, in an unpacked root filesystem."""
    status = root / DPKG_STATUS
    if status.is_file():
        yield DPKG_STATUS, status.read_text(encoding="utf-8", errors="replace")
    for base in PYTHON_ROOTS:
        if (root / base).is_dir():
            for metadata in sorted((root / base).rglob("*.dist-info/METADATA")):
                yield metadata.relative_to(root).as_posix(), metadata.read_text(encoding="utf-8", errors="replace")


def files_of_tar(archive: tarfile.TarFile) -> Iterator[tuple[str, str]]:
    """The same from a filesystem tar stream (`docker export`), read in one pass."""
    for member in archive:
        path = member.name.removeprefix("./").lstrip("/")
        if member.isfile() and (path == DPKG_STATUS or _is_metadata(path)):
            handle = archive.extractfile(member)
            if handle is not None:
                yield path, handle.read().decode("utf-8", errors="replace")


def packages_from(files: Iterable[tuple[str, str]]) -> list[Package]:
    found: dict[tuple[str, str, str], Package] = {}
    for path, text in files:
        if path == DPKG_STATUS:
            candidates = dpkg_packages(text)
        else:
            candidate = python_package(text)
            candidates = [candidate] if candidate else []
        for package in candidates:
            key = (package.kind, normalized(package.name), package.version)
            found.setdefault(key, package)
    return sorted(found.values(), key=lambda p: (p.kind, normalized(p.name), p.version))


# -- CycloneDX ----------------------------------------------------------------------------------------


def cyclonedx(
    packages: Iterable[Package], *, image: str, version: str, timestamp: datetime | None = None
) -> dict[str, Any]:
    components = []
    for package in packages:
        component: dict[str, Any] = {
            "type": "library",
            "bom-ref": package.purl,
            "name": package.name,
            "version": package.version,
            "purl": package.purl,
        }
        if package.hashes:
            component["hashes"] = [{"alg": "SHA-256", "content": digest} for digest in package.hashes]
        components.append(component)
    moment = (timestamp or datetime.now(UTC)).replace(microsecond=0)
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "localcluster.sbom"}]},
            "component": {"type": "container", "bom-ref": image, "name": image.rsplit(":", 1)[0], "version": version},
        },
        "components": components,
    }


def write_sbom(files: Iterable[tuple[str, str]], destination: Path, *, image: str, lock: Path | None = None) -> Path:
    lock_text = lock.read_text(encoding="utf-8") if lock is not None and lock.is_file() else None
    packages = with_locked_hashes(packages_from(files), lock_text)
    document = cyclonedx(packages, image=image, version=image.rsplit(":", 1)[-1] if ":" in image else "")
    destination.parent.mkdir(parents=True, exist_ok=True)
    scratch = destination.with_suffix(".partial")
    scratch.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    scratch.replace(destination)
    return destination


def write_image_sbom(image: str, destination: Path, lock: Path | None = None) -> Path:
    """The SBOM of a buildah image: its root filesystem mounted (a working container of it, removed
    again, mount and all, whatever happens)."""
    import subprocess

    from localcluster.images import buildah_env

    def buildah(*args: str) -> str:
        return subprocess.run(
            ["buildah", *args], check=True, capture_output=True, text=True, env=buildah_env()
        ).stdout.strip()

    container = buildah("from", "--pull=never", image)
    try:
        root = Path(buildah("mount", container))
        try:
            return write_sbom(files_of_rootfs(root), destination, image=image, lock=lock)
        finally:
            buildah("umount", container)
    finally:
        buildah("rm", container)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localcluster.sbom", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("rootfs", nargs="?", type=Path, help="an unpacked root filesystem")
    parser.add_argument("--tar", help="a filesystem tar instead (- for standard input)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--image", default="wallaroo-inference-operator:0.1.0")
    parser.add_argument("--lock", type=Path, default=Path("requirements/runtime.txt"))
    args = parser.parse_args(argv)
    if (args.rootfs is None) == (args.tar is None):
        parser.error("give either ROOTFS or --tar")
    if args.tar is not None:
        stream = sys.stdin.buffer if args.tar == "-" else open(args.tar, "rb")  # noqa: SIM115
        with stream, tarfile.open(fileobj=stream, mode="r|*") as archive:
            written = write_sbom(files_of_tar(archive), args.output, image=args.image, lock=args.lock)
    else:
        written = write_sbom(files_of_rootfs(args.rootfs), args.output, image=args.image, lock=args.lock)
    print(written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
