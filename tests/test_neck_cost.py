"""The analytical cost formula reproduces the spec's figures (800x1344 image, 256 channels)."""
import pytest

from afa.neck_cost import fusion_macs, level_sizes


def test_level_sizes_of_the_paper_resolution():
    assert level_sizes(800, 1344) == [(200, 336), (100, 168), (50, 84), (25, 42)]


@pytest.mark.parametrize('neck, giga', [
    ('FPN', 52.6), ('MSSA', 95.7), ('MSCA', 95.7), ('MSSAAdp', 37.8), ('MSCAAdp', 37.8), ('MSSAAdpMS', 46.8),
])
def test_fusion_macs_match_the_spec(neck, giga):
    assert fusion_macs(neck, 800, 1344) / 1e9 == pytest.approx(giga, abs=0.05)
