"""Row strips: how the AFA block splits a token map at inference so that no full-size temporary is kept.

Every step of the block but the key/value pooling is local in space: the attention of a query row reads only
the pooled tokens, the feed-forward part reads its row and, through the depthwise 3x3 convolution, one row
above and one below. So at inference the block runs a strip of rows at a time, and the temporaries of a step
(the 2C-wide hidden map of the FFN, the attention map on the explicit path) are the size of a strip, not of
the level. The default, 16,384 tokens (49 rows of P2 at 800x1344, a quarter of the level), is a trade: on the
shared 2-thread CPU every operator call waits for a busy core, so smaller strips (more calls) cost time
there (4,096 tokens: about 1.4x the block's CPU time, for 80 MiB less peak memory).
"""

DEFAULT_STRIP_TOKENS = 16384


def row_strips(height, width, tokens):
    """Split ``height`` rows of ``width`` tokens into (first, stop) row ranges of about ``tokens`` tokens
    each (at least one row). ``tokens`` 0 or None gives one strip: the whole map."""
    if not tokens:
        return [(0, height)]
    rows = max(1, int(tokens) // max(width, 1))
    count = -(-height // rows)
    rows = -(-height // count)  # as even as the count allows: no thin last strip
    return [(first, min(first + rows, height)) for first in range(0, height, rows)]
