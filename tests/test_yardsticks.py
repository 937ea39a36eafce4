"""The yardsticks beside every statistic and picture: compare --group-by's vs_linear with
its interval, the reference lines of compare --plot and the report, sweep summaries."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics

import pytest
from conftest import small

from sincos_cli.stats.groups import groups
from sincos_cli.stats.intervals import median_interval
from sincos_cli.views import yardsticks


class _Row:
    """What stats.groups reads of a run: status, settings and values."""

    def __init__(self, seed, status="completed", eval_mse=1e-4, linear=1e-5, noise=0.05):
        self.status = status
        self._settings = {"seed": seed, "noise": noise}
        has = linear is not None and status == "completed"
        self._values = {"eval_mse": eval_mse if status == "completed" else None,
                        "final_loss": eval_mse, "linear": linear if has else None,
                        "vs_linear": eval_mse / linear if has and linear > 0 else None}

    def value(self, key):
        return self._values.get(key)

    def setting(self, key):
        return self._settings.get(key)


def test_a_groups_vs_linear_has_its_interval_and_counts_a_failed_seed_as_worst():
    vs = [2.0, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 9.0]
    rows = [_Row(i, eval_mse=v * 1e-5) for i, v in enumerate(vs)]
    rows.append(_Row(20, status="failed"))
    rows.append(_Row(21, eval_mse=float("nan")))  # diverged at its evaluation: the worst
    rows.append(_Row(22, linear=0.0))  # an exact filter: no vs_linear, left out
    rows.append(_Row(23, status="interrupted"))  # not ended: left out
    [g] = groups(rows, ["noise"], threshold=1e-4)
    expect = [*vs, math.inf, math.inf]
    d = g["vs_linear"]
    assert d["counted"] == 10
    assert d["median"] == pytest.approx(statistics.median(expect))
    assert d["median_ci"] == median_interval(expect) and d["median_ci"] is not None
    assert d["max"] == math.inf and d["min"] == 2.0
    assert g["linear"]["counted"] == 10 and g["linear"]["median"] == pytest.approx(1e-5)
    assert g["counted"] == 11  # eval_mse's own count: the exact filter's run is in it


def test_groups_without_yardsticks_are_as_before():
    rows = [_Row(i, linear=None) for i in range(6)]
    [g] = groups(rows, ["noise"], threshold=1e-4)
    assert "vs_linear" not in g and "linear" not in g


def test_compare_groups_sorts_and_writes_vs_linear(cli, runs_dir):
    res = cli("sweep", "--seeds", "1-3", *small(12, 6), "--set", "noise=0,0.05",
              "--workers", "1", "--quiet")
    assert res.exit_code == 0, res.output
    sw = res.stdout.strip()
    table = cli("compare", sw).stdout.splitlines()
    assert "vs_linear_median" in table[0].split() and "linear_median" in table[0].split()
    rows = list(csv.DictReader(io.StringIO(cli("compare", sw, "--csv").stdout)))
    by_noise = {r["noise"]: r for r in rows}
    for r in rows:
        assert float(r["vs_linear_median"]) > 1 and r["vs_linear_counted"] == "3"
        assert r["vs_linear_median_lo"] == ""  # n/a under 6 runs
    # the noise-free filter is exact, so its vs_linear is enormous: sorted first descending
    first = json.loads(cli("compare", sw, "--sort", "-vs_linear_median", "--json").stdout)[0]
    assert first["noise"] == 0.0
    assert float(by_noise["0.0"]["linear_median"]) < 1e-9 < float(by_noise["0.05"]["linear_median"])
    shown = cli("show", sw).stdout
    assert "× linear" in shown  # best and worst members beside their yardstick
    out = runs_dir.parent / "bands.png"
    assert cli("compare", sw, "--plot", str(out)).exit_code == 0 and out.stat().st_size > 0


def _axes():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_yscale("log")
    ax.plot([0, 10], [1e-1, 1e-4])
    return ax


def _summary(linear, zero=0.5, taps=400):
    return {"baselines": {"linear": linear, "zero": zero, "linear_taps": taps}}


def test_a_yardstick_near_the_curves_is_a_labelled_line_and_the_axis_holds_it():
    ax = _axes()
    handles = yardsticks.draw(ax, yardsticks.of_runs([_summary(2e-6)]))
    labels = [h.get_label() for h in handles]
    assert labels[0].startswith("linear filter: 2e-06") and "(400 taps)" in labels[0]
    assert labels[1] == "predicting 0: 0.5"
    ys = sorted(ln.get_ydata()[0] for ln in ax.lines[1:])
    assert ys == [2e-6, 0.5]
    lo, hi = ax.get_ylim()
    assert lo < 2e-6 and hi > 0.5
    assert not ax.texts  # nothing below the axis


def test_a_yardstick_far_below_the_curves_is_a_note_not_a_squashed_axis():
    ax = _axes()
    handles = yardsticks.draw(ax, yardsticks.of_runs([_summary(4e-13, taps=2)]))
    assert "below the axis" in handles[0].get_label()
    assert ax.get_ylim()[0] > 1e-6  # the curves keep the figure
    assert len(ax.lines) == 2  # the curve and predicting 0; the filter is a note
    assert "linear filter: 4e-13" in ax.texts[0].get_text()


def test_runs_with_different_filters_show_their_median_and_say_so():
    ys = yardsticks.of_runs([_summary(1e-5), _summary(3e-5), _summary(2e-5)])
    assert ys[0].value == 2e-5 and not ys[0].shared and "median of 3 runs" in ys[0].detail
    assert ys[1].shared and ys[1].value == 0.5
    assert yardsticks.of_runs([{"eval_mse": 1.0}, {"baselines": [1]}]) == []


def test_the_run_page_puts_the_yardsticks_beside_eval_mse(cli, trained_copy, tmp_path):
    out = tmp_path / "page.html"
    res = cli("report", trained_copy.name, "--out", str(out))
    assert res.exit_code == 0, res.output
    page = out.read_text()
    table = page[page.index('id="summary-table"'):]
    table = table[:table.index("</table>")]
    for name in ("eval_mse", "vs_linear", "linear", "zero", "persistence"):
        assert f">{name}<" in table
    assert "as good as a straight line" in table
