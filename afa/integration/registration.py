"""Registration of the AFA modules in mmdet's and mmcv's registries, whatever the import order.

``import afa`` must register the necks (mmdet configs load the plugin with
``custom_imports=dict(imports=['afa'])``; scripts write ``import afa`` next to ``import mmdet.models``), yet it
must not import mmdet itself: the ``afa`` command line (``afa --help``, ``afa zoo``, the workflow's first
rules) would then spend seconds loading torch and mmdet for nothing. So registration is tied to the
registries' own modules: if ``mmdet.models`` / ``mmcv.runner`` is loaded already, the AFA module that
registers into it is imported at once; otherwise a finder on ``sys.meta_path`` imports it just after that
module has finished loading. Either way, the registry never exists without the AFA entries.
"""
import importlib
import importlib.abc
import sys
import threading

# The module that holds a registry -> the AFA package that registers into it on import.
REGISTERING_IMPORTS = (('mmcv.runner', 'afa.training.hook_registry'), ('mmdet.models', 'afa.models'))

_lock = threading.RLock()
_waiting = {}  # registry module -> AFA package still to import when it loads


def register_when_loaded():
    """Import every AFA package whose registry is loaded now; arrange for the others to follow their
    registry's first import. What ``import afa`` runs; idempotent."""
    with _lock:
        for registry_module, afa_module in REGISTERING_IMPORTS:
            if registry_module in sys.modules:
                _waiting.pop(registry_module, None)
                importlib.import_module(afa_module)
            else:
                _waiting[registry_module] = afa_module
        if _waiting and _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)


def register_modules():
    """Register everything now, importing mmcv and mmdet (what training and evaluation want anyway)."""
    for _, afa_module in REGISTERING_IMPORTS:
        importlib.import_module(afa_module)
    register_when_loaded()


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for a waited-for module, it lets the other finders find it and wraps the loader
    so that the AFA package is imported once the module has executed."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in _waiting:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, 'exec_module'):
            spec.loader = _RegisteringLoader(spec.loader, fullname)
        return spec


class _RegisteringLoader(importlib.abc.Loader):
    """The original loader, plus the import of the waiting AFA package after ``exec_module``."""

    def __init__(self, loader, fullname):
        self._loader = loader
        self._fullname = fullname

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        with _lock:
            afa_module = _waiting.pop(self._fullname, None)
            if not _waiting and _FINDER in sys.meta_path:
                sys.meta_path.remove(_FINDER)
        if afa_module is not None:
            importlib.import_module(afa_module)

    def __getattr__(self, name):  # get_code, get_source, is_package, resource readers, ...
        return getattr(self._loader, name)


_FINDER = _AfterImport()
