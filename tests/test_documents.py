"""The files' contracts as types (#35): sweep.json read and written through SweepDoc keeps
what it does not know, and reads back what it wrote."""

from __future__ import annotations

import json

from conftest import in_process, read, small

from sincos_cli.store.sweep_doc import SCHEMA, Member, SweepDoc


def _sweep(runs_dir, *extra):
    out = in_process("sweep", *small(steps=12, hidden=4), "--seeds", "1-2",
                     "--set", "lr=0.003,0.006", "--workers", "1", "-q", *extra)
    assert out.returncode == 0, out.stderr
    return runs_dir / "sweep-01"


def test_a_newer_sincoss_keys_survive_an_older_ones_rewrite(runs_dir):
    """Keys this sincos does not know, at the top and in a member, are kept when a resume
    rewrites sweep.json (the status and its end time change; nothing else)."""
    sweep = _sweep(runs_dir)
    doc = read(sweep / "sweep.json")
    assert doc["schema"] == SCHEMA
    doc["from_a_newer_sincos"] = {"kept": [1, 2]}
    doc["members"][1]["tomorrow"] = "also kept"
    doc["status"] = "interrupted"
    (sweep / "sweep.json").write_text(json.dumps(doc))
    out = in_process("sweep", "--resume", "sweep-01", "-q")
    assert out.returncode == 0, out.stderr
    assert "nothing to do" in out.stderr
    after = read(sweep / "sweep.json")
    assert after["from_a_newer_sincos"] == {"kept": [1, 2]}
    assert after["members"][1]["tomorrow"] == "also kept"
    assert after["status"] == "completed"
    assert {k: v for k, v in after.items() if k not in ("status", "ended")} == \
        {k: v for k, v in doc.items() if k not in ("status", "ended")}


def test_what_is_read_is_what_is_written(runs_dir):
    """A real sweep.json (held-out seeds, so flagged members and a holdout block) goes
    through the type and back unchanged, key order included."""
    sweep = _sweep(runs_dir, "--holdout-seeds", "101-102", "--holdout-top", "1")
    text = (sweep / "sweep.json").read_text()
    doc = SweepDoc.load(sweep)
    assert [m.holdout for m in doc].count(True) == 2 and doc.holdout["seeds"] == [101, 102]
    assert doc.group_keys() == ["lr", "set"]
    assert list(doc.to_json()) == list(json.loads(text))
    assert doc.to_json() == json.loads(text)
    doc.save(sweep)
    assert json.loads((sweep / "sweep.json").read_text()) == json.loads(text)


def test_a_member_round_trips_with_its_flags_only_when_set():
    m = Member(point={"lr": 0.1}, seed=3, run="run-07", config={"seed": 3})
    assert m.to_json() == {"point": {"lr": 0.1}, "seed": 3, "run": "run-07",
                           "config": {"seed": 3}}
    flagged = Member.from_json({**m.to_json(), "audit": True, "later": 1})
    assert flagged.audit and not flagged.holdout and not flagged.chosen_from
    assert flagged.to_json() == {**m.to_json(), "audit": True, "later": 1}


def test_both_engines_give_the_recorder_one_face():
    """#35: train.Trainer and a batched group's MemberView both are a recorder.Trainee, and
    both write checkpoint.document's keys."""
    from sincos_cli.config import TrainConfig
    from sincos_cli.training.group import GroupTrainer, MemberView
    from sincos_cli.training.recorder import Trainee
    from sincos_cli.training.train import Trainer

    cfg = TrainConfig(steps=2, batch_size=4, time_steps=5, hidden=3)
    solo, member = Trainer(cfg), MemberView(GroupTrainer([cfg, cfg], [None, None]), 1)
    assert isinstance(solo, Trainee) and isinstance(member, Trainee)
    assert set(solo.checkpoint()) == set(member.checkpoint())
    assert member.checkpoint()["format"] == "sincos-checkpoint" and member.step == 0


def test_run_summary_and_meta_keep_a_newer_sincoss_keys(runs_dir):
    """run.json through a resume, summary.json through `sincos baselines`, meta.json through
    `sincos tag`: each rewrite keeps the keys this sincos does not know, at the top level
    and in a nested block."""
    out = in_process("train", *small(steps=12, hidden=4), "--tag", "first", "-q")
    assert out.returncode == 0, out.stderr
    path = runs_dir / "run-01"

    def edit(name, change):
        doc = read(path / name)
        change(doc)
        (path / name).write_text(json.dumps(doc))
        return doc

    edit("run.json", lambda d: d.update(status="interrupted", tomorrow={"kept": 1}))
    assert in_process("train", "--resume", "run-01", "--steps", "16", "-q").returncode == 0
    run = read(path / "run.json")
    assert run["tomorrow"] == {"kept": 1} and run["status"] == "completed"
    assert [r["at_step"] for r in run["resumes"]] == [12]

    summary = edit("summary.json", lambda d: (d.pop("baselines"), d.pop("vs_linear"),
                                              d.update(later=[1, 2])))
    out = in_process("baselines", "run-01")
    assert out.returncode == 0 and out.stdout.split() == ["run-01", "added"], out.stderr
    after = read(path / "summary.json")
    assert after["later"] == [1, 2] and after["baselines"]["linear_taps"] >= 2
    assert {k: v for k, v in after.items() if k not in ("baselines", "vs_linear")} == summary

    edit("meta.json", lambda d: d.update(colour="blue"))
    assert in_process("tag", "run-01", "+second").returncode == 0
    assert read(path / "meta.json") == {"tags": ["first", "second"], "note": None,
                                        "colour": "blue"}


def test_the_file_types_read_what_they_write_and_name_what_is_not_a_result():
    from sincos_cli.store.run_doc import RunDoc
    from sincos_cli.store.summary_doc import Summary

    queued = RunDoc(id="run-03", status="queued", sweep="sweep-01", created="now")
    assert queued.to_json() == {"id": "run-03", "schema": 2, "status": "queued", "pid": None,
                                "created": "now", "ended": None, "resumes": [],
                                "sweep": "sweep-01"}
    assert RunDoc.parse(queued.to_json()) == queued and queued.queued
    s = Summary.parse({"eval_mse": "0.1", "steps": -3, "final_loss": 0.5, "x": 1,
                       "baselines": {"linear": float("nan"), "zero": 0.5}})
    assert s.checked() == {"eval_mse": '"0.1": str, not a number', "steps": "-3: negative",
                           "linear": "NaN: not finite"}
    assert s.eval_mse is None and s.steps is None and s.final_loss == 0.5
    assert s.baselines == {"linear": None, "zero": 0.5} and s.to_json()["x"] == 1
    assert "vs_linear" not in Summary(eval_mse=1.0).to_json()  # no yardsticks, no ratio
