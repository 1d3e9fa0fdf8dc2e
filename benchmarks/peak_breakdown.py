"""Where a detector's training step peaks in memory, and which tensors are held there (torch 2's profiler).

    .venv/bin/python benchmarks/peak_breakdown.py [--necks FPN,MSSAAdp] [--size 384x640] [--most 25]

For each neck: one warm-up step, then one profiled step (``detector_cost.runner``); the peak of the tensors
held above the weights, the operator running at that moment, and the
tensors alive there grouped by their category (activation, gradient, ...) and by the operator and the code
that made them. This is the tool that found that the peak of a step is in the heads' backward pass, with every
activation that the backbone and the neck keep still held (docs/necks.md, "Memory of a training step").
"""
import argparse
import bisect
import collections
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import detector_cost  # noqa: E402
import measure  # noqa: E402

OUR_FRAMES = ('afa/', 'mmdet/models', 'nn.Module', 'autograd::engine')


def profile_step(neck, height, width):
    """The memory profile (``torch.profiler._memory_profiler.MemoryProfile``) of one warm training step, and
    the bytes of the model's weights."""
    from torch.profiler import ProfilerActivity, profile
    model = detector_cost.build(neck, 'cpu')
    step = detector_cost.runner(model, detector_cost.batch_for(height, width, 'cpu'), 'train')
    step()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True,
                 with_stack=True) as prof:
        step()
    return prof._memory_profile(), sum(t.numel() * t.element_size() for t in model.state_dict().values())


def peak_and_live(memory):
    """(peak bytes, time of the peak, {tensor key: (bytes, creation time, version)} alive at the peak), from
    the profile's timeline of CPU tensors (those from before the step included: the weights, and the last
    step's gradients until they are let go)."""
    from torch.profiler._memory_profiler import Action
    live, held, peak = {}, 0, (0, None, {})
    for time, action, (key, version), size in memory.timeline:
        if key.device.type != 'cpu':
            continue
        if action in (Action.PREEXISTING, Action.CREATE):
            live[key] = (size, time, version)
            held += size
        elif action == Action.DESTROY:
            live.pop(key, None)
            held -= size
        elif action == Action.INCREMENT_VERSION and key in live:
            live[key] = live[key][:2] + (version + 1,)
        if held > peak[0]:
            peak = (held, time, dict(live))
    return peak


class Places(object):
    """The operator, and the frames of this project and mmdet around it, running at a given time."""

    def __init__(self, memory):
        self.nodes = list(memory._op_tree.sorted_nodes)
        self.starts = [node.start_time_ns for node in self.nodes]

    def at(self, time):
        index = bisect.bisect_right(self.starts, time) - 1
        while index >= 0 and not self.nodes[index].start_time_ns <= time <= self.nodes[index].end_time_ns:
            index -= 1
        names, node = [], self.nodes[index] if index >= 0 else None
        while node is not None:
            names.append(node.name)
            node = node.parent
        ops = [n for n in names if n.startswith('aten::')]
        frames = [n.split('site-packages/')[-1] for n in names if any(f in n for f in OUR_FRAMES)]
        return (ops[0] if ops else '?'), ' < '.join(frames[:2])


def report(neck, height, width, most):
    memory, weights = profile_step(neck, height, width)
    peak, time, live = peak_and_live(memory)
    places = Places(memory)
    mib = 2.0 ** -20
    print('\n%s, training step at %dx%d: peak %.0f MiB above the %.0f MiB of weights; at the peak: %s (%s)'
          % ((neck, height, width, (peak - weights) * mib, weights * mib) + places.at(time)))
    groups, categories = collections.Counter(), collections.Counter()
    for key, (size, made, version) in live.items():
        category = str(memory._categories.get(key, version)).replace('Category.', '').lower()
        categories[category] += size
        if category != 'parameter':
            groups[(category,) + (places.at(made) if size >= 1 << 20 else ('(tensors under 1 MiB)', ''))] += size
    print('| category | MiB |\n|---|---|')
    for category, size in categories.most_common():
        print('| %s | %.1f |' % (category, size * mib))
    print('| held (not weights) | made by | in | MiB |\n|---|---|---|---|')
    for (category, op, frames), size in groups.most_common(most):
        print('| %s | %s | %s | %.1f |' % (category, op, frames, size * mib))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--necks', default='FPN,MSSAAdp[before],MSSAAdp')
    parser.add_argument('--size', default='384x640')
    parser.add_argument('--most', type=int, default=25, help='rows of held tensors per neck')
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    height, width = map(int, args.size.split('x'))
    print('torch %s; %s' % (torch.__version__, measure.machine_line()))
    for neck in args.necks.split(','):
        report(neck, height, width, args.most)


if __name__ == '__main__':
    main()
