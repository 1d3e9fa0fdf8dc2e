"""The effective batch of a row (16 images per optimizer step in the paper: 8 GPUs x 2 images) split over the
devices at hand: nodes x devices per node x images per device x accumulation steps == the effective batch,
exactly. Gradient accumulation keeps the update identical where linear lr scaling would only approximate it (and
is not advised for AdamW, the optimizer of every AFA row).

Standard library only: `afa plan`, the workflow and the CLI use it before torch is imported.
"""
import collections

from afa.utils.errors import AfaError


class BatchPlan(collections.namedtuple('BatchPlan', 'nodes devices imgs_per_device accumulation')):
    """One way to make the effective batch: ``devices`` per node (GPUs, or processes on CPU)."""

    @property
    def processes(self):
        return self.nodes * self.devices

    @property
    def effective_batch(self):
        return self.processes * self.imgs_per_device * self.accumulation

    def describe(self, device_word='GPU'):
        """'2 nodes x 8 GPUs x 1 image', '1 GPU x 2 images x 8 accumulation steps'."""
        text = '%s%d %s x %d image%s' % (
            '%d nodes x ' % self.nodes if self.nodes > 1 else '', self.devices, plural(device_word, self.devices),
            self.imgs_per_device, 's' if self.imgs_per_device > 1 else '')
        if self.accumulation > 1:
            text += ' x %d accumulation steps' % self.accumulation
        return text

    def as_record(self, device='cuda'):
        """The fields written to run.json, train_done.json, the metrics and summary.csv, in the order of
        afa/runs/folder.py's BATCH_RECORD_FIELDS (their owner)."""
        return collections.OrderedDict([
            ('nodes', self.nodes), ('gpus_per_node', self.devices if device == 'cuda' else 0),
            ('processes', self.processes), ('imgs_per_gpu', self.imgs_per_device),
            ('accumulation', self.accumulation), ('effective_batch', self.effective_batch)])


def plural(word, n):
    return word if n == 1 else word + ('es' if word.endswith('s') else 's')


# The option that sets the devices per node: GPUs, or on CPU the processes standing in for them.
DEVICE_OPTION = {'GPU': '--gpus', 'process': '--procs'}


def device_option(device_word):
    return DEVICE_OPTION.get(device_word, '--%ss' % device_word.lower())


def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def split(batch, devices, nodes=1, max_imgs_per_device=None, device_word='GPU'):
    """The BatchPlan that makes ``batch`` on ``nodes`` x ``devices``: as many images per device as the cap
    allows (fewest accumulation steps, the fastest), the rest as accumulation. AfaError naming the nearest layouts
    that can when none does."""
    for option, value in (('--batch', batch), (device_option(device_word), devices), ('--nodes', nodes)):
        if int(value) < 1:
            raise AfaError('%s must be 1 or more, got %s' % (option, value))
    if max_imgs_per_device is not None and max_imgs_per_device < 1:
        raise AfaError('--max-imgs-per-gpu must be 1 or more, got %s' % max_imgs_per_device)
    processes = nodes * devices
    if batch % processes:
        raise AfaError(refusal(batch, devices, nodes, device_word))
    share = batch // processes
    cap = share if max_imgs_per_device is None else min(share, max_imgs_per_device)
    imgs = max(d for d in _divisors(share) if d <= cap)
    return BatchPlan(nodes, devices, imgs, share // imgs)


def nearest_device_counts(batch, devices, nodes=1, limit=2):
    """Device counts per node, closest to ``devices`` (fewer first on a tie), whose nodes x devices divide
    ``batch``."""
    fits = [d for d in range(1, batch + 1) if batch % (nodes * d) == 0]
    return sorted(fits, key=lambda d: (abs(d - devices), d))[:limit]


def refusal(batch, devices, nodes=1, device_word='GPU'):
    """One line: why this layout cannot make the batch, which nearby ones can, and the explicit way out."""
    where = ('%d nodes x ' % nodes if nodes > 1 else '') + '%d %s' % (devices, plural(device_word, devices))
    options = []
    for d in nearest_device_counts(batch, devices, nodes):
        layout = split(batch, d, nodes)
        options.append('%s %d (%s)' % (device_option(device_word), d, layout.describe(device_word)))
    if not options:  # no device count works on this many nodes: the nearest node counts that can
        for n in sorted((n for n in _divisors(batch) if n != nodes), key=lambda n: (abs(n - nodes), n))[:2]:
            d = nearest_device_counts(batch, devices, n, limit=1)[0]
            options.append('--nodes %d %s %d (%s)' % (n, device_option(device_word), d,
                                                      split(batch, d, n).describe(device_word)))
    processes = nodes * devices
    lower, upper = (batch // processes) * processes, (batch // processes + 1) * processes
    other = ' or '.join('--batch %d' % b for b in (lower, upper) if b >= 1)
    return ('%s cannot make the recipe\'s %d images per step (%d is not a multiple of %d); nearest layouts that '
            'can: %s; or train another recipe explicitly with %s (its own run id, never pooled with the paper\'s)'
            % (where, batch, batch, processes, ' or '.join(options), other))
