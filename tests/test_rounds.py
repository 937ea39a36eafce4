"""sincos sweep --until-decided: the rule's error rate (simulated), its interval against
scipy's test, the rounds sweep.json records, a resume mid-round, and what is refused."""

import math
import random
import signal

import pytest
from conftest import in_process, read, sincos, start, steps_of, wait_for

from sincos_cli.stats import sequential as sq

ARGS = ["--set", "recipe=seed,robust", "--seeds", "1-6", "--until-decided",
        "--max-seeds", "24", "--steps", "120"]


def test_the_interval_excludes_1_exactly_when_wilcoxon_rejects():
    from scipy.stats import wilcoxon

    rnd = random.Random(5)
    for _ in range(400):
        n = rnd.randrange(6, 51)
        d = [rnd.gauss(rnd.choice((0, 0.4, 1.0)), 1) for _ in range(n)]
        level = rnd.choice((0.05, 0.01, 0.05 / 6))
        decided = sq.look(d, level).decision != "undecided"
        assert decided == (wilcoxon(d, method="exact").pvalue <= level), (n, level)
    res = sq.look([math.log(0.1)] * 9 + [math.log(2.0)], 0.05)
    assert res.decision == "better" and res.ratio == pytest.approx(0.1)
    assert res.ratio_ci[1] < 1 and sq.look([0.5] * 10, 0.05).decision == "worse"


def test_looks_and_the_levels_they_spend():
    assert sq.looks(10, 200) == [10, 20, 40, 80, 160, 200]
    assert sq.looks(10, 10) == [10]
    assert sq.spending(sq.looks(10, 200), 0.05, 1) == ([10, 20, 40, 80, 160, 200],
                                                       pytest.approx(0.05 / 6))
    # 6 seeds cannot reach 0.05/3 (their smallest p is 1/32): that look is not spent on
    assert sq.spending(sq.looks(6, 24), 0.05, 1) == ([12, 24], 0.025)
    assert sq.spending(sq.looks(3, 4), 0.05, 1) == ([], 0.05)
    assert sq.smallest_p(60) == pytest.approx(
        __import__("scipy.stats").stats.wilcoxon([1.0 + i for i in range(60)],
                                                 method="approx").pvalue, rel=1e-6)


def test_the_calibrated_level_spends_alpha_where_bonferroni_spends_half():
    """#39: the sign-flip simulation of the whole schedule gives the largest per-look level
    whose false-decision rate is α; Bonferroni's α/K is below it."""
    planned = sq.looks(10, 200)
    tested, level = sq.calibrated(planned, 0.05, 1)
    assert tested == planned and 0.05 / 6 < level < 0.05
    assert sq.calibrated(planned, 0.05, 1) == (tested, level)  # seeded
    assert sq.calibrated(planned, 0.05, 2)[1] < level  # two comparisons: α/2 each
    assert sq.calibrated(sq.looks(3, 4), 0.05, 1) == ([], 0.05)
    assert sq.calibrated(sq.looks(6, 24), 0.05, 1)[0] == [12, 24]  # 6 seeds cannot reach it
    # the rate at that level, counted exactly for one look: a single look is the test at α
    assert sq.calibrated([20], 0.05, 1)[1] == pytest.approx(0.05, abs=0.005)


def _equal_recipes(rnd):
    """Log ratios of two recipes with one heavy-tailed distribution of eval_mse (a mode
    that converges, one that does not): the null the rule must respect."""
    def run():
        return rnd.gauss(-7, 1.2) if rnd.random() < 0.8 else rnd.gauss(-3.5, 0.8)
    return lambda k: [run() - run() for _ in range(k)]


def test_two_equal_recipes_are_decided_wrongly_at_most_alpha_of_the_time():
    rnd = random.Random(28)
    wrong = sum(sq.simulate(_equal_recipes(rnd), 10, 200) is not None for _ in range(200))
    # 5% of 200 is 10; three standard errors above it, the rule would be wrong at 9% or more
    assert wrong <= 19, f"{wrong} of 200 simulated studies decided two equal recipes"
    # the calibration's own claim, counted on 4,000 studies of that heavy-tailed null
    # (vectorised: a look decides exactly when T+ falls in the signed-rank test's tails)
    import numpy as np

    gen = np.random.default_rng(28)

    def runs(shape):
        mix = gen.random(shape) < 0.8
        return np.where(mix, gen.normal(-7, 1.2, shape), gen.normal(-3.5, 0.8, shape))
    planned = sq.looks(10, 200)
    tested, level = sq.calibrated(planned, 0.05, 1)
    d = runs((4000, 200)) - runs((4000, 200))
    decided = np.zeros(4000, dtype=bool)
    for n in tested:
        c = sq._depth(n, level)
        ranks = np.abs(d[:, :n]).argsort(axis=1).argsort(axis=1) + 1
        t = (ranks * (d[:, :n] > 0)).sum(axis=1)
        decided |= (t <= c - 1) | (t >= n * (n + 1) // 2 - c + 1)
    assert decided.mean() <= 0.05 + 2 * 0.0035, decided.mean()  # α plus two SEs
    assert decided.mean() > 0.05 - 3 * 0.0035  # and it spends nearly all of it

    # The same looks each at 5%, without spending: stopping at the first look that
    # rejects is wrong far more often. This is what the rule is for.
    naive = 0
    for _ in range(200):
        draw, data = _equal_recipes(rnd), []
        for n in sq.looks(10, 200):
            data += draw(n - len(data))
            if sq.look(data, 0.05).decision != "undecided":
                naive += 1
                break
    assert naive > 2 * max(wrong, 5), (naive, wrong)


def test_the_calibrated_rule_decides_a_modest_difference_more_often_than_bonferroni():
    """The same studies under both rules (a higher level only widens each look's tails, so
    whatever Bonferroni decides the calibrated rule decides too)."""
    rnd = random.Random(11)
    paths = [[rnd.gauss(math.log(0.8), 1.0) for _ in range(200)] for _ in range(150)]

    def decided(rule):
        out = 0
        for path in paths:
            taken = iter(path)
            out += sq.simulate(lambda k, t=taken: [next(t) for _ in range(k)], 10, 200,
                               rule=rule) is not None
        return out
    calibrated, bonferroni = decided(None), decided(sq.spending)
    assert calibrated > bonferroni, (calibrated, bonferroni)


def test_a_real_difference_is_decided_early():
    rnd = random.Random(3)

    def draw(k):  # a 10x lower eval_mse, with the spread of real seeds
        return [rnd.gauss(math.log(0.1), 1.5) for _ in range(k)]
    when = [sq.simulate(draw, 10, 200) for _ in range(100)]
    assert all(n is not None and n <= 40 for n in when)
    assert sum(n == 10 for n in when) >= 50


@pytest.fixture(scope="module")
def decided(tmp_path_factory):
    root = tmp_path_factory.mktemp("rounds") / "runs"
    out = in_process("sweep", *ARGS, root=root)
    assert out.returncode == 0, out.stderr
    return root, out


def test_rounds_add_seeds_until_decided(decided):
    root, out = decided
    doc = read(root / "sweep-01" / "sweep.json")
    u = doc["until_decided"]
    assert (u["looks"], u["tested"]) == ([6, 12, 24], [12, 24])
    assert 0.025 < u["level"] < 1 / 32  # calibrated: above Bonferroni's α/2
    assert u["reference"] == {"recipe": "seed"} and u["outcome"] in ("decided", "undecided")
    seeds = [r["seeds"] for r in u["rounds"]]
    assert seeds[0] == [1, 2, 3, 4, 5, 6] and seeds[1:2] == [[7, 8, 9, 10, 11, 12]]
    by = {}
    for m in doc["members"]:
        assert read(root / m["run"] / "run.json")["status"] == "completed"
        assert steps_of(root / m["run"]) == list(range(120))
        by.setdefault(m["point"]["recipe"], []).append(m["seed"])
    for recipe, got in by.items():  # each (point, seed) once
        assert len(got) == len(set(got)), recipe
    first = u["rounds"][0]["results"][0]
    assert first["tested"] is False and first["decision"] == "undecided"
    last = u["rounds"][-1]
    assert all(r["tested"] for r in last["results"])
    decisions = [r["decision"] for r in last["results"]]
    if u["outcome"] == "decided":
        assert "undecided" not in decisions
        assert f"decided after {last['n']} seeds" in out.stderr
    else:
        assert last["n"] == 24 and "undecided at the budget of 24 seeds" in out.stderr
    assert sorted(by["robust"]) == sorted(by["seed"]) == list(range(1, last["n"] + 1))
    # each look is what its data say, recomputed here from the members' eval_mse
    ev = {(m["point"]["recipe"], m["seed"]): read(root / m["run"] / "summary.json")[
        "eval_mse"] for m in doc["members"]}
    for r in u["rounds"]:
        d = [math.log(ev["robust", s] / ev["seed", s]) for s in range(1, r["n"] + 1)]
        again = sq.look(d, u["level"])
        assert r["results"][0]["ratio"] == pytest.approx(again.ratio)
        if r["results"][0]["tested"]:
            assert r["results"][0]["decision"] == again.decision


def test_show_and_the_report_tell_the_rounds(decided):
    root, _ = decided
    text = in_process("show", "sweep-01", root=root).stdout
    assert "until     decided or 24 seeds, α=0.05, looks 6 → 12 → 24, against " \
           "recipe=seed" in text
    assert "  round 1 (6 seeds): recipe=robust " in text
    assert "too few seeds to decide at the rule's level" in text
    out = in_process("report", "sweep-01", "-o", str(root / "r.html"), root=root)
    assert out.returncode == 0, out.stderr
    html = (root / "r.html").read_text()
    assert 'id="rounds-table"' in html and "Rounds until decided" in html
    again = in_process("sweep", "--resume", "sweep-01", root=root)
    assert again.returncode == 0 and "nothing to do" in again.stderr


@pytest.mark.slow
def test_an_interrupt_mid_round_resumes_that_round_then_goes_on(runs_dir):
    args = [*ARGS[:-1], "300", "--no-batch", "--workers", "1", "--checkpoint-every", "20"]
    p = start("sweep", *args, root=runs_dir)
    path = runs_dir / "sweep-01" / "sweep.json"
    wait_for(lambda: path.exists() and len(read(path)["until_decided"]["rounds"]) == 2,
             "the second round", proc=p, timeout=120)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    doc = read(path)
    assert doc["status"] == "interrupted"
    planned = doc["until_decided"]["rounds"]
    assert len(planned) == 2 and planned[1]["results"] is None
    states = [read(runs_dir / m["run"] / "run.json")["status"] if (
        runs_dir / m["run"] / "run.json").exists() else "new" for m in doc["members"][12:]]
    assert "completed" not in states[-1:], states  # the round was cut short

    out = sincos("sweep", "--resume", "sweep-01", timeout=300)
    assert out.returncode == 0, out.stderr
    doc = read(path)
    u = doc["until_decided"]
    assert u["rounds"][1]["seeds"] == planned[1]["seeds"]  # planned once, not again
    assert u["outcome"] is not None and all(r["results"] for r in u["rounds"])
    seen = set()
    for m in doc["members"]:
        key = (m["point"]["recipe"], m["seed"])
        assert key not in seen
        seen.add(key)
        assert steps_of(runs_dir / m["run"]) == list(range(300))  # no step twice, no gap
    assert read(path)["resumes"][0]["from_status"] == "interrupted"


@pytest.mark.parametrize("args,needle", [
    (["--set", "lr=0.006"], "at least two"),
    (["--set", "lr=0.003,0.006", "--max-seeds", "3"], "fewer than the 4 seeds"),
    (["--set", "lr=0.003,0.006", "--max-seeds", "5"], "can never decide"),
    (["--set", "lr=0.003,0.006", "--reference", "lr=0.01"], "no grid point has lr=0.01"),
    (["--set", "lr=0.003,0.006", "--reference", "hidden=3"], "KEY one of lr"),
    (["--set", "lr=0.003,0.006", "--alpha", "0.7"], "between 1e-06 and 0.5"),
    (["--set", "lr=0.003,0.006", "--halving"], "choose one"),
])
def test_bad_until_decided_is_refused_before_anything_is_made(runs_dir, args, needle):
    out = in_process("sweep", "--steps", "40", "--seeds", "1-4", "--until-decided", *args)
    assert out.returncode == 2 and needle in out.stderr, out.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


@pytest.mark.parametrize("args,needle", [
    (["--max-seeds", "50"], "--max-seeds"), (["--reference", "lr=0.01"], "--reference")])
def test_its_options_need_until_decided(runs_dir, args, needle):
    out = in_process("sweep", "--steps", "40", "--seeds", "1-4", "--set", "lr=0.003,0.006",
                     *args)
    assert out.returncode == 2 and needle in out.stderr and "--until-decided" in out.stderr
