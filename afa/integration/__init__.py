"""How afa plugs into mmdet and mmcv: registration of its modules, and corrections of known library defects."""
