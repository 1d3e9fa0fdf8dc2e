"""The random state of a training process (python, numpy, torch CPU and CUDA) as plain values, and back.

An iteration checkpoint carries it so that a run continued mid-epoch draws the same random numbers (RoI
sampling, dropout) as the run that never stopped. Plain lists, ints and tensors only: torch >= 2.6 loads
checkpoints with ``weights_only=True``, which refuses pickled numpy arrays.
"""
import random

import numpy as np


def capture():
    """A dict of the process's random states, fit for ``torch.save`` into a checkpoint's meta."""
    import torch
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    state = dict(python=[version, list(internal), gauss],
                 numpy=[kind, [int(k) for k in keys], int(pos), int(has_gauss), float(cached)],
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore(state):
    """Set the process's random states to ``state`` (from capture)."""
    import torch
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state['numpy']
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


class seeded(object):
    """Within the block, every generator is seeded with ``seed``; on leaving it, the states before are back.

    The data pipeline draws its augmentation inside it, seeded per sample (resumable_loader.py beside it): the
    same sample gets the same augmentation whichever worker loads it and whether or not the run was continued,
    and the training process's own random stream is left untouched."""

    def __init__(self, seed):
        self.seed = int(seed) % (2 ** 32)

    def __enter__(self):
        import torch
        self.saved = (random.getstate(), np.random.get_state(), torch.get_rng_state())
        random.seed(self.seed)
        np.random.seed(self.seed)
        torch.random.default_generator.manual_seed(self.seed)  # the CPU one only: CUDA's stream is the model's
        return self

    def __exit__(self, *exc):
        import torch
        python, numpy_state, torch_state = self.saved
        random.setstate(python)
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)
        return False
