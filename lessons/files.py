"""A lesson's folder as its pods and configuration Jobs see it, read-only, at /antidote.

The files travel in one ConfigMap per lesson namespace (``lessons.manifests``): the apiserver
holds a ConfigMap to 1 MiB of data, so a larger lesson is a problem its author sees in
``lessonq validate``. Hidden files (any part of the path starting with '.'), files over
LESSONQ_LESSON_FILE_MAX_BYTES, and anything that is not a regular file inside the folder (a
symbolic link may point anywhere) are left out and reported. The files are addressed by their
content (`version`): the intake keeps them in Redis under it, once for every live lesson of that
version, and the workers build the ConfigMap from there; nothing is fetched at run time from
outside the cluster, which the lesson's NetworkPolicy would refuse anyway.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict

# The apiserver refuses a ConfigMap whose data and binaryData values add up to more.
CONFIGMAP_MAX_BYTES = 1024 * 1024
MOUNT_PATH = "/antidote"


class LessonFiles(BaseModel):
    """Relative POSIX paths to contents, as they are under /antidote."""

    # Bytes as base64 in JSON: lesson folders hold pictures and notebooks too.
    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    files: dict[str, bytes]

    @cached_property
    def version(self) -> str:
        """16 hex digits of a SHA-256 over every path and content: the same folder, the same
        version, in every process (worked out once: the model is frozen)."""
        digest = hashlib.sha256()
        for path in sorted(self.files):
            content = self.files[path]
            digest.update(f"{len(path)}:{path}{len(content)}:".encode())
            digest.update(content)
        return digest.hexdigest()[:16]

    @property
    def size(self) -> int:
        return sum(len(content) for content in self.files.values())

    def exists(self, path: str) -> bool:
        return path in self.files

    def matching(self, folder: str, prefix: str, suffix: str) -> list[str]:
        """Paths of the files directly in `folder` whose names start and end so, sorted."""
        return sorted(
            path
            for path in self.files
            if path.rpartition("/")[0] == folder
            and path.rpartition("/")[2].startswith(prefix)
            and path.endswith(suffix)
        )


@dataclass(frozen=True)
class LeftOut:
    """A file of the folder that the pods will not see, and why."""

    path: str
    why: str


def read_lesson_files(folder: Path, max_file_bytes: int) -> tuple[LessonFiles, list[LeftOut]]:
    """Every regular file under `folder` that a pod may see, and those left out."""
    files: dict[str, bytes] = {}
    left_out: list[LeftOut] = []
    # Links to folders are not followed: they may lead anywhere.
    for directory, folders, names in os.walk(folder, followlinks=False):
        base = Path(directory)
        for name in sorted(folders):
            if name.startswith("."):
                folders.remove(name)  # nothing under it is read; it is reported once
                left_out.append(LeftOut(_relative(base / name, folder), "hidden"))
        for name in sorted(names):
            path = base / name
            relative = _relative(path, folder)
            info = path.lstat()
            if name.startswith("."):
                left_out.append(LeftOut(relative, "hidden"))
            elif not stat.S_ISREG(info.st_mode):
                left_out.append(LeftOut(relative, "not a regular file (a link, a device...)"))
            elif info.st_size > max_file_bytes:
                size = f"{info.st_size} bytes, over the limit of {max_file_bytes}"
                left_out.append(LeftOut(relative, size))
            else:
                files[relative] = path.read_bytes()
    return LessonFiles(files=dict(sorted(files.items()))), sorted(left_out, key=lambda x: x.path)


def _relative(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()
