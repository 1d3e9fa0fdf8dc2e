"""Walking the nested dicts and lists of an mmcv config (as plain Python data)."""


def walk_dicts(node, fn):
    """Call fn on every dict of a nested dict/list/tuple structure, parents before children."""
    if isinstance(node, dict):
        fn(node)
        for value in node.values():
            walk_dicts(value, fn)
    elif isinstance(node, (list, tuple)):
        for value in node:
            walk_dicts(value, fn)
