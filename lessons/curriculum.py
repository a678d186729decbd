"""Loading a curriculum folder, with checks across files and errors that name file and field.

A curriculum is `images/<slug>/image.meta.yaml` and `lessons/<slug>/lesson.meta.yaml` under one
root. Loading collects every problem in every file before failing, so that `validate` can show
an author all of them at once rather than one per run.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from lessons.model import RULES_ERROR, Image, Lesson, is_image_reference
from lessons.naming import safe_repr

if TYPE_CHECKING:
    from config import Settings

LESSON_FILE = "lesson.meta.yaml"
IMAGE_FILE = "image.meta.yaml"
# The field of problems about a whole file (missing, empty, not a mapping).
WHOLE_FILE = "(file)"


@dataclass(frozen=True)
class Problem:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.field}: {self.message}"


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


class Limits(BaseModel):
    """How big a lesson may be; the settings' LESSONQ_MAX_ENDPOINTS and LESSONQ_MAX_LINKS."""

    model_config = ConfigDict(frozen=True)

    max_endpoints: int = Field(32, ge=1)
    max_links: int = Field(64, ge=0)

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(max_endpoints=settings.max_endpoints, max_links=settings.max_links)


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Curriculum:
    root: Path
    lessons: dict[str, Lesson]
    images: dict[str, Image]

    def lesson(self, slug: str) -> Lesson:
        """The lesson called `slug`; raises UnknownLessonError (a LessonError) when unknown."""
        try:
            return self.lessons[slug]
        except (KeyError, TypeError):
            raise UnknownLessonError(slug, str(self.root), sorted(self.lessons)) from None


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
    lesson: Lesson, source: str, images: Mapping[str, Image], broken: Iterable[str]
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


def _check_lesson(
    data: object,
    source: str,
    images: Mapping[str, Image],
    limits: Limits,
    broken_images: Iterable[str] = (),
) -> tuple[Lesson | None, list[Problem]]:
    mapping, problems = _as_mapping(data, source)
    if mapping is None:
        return None, problems
    problems = _size_problems(mapping, source, limits)
    try:
        lesson = Lesson.model_validate(mapping)
    except ValidationError as error:
        return None, problems + _problems(Lesson, error, source)
    problems += _image_problems(lesson, source, images, set(broken_images))
    return (None if problems else lesson), problems


def parse_lesson(
    data: object, source: str, images: Mapping[str, Image], limits: Limits = DEFAULT_LIMITS
) -> Lesson:
    """Check an inline lesson (e.g. posted as JSON); `source` stands for the file in errors."""
    lesson, problems = _check_lesson(data, source, images, limits)
    if lesson is None:
        raise LessonError(problems)
    return lesson


def load_lesson_file(
    path: Path, images: Mapping[str, Image], limits: Limits = DEFAULT_LIMITS
) -> Lesson:
    """Read and check one `lesson.meta.yaml` anywhere on disk."""
    data, problems = _read_mapping(path)
    if data is None:
        raise LessonError(problems)
    return parse_lesson(data, str(path), images, limits)


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


def _load_lesson(
    folder: Path, images: Mapping[str, Image], limits: Limits, broken: set[str], slugs: set[str]
) -> tuple[Lesson | None, list[Problem]]:
    path = folder / LESSON_FILE
    data, problems = _read_mapping(path)
    if data is None:
        return None, problems
    lesson, problems = _check_lesson(data, str(path), images, limits, broken)
    if lesson is None:
        return None, problems
    problems = _slug_problem(lesson.slug, folder, str(path)) + [
        Problem(str(path), f"prereqs[{index}]", f"unknown lesson {prereq!r}")
        for index, prereq in enumerate(lesson.prereqs)
        if prereq not in slugs
    ]
    return (None if problems else lesson), problems


def load_curriculum(root: Path, limits: Limits = DEFAULT_LIMITS) -> Curriculum:
    """Load every image and lesson under `root`; raise one LessonError listing every problem."""
    if not (root / "lessons").is_dir():
        raise LessonError([Problem(str(root), "lessons", "no lessons/ folder in the curriculum")])
    problems: list[Problem] = []
    images: dict[str, Image] = {}
    broken: set[str] = set()  # Image folders that failed: their lessons' endpoints stay quiet.
    for folder in _folders(root / "images"):
        image, found = _load_image(folder)
        problems += found
        if image is None:
            broken.add(folder.name)
        else:
            images[image.slug] = image
    lesson_folders = _folders(root / "lessons")
    slugs = {folder.name for folder in lesson_folders}
    lessons: dict[str, Lesson] = {}
    for folder in lesson_folders:
        lesson, found = _load_lesson(folder, images, limits, broken, slugs)
        problems += found
        if lesson is not None:
            lessons[lesson.slug] = lesson
    if problems:
        raise LessonError(problems)
    return Curriculum(root=root, lessons=lessons, images=images)
