"""With ``default_scope='asym'`` MMEngine finds an ``asym`` child in every root registry."""
import logging

import mmengine.runner  # noqa: F401  (what a Runner has imported: its log processor, loops)
from mmengine.logging import MMLogger
from mmengine.registry import (
    LOG_PROCESSORS,
    OPTIM_WRAPPERS,
    PARAM_SCHEDULERS,
    VISBACKENDS,
    VISUALIZERS,
    DefaultScope,
)

import asym_plugins.registry as reg


class _Catch(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_every_mmengine_root_has_an_asym_child():
    import mmengine.registry as root
    for name in reg._MMENGINE_ONLY:
        assert getattr(root, name)._search_child('asym') is reg.MMENGINE_CHILDREN[name], name


def test_building_mmengine_modules_in_asym_scope_warns_nothing():
    import torch
    catch = _Catch()
    logger = MMLogger.get_current_instance()
    logger.addHandler(catch)
    param = torch.nn.Parameter(torch.zeros(1))
    try:
        with DefaultScope.overwrite_default_scope('asym'):
            wrapper = OPTIM_WRAPPERS.build(dict(type='OptimWrapper',
                                                optimizer=torch.optim.SGD([param], lr=0.1)))
            PARAM_SCHEDULERS.build(dict(type='StepLR', step_size=1, by_epoch=False),
                                   default_args=dict(optimizer=wrapper))
            LOG_PROCESSORS.build(dict(type='LogProcessor'))
            VISBACKENDS.build(dict(type='LocalVisBackend', save_dir='unused'))
            assert VISUALIZERS.get('Visualizer') is not None
    finally:
        logger.removeHandler(catch)
    assert not [m for m in catch.messages if 'Failed to search registry' in m], catch.messages
