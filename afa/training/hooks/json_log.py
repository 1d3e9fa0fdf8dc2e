"""mmcv's text logger with the JSON log's numbers kept to 6 significant digits. mmcv (1.3.11 and 1.7.x alike)
rounds every float of RUN/*.log.json to 5 decimals, so a learning rate under 5e-6 was written as 0.0: AdamW's
warm-up (1e-4 x 0.001) read 0.0 in the log, in `afa status`, TensorBoard's text twin and the curves. The text
log (RUN/*.log) is mmcv's own and unchanged."""
from mmcv.runner import HOOKS, TextLoggerHook

SIGNIFICANT_DIGITS = 6


@HOOKS.register_module()
class SignificantTextLoggerHook(TextLoggerHook):

    def _round_float(self, items):
        if isinstance(items, list):
            return [self._round_float(item) for item in items]
        if isinstance(items, float):
            return float('%.*g' % (SIGNIFICANT_DIGITS, items))
        return items
