"""The claims page on constructed metrics whose verdict is known: a clear gain, no gain, a gain smaller than the
spread, one seed, a missing row, a reproduced number against the paper's, "nearly matches", the control rows; the
smoke page (about synthetic data, never the paper); the files `afa tables` writes; the seeds `afa plan` prints.

The expected intervals and seed counts are computed here from the standard library's normal distribution and the
zoo's paper numbers, independently of afa/reporting/verdicts.py (which uses scipy)."""
import json
import math
import os
from statistics import NormalDist

import pytest

from afa.cli import main
from afa.planning import claim_seeds
from afa.reporting import claims, claims_figure, verdicts
from afa.reporting.tables import build_frame, lines_of
from afa.runs import layout
from afa.runs import zoo as zoo_mod
from afa.utils.errors import AfaError
from test_tables import metrics as metrics_file, write_run  # the metrics file `afa test` writes

ZOO = zoo_mod.load()
Z975 = NormalDist().inv_cdf(0.975)
SD = verdicts.REFERENCE_SD


def metrics(run_id, box, mask=None, scale='paper'):
    """The fields of a metrics file that the tables and the claims read."""
    return {'run_id': run_id, 'scale': scale, 'bbox': {'AP': box}, 'segm': {'AP': mask} if mask else None}


def seeds_of(run_id, boxes, masks=None, scale='paper'):
    """{run id: metrics} of one line run once per value (seeds 0, 1, ...)."""
    masks = masks or [None] * len(boxes)
    return {('%s-seed%d' % (run_id, i) if i else run_id): metrics(('%s-seed%d' % (run_id, i) if i else run_id),
                                                                  b, m, scale)
            for i, (b, m) in enumerate(zip(boxes, masks))}


def evaluate(runs, scale='paper'):
    lines = lines_of(build_frame(ZOO, runs, {}), ZOO)
    sections, spread, results = claims.evaluate(lines, ZOO, scale)
    return {(r.claim.id, r.metric, tuple(r.rows)): r for r in results}, spread, sections, results


def one(results, claim_id, metric='box_val'):
    found = [r for key, r in results.items() if key[0] == claim_id and key[1] == metric]
    assert len(found) == 1, found
    return found[0]


def paper(row, metric='box_val'):
    return ZOO.row(row)['paper'][metric]


def test_a_clear_gain_holds_with_one_seed_per_row_on_the_cited_spread():
    runs = dict(seeds_of('cmrcn_r50_mssa_adp_1x', [43.1], [38.4]))
    runs.update(seeds_of('cmrcn_r50_sumup_1x', [41.2], [35.9]))
    results, spread, _, _ = evaluate(runs)
    assert spread['box_val'].df is None and spread['box_val'].sd == SD  # no repeated seeds: the cited figure
    r = one(results, 'gain_1x_mssa_adp')
    half = Z975 * SD * math.sqrt(2)
    assert r.estimate.value == pytest.approx(1.9)
    assert r.estimate.interval() == pytest.approx((1.9 - half, 1.9 + half))
    assert r.paper == pytest.approx(paper('cmrcn_r50_mssa_adp_1x') - paper('cmrcn_r50_sumup_1x'))
    assert r.verdict == verdicts.HOLDS and 'not below the paper' in r.why
    assert r.seeds == 1  # a +1.8 gain is decided by one seed per row
    mask = one(results, 'gain_1x_mssa_adp', 'mask_val')
    assert mask.verdict == verdicts.HOLDS and mask.estimate.value == pytest.approx(2.5)


def test_a_second_seed_of_one_row_keeps_the_cited_spread():
    runs = dict(seeds_of('cmrcn_r50_mssa_adp_1x', [43.1, 41.0], [38.4, 38.3]))  # 1 df, and a wild one
    runs.update(seeds_of('cmrcn_r50_sumup_1x', [41.2], [35.9]))
    results, spread, _, _ = evaluate(runs)
    assert spread['box_val'].df is None and 'own seeds give 1 degree of freedom' in spread['box_val'].describe()
    r = one(results, 'gain_1x_mssa_adp')
    half = Z975 * SD * math.sqrt(1 / 2.0 + 1)
    assert r.estimate.interval() == pytest.approx((0.85 - half, 0.85 + half))


def test_no_gain_does_not_hold_and_the_control_says_the_neck_adds_nothing():
    runs = dict(seeds_of('cmrcn_r50_mssa_adp_1x', [41.2, 41.3, 41.1]))
    runs.update(seeds_of('cmrcn_r50_sumup_1x', [41.25, 41.15, 41.2]))
    runs.update(seeds_of('cmrcn_r50_sumup_adamw_1x', [41.2, 41.3, 41.15]))
    results, spread, _, _ = evaluate(runs)
    assert spread['box_val'].df == 6  # own seeds: 3 lines x (3 - 1)
    gain = one(results, 'gain_1x_mssa_adp')
    assert gain.verdict == verdicts.FAILS and gain.why.startswith('no gain')
    neck = one(results, 'neck_1x_mssa_adp')
    assert neck.verdict == verdicts.FAILS and 'TOST' in neck.why
    assert "the gain over Sum-Up (SGD) is" in neck.why and "the neck's part" in neck.why
    recipe = one(results, 'recipe_1x')
    assert recipe.verdict == verdicts.FAILS and 'TOST' in recipe.why


def test_a_loss_does_not_hold():
    runs = dict(seeds_of('cmrcn_r50_msca_adp_3x', [43.0]))
    runs.update(seeds_of('cmrcn_r50_sumup_3x', [44.3]))
    results, _, _, _ = evaluate(runs)
    r = one(results, 'gain_3x_msca_adp')
    assert r.verdict == verdicts.FAILS and r.why.startswith('a loss')


def test_a_gain_smaller_than_the_spread_is_inconclusive_and_says_so():
    runs = dict(seeds_of('cmrcn_r50_mssa_adp_3x', [44.6]))
    runs.update(seeds_of('cmrcn_r50_sumup_3x', [44.3]))
    results, _, _, _ = evaluate(runs)
    r = one(results, 'gain_3x_mssa_adp')
    low, high = r.estimate.interval()
    assert low < 0 < high and high > r.paper - verdicts.MARGIN_DIFFERENCE  # holds 0 and the paper's gain
    assert r.verdict == verdicts.INCONCLUSIVE and 'too few seeds' in r.why


def test_one_seed_on_synthetic_data_is_inconclusive_for_want_of_a_spread():
    runs = dict(seeds_of('cmrcn_r50_mssa_adp_1x', [30.0], [28.0], scale='smoke'))
    runs.update(seeds_of('cmrcn_r50_sumup_1x', [20.0], [18.0], scale='smoke'))
    results, spread, _, _ = evaluate(runs, 'smoke')
    assert spread == {'box_val': None, 'mask_val': None}
    r = one(results, 'gain_1x_mssa_adp')
    assert r.verdict == verdicts.INCONCLUSIVE and 'one seed per row' in r.why and 'seeds: [0, 1]' in r.why
    assert r.seeds is None


def test_a_missing_row_is_inconclusive_and_claims_without_runs_are_not_run():
    runs = dict(seeds_of('cmrcn_r50_mssa_adp_1x', [43.0], [38.2]))
    results, _, _, _ = evaluate(runs)
    r = one(results, 'gain_1x_mssa_adp')
    assert r.verdict == verdicts.INCONCLUSIVE and r.why == 'a row not run: cmrcn_r50_sumup_1x'
    assert one(results, 'gain_3x_msca_adp').verdict == verdicts.NOT_RUN
    assert one(results, 'gain_3x_msca_adp').seeds == 1  # the price of a decision is known before any run
    backbone = one(results, 'backbone_r101')
    assert backbone.verdict == verdicts.INCONCLUSIVE and 'no comparable row' in backbone.why


def test_a_row_without_the_metric_is_inconclusive():
    runs = dict(seeds_of('cmrcn_r50_mssa_adp_1x', [43.0], [38.2]))
    runs.update(seeds_of('cmrcn_r50_sumup_1x', [41.0]))  # box only
    results, _, _, _ = evaluate(runs)
    r = one(results, 'gain_1x_mssa_adp', 'mask_val')
    assert r.verdict == verdicts.INCONCLUSIVE and r.why == 'no mask AP val for cmrcn_r50_sumup_1x'


def test_reported_numbers_by_equivalence_test():
    near = [paper('cmrcn_r50_sumup_1x') + d for d in (-0.1, 0.05, 0.0, 0.1, -0.05)]
    far = [paper('cmrcn_r50_msca_1x') + d for d in (-1.0, -1.1, -0.9, -1.05, -0.95)]
    runs = dict(seeds_of('cmrcn_r50_sumup_1x', near))
    runs.update(seeds_of('cmrcn_r50_msca_1x', far))
    runs.update(seeds_of('cmrcn_r50_mssa_1x', [paper('cmrcn_r50_mssa_1x') + 0.3]))
    results, spread, _, _ = evaluate(runs)
    matches = {r.rows[0]: r for key, r in results.items() if key[0] == 'reported' and key[1] == 'box_val'}
    assert len(matches) == len([r for r in ZOO if not r.control])  # every row with a paper number
    assert matches['cmrcn_r50_sumup_1x'].verdict == verdicts.HOLDS
    assert matches['cmrcn_r50_msca_1x'].verdict == verdicts.FAILS
    # 0.3 above the paper with one seed: its 90% interval crosses the margin
    assert matches['cmrcn_r50_mssa_1x'].verdict == verdicts.INCONCLUSIVE
    assert matches['ddetr_r50_1x'].verdict == verdicts.NOT_RUN
    assert not [r for key, r in results.items() if key[0] == 'reported' and r.rows == ['ddetr_r50_1x']
                and key[1] == 'mask_val']  # the paper gives DETR no mask AP


def test_nearly_matches_is_non_inferiority_with_a_margin():
    runs = dict(seeds_of('cmrcn_r50_msca_adp_1x', [43.2, 43.3, 43.1, 43.25]))
    runs.update(seeds_of('cmrcn_r50_msca_1x', [43.3, 43.2, 43.35, 43.3]))
    runs.update(seeds_of('cmrcn_r50_mssa_adp_1x', [42.0, 42.1, 41.9, 42.05]))
    runs.update(seeds_of('cmrcn_r50_mssa_1x', [43.3, 43.25, 43.4, 43.3]))
    results, _, _, _ = evaluate(runs)
    assert one(results, 'adaptive_msca').verdict == verdicts.HOLDS
    assert one(results, 'adaptive_mssa').verdict == verdicts.FAILS


def test_seed_counts_follow_the_normal_formula():
    reference = verdicts.reference_spread()
    z = NormalDist().inv_cdf
    for distance, lines in ((0.3, 2), (1.8, 2), (0.39, 1), (0.1, 2)):
        expected = max(1, math.ceil(lines * ((z(0.975) + z(0.8)) * SD / distance) ** 2))
        assert verdicts.seeds(reference, distance, lines) == min(expected, verdicts.MAX_SEEDS + 1)
    assert verdicts.seeds(reference, 0.3) == 7  # a 0.3 AP difference between two necks: several seeds
    assert verdicts.seeds(reference, -0.1) is None  # a boundary the expected effect is already past


def _smoke_runs(seeds):
    """Every row run ``seeds`` times on synthetic data: the AFA rows 10 AP above the Sum-Up ones."""
    runs = {}
    for row in ZOO:
        base = 20.0 if row['module'].startswith('Sum-Up') else 30.0
        for seed in range(seeds):
            run_id = row.id + ('-seed%d' % seed if seed else '')
            mask = base - 2 + 0.2 * seed if row['model'] == 'CMRCN' else None
            runs[run_id] = metrics(run_id, base + 0.3 * seed, mask, scale='smoke')
    return runs


@pytest.mark.parametrize('scale', layout.SYNTHETIC_SCALES)
def test_the_smoke_page_is_about_synthetic_data_only(scale, tmp_path):
    lines = lines_of(build_frame(ZOO, _smoke_runs(2), {}), ZOO)
    sections, spread, results = claims.evaluate(lines, ZOO, scale)
    page = claims.render(sections, spread, results, scale, ZOO)
    assert '%s scale: synthetic data' % scale in page.splitlines()[0]
    assert 'these verdicts say nothing about the paper' in page
    assert not [r for r in results if r.claim.kind in claims.PAPER_SCALE_ONLY]
    assert "reproduces the paper's number" not in page and sections['reported'] not in page
    gain = [r for r in results if r.claim.id == 'gain_1x_mssa_adp' and r.metric == 'box_val'][0]
    assert gain.verdict == verdicts.HOLDS and '**holds (synthetic data)**' in page
    assert 'paper' not in gain.why  # the sign alone: no word about the paper's gain
    record = claims.as_record(spread, results, scale)
    assert record['synthetic_data'] is True and record['margins'] is None
    assert 'nothing about the paper' in record['about']
    figure = str(tmp_path / layout.TABLE_FILES['claims_figure'])
    claims_figure.draw(results, scale, figure)
    assert os.path.getsize(figure) > 10000


def test_tables_write_the_claims_page_json_and_figure(tmp_path):
    runs = tmp_path / 'runs'
    for run_id, payload in dict(seeds_of('cmrcn_r50_mssa_adp_1x', [43.1, 43.0, 43.2], [38.4, 38.2, 38.3]),
                                **seeds_of('cmrcn_r50_sumup_1x', [41.2, 41.4, 41.3], [35.9, 36.0, 35.8])).items():
        write_run(runs, metrics_file(run_id, payload['bbox']['AP'], payload['segm']['AP']))
    out = tmp_path / 'results' / 'paper'
    assert main(['tables', '--scale', 'paper', '--runs', str(runs), '--out', str(out)]) == 0
    page = (out / layout.TABLE_FILES['claims']).read_text()
    assert "# The paper's claims, checked (paper scale)" in page
    assert 'Margins, fixed in advance' in page and 'open-mmlab/mmdetection#3624' in page  # the margins' source
    assert "pooled from this reproduction's own seeds" in page  # three seeds of two rows: 4 df, its own spread
    line = [ln for ln in page.splitlines() if ln.startswith('| MSSA-Adp beats Sum-Up (CMRCN R-50 1x) | box')][0]
    assert '| +1.8 | +1.80 [' in line and '(seeds 3 vs 3)' in line and '**holds**' in line
    record = json.loads((out / layout.TABLE_FILES['claims_json']).read_text())
    found = [c for c in record['claims'] if c['id'] == 'gain_1x_mssa_adp' and c['metric'] == 'box_val'][0]
    assert found['verdict'] == 'holds' and found['seeds'] == {'cmrcn_r50_mssa_adp_1x': 3, 'cmrcn_r50_sumup_1x': 3}
    assert record['spread']['box_val']['df'] == 4
    assert os.path.getsize(str(out / layout.TABLE_FILES['claims_figure'])) > 10000
    planned = claim_seeds.format_lines([{'run_id': 'cmrcn_r50_mssa_1x'}], 'paper', results_root=str(out.parent))
    assert "pooled from this reproduction's own seeds" in planned  # `afa plan` prices with the spread seen


def test_plan_prints_the_seeds_and_their_gpu_hours(tmp_path):
    text = claim_seeds.format_lines([{'run_id': 'cmrcn_r50_mssa_adp_1x-seed2', 'gpu_hours': 100.0}], 'paper',
                                    results_root=str(tmp_path))
    line = [ln for ln in text.splitlines() if 'gain_1x_mssa_adp' in ln][0]
    assert 'box 1, mask 1 seed(s) per row = 100.0 GPU-h' in line and 'also needs cmrcn_r50_sumup_1x' in line
    adaptive = [ln for ln in text.splitlines() if 'adaptive_mssa' in ln][0]
    assert 'box 8' in adaptive and '= 800.0 GPU-h' in adaptive  # a 0.3 AP gap against a 0.55 margin
    assert 'open-mmlab/mmdetection#3624' in text  # nothing run here yet: the cited spread
    assert 'adaptive_msca' not in text and 'gain_3x' not in text  # only the claims the planned row serves
    unprobed = claim_seeds.format_lines([{'run_id': 'cmrcn_r50_mssa_adp_1x'}], 'paper', results_root=str(tmp_path))
    assert 'GPU-h' not in unprobed and 'gain_1x_mssa_adp' in unprobed


def test_a_claim_naming_an_unknown_row_is_one_clear_error(tmp_path):
    path = tmp_path / 'claims.yaml'
    path.write_text('sections: {gains: "G"}\nclaims:\n  - {id: x, section: gains, kind: gain, metrics: [box_val], '
                    'text: t, rows: [cmrcn_r50_msa_adp_1x, cmrcn_r50_sumup_1x]}\n')
    with pytest.raises(AfaError) as e:
        claims.load(ZOO, str(path))
    assert str(path) in str(e.value) and 'claim 1 (x)' in str(e.value) and 'cmrcn_r50_mssa_adp_1x' in str(e.value)
