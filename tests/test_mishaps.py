"""A typo never deletes the store, one bad file never breaks it (the payloads of the hostile
user's report, each one exactly): every --where value is parsed as its key's kind before
anything is selected; a run file a reader cannot decode (nested 1,000 levels, a sparse
gigabyte) is that run's damage, read in bounded memory; a summary value that is not a
finite non-negative number is not a result."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import in_process, read

from sincos_cli import api
from sincos_cli.errors import FilterError

SMALL = ["--steps", "20", "--batch-size", "8", "--time-steps", "10", "--hidden", "6"]


@pytest.fixture(scope="module")
def store_once(tmp_path_factory):
    """A sweep of four members over hidden 6, 20 (run-01 … run-04) and a hand-made run with
    a tag (run-05)."""
    root = tmp_path_factory.mktemp("mishaps") / "runs"
    out = in_process("sweep", *SMALL[:-2], "--set", "hidden=6,20", "--seeds", "1-2",
                     "--workers", "1", "-q", root=root)
    assert out.returncode == 0, out.stderr
    out = in_process("train", *SMALL, "--lr", "0.006", "-q", root=root)
    assert out.returncode == 0, out.stderr
    assert in_process("tag", "run-05", "+keep", root=root).returncode == 0
    return root


@pytest.fixture
def store(store_once, runs_dir):
    shutil.copytree(store_once, runs_dir)
    return runs_dir


def listing(path: Path) -> list[str]:
    return sorted(os.listdir(path))


# -- 1. a typo in a filter ---------------------------------------------------------------

TYPOS = [["hidden!=2O"], ["lr!=0.0o6", "sweep=none"], ["created<yesterday"],
         ["status!=complted"], ["stateful!=maybe"], ["cell!=lstn"], ["set=holdot"],
         ["sweep=sweep-1x"], ["status<completed"]]


@pytest.mark.parametrize("where", TYPOS, ids=lambda w: " ".join(w))
def test_a_typo_in_a_filter_removes_nothing_and_selects_nothing(store, where):
    before = listing(store)
    args = [a for w in where for a in ("--where", w)]
    out = in_process("rm", *args, "--yes")
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("Error") == 1 and "Traceback" not in out.stderr
    assert listing(store) == before
    for cmd in (["compare", "--json"], ["report", "--out", str(store.parent / "r.html")]):
        out = in_process(*cmd, *args)
        assert out.returncode == 2 and "No runs match" not in out.stderr, out.stderr
        assert out.stdout == ""
    with pytest.raises(FilterError):
        api.runs(where, root=store)
    assert not (store.parent / "r.html").exists()


def test_the_words_a_key_takes_are_named(store):
    out = in_process("compare", "--where", "status!=complted")
    assert "status is one of queued, running, completed" in out.stderr
    out = in_process("compare", "--where", "hidden!=2O")
    assert "hidden is a number" in out.stderr


def test_well_typed_filters_still_select(store):
    def ids(*where):
        args = [a for w in where for a in ("--where", w)]
        out = in_process("compare", "--json", *args)
        assert out.returncode == 0, out.stderr
        return [r["id"] for r in json.loads(out.stdout)]
    everything = ["run-01", "run-02", "run-03", "run-04", "run-05"]
    assert ids("created<2100-01-01") == everything
    assert ids("created>2100-01-01T00:00Z") == []
    assert ids("created>2000-01-01", "stateful=true", "status=completed") == everything
    assert ids("hidden!=20") == ["run-01", "run-02", "run-05"]
    assert ids("lr!=0.006", "sweep=none") == []
    assert ids("sweep=sweep-01", "cell=lstm", "set=selection") == everything[:4]
    assert ids("eval_mse!=none") == everything
    # rm with a good filter removes just what it says
    out = in_process("rm", "--where", "hidden!=6", "--where", "sweep=sweep-01", "--yes")
    assert out.returncode == 0, out.stderr
    assert listing(store) == ["run-01", "run-02", "run-05", "sweep-01"]
