"""The verdict rules of the claims page: an interval on a reproduced effect, tested against zero, against the
paper's figure and against a margin; and the seeds per row that decide a claim at 95%.

Every interval is mean difference +- q * sd * sqrt(1/n_a + 1/n_b) (or sd / sqrt(n) against a paper number), with
one run-to-run standard deviation ``sd`` per metric (a Spread): the reproduction's own seeds pooled over every
line that has two or more (Student t quantiles, their degrees of freedom), else the cited figure below (normal
quantiles: a known sd). One pooled sd, not each pair's two (the tables' Welch interval): a single-seed row can then
be decided at all, and a second seed does not swap a known sd for a two-value estimate with one degree of freedom.
The assumption it rests on: every row varies about as much from seed to seed. The rules, as the page states them,
are RULES.
"""
import collections
import math

# The reproduction's own spread replaces the cited one from 4 degrees of freedom on (say two seeds of four rows):
# with fewer, an sd estimate is so loose (1 df: its 95% interval spans a factor of 30) that a second seed of one row
# would turn every verdict of the page inconclusive; from 4 the t quantile (2.78) costs at most 40% of width.
MIN_OWN_DF = 4
LEVEL = 0.95   # two-sided intervals on gains; the TOST tests are at 5% each side (a 90% interval)
POWER = 0.80   # the chance a claim is decided when the effect is as the paper says (the seeds needed)
MAX_SEEDS = 50

# The run-to-run standard deviation of one training run's COCO AP (box or mask, in points) of Mask/Cascade R-CNN
# type detectors, used until the reproduction has seeds of its own. Maintainers of mmdetection (which this
# reproduction trains with) put the gap between two runs of one config on COCO at "usually less than 0.2 mAP"
# (open-mmlab/mmdetection#3624, xvjiarui, 2020-08-26) and "less than 0.3 mAP" (open-mmlab/mmdetection#3496,
# ZwwWayne, 2020-08-21); Mask2Former's author finds +-0.2 AP between re-trainings of its COCO instance model
# reasonable (facebookresearch/Mask2Former#46, bowenc0221, 2022-02-16); the AFA release itself warns that its
# re-trained models differ from the paper by about 0.1 (shared/paper/original-README.md, note [1]). Reading
# "usually less than g" as one standard deviation of the gap between two runs (sd * sqrt(2) = g) gives sd = 0.14
# to 0.21; 0.2 is the upper reading, which widens intervals and raises seed counts rather than the opposite.
REFERENCE_SD = 0.2
REFERENCE_CITATION = (
    'run-to-run sd %.2f AP, the upper reading of mmdetection maintainers\' "usually less than 0.2 mAP" '
    '(open-mmlab/mmdetection#3624) and "less than 0.3 mAP" (open-mmlab/mmdetection#3496) between two runs of '
    'one config on COCO, and Mask2Former\'s "+/- 0.2 AP" (facebookresearch/Mask2Former#46); the AFA release '
    'notes ~0.1 between its re-trained models and the paper' % REFERENCE_SD)

RULES = (
    '**gain** (the paper claims +g): the 95% interval above 0 and not wholly below g - margin: *holds*; wholly '
    'below g - margin: *does not hold* (smaller than the paper\'s gain, or a loss); otherwise *inconclusive*.',
    '**improves** (no paper figure: the control rows): the 95% interval above 0: *holds*; below 0, or the 90% '
    'interval inside +-margin (equivalent to no gain: two one-sided tests, TOST, at 5% each): *does not hold*; '
    'otherwise *inconclusive*.',
    '**matches** (a reproduced AP against the paper\'s): equivalence test (TOST, 5% each side): the 90% interval '
    'of reproduced - paper inside +-margin: *holds*; the 95% interval wholly outside: *does not hold*; otherwise '
    '*inconclusive*.',
    '**nearly matches** (A - B, one-sided non-inferiority at 5%): the 90% interval\'s low end above -margin: '
    '*holds*; its high end below -margin: *does not hold*; otherwise *inconclusive*.',
    '**not run**: none of the claim\'s rows has a result; a claim with some of its rows run, a row without the '
    'metric, or no known spread is *inconclusive* and says so.')

HOLDS, FAILS, INCONCLUSIVE, NOT_RUN = 'holds', 'does not hold', 'inconclusive', 'not run'
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE, NOT_RUN)


def _z(p):
    from scipy.stats import norm
    return float(norm.ppf(p))


# The margins: what the paper's own single run may be off from its model's expected AP, 95% of the time. A paper
# figure is one training run (sd REFERENCE_SD); a paper gain is the difference of two (sd * sqrt 2). A
# reproduction cannot be asked to come closer to one run of the paper than that run is to its own expectation.
# Fixed from the cited sd (never from the reproduction's seeds, so that no result moves its own goal posts).
MARGIN_ROW = round(_z(0.975) * REFERENCE_SD, 2)                   # 0.39 AP
MARGIN_DIFFERENCE = round(_z(0.975) * math.sqrt(2) * REFERENCE_SD, 2)  # 0.55 AP


class Spread(collections.namedtuple('Spread', 'sd df source')):
    """A run-to-run standard deviation: ``df`` None for the cited figure (a known sd: normal quantiles), else
    the degrees of freedom of the reproduction's pooled estimate (Student t quantiles)."""

    def quantile(self, p):
        if self.df is None:
            return _z(p)
        from scipy.stats import t
        return float(t.ppf(p, self.df))

    def describe(self):
        if self.df is None:
            return 'sd %.2f AP (%s: %s)' % (self.sd, self.source, REFERENCE_CITATION)
        return 'sd %.2f AP pooled from this reproduction\'s own seeds (%s, %d degrees of freedom)' % (
            self.sd, self.source, self.df)


def pooled_spread(summaries):
    """The Spread pooled over every stats.Summary with two or more values (sum of squared deviations over the
    sum of n - 1); None when none has two."""
    repeated = [s for s in summaries if s.n > 1]
    if not repeated:
        return None
    df = sum(s.n - 1 for s in repeated)
    sd = math.sqrt(sum((s.n - 1) * s.std ** 2 for s in repeated) / df)
    return Spread(sd, df, '%d line%s with repeated seeds' % (len(repeated), 's' if len(repeated) > 1 else ''))


def reference_spread(own=None):
    """The cited Spread; ``own``: the reproduction's, too loose to replace it (fewer than MIN_OWN_DF)."""
    if own is None:
        return Spread(REFERENCE_SD, None, 'cited')
    return Spread(REFERENCE_SD, None, 'cited; this reproduction\'s own seeds give %d degree%s of freedom, fewer '
                                      'than the %d that replace it' % (own.df, 's' if own.df > 1 else '', MIN_OWN_DF))


class Estimate(collections.namedtuple('Estimate', 'value se spread n')):
    """A reproduced effect (a difference of two lines' means, or a line's mean minus the paper's number) with its
    standard error under ``spread`` and the seeds behind it (a tuple, one count per line)."""

    def interval(self, level=LEVEL):
        half = self.spread.quantile(0.5 + level / 2.0) * self.se
        return self.value - half, self.value + half


def difference(a, b, spread):
    """mean(a) - mean(b) of two stats.Summary objects."""
    return Estimate(a.mean - b.mean, spread.sd * math.sqrt(1.0 / a.n + 1.0 / b.n), spread, (a.n, b.n))


def offset(a, reference, spread):
    """mean(a) - ``reference`` (the paper's number, a constant)."""
    return Estimate(a.mean - reference, spread.sd / math.sqrt(a.n), spread, (a.n,))


def _pm(value):
    return '%+.2f' % value


def _ci(low, high, level):
    return '%d%% interval [%s, %s]' % (round(level * 100), _pm(low), _pm(high))


def gain(est, paper, margin=MARGIN_DIFFERENCE):
    """(verdict, why) of a claimed gain ``paper`` (the paper's figure, > 0)."""
    low, high = est.interval()
    ci = _ci(low, high, LEVEL)
    floor = paper - margin
    if high < floor:
        what = 'a loss' if high < 0 else 'no gain' if low <= 0 else 'a gain'
        return FAILS, '%s: %s lies below the paper\'s %s less the margin %.2f (%s)' % (
            what, ci, _pm(paper), margin, _pm(floor))
    if low > 0:
        size = ('larger than the paper\'s %s' % _pm(paper) if low > paper + margin
                else 'not below the paper\'s %s by more than the margin %.2f' % (_pm(paper), margin))
        return HOLDS, 'a gain: %s is above 0, %s' % (ci, size)
    return INCONCLUSIVE, '%s holds both no gain (0) and the paper\'s %s: too few seeds' % (ci, _pm(paper))


def improves(est, margin=MARGIN_DIFFERENCE):
    """(verdict, why) of 'A improves on B' with no paper figure; ``margin`` None: the sign alone (smoke)."""
    low, high = est.interval()
    ci = _ci(low, high, LEVEL)
    if low > 0:
        return HOLDS, 'a gain: %s is above 0' % ci
    if high < 0:
        return FAILS, 'a loss: %s is below 0' % ci
    if margin is not None:
        low90, high90 = est.interval(1 - 2 * (1 - LEVEL))
        if -margin < low90 and high90 < margin:
            return FAILS, 'no gain: the %s lies within +-%.2f (equivalent to none, TOST)' % (
                _ci(low90, high90, 1 - 2 * (1 - LEVEL)), margin)
    return INCONCLUSIVE, '%s holds 0: too few seeds' % ci


def matches(est, margin=MARGIN_ROW):
    """(verdict, why) of 'the reproduced number matches the paper's' (``est``: reproduced - paper), by TOST."""
    level90 = 1 - 2 * (1 - LEVEL)
    low90, high90 = est.interval(level90)
    if -margin < low90 and high90 < margin:
        return HOLDS, 'the %s of reproduced - paper lies within +-%.2f (TOST)' % (_ci(low90, high90, level90),
                                                                                  margin)
    low, high = est.interval()
    if low > margin or high < -margin:
        return FAILS, 'the %s of reproduced - paper lies outside +-%.2f' % (_ci(low, high, LEVEL), margin)
    return INCONCLUSIVE, 'the %s of reproduced - paper crosses +-%.2f: too few seeds' % (
        _ci(low90, high90, level90), margin)


def not_worse(est, margin=MARGIN_DIFFERENCE):
    """(verdict, why) of 'A nearly matches B' (``est``: A - B): non-inferiority, one-sided at 5%."""
    level90 = 1 - 2 * (1 - LEVEL)
    low90, high90 = est.interval(level90)
    ci = _ci(low90, high90, level90)
    if low90 > -margin:
        return HOLDS, 'the %s lies above -%.2f: at most the margin worse' % (ci, margin)
    if high90 < -margin:
        return FAILS, 'the %s lies below -%.2f: worse by more than the margin' % (ci, margin)
    return INCONCLUSIVE, 'the %s crosses -%.2f: too few seeds' % (ci, margin)


# ---------------------------------------------------------------------------------------------- seeds needed

def seeds(spread, distance, lines=2, confidence=LEVEL, power=POWER, one_sided=False):
    """The seeds per line (every line of the comparison run as often) for an interval at ``confidence`` to clear
    a boundary ``distance`` AP away from the expected effect with probability ``power``: the smallest n with
    (q_conf + q_power) * sd * sqrt(lines / n) <= distance (``lines``: 2 for a difference of two lines, 1 for a
    line against the paper's number). None when no number of seeds can (distance <= 0); MAX_SEEDS + 1 past it."""
    if spread is None or distance is None or distance <= 0:
        return None
    q = spread.quantile(confidence if one_sided else 0.5 + confidence / 2.0) + spread.quantile(power)
    n = int(math.ceil(lines * (q * spread.sd / distance) ** 2 - 1e-9))
    return min(max(1, n), MAX_SEEDS + 1)


def seeds_text(n):
    if n is None:
        return '-'
    return '>%d' % MAX_SEEDS if n > MAX_SEEDS else str(n)
