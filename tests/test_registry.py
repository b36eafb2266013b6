"""The ``asym`` scope: default_scope alone, custom_imports alone, and ``asym.X`` from another
scope; ``__init__`` files with one import block and a complete ``__all__``."""
import subprocess
import sys
import textwrap

import pytest


def _run(code):
    out = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_default_scope_alone_imports_the_package_lazily():
    # A fresh interpreter that never imported asym_plugins: MMEngine imports asym.registry.
    assert _run("""
        from mmengine.registry import MODELS, init_default_scope
        init_default_scope('asym')
        print(type(MODELS.build(dict(type='SmallReIDNet', out_channels=8))).__name__)
    """) == 'SmallReIDNet'


def test_other_scope_names_asym_classes():
    assert _run("""
        from mmengine.registry import MODELS, init_default_scope
        init_default_scope('mmengine')
        print(type(MODELS.build(dict(type='asym.SmallReIDNet', out_channels=8))).__name__)
    """) == 'SmallReIDNet'


def test_custom_imports_in_a_config(tmp_path):
    cfg = tmp_path / 'c.py'
    cfg.write_text("custom_imports = dict(imports=['asym_plugins'])\n"
                   "model = dict(type='asym.SmallReIDNet', out_channels=8)\n")
    assert _run(f"""
        from mmengine.config import Config
        from mmengine.registry import MODELS
        cfg = Config.fromfile({str(cfg)!r})
        print(type(MODELS.build(cfg.model)).__name__)
    """) == 'SmallReIDNet'


def test_child_registries_and_unknown_type_error():
    from mmengine.registry import DATASETS as ROOT_DATASETS

    from asym_plugins import registry
    assert registry.DATASETS.parent is ROOT_DATASETS and registry.DATASETS.scope == 'asym'
    assert registry.RERANKERS.scope == 'asym' and registry.TEACHERS.scope == 'asym'
    for reg in (registry.MODELS, registry.DATASETS, registry.DATA_SAMPLERS, registry.TRANSFORMS,
                registry.METRICS, registry.HOOKS):
        assert reg._locations, reg.name
    with pytest.raises(KeyError, match='NoSuchBackbone'):
        registry.MODELS.build(dict(type='NoSuchBackbone'))


# ------------------------------------------------------------------ one name per thing
_PACKAGES = ['asym_plugins/models', 'asym_plugins/models/backbones', 'asym_plugins/models/heads',
             'asym_plugins/models/losses', 'asym_plugins/models/necks',
             'asym_plugins/methods/mos', 'asym_plugins/methods/sap', 'asym_plugins/methods/mcma',
             'asym_plugins/data/samplers', 'asym_plugins/integrations/torchreid']


@pytest.mark.parametrize('package', _PACKAGES)
def test_init_has_one_import_block_and_a_complete_all(package):
    import ast
    import importlib
    import os.path as osp
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    tree = ast.parse(open(osp.join(root, package, '__init__.py'), encoding='utf-8').read())
    body = [n for n in tree.body if not (isinstance(n, ast.Expr)
                                         and isinstance(n.value, ast.Constant))]
    kinds = [isinstance(n, (ast.Import, ast.ImportFrom)) for n in body]
    # every import before anything else: one block at the top
    assert kinds == sorted(kinds, reverse=True), f'{package}/__init__.py: imports after code'
    imported = {a.asname or a.name for n in body if isinstance(n, ast.ImportFrom)
                for a in n.names}
    exported = next(ast.literal_eval(n.value) for n in body if isinstance(n, ast.Assign)
                    and any(getattr(t, 'id', '') == '__all__' for t in n.targets))
    assert len(exported) == len(set(exported))
    assert imported <= set(exported), sorted(imported - set(exported))
    module = importlib.import_module(package.replace('/', '.'))
    assert all(hasattr(module, name) for name in exported)


def test_registered_model_and_loss_types_are_unique_names():
    import asym_plugins  # noqa: F401
    from asym_plugins.registry import MODELS
    for name in ('BaseReIDModel', 'AGWModel', 'SAPModel', 'MCMAModel', 'SDMLoss', 'InfoNCELoss',
                 'CrossModalIDLoss', 'MaskedPatchReconLoss', 'BisimulationLoss'):
        if name == 'BaseReIDModel':
            assert MODELS.get(name) is None  # a base, not a config type
        else:
            assert MODELS.get(name).__name__ == name
