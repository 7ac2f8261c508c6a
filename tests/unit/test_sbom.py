"""The image's SBOM (localcluster/sbom.py): CycloneDX JSON of the Debian and Python packages found in a
root filesystem, from a directory or a `docker export` tar, with the lock file's hashes."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from localcluster import sbom

ROOT = Path(__file__).resolve().parents[2]

DPKG_STATUS = """\
Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 2.36-9+deb12u9
Description: GNU C Library: Shared libraries
 Contains the standard libraries.

Package: removed-thing
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: ca-certificates
Status: install ok installed
Architecture: all
Version: 20230311
"""


def metadata(name: str, version: str) -> str:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: x\n\nLong description\nName: not-this\n"


def make_rootfs(root: Path) -> Path:
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(DPKG_STATUS)
    site = root / "opt/venv/lib/python3.11/site-packages"
    for name, version in (("pydantic", "2.11.7"), ("Typing_Extensions", "4.14.1")):
        (site / f"{name}-{version}.dist-info").mkdir(parents=True)
        (site / f"{name}-{version}.dist-info/METADATA").write_text(metadata(name, version))
    (root / "opt/project/wallaroo_inference_operator-0.1.0.dist-info").mkdir(parents=True)
    (root / "opt/project/wallaroo_inference_operator-0.1.0.dist-info/METADATA").write_text(
        metadata("wallaroo-inference-operator", "0.1.0")
    )
    # Outside /opt: the base's own Python packages are not the image's dependencies.
    (root / "usr/lib/python3/dist-packages/other-1.0.dist-info").mkdir(parents=True)
    (root / "usr/lib/python3/dist-packages/other-1.0.dist-info/METADATA").write_text(metadata("other", "1.0"))
    return root


LOCK = """\
pydantic==2.11.7 \\
    --hash=sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa \\
    --hash=sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
    # via wallaroo-inference-operator (pyproject.toml)
typing-extensions==4.14.0 \\
    --hash=sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
"""


def components(document: dict) -> dict[str, dict]:
    return {c["purl"]: c for c in document["components"]}


def test_a_rootfs_gives_cyclonedx_with_deb_and_pypi_components(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path / "rootfs")
    (tmp_path / "runtime.txt").write_text(LOCK)
    written = sbom.write_sbom(
        sbom.files_of_rootfs(root),
        tmp_path / "build/sbom.cdx.json",
        image="wallaroo-inference-operator:0.1.0",
        lock=tmp_path / "runtime.txt",
    )
    document = json.loads(written.read_text())
    assert document["bomFormat"] == "CycloneDX" and document["specVersion"] == "1.5"
    assert document["serialNumber"].startswith("urn:uuid:") and document["version"] == 1
    assert document["metadata"]["component"] == {
        "type": "container",
        "bom-ref": "wallaroo-inference-operator:0.1.0",
        "name": "wallaroo-inference-operator",
        "version": "0.1.0",
    }
    found = components(document)
    assert sorted(found) == [
        "pkg:deb/debian/ca-certificates@20230311?arch=all",
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u9?arch=amd64",
        "pkg:pypi/pydantic@2.11.7",
        "pkg:pypi/typing-extensions@4.14.1",
        "pkg:pypi/wallaroo-inference-operator@0.1.0",
    ]
    assert found["pkg:deb/debian/libc6@2.36-9%2Bdeb12u9?arch=amd64"]["version"] == "2.36-9+deb12u9"
    # Hashes from the lock where the installed version is the locked one; none for a version it does not lock.
    assert found["pkg:pypi/pydantic@2.11.7"]["hashes"] == [
        {"alg": "SHA-256", "content": "a" * 64},
        {"alg": "SHA-256", "content": "b" * 64},
    ]
    assert "hashes" not in found["pkg:pypi/typing-extensions@4.14.1"]
    assert all(c["type"] == "library" and c["bom-ref"] == c["purl"] for c in document["components"])


def test_a_docker_export_tar_gives_the_same_packages(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path / "rootfs")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(root, arcname=".")
    buffer.seek(0)
    with tarfile.open(fileobj=buffer, mode="r|") as archive:
        from_tar = sbom.packages_from(sbom.files_of_tar(archive))
    assert from_tar == sbom.packages_from(sbom.files_of_rootfs(root))
    assert len(from_tar) == 5


def test_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_rootfs(tmp_path / "rootfs")
    assert sbom.main([str(root), "-o", str(tmp_path / "sbom.json"), "--lock", str(tmp_path / "none.txt")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "sbom.json")
    assert len(json.loads((tmp_path / "sbom.json").read_text())["components"]) == 5


def test_this_virtualenv_read_as_an_image_lists_the_locked_runtime_packages(tmp_path: Path) -> None:
    """A real site-packages (this test's own) under /opt, against the real lock: locked packages get hashes."""
    import pydantic

    site = Path(pydantic.__file__).resolve().parents[1]
    for metadata_file in site.glob("*.dist-info/METADATA"):  # the dist-infos, as the image's /opt/venv holds them
        copy = tmp_path / "opt/venv" / metadata_file.parent.name / "METADATA"
        copy.parent.mkdir(parents=True)
        copy.write_bytes(metadata_file.read_bytes())
    lock = (ROOT / "requirements/runtime.txt").read_text()
    packages = sbom.with_locked_hashes(sbom.packages_from(sbom.files_of_rootfs(tmp_path)), lock)
    by_name = {sbom.normalized(p.name): p for p in packages}
    assert by_name["pydantic"].version == pydantic.VERSION
    locked = sbom.locked_hashes(lock)[("pydantic", pydantic.VERSION)]
    assert locked and by_name["pydantic"].hashes == locked
