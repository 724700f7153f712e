"""Figures: paper-ready layout (nothing overlaps, zero-width CIs show, legends beside the lines),
PDF and SVG beside every PNG, and `jrew plot` on one run, several runs and a bench folder.

No training: run directories are written from made-up metrics with jrew.run_dir."""

import json

import numpy as np
import pytest

from jrew import cli, plotting
from jrew import run_dir as files


@pytest.fixture
def figures(monkeypatch):
    """The figures the plotting functions make, kept open instead of written (``save`` stubbed)."""
    made = []

    def keep(fig, path):
        made.append(fig)
        return path

    monkeypatch.setattr(plotting, "save", keep)
    return made


def extents(fig, artists):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [a.get_window_extent(renderer) for a in artists if a.get_visible() and a.get_text()]


def test_interval_plot_shows_zero_width_cis_keeps_margins_and_nothing_overlaps(figures):
    points = {"ppo": np.array([0.0, 0.0, 0.3, 1.0]), "rnd": np.array([1.0, 1.0, 0.8, 0.0])}
    intervals = {"ppo": np.array([[0.0, 0.0, 0.1, 1.0], [0.0, 0.0, 0.5, 1.0]]),  # zero-width CIs at the edges
                 "rnd": np.array([[1.0, 1.0, 0.6, 0.0], [1.0, 1.0, 0.9, 0.0]])}
    plotting.plot_intervals(points, intervals, ["IQM", "Median", "Mean", "Optimality gap"], "all tasks: CIs",
                            "x.png")
    (fig,) = figures
    for m, ax in enumerate(fig.axes):
        low, high = ax.get_xlim()
        values = [v for n in points for v in (points[n][m], *intervals[n][:, m])]
        assert low < min(values) and high > max(values)  # a margin on both sides
        markers = [line for line in ax.get_lines() if line.get_marker() == "D"]
        assert sorted(float(line.get_xdata()[0]) for line in markers) == sorted(points[n][m] for n in points)
    ticks = extents(fig, [t for ax in fig.axes for t in ax.get_xticklabels()])
    (xlabel,) = extents(fig, [fig._supxlabel])
    (title,) = extents(fig, [fig._suptitle])
    panels = [ax.get_window_extent() for ax in fig.axes]
    titles = extents(fig, [ax.title for ax in fig.axes])
    assert not any(xlabel.overlaps(t) for t in ticks), "the x label covers tick labels"
    assert not any(title.overlaps(b) for b in panels + titles), "the suptitle overlaps a panel"
    assert not any(xlabel.overlaps(b) for b in panels), "the x label overlaps a panel"


def test_profile_and_curve_legends_sit_below_the_axes(figures):
    taus = np.linspace(0, 1, 11)
    profiles = {"ppo": np.linspace(1, 0, 11), "rnd": np.linspace(1, 0.5, 11)}
    plotting.plot_profiles(taus, profiles, {k: np.stack([v - 0.1, v + 0.1]) for k, v in profiles.items()}, "t", "p.png")
    steps, values = np.arange(1, 6) * 100.0, np.tile(np.linspace(0, 1, 5), (3, 1))
    plotting.plot_curves({"ppo": (steps, values), "pbrs": (steps, values + 0.1)}, "return", "t", "c.png")
    for fig in figures:
        (ax,) = fig.axes
        fig.canvas.draw()
        legend, box = ax.get_legend().get_window_extent(), ax.get_window_extent()
        assert legend.y1 < box.y0, "the legend is inside the axes"


def test_every_png_has_a_pdf_and_an_svg_beside_it_and_rewriting_changes_no_byte(tmp_path):
    steps, values = np.arange(1, 6) * 100.0, np.tile(np.linspace(0, 1, 5), (3, 1))
    path = plotting.plot_curves({"ppo": (steps, values)}, "return", "t", tmp_path / "c.png")
    written = {s: (tmp_path / f"c{s}").read_bytes() for s in (".png", ".pdf", ".svg")}
    assert path == tmp_path / "c.png" and all(len(b) > 1000 for b in written.values())
    assert written[".pdf"].startswith(b"%PDF") and b"<svg" in written[".svg"]
    plotting.plot_curves({"ppo": (steps, values)}, "return", "t", tmp_path / "c.png")
    assert {s: (tmp_path / f"c{s}").read_bytes() for s in written} == written  # no dates, fixed ids


def fake_run(path, labels=None, seeds=3, updates=6, hacked=False):
    """A run directory with made-up metrics: true return rising to 1; the visible return the same,
    or (``hacked``) rising to 5 while the true return stays 0."""
    variants = len(labels) if labels else 1
    runs = variants * seeds
    rise = np.tile(np.linspace(0, 1, updates), (runs, 1)) + 0.01 * np.arange(runs)[:, None]
    true = 0 * rise if hacked else rise
    metrics = {"true_return": true, "env_return": 5 * rise if hacked else rise, "loss": 0 * rise}
    files.write_config(path, files.RunRecord(algo="ppo", config={}, seeds=list(range(seeds)),
                                             rewards=["identity()"] * variants, chunk_updates=1,
                                             variant_labels=labels))
    files.append_metrics(path, metrics, 0, 100, np.repeat(np.arange(variants), seeds), list(range(seeds)) * variants)
    return path


def line_labels(fig):
    return [line.get_label() for line in fig.axes[0].get_lines() if not line.get_label().startswith("_")]


def test_jrew_plot_of_one_run_overlays_the_visible_return_dashed(tmp_path, figures, capsys):
    run = fake_run(tmp_path / "hacked", hacked=True)
    assert cli.main(["plot", str(run)]) == 0
    assert capsys.readouterr().out.strip() == str(run / "true_return.png")
    lines = {line.get_label(): line for line in figures[0].axes[0].get_lines()}
    assert lines["true return"].get_linestyle() == "-" and lines["visible (env) return"].get_linestyle() == "--"
    np.testing.assert_allclose(lines["visible (env) return"].get_ydata()[-1], 5.05, atol=1e-5)  # 5 x the mean of 1, 1.01, 1.02
    assert cli.main(["plot", str(run), "--no-visible"]) == 0
    assert line_labels(figures[1]) == ["mean over 3 seeds"]


def test_jrew_plot_takes_several_runs_a_folder_of_runs_and_a_bench_folder(tmp_path, figures, capsys):
    runs = tmp_path / "sparse"
    a, b = fake_run(runs / "ppo"), fake_run(runs / "pbrs", labels=["coef=0", "coef=0.5"])
    assert cli.main(["plot", str(a), str(b)]) == 0
    assert capsys.readouterr().out.strip() == str(runs / "true_return_ppo_vs_pbrs.png")
    assert line_labels(figures[-1]) == ["ppo", "pbrs: coef=0", "pbrs: coef=0.5"]
    assert cli.main(["plot", str(runs)]) == 0  # was: "no metrics in runs/sparse"
    assert capsys.readouterr().out.strip() == str(runs / "true_return.png")
    assert sorted(line_labels(figures[-1])) == ["pbrs: coef=0", "pbrs: coef=0.5", "ppo"]

    bench = tmp_path / "bench"
    fake_run(bench / "runs/deep_sea/g00-ppo")
    fake_run(bench / "runs/deep_sea/g01-rnd", labels=["rnd[coef=0.1]", "rnd[coef=1]"])
    fake_run(bench / "runs/tomato/g02-ppo")
    groups = [{"task": "deep_sea", "name": "g00-ppo", "variants": ["ppo"]},
              {"task": "deep_sea", "name": "g01-rnd", "variants": ["rnd[coef=0.1]", "rnd[coef=1]"]},
              {"task": "tomato", "name": "g02-ppo", "variants": ["ppo"]}]
    (bench / "plan.json").write_text(json.dumps({"groups": groups}))
    assert cli.main(["plot", str(bench)]) == 0
    assert capsys.readouterr().out.split() == [str(bench / "plot_true_return_deep_sea.png"),
                                               str(bench / "plot_true_return_tomato.png")]
    assert line_labels(figures[-2]) == ["ppo", "rnd[coef=0.1]", "rnd[coef=1]"] and line_labels(figures[-1]) == ["ppo"]

    (tmp_path / "empty").mkdir()
    assert cli.main(["plot", str(tmp_path / "empty")]) == 2
    assert "no run in" in capsys.readouterr().err
