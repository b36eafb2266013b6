"""The ``asym`` scope: default_scope alone, custom_imports alone, and ``asym.X`` from another scope."""
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
