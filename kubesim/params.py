"""Query parameters as the apiserver's parameter codec converts them into ListOptions and
DeleteOptions (runtime.Convert_Slice_string_To_*): a malformed integer is a 400 BadRequest with
strconv's words; a boolean is false only for "0" or "false" (any case), true for anything else."""

from __future__ import annotations

import json
import re

from kubesim import errors

Query = dict[str, str]
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_INT64 = 2**63


def int64(text: str) -> int:
    quoted = json.dumps(text)
    if not _INTEGER.match(text):
        raise errors.bad_request(f"strconv.ParseInt: parsing {quoted}: invalid syntax")
    value = int(text)
    if not -_INT64 <= value < _INT64:
        raise errors.bad_request(f"strconv.ParseInt: parsing {quoted}: value out of range")
    return value


def optional_int(query: Query, key: str) -> int | None:
    return int64(query[key]) if key in query else None


def flag(query: Query, key: str) -> bool:
    value = query.get(key)
    return value is not None and value != "0" and value.lower() != "false"


def optional_flag(query: Query, key: str) -> bool | None:
    return flag(query, key) if key in query else None
