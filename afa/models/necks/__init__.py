"""AFA necks, registered in mmdet's NECKS registry on import."""
from afa.models.necks.afa_neck import AFANeck
from afa.models.necks.paper_necks import (MSCA, MSSA, PAPER_NECKS, MSCAAdp, MSCAAdpMS, MSSAAdp, MSSAAdpMS,  # noqa: F401
                                          PaperNeck)

__all__ = ['AFANeck', 'PaperNeck', 'PAPER_NECKS'] + list(PAPER_NECKS)
