"""ProgressBarHook: a tqdm bar over the iterations of MMEngine's loops (feature extraction)."""
from typing import Optional

from mmengine.hooks import Hook

from ..progress import progress
from ..registry import HOOKS


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """One bar per validation / test run (feature extraction), optionally per training epoch.

    Added by ``tools/train.py`` and ``tools/test.py`` (``asym_plugins.engine.prepare_runtime_cfg``)
    when a config has none. The logger's lines are unchanged; the bar only appears when stderr is
    a terminal (``enabled=None``; True forces it, False hides it) and on rank 0.

    Args:
        train: also show a bar over each training epoch's iterations.
        val, test: bars over the validation / test loops.
        enabled: see above.
    """

    priority = 'VERY_LOW'

    def __init__(self, train: bool = False, val: bool = True, test: bool = True,
                 enabled: Optional[bool] = None) -> None:
        self.show = dict(train=train, val=val, test=test)
        self.enabled = enabled
        self._bar = None

    def _open(self, runner, mode: str) -> None:
        self._close()
        if not self.show[mode]:
            return
        loop = getattr(runner, f'{mode}_loop')
        total = len(loop.dataloader)
        desc = {'train': f'epoch {runner.epoch + 1}', 'val': 'features (val)',
                'test': 'features (test)'}[mode]
        self._bar = progress(total=total, desc=desc, unit='batch', enabled=self.enabled)

    def _step(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def before_train_epoch(self, runner) -> None:
        self._open(runner, 'train')

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._step()

    def after_train_epoch(self, runner) -> None:
        self._close()

    def before_val_epoch(self, runner) -> None:
        self._open(runner, 'val')

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._step()

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._close()

    def before_test_epoch(self, runner) -> None:
        self._open(runner, 'test')

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._step()

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._close()
