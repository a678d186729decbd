"""Loading a curriculum folder, with checks across files and errors that name file and field.

A curriculum is `images/<slug>/image.meta.yaml` and `lessons/<slug>/lesson.meta.yaml` (and the
rest of the lesson's folder) under one root. Loading collects every problem in every file and
keeps every lesson and image without one: a broken lesson (or one using a broken image) is left
out and reported, and the others are served. `validate` shows an author all the problems at
once rather than one per run.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from lessons.configuration import ConfigurationKind, MissingFile, kind_of, stage_file
from lessons.files import CONFIGMAP_MAX_BYTES, MOUNT_PATH, LeftOut, LessonFiles, read_lesson_files
from lessons.model import RULES_ERROR, Endpoint, Image, Lesson, Tier, is_image_reference
from lessons.naming import safe_repr

if TYPE_CHECKING:
    from config import Settings

LESSON_FILE = "lesson.meta.yaml"
IMAGE_FILE = "image.meta.yaml"
# The field of problems about a whole file (missing, empty, not a mapping).
WHOLE_FILE = "(file)"
# The field of problems about a whole lesson folder (its size).
WHOLE_FOLDER = "(folder)"


@dataclass(frozen=True)
class Problem:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.field}: {self.message}"

    def relative_to(self, root: Path) -> Problem:
        """The same problem, its file named from `root` when it is under it."""
        path = Path(self.file)
        if not path.is_relative_to(root):
            return self
        return replace(self, file=path.relative_to(root).as_posix())


class LessonError(ValueError):
    """One or more problems in lesson or image definitions; `str()` lists one per line."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(self.problems)

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


class UnknownLessonError(LessonError):
    """`Curriculum.lesson()` was asked for a slug the curriculum does not have."""

    def __init__(self, slug: str, root: str, known: Sequence[str] = ()) -> None:
        self.slug, self.root, self.known = slug, root, list(known)
        hint = f" (known: {_some(self.known)})" if self.known else ""
        super().__init__([Problem(root, "lessons", f"unknown lesson {safe_repr(slug)}{hint}")])

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle as cls(*args); ours are built from other arguments.
        return (type(self), (self.slug, self.root, self.known))


class BrokenLessonError(LessonError):
    """`Curriculum.lesson()` was asked for a lesson whose folder is there but has problems:
    they are this error's, as loading the lesson's file reported them."""

    def __init__(self, slug: str, problems: Iterable[Problem]) -> None:
        self.slug = slug
        super().__init__(problems)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.slug, self.problems))


class Limits(BaseModel):
    """How big a lesson may be: the settings' LESSONQ_MAX_ENDPOINTS, LESSONQ_MAX_LINKS and
    LESSONQ_LESSON_FILE_MAX_BYTES (larger files of a lesson folder are left out)."""

    model_config = ConfigDict(frozen=True)

    max_endpoints: int = Field(32, ge=1)
    max_links: int = Field(64, ge=0)
    max_file_bytes: int = Field(256 * 1024, ge=1)

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_endpoints=settings.max_endpoints,
            max_links=settings.max_links,
            max_file_bytes=settings.lesson_file_max_bytes,
        )


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class BrokenLesson:
    """A lesson folder left out of the curriculum: its tier (prod when its file does not say)
    and the problems that keep it out, its own then those of the broken images it uses."""

    tier: Tier
    problems: list[Problem]


@dataclass(frozen=True)
class Curriculum:
    """What loaded, and what kept the rest out.

    `lessons`, `files` (each lesson's folder) and `broken` are by slug (a broken lesson's is its
    folder's name). `problems` and `warnings` (files left out of lesson folders) are every one
    found under `root`, whatever the tier.
    """

    root: Path
    lessons: dict[str, Lesson]
    images: dict[str, Image]
    files: dict[str, LessonFiles] = dataclasses.field(default_factory=dict)
    broken: dict[str, BrokenLesson] = dataclasses.field(default_factory=dict)
    problems: list[Problem] = dataclasses.field(default_factory=list)
    warnings: list[Problem] = dataclasses.field(default_factory=list)

    def lesson(self, slug: str) -> Lesson:
        """The lesson called `slug`; BrokenLessonError when its folder has problems,
        UnknownLessonError when there is none (both LessonErrors)."""
        try:
            if slug in self.broken:
                raise BrokenLessonError(slug, self.broken[slug].problems)
            return self.lessons[slug]
        except (KeyError, TypeError):
            raise UnknownLessonError(slug, str(self.root), sorted(self.lessons)) from None

    def served(self, tier: Tier) -> Curriculum:
        """The curriculum as an instance serving `tier` shows it: the lessons of the tiers it
        does not serve, broken or not, are left out as if they were not there."""
        lessons = {
            slug: lesson for slug, lesson in self.lessons.items() if tier.serves(lesson.tier)
        }
        return replace(
            self,
            lessons=lessons,
            files={slug: self.files[slug] for slug in lessons},
            broken={
                slug: lesson for slug, lesson in self.broken.items() if tier.serves(lesson.tier)
            },
        )


# --- reading YAML -------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: PyYAML would silently keep only the last one."""


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Hashable, Any]:
    seen: set[tuple[str, str]] = set()
    for key_node, _ in node.value:
        # Merge keys (<<) may legitimately be overridden; plain keys may not repeat.
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {safe_repr(key_node.value)}", key_node.start_mark
                )
            seen.add(key)
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _read_mapping(path: Path) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The file's top-level mapping, or the problems that stop it from being one."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Problem(source, WHOLE_FILE, "file is missing")]
    except UnicodeDecodeError:
        return None, [Problem(source, WHOLE_FILE, "file is not UTF-8 text")]
    except OSError as error:
        return None, [Problem(source, WHOLE_FILE, f"cannot read the file: {error.strerror}")]
    try:
        data = yaml.load(text, Loader=_Loader)  # A SafeLoader: no arbitrary objects.
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}" if mark else WHOLE_FILE
        column = f" (column {mark.column + 1})" if mark else ""
        return None, [Problem(source, where, f"invalid YAML: {error.problem}{column}")]
    except yaml.YAMLError as error:
        return None, [Problem(source, WHOLE_FILE, f"invalid YAML: {error}")]
    if data is None:
        return None, [Problem(source, WHOLE_FILE, "file is empty")]
    return _as_mapping(data, source)


def _as_mapping(data: object, source: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        return None, [Problem(source, WHOLE_FILE, f"must be a mapping of fields, not {kind}")]
    return data, []


# --- pydantic errors in plain English -----------------------------------------------------


def _field_path(loc: Sequence[int | str]) -> str:
    """('endpoints', 1, 'name') -> 'endpoints[1].name'."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or WHOLE_FILE


def _model_at(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model class found at `loc` inside `model`, following fields by their YAML names."""
    for part in loc:
        if isinstance(part, int):
            continue
        fields = {info.alias or name: info for name, info in model.model_fields.items()}
        info = fields.get(part)
        inner = _inner_model(info.annotation) if info else None
        if inner is None:
            return None
        model = inner
    return model


def _inner_model(annotation: object) -> type[BaseModel] | None:
    """The model in an annotation such as `list[Endpoint]` or `Endpoint | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, types.UnionType, typing.Union):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


def _unknown_field(root: type[BaseModel], loc: Sequence[int | str]) -> str:
    key = str(loc[-1])
    model = _model_at(root, loc[:-1])
    known = [info.alias or name for name, info in model.model_fields.items()] if model else []
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown field {safe_repr(key)}{hint}"


_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "model_type": "a mapping of fields",
    "model_attributes_type": "a mapping of fields",
    "dict_type": "a mapping of fields",
}


def _message(root: type[BaseModel], error: ErrorDetails) -> str:
    kind, loc, ctx, value = error["type"], error["loc"], error.get("ctx", {}), error["input"]
    if kind == "extra_forbidden":
        return _unknown_field(root, loc)
    if kind == "missing":
        return "is required"
    if kind == "value_error":
        return str(ctx["error"])
    if kind in _TYPE_NAMES:
        message = f"must be {_TYPE_NAMES[kind]}, not {safe_repr(value)}"
        if isinstance(value, bool) and kind == "string_type":
            # YAML 1.1 reads yes/no/on/off as booleans: `name: on` is not the string "on".
            message += " (quote it: YAML reads yes, no, on and off as true or false)"
        return message
    if kind == "enum":
        return f"must be one of {ctx['expected']}, not {safe_repr(value)}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}, not {safe_repr(value)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short":
        least = ctx["min_length"]
        return "must not be empty" if least == 1 else f"must have at least {least} items"
    return error["msg"]


def _problems(root: type[BaseModel], error: ValidationError, source: str) -> list[Problem]:
    problems = []
    for detail in error.errors():
        if detail["type"] == RULES_ERROR:
            # A rule spanning fields: its context lists each issue with its own path.
            for path, message in detail["ctx"]["issues"]:
                field = _field_path((*detail["loc"], *path))
                problems.append(Problem(source, field, message))
        else:
            problems.append(Problem(source, _field_path(detail["loc"]), _message(root, detail)))
    return problems


# --- checking one lesson ------------------------------------------------------------------


def _some(names: Sequence[str], most: int = 10) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _size_problems(data: Mapping[str, Any], source: str, limits: Limits) -> list[Problem]:
    problems = []
    for field, what, limit in (
        ("endpoints", "endpoints", limits.max_endpoints),
        ("connections", "links", limits.max_links),
    ):
        items = data.get(field)
        if isinstance(items, list) and len(items) > limit:
            problems.append(
                Problem(source, field, f"has {len(items)} {what}; the limit is {limit}")
            )
    return problems


def _image_problems(
    lesson: Lesson, source: str, images: Mapping[str, Image], broken: Collection[str]
) -> list[Problem]:
    """Endpoints whose image is unknown, or names fewer interfaces than the endpoint has links."""
    problems = []
    links = lesson.link_counts()
    for index, endpoint in enumerate(lesson.endpoints):
        if is_image_reference(endpoint.image):
            continue  # A full reference: no interface list, so any number of links.
        image = images.get(endpoint.image)
        if image is None:
            if endpoint.image not in broken:  # A broken image is reported in its own file.
                known = f"; known images: {_some(sorted(images))}" if images else ""
                problems.append(
                    Problem(
                        source,
                        f"endpoints[{index}].image",
                        f"unknown image {safe_repr(endpoint.image)}{known}",
                    )
                )
            continue
        wanted, named = links[endpoint.name], image.network_interfaces
        if named and wanted > len(named):
            problems.append(
                Problem(
                    source,
                    f"endpoints[{index}]",
                    f"{endpoint.name!r} has {wanted} links but image {image.slug!r} names only "
                    f"{len(named)} networkInterfaces ({', '.join(named)})",
                )
            )
    return problems


def _check_model(
    data: object,
    source: str,
    images: Mapping[str, Image],
    limits: Limits,
    broken_images: Collection[str] = (),
) -> tuple[Lesson | None, list[Problem]]:
    """The lesson model (None when the data is not one) and the problems found so far."""
    mapping, problems = _as_mapping(data, source)
    if mapping is None:
        return None, problems
    problems = _size_problems(mapping, source, limits)
    try:
        lesson = Lesson.model_validate(mapping)
    except ValidationError as error:
        return None, problems + _problems(Lesson, error, source)
    return lesson, problems + _image_problems(lesson, source, images, broken_images)


def _napalm_login(
    endpoint: Endpoint, field: str, source: str, images: Mapping[str, Image]
) -> list[Problem]:
    """napalm logs in to the device with its image's configUser and configPassword."""
    if is_image_reference(endpoint.image):
        why = f"image {endpoint.image!r} is a full reference, with no image.meta.yaml to give them"
    else:
        image = images.get(endpoint.image)
        if image is None:
            return []  # An unknown or broken image, reported already.
        missing = [
            name
            for name, value in (
                ("configUser", image.config_user),
                ("configPassword", image.config_password),
            )
            if not value
        ]
        if not missing:
            return []
        why = f"image {image.slug!r} has no {' and no '.join(missing)}"
    message = "napalm logs in to the device with its image's configUser and configPassword"
    return [Problem(source, field, f"{message}, and {why}")]


def _folder_problems(
    lesson: Lesson, source: str, folder: Path, files: LessonFiles, images: Mapping[str, Image]
) -> list[Problem]:
    """What the lesson needs of its folder: a size the ConfigMap holds, and for each configured
    endpoint a file at every stage (and napalm's login)."""
    problems = []
    if files.size > CONFIGMAP_MAX_BYTES:
        problems.append(
            Problem(
                str(folder),
                WHOLE_FOLDER,
                f"its files add up to {files.size} bytes, more than {CONFIGMAP_MAX_BYTES}: the "
                "pods see the lesson folder through one ConfigMap, which holds no more",
            )
        )
    stages = range(lesson.stage_count)
    for index, endpoint in enumerate(lesson.endpoints):
        configuration = endpoint.configuration_type
        if configuration is None:
            continue
        field = f"endpoints[{index}].configurationType"
        for stage in stages:
            try:
                stage_file(endpoint.name, configuration, stage, files)
            except MissingFile as missing:
                problems.append(Problem(source, field, str(missing)))
        if kind_of(configuration)[0] is ConfigurationKind.NAPALM:
            problems += _napalm_login(endpoint, field, source, images)
    return problems


def _no_folder_problems(lesson: Lesson, source: str) -> list[Problem]:
    return [
        Problem(
            source,
            f"endpoints[{index}].configurationType",
            "takes the endpoint's configuration from files in the lesson's folder "
            "(stageN/configs/), and this lesson has none (an inline definition, or a file not "
            f"named {LESSON_FILE}): leave it out",
        )
        for index, endpoint in enumerate(lesson.endpoints)
        if endpoint.configuration_type is not None
    ]


def _tier_of(data: object) -> Tier:
    """The lesson's tier as far as its data says (broken or not); prod when it does not."""
    value = data.get("tier") if isinstance(data, dict) else None
    try:
        return Tier(value) if value is not None else Tier.PROD
    except (ValueError, TypeError):
        return Tier.PROD


def _left_out(folder: Path, item: LeftOut) -> Problem:
    return Problem(str(folder / item.path), WHOLE_FILE, f"left out of {MOUNT_PATH}: {item.why}")


@dataclass(frozen=True)
class LessonCheck:
    """What checking one lesson file found; the lesson is usable only without problems."""

    lesson: Lesson | None  # the model, when the data is one
    files: LessonFiles | None  # its folder's, for a lesson.meta.yaml whose model is valid
    problems: list[Problem]
    warnings: list[Problem]  # files of its folder left out of /antidote
    tier: Tier

    def require(self) -> Lesson:
        """The lesson; LessonError listing every problem when there is one."""
        if self.problems or self.lesson is None:
            raise LessonError(self.problems)
        return self.lesson


def parse_lesson(
    data: object, source: str, images: Mapping[str, Image], limits: Limits = DEFAULT_LIMITS
) -> Lesson:
    """Check an inline lesson (e.g. posted as JSON); `source` stands for the file in errors.

    It has no folder: no files for its pods, nor to configure its endpoints from.
    """
    lesson, problems = _check_model(data, source, images, limits)
    if lesson is not None:
        problems += _no_folder_problems(lesson, source)
    return LessonCheck(lesson, None, problems, [], _tier_of(data)).require()


def check_lesson_file(
    path: Path,
    images: Mapping[str, Image],
    limits: Limits = DEFAULT_LIMITS,
    broken_images: Collection[str] = (),
) -> LessonCheck:
    """Read and check one lesson file anywhere on disk, raising nothing.

    A `lesson.meta.yaml` comes with its folder, the lesson's files (what its pods see at
    /antidote); a file named otherwise stands alone, like an inline lesson. Endpoints using one
    of `broken_images` are not reported: those images are, in their own files.
    """
    source = str(path)
    data, problems = _read_mapping(path)
    if data is None:
        return LessonCheck(None, None, problems, [], Tier.PROD)
    lesson, problems = _check_model(data, source, images, limits, broken_images)
    files, warnings = None, []
    if lesson is not None and path.name == LESSON_FILE:
        files, left_out = read_lesson_files(path.parent, limits.max_file_bytes)
        warnings = [_left_out(path.parent, item) for item in left_out]
        problems += _folder_problems(lesson, source, path.parent, files, images)
    elif lesson is not None:
        problems += _no_folder_problems(lesson, source)
    return LessonCheck(lesson, files, problems, warnings, _tier_of(data))


# --- the whole curriculum -----------------------------------------------------------------


def _folders(parent: Path) -> list[Path]:
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if p.is_dir() and not p.name.startswith("."))


def _slug_problem(slug: str, folder: Path, source: str) -> list[Problem]:
    if slug == folder.name:
        return []
    return [
        Problem(
            source, "slug", f"is {slug!r} but the folder is named {folder.name!r}; they must match"
        )
    ]


def _load_image(folder: Path) -> tuple[Image | None, list[Problem]]:
    path = folder / IMAGE_FILE
    data, problems = _read_mapping(path)
    if data is None:
        return None, problems
    try:
        image = Image.model_validate(data)
    except ValidationError as error:
        return None, _problems(Image, error, str(path))
    problems = _slug_problem(image.slug, folder, str(path))
    return (None if problems else image), problems


def _place_problems(lesson: Lesson, folder: Path, slugs: set[str]) -> list[Problem]:
    """The lesson's place in the curriculum: its folder's name, and prereqs that exist.

    A prereq whose folder is there but broken is that lesson's problem, not this one's.
    """
    source = str(folder / LESSON_FILE)
    return _slug_problem(lesson.slug, folder, source) + [
        Problem(source, f"prereqs[{index}]", f"unknown lesson {prereq!r}")
        for index, prereq in enumerate(lesson.prereqs)
        if prereq not in slugs
    ]


def load_curriculum(root: Path, limits: Limits = DEFAULT_LIMITS) -> Curriculum:
    """Load every image and lesson under `root`, keeping those without problems.

    Problems are collected, not raised: each is in `problems`, and each lesson it keeps out in
    `broken` (a lesson using a broken image is broken too). Only a root without a lessons/
    folder raises LessonError: there is no curriculum there at all.
    """
    if not (root / "lessons").is_dir():
        raise LessonError([Problem(str(root), "lessons", "no lessons/ folder in the curriculum")])
    problems: list[Problem] = []
    images: dict[str, Image] = {}
    # By folder: a lesson's endpoints naming one stay quiet, the image's file says it.
    broken_images: dict[str, list[Problem]] = {}
    for folder in _folders(root / "images"):
        image, found = _load_image(folder)
        problems += found
        if image is None:
            broken_images[folder.name] = found
        else:
            images[image.slug] = image
    lesson_folders = _folders(root / "lessons")
    slugs = {folder.name for folder in lesson_folders}
    lessons: dict[str, Lesson] = {}
    files: dict[str, LessonFiles] = {}
    broken: dict[str, BrokenLesson] = {}
    warnings: list[Problem] = []
    for folder in lesson_folders:
        check = check_lesson_file(folder / LESSON_FILE, images, limits, broken_images)
        own, used = list(check.problems), []
        if check.lesson is not None:
            own += _place_problems(check.lesson, folder, slugs)
            used = sorted({e.image for e in check.lesson.endpoints} & broken_images.keys())
        problems += own
        warnings += check.warnings
        if own or used:
            inherited = [problem for image in used for problem in broken_images[image]]
            broken[folder.name] = BrokenLesson(check.tier, own + inherited)
        else:
            # No problems: the model validated, and a lesson.meta.yaml has its folder's files.
            assert check.lesson is not None and check.files is not None
            lessons[folder.name] = check.lesson
            files[folder.name] = check.files
    return Curriculum(root, lessons, images, files, broken, problems, warnings)


def served_curriculum(settings: Settings) -> Curriculum:
    """The curriculum as this instance serves it (LESSONQ_CURRICULUM at LESSONQ_TIER): every
    valid lesson, the broken ones left out. With LESSONQ_CURRICULUM_STRICT, a LessonError
    listing every problem instead, when there is one."""
    curriculum = load_curriculum(settings.curriculum, Limits.from_settings(settings))
    if settings.curriculum_strict and curriculum.problems:
        raise LessonError(curriculum.problems)
    return curriculum.served(Tier(settings.tier))
