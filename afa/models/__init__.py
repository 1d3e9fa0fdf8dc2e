"""Models of the AFA reproduction: importing this package registers the necks in mmdet's NECKS registry."""
from afa.models.necks import AFANeck, MSCA, MSCAAdp, MSCAAdpMS, MSSA, MSSAAdp, MSSAAdpMS  # noqa: F401
