"""A training data loader that can start an epoch at any batch and still deliver what the uninterrupted run got.

mmdet's loaders cannot: ``GroupSampler`` shuffles with the global numpy generator, whose state depends on
everything drawn before, and each loader worker seeds itself the same way every epoch, so a sample's
augmentation depends on which worker loads it and how many samples that worker loaded before. Here:

- the order is mmdet's own sampler's (GroupSampler or DistributedGroupSampler: same groups, padding and rank
  split), drawn for each epoch from a generator seeded by (seed, epoch) only, and can start at any position;
- each sample's augmentation is drawn from generators seeded by (seed, epoch, rank, position), so it no longer
  depends on the worker, the number of workers or the batches skipped;
- the loader's own seed draw uses a private generator, leaving the training process's random stream (RoI
  sampling, dropout) to the model alone.

The sampler yields keys ``(epoch, position, index)``; the dataset wrapper turns them back into samples.
"""
import numpy as np

from afa.training.continuation import rng

_MIX = 1000003  # a prime: (seed, epoch, rank, position) -> one 32-bit seed with no collisions at these sizes


def sample_seed(seed, epoch, rank, position):
    return (((seed * _MIX + epoch) * _MIX + rank) * _MIX + position) % (2 ** 32)


class ContinuableSampler(object):
    """mmdet's group sampler ``inner``, its shuffle seeded by (seed, epoch), started at ``start`` (a sample
    position within this rank's epoch). Its length is the full epoch's, so the runner's counts stay right."""

    def __init__(self, inner, seed, rank=0):
        self.inner = inner
        self.seed = int(seed or 0)
        self.rank = rank
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def order(self):
        """This rank's sample indices for the current epoch, start included."""
        if hasattr(self.inner, 'set_epoch'):  # DistributedGroupSampler: torch generator seeded by seed + epoch
            self.inner.set_epoch(self.epoch)
            return list(iter(self.inner))
        saved = np.random.get_state()  # GroupSampler: the global numpy generator, seeded here and put back
        try:
            np.random.seed(sample_seed(self.seed, self.epoch, self.rank, 2 ** 31))
            return list(iter(self.inner))
        finally:
            np.random.set_state(saved)

    def __iter__(self):
        order = self.order()
        for position in range(self.start, len(order)):
            yield (self.epoch, position, order[position])

    def __len__(self):
        return len(self.inner)


class SeededSamples(object):
    """The training dataset, each sample's pipeline run under generators seeded by its key."""

    def __init__(self, dataset, seed, rank=0):
        self.dataset = dataset
        self.seed = int(seed or 0)
        self.rank = rank

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key):
        epoch, position, index = key
        with rng.seeded(sample_seed(self.seed, epoch, self.rank, position)):
            return self.dataset[index]


def continuable_loader(loader, seed, rank=0):
    """A DataLoader like mmdet's ``loader`` (batch size, workers, collate) with a ContinuableSampler; None when
    ``loader`` is not one it can stand in for (a batch sampler: mmcv's IterBasedRunner)."""
    import torch
    from torch.utils.data import DataLoader
    if loader.sampler is None or getattr(loader, 'batch_sampler', None) is None or \
            type(loader.batch_sampler).__name__ != 'BatchSampler' or not hasattr(loader.sampler, 'flag'):
        return None
    generator = torch.Generator()
    generator.manual_seed(int(seed or 0))
    return DataLoader(SeededSamples(loader.dataset, seed, rank), batch_size=loader.batch_size,
                      sampler=ContinuableSampler(loader.sampler, seed, rank), num_workers=loader.num_workers,
                      collate_fn=loader.collate_fn, pin_memory=loader.pin_memory,
                      worker_init_fn=loader.worker_init_fn, generator=generator)
