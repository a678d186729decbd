"""The lessonq commands that hand over to another program: what they do where it is absent."""

from __future__ import annotations

import pytest

from scheduler import cli


def test_a_development_tool_that_is_not_installed_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As in the production image, which holds neither kubesim nor the development stack.
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    for command in ("sim", "up"):
        with pytest.raises(SystemExit) as exited:
            cli.main([command, "--port", "0"])
        assert exited.value.code == 1
        err = capsys.readouterr().err
        assert err.startswith(f"lessonq {command}: ") and "is a development tool" in err, err
        assert len(err.splitlines()) == 1


def test_commands_that_hand_over_leave_every_option_to_the_program_they_become() -> None:
    parsed, extra = cli.build_parser().parse_known_args(["flower", "--help", "--port=1"])
    assert parsed.passthrough and extra == ["--help", "--port=1"]
