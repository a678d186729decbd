"""Query parameters as the apiserver's parameter codec converts them into ListOptions and
DeleteOptions (runtime.Convert_Slice_string_To_*): a malformed integer is a 400 BadRequest with
strconv's words; a boolean is false only for "0" or "false" (any case), true for anything else."""

from __future__ import annotations

import json
import re

from kubesim import errors
from kubesim.errors import ApiError

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


# time.Parse(time.RFC3339, ...), as metav1.Time reads a query parameter (sinceTime)

RFC3339 = "2006-01-02T15:04:05Z07:00"
# the layout as the time package walks it: (literal prefix, element)
_RFC3339_CHUNKS = (
    ("", "2006"),
    ("-", "01"),
    ("-", "02"),
    ("T", "15"),
    (":", "04"),
    (":", "05"),
    ("", "Z07:00"),
)
_DIGITS = frozenset("0123456789")
_RANGES = {"01": ("month", 1, 12), "15": ("hour", 0, 23), "04": ("minute", 0, 59)}
_RANGES["05"] = ("second", 0, 59)


def _go_quote(text: str) -> str:
    """The time package's quote(): non-ASCII and control bytes as \\xNN."""
    out: list[str] = []
    for char in text:
        if ord(char) >= 0x80 or char < " ":
            out.extend(f"\\x{byte:02x}" for byte in char.encode())
        else:
            out.append("\\" + char if char in '"\\' else char)
    return '"' + "".join(out) + '"'


def _time_error(text: str, layout_elem: str, value_elem: str, message: str = "") -> ApiError:
    """A time.ParseError as the parameter codec passes it on: a 400 in its words."""
    if message:
        return errors.bad_request(f"parsing time {_go_quote(text)}{message}")
    return errors.bad_request(
        f"parsing time {_go_quote(text)} as {_go_quote(RFC3339)}: cannot parse "
        f"{_go_quote(value_elem)} as {_go_quote(layout_elem)}"
    )


def _number(value: str, fixed: bool) -> tuple[int, str] | None:
    """getnum: two digits, or (not fixed) one."""
    if not value[:1] or value[0] not in _DIGITS:
        return None
    if not value[1:2] or value[1] not in _DIGITS:
        return None if fixed else (int(value[0]), value[1:])
    return int(value[:2]), value[2:]


def _days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _epoch_days(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date (any year, 0 included)."""
    year -= month <= 2
    era = year // 400
    of_era = year - era * 400
    of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    of_era_days = of_era * 365 + of_era // 4 - of_era // 100 + of_year
    return era * 146097 + of_era_days - 719468


def rfc3339(text: str) -> float:
    """The instant `text` names, in epoch seconds; what time.Parse cannot parse is a 400 in its
    words (`parsing time "x" as "2006-01-02T15:04:05Z07:00": cannot parse "x" as "2006"`)."""
    value, got, nanos, offset = text, dict.fromkeys(("2006", "01", "02", "15", "04", "05"), 0), 0, 0
    for prefix, element in _RFC3339_CHUNKS:
        if not value.startswith(prefix):
            raise _time_error(text, prefix, value)
        value = value[len(prefix) :]
        hold, bad = value, False
        if element == "2006":
            bad = len(value) < 4 or not set(value[:4]) <= _DIGITS
            if not bad:
                got[element], value = int(value[:4]), value[4:]
        elif element != "Z07:00":
            parsed = _number(value, fixed=element != "15")
            bad = parsed is None
            if parsed is not None:
                got[element], value = parsed
                if element in _RANGES:
                    what, low, high = _RANGES[element]
                    if not low <= got[element] <= high:
                        raise _time_error(text, "", "", f": {what} out of range")
            if element == "05" and len(value) >= 2 and value[0] in ".," and value[1] in _DIGITS:
                end = 2
                while end < len(value) and value[end] in _DIGITS:
                    end += 1
                nanos = int(value[1 : min(end, 10)].ljust(9, "0")[:9])
                value = value[end:]
        elif value[:1] == "Z":
            value = value[1:]
        elif len(value) < 6 or value[3] != ":":
            bad = True
        else:
            sign, hours, minutes, value = value[0], value[1:3], value[4:6], value[6:]
            parsed_hours = _number(hours, True)
            parsed_minutes = _number(minutes, True) if parsed_hours else None  # Go stops early
            bad = parsed_hours is None or parsed_minutes is None or sign not in "+-"
            hour_offset = parsed_hours[0] if parsed_hours else 0
            minute_offset = parsed_minutes[0] if parsed_minutes else 0
            if hour_offset > 24 or minute_offset > 60:  # Go allows 24 h and 60 min, no more
                what = "hour" if minute_offset <= 60 else "minute"
                raise _time_error(text, "", "", f": time zone offset {what} out of range")
            offset = (hour_offset * 60 + minute_offset) * 60 * (-1 if sign == "-" else 1)
        if bad:
            raise _time_error(text, element, hold)
    if value:
        raise _time_error(text, "", "", f": extra text: {_go_quote(value)}")
    if not 1 <= got["02"] <= _days_in(got["01"], got["2006"]):
        raise _time_error(text, "", "", ": day out of range")
    days = _epoch_days(got["2006"], got["01"], got["02"])
    seconds = days * 86400 + got["15"] * 3600 + got["04"] * 60 + got["05"] - offset
    return seconds + nanos / 1e9
