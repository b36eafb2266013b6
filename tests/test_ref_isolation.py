"""The suite's own guards (tests/conftest.py): MMEngine globals put back after each test, so the
suite passes in any order and on several workers; missing test dependencies are errors."""
import os

import pytest
from conftest import ALLOW_MISSING_ENV, mmengine_globals_restored, require
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope, Registry


def test_default_scope_and_registrations_are_put_back():
    before = DefaultScope.get_current_instance()
    before_names = list(DefaultScope._instance_dict)

    class Kept:  # stands for a class of ours already registered before the block
        pass

    ROOT_MODELS.register_module(name='AsymIsolationKept', module=Kept, force=True)
    try:
        with mmengine_globals_restored():
            DefaultScope.get_instance('asym_isolation_test', scope_name='asym_isolation_pkg')
            assert DefaultScope.get_current_instance().scope_name == 'asym_isolation_pkg'
            # a test's own package: a child registry of an unloaded module, its classes
            child = Registry('model', parent=ROOT_MODELS, scope='asym_isolation_pkg')

            @child.register_module()
            class Foreign:
                pass

            @ROOT_MODELS.register_module(name='AsymIsolationLocal')
            class Local:
                pass

            class Override:
                pass

            ROOT_MODELS.register_module(name='AsymIsolationKept', module=Override, force=True)
            assert 'asym_isolation_pkg' in ROOT_MODELS.children
        assert list(DefaultScope._instance_dict) == before_names
        assert DefaultScope.get_current_instance() is before
        assert 'asym_isolation_pkg' not in ROOT_MODELS.children
        assert 'AsymIsolationLocal' not in ROOT_MODELS.module_dict
        assert ROOT_MODELS.module_dict['AsymIsolationKept'] is Kept
        # the package can be "imported" again (a second child of the same scope is allowed)
        Registry('model', parent=ROOT_MODELS, scope='asym_isolation_pkg')
    finally:
        ROOT_MODELS._module_dict.pop('AsymIsolationKept', None)
        ROOT_MODELS._children.pop('asym_isolation_pkg', None)


def test_library_registrations_made_inside_a_test_stay():
    """A library module imported for the first time inside a test registers once: its entries
    must survive the test (the module will not register them again)."""
    import asym_plugins.models.losses.triplet as lib  # imported: stays in sys.modules
    cls = lib.TripletLoss
    name = 'AsymIsolationLibraryAlias'
    with mmengine_globals_restored():
        ROOT_MODELS.register_module(name=name, module=cls)
    try:
        assert ROOT_MODELS.module_dict[name] is cls
    finally:
        ROOT_MODELS._module_dict.pop(name, None)


def test_missing_test_dependency_is_an_error_unless_allowed(monkeypatch):
    monkeypatch.delenv(ALLOW_MISSING_ENV, raising=False)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[all\]"'):
        require('asym_no_such_package_for_tests')
    monkeypatch.setenv(ALLOW_MISSING_ENV, '1')
    with pytest.raises(pytest.skip.Exception, match='asym_no_such_package_for_tests'):
        require('asym_no_such_package_for_tests')
    assert require('numpy').__name__ == 'numpy'
    assert os.environ.get(ALLOW_MISSING_ENV) == '1'


def test_process_wide_counters_and_warn_once_sets_are_put_back():
    from conftest import process_records_restored

    from asym_plugins.data.datasets import file_layout, regdb
    from asym_plugins.data.transforms.loading import LoadReIDImage
    skipped, n = {k: set(v) for k, v in file_layout.SKIPPED.items()}, LoadReIDImage.num_skipped
    warned = set(regdb._WARNED)
    with process_records_restored():
        LoadReIDImage.num_skipped += 3
        file_layout.SKIPPED[('Isolation', 'train', 'test')].add('x.jpg')
        regdb._WARNED.add('isolation test message')
    assert LoadReIDImage.num_skipped == n
    assert {k: set(v) for k, v in file_layout.SKIPPED.items()} == skipped
    assert regdb._WARNED == warned
