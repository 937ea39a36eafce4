"""#35: sweep's rules between its options live in sweep/request.py, where the sweep is
planned; each broken rule is an OptionError naming the option, and the command turns it
into a usage error (exit 2) with nothing made."""

from __future__ import annotations

import pytest
from conftest import in_process

from sincos_cli.errors import OptionError
from sincos_cli.sweep.design import HalvingAsk, HoldoutAsk, UntilAsk
from sincos_cli.sweep.request import Request, plan

BROKEN = [  # (request, the option named, words of the message)
    (Request(seeds="1-2", batch=False, group_size=4), "--group-size", "drop --no-batch"),
    (Request(resume="sweep-01", seeds="1-2"), "--resume", "keeps its settings"),
    (Request(resume="sweep-01", typed=frozenset({"alpha"})), "--resume", "keeps its settings"),
    (Request(resume="sweep-01", halving=HalvingAsk()), "--halving", "halving settings"),
    (Request(seeds="1-2", restart_damaged=True), "--restart-damaged", "is for --resume"),
    (Request(seeds="1-2", audit=2), "--audit", "add --halving"),
    (Request(), "--seeds", "needs seeds"),
    (Request(seeds="1-2", reference="lr=0.1"), "--reference", "--until-decided"),
    (Request(seeds="1-2", typed=frozenset({"max_seeds"})), "--max-seeds", "--until-decided"),
    (Request(seeds="1-2", holdout_by="ok"), "--holdout-by", "--holdout-seeds"),
]


@pytest.mark.parametrize(("request_", "option", "words"), BROKEN)
def test_each_rule_names_its_option(request_, option, words):
    with pytest.raises(OptionError) as e:
        plan(request_)
    assert e.value.option == option and words in str(e.value)


def test_a_good_request_is_planned_and_a_resume_keeps_its_batching():
    todo = plan(Request(seeds="1-3", sets=["lr=0.1,0.2"], base={"steps": 10},
                        holdout=HoldoutAsk("7-8"), until=None))
    assert todo.design.count == 6 and todo.batching is None
    assert todo.design.holdout["seeds"] == [7, 8]
    assert plan(Request(resume="sweep-01")).design is None
    again = plan(Request(resume="sweep-01", batch=False, typed=frozenset({"batch"})))
    assert again.batching == {"group_size": 0}
    assert plan(Request(seeds="1-4", sets=["lr=0.1,0.2"],
                        until=UntilAsk(max_seeds=8))).design.until


def test_the_command_turns_a_broken_rule_into_a_usage_error(runs_dir):
    out = in_process("sweep", "--seeds", "1-2", "--holdout-by", "ok")
    assert out.returncode == 2 and "--holdout-by" in out.stderr
    assert "is for --holdout-seeds" in out.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())
