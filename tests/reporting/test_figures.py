"""The figures of `afa tables` from real table lines: no empty panel (a measure no line has is left out; a figure
with nothing to draw says why in one line)."""
import os

import matplotlib.pyplot as plt
import pytest

from afa.runs import zoo as zoo_mod
from afa.reporting import figures
from afa.reporting.tables import build_frame, lines_of
from figure_panels import assert_no_empty_panel, has_data

ZOO = zoo_mod.load()


def metrics(run_id, box, mask=None):
    record = dict(run_id=run_id, scale='smoke', bbox=dict(AP=box))
    if mask is not None:
        record['segm'] = dict(AP=mask)
    return record


@pytest.fixture
def lines():
    runs = {'cmrcn_r50_sumup_1x': metrics('cmrcn_r50_sumup_1x', 39.5, 37.6),
            'cmrcn_r50_mssa_adp_1x': metrics('cmrcn_r50_mssa_adp_1x', 27.9, 35.1),
            'ddetr_r50_1x': metrics('ddetr_r50_1x', 5.4)}
    return lines_of(build_frame(ZOO, runs, {}), ZOO)


def test_every_panel_of_the_full_figures_draws(lines):
    for fig in (figures.reproduced_vs_paper_figure(lines, 'smoke'), figures.gains_figure(lines, 'smoke')):
        assert_no_empty_panel(fig)
        assert all(has_data(ax) for ax in fig.axes)
        plt.close(fig)


def test_a_measure_no_line_has_is_left_out(lines):
    detr = [ln for ln in lines if ln.model == 'Deformable-DETR']  # no mask AP, neither the paper's nor ours
    assert detr
    fig = figures.reproduced_vs_paper_figure(detr, 'smoke')
    assert [ax.get_xlabel() for ax in fig.axes] == ['box AP val (%)']
    assert_no_empty_panel(fig)
    plt.close(fig)


def test_a_gains_figure_without_afa_lines_says_why_in_one_line(lines, tmp_path):
    baselines = [ln for ln in lines if ln.module in ('Sum-Up', '-')]
    fig = figures.gains_figure(baselines, 'smoke')
    assert_no_empty_panel(fig)
    assert 'no AFA line' in fig.axes[0].texts[0].get_text()
    plt.close(fig)
    out = str(tmp_path / 'figure.png')
    figures.gains(baselines, ZOO, out, 'smoke')  # the workflow expects the file all the same
    assert os.path.getsize(out) > 0
