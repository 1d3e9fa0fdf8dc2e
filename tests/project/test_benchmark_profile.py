"""benchmarks/neck_profile.py runs and splits a neck's time into matrix products and other passes (at a tiny
size: the figures themselves are for a quiet machine or a GPU, never asserted)."""
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_neck_profile_prints_a_row_per_neck_with_its_split():
    out = subprocess.run([sys.executable, os.path.join(REPO, 'benchmarks', 'neck_profile.py'), '--necks',
                          'FPN,MSSAAdp', '--size', '64x96', '--device', 'cpu'], capture_output=True, text=True,
                         cwd=REPO, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [line.split('|')[1:-1] for line in out.stdout.splitlines() if line.startswith('| ') and '---' not in line]
    names = [cells[0].strip() for cells in rows[1:]]
    assert names == ['FPN', 'MSSAAdp'], out.stdout
    for cells in rows[1:]:
        total, matrix, other = float(cells[1]), float(cells[2].split()[0]), float(cells[5].split()[0])
        assert total > 0 and abs(matrix + other - total) <= 0.01 * total + 1, cells
    assert 'convolution' in out.stdout  # the FPN's time is its convolutions
