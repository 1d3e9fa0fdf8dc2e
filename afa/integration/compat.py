"""Corrections for the paper stack's CPU defects (mmcv-full 1.3.11, mmdet 2.16), applied only where present.

Each fix first probes for its defect by running or reading the code in question, never by version number, so on
the modern stack (mmcv-full 1.7.2, mmdet 2.28) every probe comes back clean and nothing is patched. Every fix is
limited to the CPU path: CUDA runs take the libraries' own code unchanged.

1. mmcv 1.3.11's CPU scatter unsqueezes every tensor of a list, turning a batch of images into a 5-d tensor.
2. mmcv 1.3.11's Deformable-DETR CPU fallback is called with 6 arguments but takes 4.
3. mmdet 2.16's ``train_detector`` calls ``model.cuda()`` unconditionally (CPU training came in mmdet 2.21).
4. torch 1.9's ``torch.utils.tensorboard`` (mmcv's TensorBoard logger) reads ``distutils.version`` without
   importing it, which setuptools >= 59.6 no longer does for it: the import fails, on any device.

On any device, both stacks: mmdet's COCO evaluation of a set without a single detection returns no AP
(afa/integration/empty_detections.py): the validation line then lacks ``bbox_mAP`` and the early alarm is silent.
On CPU, both stacks: mmcv's Deformable-DETR attention fallback keeps gigabytes of intermediates per layer for the
backward pass at the recipe's image size; it recomputes them instead (afa/integration/deform_attn_memory.py).

Several processes on CPU (torch.distributed with gloo: what CI runs of the multi-GPU path) need two more, on
both stacks, applied only inside ``cpu_distributed`` and only where probed:

5. mmcv's ``MMDistributedDataParallel`` on a CPU module (no ``device_ids``, as torch requires there) calls the
   model's ``train_step``/``val_step`` without scattering the ``DataContainer`` inputs (CpuDistributedDataParallel
   scatters them as mmcv's CPU ``MMDataParallel`` does).
6. mmdet 2.28's ``build_ddp`` asserts a cuda, mlu or npu device; mmdet 2.16's ``train_detector`` wraps the model
   in ``MMDistributedDataParallel(model.cuda(), device_ids=[torch.cuda.current_device()])``.
"""
import ast
import contextlib
import inspect
import textwrap

from afa.integration import deform_attn_memory, empty_detections

_applied = {}


def scatter_adds_a_dimension():
    """Does mmcv's CPU scatter turn a list of (2, 3) tensors into (1, 2, 3) ones?"""
    import torch
    from mmcv.parallel import _functions
    return _functions.scatter([torch.zeros(2, 3)], [-1])[0].dim() == 3


def deform_attn_fallback_miscalled():
    """Does mmcv's MultiScaleDeformableAttention pass more arguments to its CPU fallback than it takes?"""
    try:
        from mmcv.ops import multi_scale_deform_attn as msda
    except ImportError:
        return False
    takes = len(inspect.signature(msda.multi_scale_deformable_attn_pytorch).parameters)
    return any(n > takes for n in _call_arities(msda.MultiScaleDeformableAttention.forward,
                                                'multi_scale_deformable_attn_pytorch'))


def train_detector_needs_cuda():
    """Does mmdet's train_detector move the model to CUDA whatever the device (no ``cfg.device`` support)?"""
    from mmdet.apis import train as mmdet_train
    source = inspect.getsource(mmdet_train.train_detector)
    return '.cuda(' in source and 'cfg.device' not in source and 'build_dp' not in source


def tensorboard_import_needs_distutils_version():
    """Does torch.utils.tensorboard use ``distutils.version`` that setuptools' distutils has not imported?"""
    import importlib.util
    spec = importlib.util.find_spec('torch.utils.tensorboard')
    if spec is None or not spec.origin:
        return False
    with open(spec.origin) as f:
        uses = 'distutils.version' in f.read()
    try:
        from setuptools import distutils
    except ImportError:
        return False
    return uses and not hasattr(distutils, 'version')


def _fix_tensorboard_import():
    import distutils.version  # noqa: F401  (sets the attribute torch.utils.tensorboard reads)
def ddp_skips_cpu_scatter():
    """Does mmcv's MMDistributedDataParallel.train_step leave the inputs unscattered when it has no device_ids?"""
    from mmcv.parallel import MMDistributedDataParallel
    tree = ast.parse(textwrap.dedent(inspect.getsource(MMDistributedDataParallel.train_step)))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and 'device_ids' in ast.dump(node.test):
            return not any(isinstance(n, ast.Call) and 'scatter' in ast.dump(n.func)
                           for branch in node.orelse for n in ast.walk(branch))
    return False


def ddp_builder_needs_cuda():
    """Where mmdet's train_detector builds its DDP model, and whether that path refuses a CPU model: 'build_ddp'
    (mmdet >= 2.25: asserts the device), 'current_device' (older: CUDA device ids), or None (it takes a CPU model)."""
    from mmdet.apis import train as mmdet_train
    source = inspect.getsource(mmdet_train.train_detector)
    if 'build_ddp(' in source:
        builder = inspect.getsource(mmdet_train.build_ddp)
        return 'build_ddp' if "'cpu'" not in builder and 'assert device in' in builder else None
    if 'torch.cuda.current_device()' in source:
        return 'current_device'
    return None


def cpu_ddp_class():
    """MMDistributedDataParallel for a CPU module (scattering its inputs itself where mmcv does not)."""
    from mmcv.parallel import MMDistributedDataParallel, scatter_kwargs
    if not ddp_skips_cpu_scatter():
        return MMDistributedDataParallel

    class CpuDistributedDataParallel(MMDistributedDataParallel):
        """DataContainers scattered to the CPU (device -1), as mmcv's MMDataParallel does without devices."""

        def train_step(self, *inputs, **kwargs):
            inputs, kwargs = scatter_kwargs(inputs, kwargs, [-1], dim=self.dim)
            return super(CpuDistributedDataParallel, self).train_step(*inputs[0], **kwargs[0])

        def val_step(self, *inputs, **kwargs):
            inputs, kwargs = scatter_kwargs(inputs, kwargs, [-1], dim=self.dim)
            return super(CpuDistributedDataParallel, self).val_step(*inputs[0], **kwargs[0])

    return CpuDistributedDataParallel


def cpu_ddp(model, **kwargs):
    """``model`` (on the CPU) wrapped for torch.distributed (gloo): no device ids, inputs scattered."""
    kwargs.pop('device_ids', None)
    return cpu_ddp_class()(model, **kwargs)


@contextlib.contextmanager
def cpu_distributed(on_cpu, distributed):
    """Let mmdet's train_detector wrap a CPU model for torch.distributed, where its DDP path refuses one."""
    kind = ddp_builder_needs_cuda() if on_cpu and distributed else None
    if kind is None:
        yield None
        return
    import torch
    from mmdet.apis import train as mmdet_train
    saved = []
    if kind == 'build_ddp':
        saved.append((mmdet_train, 'build_ddp', mmdet_train.build_ddp))
        mmdet_train.build_ddp = lambda model, device, *args, **kwargs: cpu_ddp(model, **kwargs)
    else:
        saved.append((mmdet_train, 'MMDistributedDataParallel', mmdet_train.MMDistributedDataParallel))
        mmdet_train.MMDistributedDataParallel = cpu_ddp
        if not torch.cuda.is_available():  # only its argument list asks, and cpu_ddp drops it
            saved.append((torch.cuda, 'current_device', torch.cuda.current_device))
            torch.cuda.current_device = lambda: -1
    try:
        yield kind
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def _call_arities(function, name):
    """Positional-argument counts of every call of ``name`` inside ``function``'s source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return [len(node.args) for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, 'id', getattr(node.func, 'attr', None)) == name]


def _fix_scatter():
    from mmcv.parallel import _functions
    original = _functions.scatter

    def scatter(input, devices, streams=None):
        """CPU: a list's tensors keep their shape (a bare tensor keeps mmcv's own handling)."""
        if devices == [-1] and isinstance(input, list):
            return [item.contiguous() if hasattr(item, 'contiguous') else scatter(item, devices, streams)
                    for item in input]
        return original(input, devices, streams)

    _functions.scatter = scatter


def _fix_deform_attn_fallback():
    from mmcv.ops import multi_scale_deform_attn as msda
    original = msda.multi_scale_deformable_attn_pytorch

    def fallback(value, spatial_shapes, *rest):
        """Accept the CUDA function's arguments (..., level_start_index, ..., im2col_step) and drop the extras."""
        if len(rest) == 4:
            rest = rest[1:3]
        return original(value, spatial_shapes, *rest)

    msda.multi_scale_deformable_attn_pytorch = fallback


FIXES = (
    ('cpu_scatter', scatter_adds_a_dimension, _fix_scatter),
    ('deform_attn_cpu_fallback', deform_attn_fallback_miscalled, _fix_deform_attn_fallback),
    # after the one above: it wraps the fallback as that one left it
    ('deform_attn_cpu_memory', deform_attn_memory.keeps_intermediates, deform_attn_memory.fix),
    ('tensorboard_distutils_import', tensorboard_import_needs_distutils_version, _fix_tensorboard_import),
    ('empty_detections_metrics', empty_detections.empty_results_drop_metrics, empty_detections.fix),
)


def apply():
    """Probe every library defect once and correct the ones found; returns {name: corrected?}."""
    for name, probe, fix in FIXES:
        if name not in _applied:
            _applied[name] = bool(probe())
            if _applied[name]:
                fix()
    return dict(_applied)


@contextlib.contextmanager
def cpu_training(model, on_cpu):
    """Let mmdet's train_detector run a CPU model: its ``model.cuda()`` becomes a no-op, only where needed."""
    patched = on_cpu and train_detector_needs_cuda()
    if patched:
        model.cuda = lambda *args, **kwargs: model
    try:
        yield patched
    finally:
        if patched:
            del model.cuda
