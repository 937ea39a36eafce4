"""95% intervals with every group statistic: reproducible, n/a under 6 runs (3 for a share),
the numbers scipy gives; the interquartile mean and the probability of improvement as rliable
computes them; a diverged or failed seed counted as the worst in every statistic."""

import csv
import io
import json
import math

import pytest
from conftest import in_process, sincos

from sincos_cli.stats.groups import describe, flatten, groups, outcome, paired
from sincos_cli.stats.intervals import (
    exact_share,
    expanded_tail,
    improvement,
    iqm_interval,
    median_interval,
    order_rank,
    t_quantile,
    wilson,
)
from sincos_cli.store.record import Row


def rows_of(evals, lr=0.006, status="completed"):
    return [Row(id=f"run-{i:02d}", path=None, status=status, config={"lr": lr, "seed": i},
                summary={"eval_mse": v, "final_loss": None if v is None else v * 2})
            for i, v in enumerate(evals)]


def test_wilson_is_the_textbook_interval():
    lo, hi = wilson(18, 20)
    assert lo == pytest.approx(0.6990, abs=1e-4) and hi == pytest.approx(0.9721, abs=1e-4)
    assert wilson(2, 2) is None  # under 3: no number
    from scipy.stats import binomtest

    for k, n in [(0, 6), (6, 6), (1, 30), (26, 30), (500, 1000)]:  # scipy's, in closed form
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson(k, n) == pytest.approx([ci.low, ci.high], abs=1e-12)


def test_a_share_interval_is_clopper_pearsons_exact_one():
    """The ok share and a profile's shares: at least 95% at every true share, where
    Wilson's dips to 84% near 0.98 at n = 10."""
    from scipy.stats import binom, binomtest

    for k, n in [(0, 6), (6, 6), (1, 30), (26, 30), (30, 30), (500, 1000)]:
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        assert exact_share(k, n) == pytest.approx([ci.low, ci.high], abs=1e-10)
    assert exact_share(2, 2) is None
    for p in (0.9, 0.97, 0.983, 0.995):
        covers = sum(binom.pmf(k, 10, p) for k in range(11)
                     if exact_share(k, 10)[0] <= p <= exact_share(k, 10)[1])
        assert covers >= 0.95, p


def test_the_median_interval_is_the_exact_order_statistic_one():
    """The widest ranks whose binomial tails are each at most 2.5%, as scipy counts them."""
    from scipy.stats import binom

    for n in (6, 7, 10, 20, 30, 57, 100, 999, 1000, 1001, 5000):
        k = order_rank(n)
        assert binom.cdf(k - 1, n, 0.5) <= 0.025 + 1e-12, n
        if n < 1000:  # exact below 1,000; the normal form is within one rank above
            assert binom.cdf(k, n, 0.5) > 0.025, n
        else:
            assert binom.cdf(k + 1, n, 0.5) > 0.025, n
    values = [3e-5, 5e-5, 4e-5, 9e-5, 1e-4, 2e-5, 6e-5, 8e-5, 7e-5, 1.5e-4]
    x = sorted(values)
    assert median_interval(values) == [x[1], x[8]]  # n = 10: the 2nd and the 9th
    assert median_interval(values[:5]) is None and median_interval(values[:6]) == [2e-5, 1e-4]
    worst = median_interval(values + [math.inf] * 11)  # most seeds diverged: unbounded
    assert worst[1] == math.inf and math.isfinite(worst[0])


def test_the_iqm_interval_is_the_expanded_bootstrap_and_reproduces():
    from scipy.stats import norm, t

    for n in (6, 10, 30, 200):  # the t quantile of the expansion, and its tail
        assert t_quantile(0.025, n - 1) == pytest.approx(t.ppf(0.025, n - 1), abs=3e-4)
        assert expanded_tail(n) == pytest.approx(
            norm.cdf(math.sqrt(n / (n - 1)) * t.ppf(0.025, n - 1)), abs=1e-4)
    assert expanded_tail(10) < 0.01 < expanded_tail(30) < 0.025
    values = [3e-5, 5e-5, 4e-5, 9e-5, 1e-4, 2e-5, 6e-5, 8e-5, 7e-5, 1.5e-4]
    lo, hi = iqm_interval(values, "k")
    d = describe(values)
    assert lo < d["iqm"] < hi and lo >= min(values) and hi <= max(values)
    assert iqm_interval(values, "k") == [lo, hi]  # seeded: the same every time
    assert iqm_interval(values[:5], "k") is None
    assert iqm_interval([1.0] * 6) == [1.0, 1.0]
    big = [float(i) for i in range(10_000)]  # chunked resampling: the same interval shape
    lo, hi = iqm_interval(big, "k")
    assert lo < describe(big)["iqm"] < hi


def test_the_iqm_is_scipys_trimmed_mean():
    from scipy.stats import trim_mean

    values = [3e-5, 5e-5, 4e-5, 9e-5, 1e-4, 2e-5, 6e-5, 8e-5, 7e-5, 1.5e-4, 0.4]
    d = describe(values)
    assert d["iqm"] == pytest.approx(trim_mean(values, 0.25), rel=1e-12)
    for n in range(1, 12):  # the cut matches scipy's at every size
        assert describe(values[:n])["iqm"] == pytest.approx(trim_mean(values[:n], 0.25))


def test_a_diverged_or_failed_seed_is_the_worst_in_every_statistic():
    """#39: a seed without a finite eval_mse stays in its group as the worst (+inf);
    a seed that has not ended is left out, and the group says how many of each."""
    good = [1e-5 * (i + 1) for i in range(8)]
    rows = rows_of(good + [float("nan")]) + rows_of([None], status="failed")
    rows[-1].id, rows[-1].config = "run-x", {"lr": 0.006, "seed": 20}
    late = rows_of([0.4], status="interrupted")  # a partial eval_mse: not counted
    late[0].id, late[0].config = "run-y", {"lr": 0.006, "seed": 21}
    assert [outcome(r) for r in rows[-2:]] == [math.inf, math.inf] and outcome(late[0]) is None
    g = groups(rows + late, ["lr"], 1e-4)[0]
    assert (g["n"], g["counted"], g["completed"], g["failed"], g["diverged"]) == (11, 10, 9,
                                                                                   1, 2)
    e = g["eval_mse"]
    assert e["median"] == statistics_median(good + [math.inf] * 2)
    assert e["max"] == math.inf and e["mean"] == math.inf and e["std"] is None
    assert g["ok"] == "8/10" and g["ok_ci"] == exact_share(8, 10)
    assert e["iqm"] > describe(good)["iqm"]  # the two worst push the middle half up


def statistics_median(xs):
    import statistics

    return statistics.median(xs)


def test_probability_of_improvement_counts_pairs_and_half_ties():
    assert improvement([1, 2, 3], [4, 5, 6])[0] == 1.0  # every value below every other
    assert improvement([4, 5, 6], [1, 2, 3])[0] == 0.0
    assert improvement([1, 2], [2, 3])[0] == 0.875  # 1<2, 1<3, 2=2 (½), 2<3: 3.5 of 4
    same = [1e-4, 2e-4, 3e-4, 4e-4, 5e-4]
    point, ci = improvement(same, same)
    assert point == 0.5 and ci[0] < 0.5 < ci[1]
    point, ci = improvement([v * 0.5 for v in same], same)
    assert ci[0] <= point <= ci[1] and point > 0.5
    assert improvement([1, 2], [3, 4])[1] is None  # under 3 seeds: no interval
    assert improvement([1, 2, 3], [4, 5, 6])[1][1] == 1.0  # a share's bound stays in [0, 1]
    # Newcombe's score interval: the variance it solves with is exact at θ = ½
    n = 30
    lo, hi = improvement(list(range(n)), [x + 0.5 for x in range(n)])[1]
    z = 1.959963984540054
    theta = improvement(list(range(n)), [x + 0.5 for x in range(n)])[0]
    assert (theta - lo) ** 2 == pytest.approx(z * z * lo * (1 - lo) / n ** 2 * (
        1 + (n - 1) * (1 - lo) / (2 - lo) + (n - 1) * lo / (1 + lo)), rel=1e-6)


def test_a_groups_interval_does_not_depend_on_the_other_groups():
    a = rows_of([1e-4, 2e-4, 3e-4, 5e-4, 8e-4, 9e-4], lr=0.003)
    b = rows_of([1e-3, 2e-3, 4e-3], lr=0.01)
    both = groups(a + b, ["lr"], 1e-4)
    alone = groups(a, ["lr"], 1e-4)
    flipped = groups(b + a, ["lr"], 1e-4)
    for stat in ("median_ci", "iqm_ci"):
        assert both[0]["eval_mse"][stat] == alone[0]["eval_mse"][stat] \
            == flipped[1]["eval_mse"][stat] is not None
    assert "mean_ci" not in both[0]["eval_mse"]  # none covers a skewed mean: none printed
    assert both[0]["ok"] == "1/6" and both[0]["ok_ci"] == exact_share(1, 6)


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
    assert "0/6 [0.00, 0.46]" in table[1]  # exact on 6 runs, none ok at 15 steps
    small = in_process("compare", "sweep-01", "--group-by", "hidden,lr,seed").stdout
    assert "[n/a]" in small  # one run a group: no interval, never a number
    assert "eval_iqm" in table[0]
    groups_json = json.loads(in_process("compare", "sweep-01", "--json").stdout)
    g = groups_json[0]  # hidden and lr: 3 seeds a group
    assert g["eval_mse"]["median_ci"] is None and g["eval_mse"]["iqm_ci"] is None  # under 6
    assert g["ok_ci"] is not None  # a share's Wilson interval from 3
    six = json.loads(in_process("compare", "sweep-01", "--group-by", "hidden",
                                "--json").stdout)[0]  # 2 lr x 3 seeds
    for stat in ("median", "iqm"):
        lo, hi = six["eval_mse"][f"{stat}_ci"]
        assert lo <= six["eval_mse"][stat] <= hi
    assert "mean_ci" not in six["eval_mse"] and six["eval_mse"]["mean"] is not None
    again = json.loads(in_process("compare", "sweep-01", "--json").stdout)
    assert again == groups_json  # reproduces exactly
    rows = list(csv.DictReader(io.StringIO(in_process(
        "compare", "sweep-01", "--group-by", "hidden", "--csv").stdout)))
    assert float(rows[0]["eval_mse_iqm_lo"]) <= float(rows[0]["eval_mse_iqm"])
    assert float(rows[0]["eval_mse_median_lo"]) <= float(rows[0]["eval_mse_median"])
    small = list(csv.DictReader(io.StringIO(in_process("compare", "sweep-01", "--csv").stdout)))
    assert small[0]["eval_mse_median_lo"] == ""  # n/a: an empty cell, never a number
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
    # every pair of a robust value and a seed value, not only the same seed
    pairs = [(x < y) + 0.5 * (x == y) for x in (b[s] for s in a) for y in a.values()]
    assert vs["p_improve"] == pytest.approx(sum(pairs) / len(pairs))
    assert vs["p_improve_ci"][0] <= vs["p_improve"] <= vs["p_improve_ci"][1]
    back = paired(paired_rows(a, b), ["recipe"], {"recipe": "robust"})[1]
    assert back["wins"] == 0 and back["losses"] == 8
    assert back["p_improve"] == pytest.approx(1 - vs["p_improve"])


def test_too_few_shared_seeds_say_so_and_none_is_an_error():

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
    assert "p_improve" in table
    got = json.loads(in_process("compare", "sweep-01", "--group-by", "recipe", "--paired",
                                "--json").stdout)
    assert got[1]["paired"]["shared"] == 5 and got[1]["paired"]["reference"] == "recipe=seed"
    lo, hi = got[1]["paired"]["p_improve_ci"]
    assert 0 <= lo <= got[1]["paired"]["p_improve"] <= hi <= 1
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
    # how many seeds: in the table, and in the JSON
    res = in_process("compare", "sweep-01", "--paired", "--power", "0.8", "--effect", "0.5x")
    assert res.returncode == 0 and "seeds for 80% power to detect 0.5× eval_mse" in res.stdout
    got = json.loads(in_process("compare", "sweep-01", "--paired", "--power", "0.8",
                                "--json").stdout)
    pw = got[1]["paired"]["power"]
    assert pw["has"] == 5 and pw["effect"] == 0.8 and 0 <= pw["power_now"] <= 1
    assert pw["needed"] is None or pw["needed"] >= 5
    for bad in ("0x", "1", "abc", "-2x"):
        res = in_process("compare", "sweep-01", "--paired", "--power", "0.8", "--effect", bad)
        assert res.returncode == 2 and "--effect" in res.stderr, res.stderr
    # the performance profile, a figure of every group
    png = runs_dir.parent / "profile.png"
    res = in_process("compare", "sweep-01", "--profile", png)
    assert res.returncode == 0 and f"wrote {png}" in res.stderr
    from PIL import Image

    assert Image.open(png).size[0] > 600
    for args in (["run-01", "--profile", png], ["run-01", "--power", "0.8"]):
        res = in_process("compare", *args)
        assert res.returncode == 2 and "use it with --group-by" in res.stderr
    res = in_process("compare", "run-01", "run-02", "--paired")
    assert res.returncode == 2 and "use it with --group-by" in res.stderr


# -- performance profiles and seeds needed --------------------------------------------------

def test_a_profile_counts_the_share_at_or_under_each_threshold_with_a_band():
    from sincos_cli.stats.profiles import profiles

    a = rows_of([1e-4, 2e-4, 3e-4, 5e-4, float("nan")], lr=0.003)  # a diverged seed
    b = rows_of([1e-3, 2e-3, 4e-3], lr=0.01)
    pa, pb = profiles(a + b, ["lr"], taus=[1e-4, 2.5e-4, 1e-3, 1.0])
    assert pa.point == {"lr": 0.003} and pa.n == 5 and pb.n == 3
    assert pa.share == [0.2, 0.4, 0.8, 0.8]  # the NaN seed is never at or under τ
    assert pb.share == [0.0, 0.0, 1 / 3, 1.0]
    for p in (pa, pb):
        assert all(lo <= s <= hi for lo, s, hi in zip(p.lo, p.share, p.hi, strict=True))
    alone = profiles(a, ["lr"], taus=[1e-4, 2.5e-4, 1e-3, 1.0])[0]
    assert alone.lo == pa.lo and alone.hi == pa.hi  # seeded by the group, not the others
    assert profiles(rows_of([1e-4, 2e-4]), ["lr"])[0].lo is None  # under 3 seeds: no band


def test_seeds_needed_agrees_with_theory_on_a_normal_pilot():
    """A big normal pilot, sd 1, effect e^-0.5: the Wilcoxon test's textbook size is
    (1.96 + 0.84)² / 0.5² / 0.955 ≈ 33 seeds for 80% power; the exact test at that size
    needs a few more (its p-values are discrete)."""
    import numpy as np

    from sincos_cli.stats.power import Simulator, hodges_lehmann, parse_effect, seeds_needed

    pilot = np.random.default_rng(7).normal(0.3, 1.0, 3000)
    got = seeds_needed(pilot, math.exp(-0.5), 0.8, "k")
    assert 30 <= got.needed <= 40, got
    assert got == seeds_needed(pilot, math.exp(-0.5), 0.8, "k")  # seeded
    assert seeds_needed(pilot, math.exp(-1.0), 0.8, "k").needed < got.needed  # bigger: fewer
    sim = Simulator(pilot, math.exp(-0.5), "k")
    powers = [sim.power(n) for n in (10, 20, 40, 80, 200)]
    assert powers == sorted(powers) and powers[-1] > 0.99  # the same draws at every n
    # the location the test is about, and effects: a ratio, positive and not 1
    assert hodges_lehmann([1, 2, 3, 100]) == 2.75  # the median of the 10 Walsh averages
    assert parse_effect("0.8x") == 0.8 and parse_effect("1.25") == 1.25
    for bad in ("1x", "0", "-1x", "nan", "x"):
        with pytest.raises(ValueError):
            parse_effect(bad)


def test_power_is_the_exact_tests_and_a_small_pilot_gets_a_range():
    """#39: 5 of 5 seed wins give the exact Wilcoxon p = 0.0625, the smallest five pairs can
    give, so 5 seeds have no power at α = 5%, however big the effect."""
    import numpy as np

    from sincos_cli.stats.groups import _wilcoxon
    from sincos_cli.stats.power import rejects, seeds_needed

    wins = [-0.9, -1.1, -0.7, -1.3, -1.0]
    assert _wilcoxon(wins) == pytest.approx(0.0625)
    got = seeds_needed(wins, 0.5, 0.8, "k")
    assert got.power_now == 0.0 and got.needed >= 6
    six = np.asarray([[-1.0, -2, -3, -4, -5, -6]])  # all six one way: p = 2/64 < 0.05
    assert rejects(six, -1.0).tolist() == [True] and rejects(six, 1.0).tolist() == [False]
    pilot = np.random.default_rng(3).normal(-0.2, 1.0, 20)
    got = seeds_needed(pilot, 0.6, 0.8, "k")
    lo, hi = got.needed_range
    assert lo <= got.needed and (hi is None or got.needed <= hi)
    assert got.to_json()["needed_range"] == [lo, hi]


def test_the_signed_rank_p_value_is_scipys_exact_and_asymptotic_one():
    """Computed here (no scipy to import for thousands of seeds): the exact null
    distribution up to 50 values, the normal approximation with ties above."""
    import random

    from scipy.stats import wilcoxon

    from sincos_cli.stats.groups import _wilcoxon

    rnd = random.Random(3)
    for n in (5, 6, 9, 20, 50, 51, 80, 400):
        for shift in (0.0, 0.3, 1.0):
            d = [rnd.gauss(shift, 1) for _ in range(n)]
            if n > 50:
                d = [round(x, 1) for x in d]  # ties, which the approximation corrects for
            assert _wilcoxon(d) == pytest.approx(float(wilcoxon(d).pvalue), rel=1e-9)
    assert _wilcoxon([0.0] * 7) == 1.0


def test_diverged_seeds_stay_paired_as_the_worst():
    """#39: two identical recipes where A's worst 6 of 30 seeds diverged. Dropped, those
    seeds made A look better (21.7% of simulated studies); counted as A's worst, A is the
    worse one, and the comparison says how many diverged."""
    import random

    rnd = random.Random(5)
    a = {s: rnd.lognormvariate(-9, 1) for s in range(1, 31)}
    b = {s: rnd.lognormvariate(-9, 1) for s in range(1, 31)}
    for s in sorted(a, key=a.get)[-6:]:
        a[s] = float("nan")  # completed without a finite eval_mse: diverged
    vs = paired(paired_rows(b, a), ["recipe"])[1]  # a (robust) against b (seed)
    assert vs["shared"] == 30 and vs["diverged"] == 6 and vs["reference_diverged"] == 0
    assert vs["losses"] >= 6 and vs["ratio_ci"][1] > 1
    assert not (vs["wilcoxon_p"] < 0.05 and vs["ratio_median"] < 1)
    from sincos_cli.views.table import paired_table

    cols, body = paired_table(paired(paired_rows(b, a), ["recipe"]), ["recipe"])
    assert cols[-1] == "diverged" and body[1][-1] == "6 / 0" and body[0][-1] == "-"


def test_a_point_that_diverges_on_every_seed_says_so():
    from sincos_cli.stats import sequential as sq
    from sincos_cli.store.show import round_line

    res = sq.look([math.inf] * 12, 0.01)
    assert res.decision == "worse" and res.ratio == math.inf and res.diverged == 12
    doc = res.to_json()
    assert doc["ratio"] is None and doc["ratio_ci"][1] is None  # JSON has no inf
    json.dumps(doc, allow_nan=False)
    line = round_line({"n": 12, "results": [{**doc, "point": {"lr": 0.5}, "tested": True}]}, 1)
    assert "diverged on 12 of 12 seeds [" in line and "∞] worse" in line and "20.09" not in line
    mixed = sq.look([math.inf, -math.inf] + [0.1] * 10, 0.05)  # both sides diverged once
    assert mixed.diverged == 1 and mixed.reference_diverged == 1
    assert math.isfinite(mixed.ratio)
