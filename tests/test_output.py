"""#35: every command that prints rows takes its format flags from one decorator and prints
through one row writer (commands/output.py): the same flags, the same refusal of two
formats, the same CSV and JSON, whatever the command."""

from __future__ import annotations

import ast
import csv
import io
import json
from pathlib import Path

import pytest
from conftest import in_process, small

import sincos_cli
from sincos_cli.commands.output import Format, Rows, output_options, write_rows


@pytest.fixture
def two_runs(runs_dir):
    for _ in range(2):
        out = in_process("train", *small(steps=6, hidden=4), "-q")
        assert out.returncode == 0, out.stderr
    return runs_dir


@pytest.mark.parametrize("args", [["compare"], ["predict", "run-01"], ["tag", "run-01", "+a"],
                                  ["baselines", "run-01"]])
def test_two_formats_are_one_usage_error_everywhere(two_runs, args):
    out = in_process(*args, "--json", "--csv")
    assert out.returncode == 2 and "choose one of --csv and --json" in out.stderr
    assert out.stdout == ""


def test_tag_and_baselines_print_rows_as_text_json_and_csv(two_runs):
    text = in_process("tag", "run-01", "run-02", "+a", "+b")
    assert text.returncode == 0 and text.stdout == "run-01\ta b\nrun-02\ta b\n"
    js = json.loads(in_process("tag", "run-02", "-a", "--json").stdout)
    assert js == [{"id": "run-02", "tags": ["b"]}]
    rows = list(csv.reader(io.StringIO(in_process("tag", "run-01", "+c", "--csv").stdout)))
    assert rows == [["id", "tags"], ["run-01", "a b c"]]
    done = json.loads(in_process("baselines", "run-01", "run-02", "--json").stdout)
    assert done == [{"id": "run-01", "done": "kept"}, {"id": "run-02", "done": "kept"}]


def test_the_row_writer_writes_each_format(capsys):
    rows = Rows(["id", "ok", "v"], [["r\x1b1", True, None], ["r2", False, 0.5]])
    for fmt in Format:
        write_rows(fmt, rows)
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["r\\x1b1\tTrue\t", "r2\tFalse\t0.5"]  # text: control characters shown
    js_end = out.index("]")
    assert json.loads("\n".join(out[2:js_end + 1])) == [
        {"id": "r\x1b1", "ok": True, "v": None}, {"id": "r2", "ok": False, "v": 0.5}]
    assert out[js_end + 1:] == ["id,ok,v", "r\x1b1,true,", "r2,false,0.5"]


def test_the_decorator_hands_the_format_and_keeps_the_signature():
    @output_options(csv="CSV.")
    def command(name: str, runs_dir: str | None = None, output: Format = Format.TEXT):
        return name, output

    assert command("x") == ("x", Format.TEXT)
    assert command("x", as_csv=True) == ("x", Format.CSV)
    import inspect

    assert list(inspect.signature(command).parameters) == ["name", "as_json", "as_csv",
                                                           "runs_dir"]


def test_no_command_declares_a_format_flag_of_its_own():
    """--json and --csv are spelled in commands/output.py alone."""
    home = Path(sincos_cli.__file__).parent / "commands"
    spelled = {p.name for p in home.glob("*.py") for n in ast.walk(ast.parse(p.read_text()))
               if isinstance(n, ast.Constant) and n.value in ("--json", "--csv")}
    assert spelled == {"output.py"}
