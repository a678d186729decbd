"""The real control plane's binaries, like envtest's KUBEBUILDER_ASSETS: a directory holding
kube-apiserver, kube-controller-manager, kube-scheduler and etcd (and Multus's
NetworkAttachmentDefinition CRD beside them).

`python -m devstack.kube_assets SOURCE DEST` fills DEST from a folder of xz-compressed binaries
with a SHA256SUMS file (../shared/kube/ on our machines), checking every sum, and links the etcd
that Debian's etcd-server installs; it does nothing for a file already unpacked from the same
archive. DEST and the directory the tests look in: LESSONQ_KUBE_ASSETS, else
~/.cache/lessonq/kube (outside the clone: a fresh one finds what an earlier one unpacked)."""

from __future__ import annotations

import argparse
import hashlib
import lzma
import os
import shutil
import sys
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
NAD_CRD = "nad-crd.yaml"
DEFAULT_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lessonq" / "kube"
SUMS = "SHA256SUMS"


class AssetSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LESSONQ_")

    kube_assets: Path | None = None


def assets_dir() -> Path:
    """Where the binaries are looked for: LESSONQ_KUBE_ASSETS, else the user's cache."""
    return AssetSettings().kube_assets or DEFAULT_DIR


def missing(directory: Path) -> list[str]:
    """The files a control plane needs that `directory` lacks (or cannot run)."""
    wanted = [*BINARIES, NAD_CRD]
    return [
        name
        for name in wanted
        if not (directory / name).is_file()
        or (name != NAD_CRD and not os.access(directory / name, os.X_OK))
    ]


def _sums(source: Path) -> dict[str, str]:
    sums = {}
    for line in (source / SUMS).read_text().splitlines():
        if line.strip():
            digest, name = line.split()
            sums[name.lstrip("*")] = digest
    return sums


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unpack(source: Path, dest: Path, etcd: str | None = None) -> list[str]:
    """Fill `dest`; returns what was done. Raises ValueError on a sum that does not match."""
    dest.mkdir(parents=True, exist_ok=True)
    done = []
    sums = _sums(source)
    for name in BINARIES[:3]:
        archive = source / f"{name}.xz"
        expected = sums.get(archive.name)
        if expected is None:
            raise ValueError(f"{source / SUMS}: no sum for {archive.name}")
        marker = dest / f".{name}.sha256"
        target = dest / name
        if target.is_file() and marker.is_file() and marker.read_text() == expected:
            continue
        actual = _sha256(archive)
        if actual != expected:
            raise ValueError(f"{archive}: sha256 {actual}, but {SUMS} says {expected}")
        partial = dest / f".{name}.partial"
        with lzma.open(archive) as packed, partial.open("wb") as out:
            shutil.copyfileobj(packed, out, 1 << 20)
        partial.chmod(0o755)
        partial.replace(target)
        marker.write_text(expected)
        done.append(f"unpacked {name}")
    shutil.copyfile(source / NAD_CRD, dest / NAD_CRD)
    found = etcd or shutil.which("etcd")
    if found and not (dest / "etcd").exists():
        (dest / "etcd").symlink_to(found)
        done.append(f"linked etcd to {found}")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("source", type=Path, help="folder of *.xz binaries with SHA256SUMS")
    parser.add_argument(
        "dest",
        type=Path,
        nargs="?",
        help="default: LESSONQ_KUBE_ASSETS, else ~/.cache/lessonq/kube",
    )
    args = parser.parse_args(argv)
    args.dest = args.dest or assets_dir()
    try:
        for line in unpack(args.source, args.dest):
            print(line)
    except (OSError, ValueError) as error:
        print(f"kube assets: {error}", file=sys.stderr)
        return 1
    lacking = missing(args.dest)
    if lacking:
        print(f"kube assets: {args.dest} lacks {', '.join(lacking)}", file=sys.stderr)
        return 1
    print(f"kube assets ready in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
