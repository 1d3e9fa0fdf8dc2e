"""The six neck names of the paper's configs: ``AFANeck`` with the fusion and the key/value pooling fixed.

    name        fusion            key/value pooling
    MSSA        self-attention    two average pools (stride-64 and stride-32 grids of the image)
    MSSAAdp     self-attention    adaptive 7x7
    MSSAAdpMS   self-attention    adaptive 7x7 + 14x14
    MSCA        cross-attention   two average pools
    MSCAAdp     cross-attention   adaptive 7x7
    MSCAAdpMS   cross-attention   adaptive 7x7 + 14x14
"""
from mmdet.models.builder import NECKS

from afa.models.necks.afa_neck import AFANeck


class PaperNeck(AFANeck):
    """An ``AFANeck`` whose fusion and pooling are fixed by its class (``FUSION``, ``POOLING``)."""

    FUSION = None
    POOLING = None

    def __init__(self, in_channels, out_channels, num_outs, **kwargs):
        for key in ('fusion', 'pooling'):
            if key in kwargs:
                raise ValueError('%s fixes %s; use type="AFANeck" to choose it' % (type(self).__name__, key))
        super(PaperNeck, self).__init__(in_channels, out_channels, num_outs, fusion=self.FUSION,
                                        pooling=self.POOLING, **kwargs)


@NECKS.register_module()
class MSSA(PaperNeck):
    """Multi-scale self-attention neck, keys/values from two average pools."""
    FUSION, POOLING = 'self', 'ms'


@NECKS.register_module()
class MSSAAdp(PaperNeck):
    """MSSA with 7x7 adaptive-pooled keys/values."""
    FUSION, POOLING = 'self', 'adp'


@NECKS.register_module()
class MSSAAdpMS(PaperNeck):
    """MSSA with 7x7 + 14x14 adaptive-pooled keys/values."""
    FUSION, POOLING = 'self', 'adpms'


@NECKS.register_module()
class MSCA(PaperNeck):
    """Multi-scale cross-attention neck, keys/values from two average pools."""
    FUSION, POOLING = 'cross', 'ms'


@NECKS.register_module()
class MSCAAdp(PaperNeck):
    """MSCA with 7x7 adaptive-pooled keys/values."""
    FUSION, POOLING = 'cross', 'adp'


@NECKS.register_module()
class MSCAAdpMS(PaperNeck):
    """MSCA with 7x7 + 14x14 adaptive-pooled keys/values."""
    FUSION, POOLING = 'cross', 'adpms'


# The paper's six necks, in the paper's order: the one list that tests, benchmarks and the release mapping use.
PAPER_NECKS = tuple(cls.__name__ for cls in PaperNeck.__subclasses__())
