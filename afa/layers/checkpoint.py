"""Activation recomputation on both torch stacks."""
import inspect

import torch
import torch.utils.checkpoint


def checkpoint(function, *args):
    """``torch.utils.checkpoint.checkpoint`` without the reentrant autograd pass where torch has the choice
    (1.11+; torch 2 warns unless told), the reentrant one on torch 1.9 (which refuses unknown keywords)."""
    if 'use_reentrant' in inspect.signature(torch.utils.checkpoint.checkpoint).parameters:
        return torch.utils.checkpoint.checkpoint(function, *args, use_reentrant=False)
    return torch.utils.checkpoint.checkpoint(function, *args)
