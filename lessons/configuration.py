"""Which file configures which device at which stage, as NRE Labs lessons lay them out.

An endpoint with a `configurationType` has, for every stage N, a file in `stageN/configs/`:
`<endpoint>.py` (python), `<endpoint>.yml` (ansible), or `<endpoint>-<driver>.txt` (napalm; with
plain `napalm` the driver is read from that file's name, with `napalm-<driver>` it is given).
The curriculum loader reports a file that is missing; the plan records the ones found.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from lessons.files import LessonFiles


class ConfigurationKind(StrEnum):
    PYTHON = "python"
    ANSIBLE = "ansible"
    NAPALM = "napalm"


class StageFile(BaseModel):
    """The file that configures one endpoint at one stage (and the napalm driver)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    driver: str | None = None


class MissingFile(ValueError):
    """No file configures the endpoint at that stage; the message says what was looked for."""


def kind_of(configuration_type: str) -> tuple[ConfigurationKind, str | None]:
    """`napalm-junos` -> (napalm, "junos"); `python` -> (python, None)."""
    kind, _, driver = configuration_type.partition("-")
    return ConfigurationKind(kind), driver or None


def configs_folder(stage: int) -> str:
    return f"stage{stage}/configs"


def stage_file(endpoint: str, configuration_type: str, stage: int, files: LessonFiles) -> StageFile:
    """The file configuring `endpoint` at `stage`; MissingFile naming what was looked for."""
    kind, driver = kind_of(configuration_type)
    folder = configs_folder(stage)
    if kind is ConfigurationKind.NAPALM and driver is None:
        found = files.matching(folder, f"{endpoint}-", ".txt")
        if len(found) != 1:
            what = "none" if not found else f"{len(found)}: {', '.join(found)}"
            raise MissingFile(
                f"stage {stage} needs one file {folder}/{endpoint}-<driver>.txt (the napalm "
                f"driver is read from its name); found {what}"
            )
        name = found[0].rpartition("/")[2]
        return StageFile(path=found[0], driver=name[len(endpoint) + 1 : -len(".txt")])
    name = {
        ConfigurationKind.PYTHON: f"{endpoint}.py",
        ConfigurationKind.ANSIBLE: f"{endpoint}.yml",
        ConfigurationKind.NAPALM: f"{endpoint}-{driver}.txt",
    }[kind]
    path = f"{folder}/{name}"
    if not files.exists(path):
        raise MissingFile(f"stage {stage} has no {path}")
    return StageFile(path=path, driver=driver)
