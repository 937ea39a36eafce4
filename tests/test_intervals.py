"""95% intervals with every group statistic: reproducible, n/a under 3 runs, and the
numbers scipy gives."""

import csv
import io
import json

import pytest
from conftest import in_process, sincos

from sincos_cli.stats.groups import flatten, groups
from sincos_cli.stats.intervals import bootstrap, wilson
from sincos_cli.store.record import Row


def rows_of(evals, lr=0.006):
    return [Row(id=f"run-{i:02d}", path=None, status="completed", config={"lr": lr, "seed": i},
                summary={"eval_mse": v, "final_loss": v * 2}) for i, v in enumerate(evals)]


def test_wilson_is_the_textbook_interval():
    lo, hi = wilson(18, 20)
    assert lo == pytest.approx(0.6990, abs=1e-4) and hi == pytest.approx(0.9721, abs=1e-4)
    assert wilson(2, 2) is None  # under 3: no number


def test_bootstrap_holds_the_statistic_reproduces_and_needs_three():
    values = [3e-5, 5e-5, 4e-5, 9e-5, 1e-4, 2e-5, 6e-5, 8e-5, 7e-5, 1.5e-4]
    lo, hi = bootstrap(values, "median", "k")
    assert lo < sorted(values)[4] < hi and lo >= min(values) and hi <= max(values)
    assert bootstrap(values, "median", "k") == [lo, hi]  # seeded: the same every time
    assert bootstrap(values[:2], "median", "k") is None
    assert bootstrap([1.0, 1.0, 1.0], "mean") == [1.0, 1.0]


def test_a_groups_interval_does_not_depend_on_the_other_groups():
    a = rows_of([1e-4, 2e-4, 3e-4, 5e-4, 8e-4], lr=0.003)
    b = rows_of([1e-3, 2e-3, 4e-3], lr=0.01)
    both = groups(a + b, ["lr"], 1e-4)
    alone = groups(a, ["lr"], 1e-4)
    flipped = groups(b + a, ["lr"], 1e-4)
    assert both[0]["eval_mse"]["median_ci"] == alone[0]["eval_mse"]["median_ci"] \
        == flipped[1]["eval_mse"]["median_ci"]
    assert both[0]["ok"] == "1/5" and both[0]["ok_ci"] == wilson(1, 5)


def test_csv_spells_intervals_as_lo_and_hi_columns():
    flat = flatten(groups(rows_of([1e-4, 2e-4]), ["lr"], 1e-4)[0])
    assert flat["ok_lo"] is None and flat["eval_mse_median_lo"] is None  # n=2: n/a
    assert "ok_ci" not in flat and "eval_mse_median_ci" not in flat


@pytest.mark.slow
def test_compare_group_by_shows_intervals_in_table_json_and_csv(runs_dir):
    out = sincos("sweep", "--steps", "15", "--batch-size", "8", "--time-steps", "10",
                 "--seeds", "1-3", "--set", "hidden=4,8", "--set", "lr=0.006,0.01",
                 "--workers", "2", "-q")
    assert out.returncode == 0, out.stderr
    table = in_process("compare", "sweep-01", "--group-by", "hidden").stdout.splitlines()
    assert "ok" in table[0] and "eval_median" in table[0]
    assert "0/6 [0.00, 0.39]" in table[1]  # Wilson on 6 runs, none ok at 15 steps
    small = in_process("compare", "sweep-01", "--group-by", "hidden,lr,seed").stdout
    assert "[n/a]" in small  # one run a group: no interval, never a number
    groups_json = json.loads(in_process("compare", "sweep-01", "--json").stdout)
    g = groups_json[0]
    assert g["eval_mse"]["median_ci"][0] <= g["eval_mse"]["median"] <= \
        g["eval_mse"]["median_ci"][1]
    again = json.loads(in_process("compare", "sweep-01", "--json").stdout)
    assert again == groups_json  # reproduces exactly
    rows = list(csv.DictReader(io.StringIO(in_process("compare", "sweep-01", "--csv").stdout)))
    assert float(rows[0]["eval_mse_median_lo"]) <= float(rows[0]["eval_mse_median"])
    plain = json.loads(in_process("compare", "sweep-01", "--json", "--no-intervals").stdout)
    assert "median_ci" not in plain[0]["eval_mse"] and "ok_ci" not in plain[0]
    swept = json.loads(sincos("sweep", "--resume", "sweep-01", "--json").stdout)
    assert swept == groups_json  # sweep --json: the same numbers, from the same functions


# -- paired comparisons ---------------------------------------------------------------------

def paired_rows(a: dict, b: dict):
    """Two recipes' eval_mse by seed."""
    return [Row(id=f"{rec}-{s}", path=None, status="completed",
                config={"recipe": rec, "seed": s}, summary={"eval_mse": v})
            for rec, by in (("seed", a), ("robust", b)) for s, v in by.items()]


def test_paired_is_seed_by_seed():
    import math

    from scipy.stats import wilcoxon

    from sincos_cli.stats.groups import paired

    a = {s: 1e-3 * (1 + s) for s in range(1, 9)}
    b = {s: 1e-4 * (1 + s) * (1.5 if s == 3 else 1) for s in range(1, 9)}
    b[99] = 1e-5  # a seed the reference never ran: not paired
    out = paired(paired_rows(a, b), ["recipe"])
    ref, vs = out
    assert ref["reference"] == "recipe=seed" and vs["recipe"] == "robust"
    ratios = sorted(b[s] / a[s] for s in a)
    assert vs["shared"] == 8 and vs["ratio_median"] == pytest.approx((ratios[3] + ratios[4]) / 2)
    assert vs["wins"] == 8 and vs["losses"] == 0
    assert vs["wilcoxon_p"] == pytest.approx(
        wilcoxon([math.log(b[s] / a[s]) for s in sorted(a)]).pvalue)
    lo, hi = vs["ratio_ci"]
    assert lo <= vs["ratio_median"] <= hi
    back = paired(paired_rows(a, b), ["recipe"], {"recipe": "robust"})[1]
    assert back["wins"] == 0 and back["losses"] == 8


def test_too_few_shared_seeds_say_so_and_none_is_an_error():
    from sincos_cli.stats.groups import paired

    few = paired(paired_rows({1: 1.0, 2: 1.0, 3: 1.0}, {1: 0.5, 2: 0.5, 7: 0.1}), ["recipe"])
    assert few[1]["shared"] == 2 and "too few" in few[1]["note"]
    assert "ratio_median" not in few[1]
    with pytest.raises(ValueError, match="share no seed"):
        paired(paired_rows({1: 1.0}, {2: 1.0}), ["recipe"])
    with pytest.raises(ValueError, match="no group has recipe=x"):
        paired(paired_rows({1: 1.0}, {1: 1.0}), ["recipe"], {"recipe": "x"})


@pytest.mark.slow
def test_paired_through_the_cli(runs_dir):
    out = sincos("sweep", "--steps", "15", "--batch-size", "8", "--time-steps", "10",
                 "--seeds", "1-5", "--set", "recipe=seed,robust", "--workers", "2", "-q")
    assert out.returncode == 0, out.stderr
    table = in_process("compare", "sweep-01", "--group-by", "recipe", "--paired").stdout
    assert "vs" in table and "(reference)" in table and "wilcoxon_p" in table
    got = json.loads(in_process("compare", "sweep-01", "--group-by", "recipe", "--paired",
                                "--json").stdout)
    assert got[1]["paired"]["shared"] == 5 and got[1]["paired"]["reference"] == "recipe=seed"
    for args, needle in [(["--reference", "recipe=nope"], "no group has recipe=nope"),
                         (["--reference", "lr=1"], "KEY one of recipe"),
                         ([], None)]:
        res = in_process("compare", "sweep-01", "--group-by", "recipe", "--paired", *args)
        if needle is None:
            assert res.returncode == 0
        else:
            assert res.returncode == 2 and res.stderr.count("\n") == 1 and needle in res.stderr
    res = in_process("compare", "sweep-01", "--paired")
    assert res.returncode == 0  # a sweep groups by its grid keys: recipe
    res = in_process("compare", "run-01", "run-02", "--paired")
    assert res.returncode == 2 and "use it with --group-by" in res.stderr
