"""Training throughput in images per second, logged like a loss: into the text and JSON logs, TensorBoard and
`afa status`, averaged over each log interval. mmcv logs seconds per iteration, which hides the batch size and
the number of GPUs; images per second compares across both."""
import time

from mmcv.runner import HOOKS, Hook, get_dist_info

THROUGHPUT_KEY = 'img_per_s'


@HOOKS.register_module()
class ThroughputHook(Hook):

    def before_train_epoch(self, runner):
        self._last = time.time()

    def after_train_iter(self, runner):
        now = time.time()
        elapsed, self._last = now - self._last, now
        batch = getattr(runner.data_loader, 'batch_size', None)
        if batch and elapsed > 0:
            runner.log_buffer.update({THROUGHPUT_KEY: batch * get_dist_info()[1] / elapsed})
