"""What every figure the pipeline draws must satisfy: each panel draws data or says in one line why it has none."""
from matplotlib.collections import PathCollection


def has_data(ax):
    return (any(len(line.get_xdata()) for line in ax.lines)
            or any(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection)))


def assert_no_empty_panel(fig):
    for ax in fig.axes:
        said = [t.get_text() for t in ax.texts if t.get_text() and '\n' not in t.get_text()]
        assert has_data(ax) or len(said) == 1, 'an empty panel: %r' % (ax.get_title() or ax)
