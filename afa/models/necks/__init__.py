"""AFA necks, registered in mmdet's NECKS registry on import."""
from .afa_neck import AFANeck, MSCA, MSCAAdp, MSCAAdpMS, MSSA, MSSAAdp, MSSAAdpMS

__all__ = ['AFANeck', 'MSSA', 'MSSAAdp', 'MSSAAdpMS', 'MSCA', 'MSCAAdp', 'MSCAAdpMS']
