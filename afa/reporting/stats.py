"""Seed statistics for the tables: mean +- std over repeats, and the interval on a gain between two rows.

The interval on a gain (AP of row A minus AP of row B, each repeated over seeds) is Welch's t interval on the
difference of the two means: no assumption that both rows vary as much from seed to seed, Welch-Satterthwaite
degrees of freedom. With a single seed on either side there is no spread to estimate: no interval.
"""
import math

LEVEL = 0.95
METHOD = ('95% interval: Welch t interval on the difference of the per-seed means (unequal variances, '
          'Welch-Satterthwaite degrees of freedom); none when either row has a single seed (n=1)')


class Summary(object):
    """Mean, sample standard deviation (None for one value) and count of the per-seed values."""

    def __init__(self, values):
        self.values = [float(v) for v in values if v is not None and v == v]
        self.n = len(self.values)
        self.mean = sum(self.values) / self.n if self.n else None
        self.std = (math.sqrt(sum((v - self.mean) ** 2 for v in self.values) / (self.n - 1))
                    if self.n > 1 else None)

    def text(self, digits=1):
        """'41.2' for one value, '41.2 +- 0.3 (3)' for several, None for none."""
        if not self.n:
            return None
        if self.n == 1:
            return '%.*f' % (digits, self.mean)
        return '%.*f \u00b1 %.*f (%d)' % (digits, self.mean, digits, self.std, self.n)


def welch_interval(a, b, level=LEVEL):
    """(low, high) of the ``level`` interval on mean(a) - mean(b) (two Summary objects); None when n < 2."""
    if a.n < 2 or b.n < 2:
        return None
    va, vb = a.std ** 2 / a.n, b.std ** 2 / b.n
    diff = a.mean - b.mean
    if va + vb == 0:
        return (diff, diff)
    df = (va + vb) ** 2 / (va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1))
    from scipy.stats import t
    half = t.ppf(0.5 + level / 2.0, df) * math.sqrt(va + vb)
    return (diff - half, diff + half)
