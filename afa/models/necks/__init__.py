"""AFA necks, registered in mmdet's NECKS registry on import."""
from afa.models.necks.afa_neck import AFANeck
from afa.models.necks.paper_necks import MSCA, MSSA, MSCAAdp, MSCAAdpMS, MSSAAdp, MSSAAdpMS, PaperNeck

__all__ = ['AFANeck', 'PaperNeck', 'MSSA', 'MSSAAdp', 'MSSAAdpMS', 'MSCA', 'MSCAAdp', 'MSCAAdpMS']
