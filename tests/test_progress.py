"""Progress bars: shown on request, hidden off a terminal, counting what actually ran."""
import types

import numpy as np
import pytest

from asym_plugins.hooks import ProgressBarHook
from asym_plugins.methods.sim import similarity_inference
from asym_plugins.progress import progress


@pytest.fixture
def bars(monkeypatch):
    """Every bar the package opens, kept for inspection (counts survive ``close``)."""
    import asym_plugins.hooks.progress_bar as hook_mod
    import asym_plugins.methods.sim.api as sim_api
    made = []

    def record(*args, **kwargs):
        made.append(progress(*args, **kwargs))
        return made[-1]
    monkeypatch.setattr(hook_mod, 'progress', record)
    monkeypatch.setattr(sim_api, '_progress', record)
    return made


def _runner(n_val=3, n_train=4):
    loop = types.SimpleNamespace
    return types.SimpleNamespace(epoch=0, val_loop=loop(dataloader=[0] * n_val),
                                 test_loop=loop(dataloader=[0] * 2),
                                 train_loop=loop(dataloader=[0] * n_train))


def test_hook_counts_val_and_test_batches(bars, capsys):
    hook, runner = ProgressBarHook(train=True, enabled=True), _runner()
    hook.before_train_epoch(runner)
    for i in range(4):
        hook.after_train_iter(runner, i)
    hook.after_train_epoch(runner)
    hook.before_val_epoch(runner)
    for i in range(3):
        hook.after_val_iter(runner, i)
    hook.after_val_epoch(runner, {})
    hook.before_test_epoch(runner)
    hook.after_test_iter(runner, 0)
    hook.after_test_epoch(runner, {})
    assert [(b.desc, b.n, b.total) for b in bars] == [
        ('epoch 1', 4, 4), ('features (val)', 3, 3), ('features (test)', 1, 2)]
    assert 'features (val)' in capsys.readouterr().err


def test_hidden_off_a_terminal_and_when_disabled(capsys):
    assert progress(range(3), enabled=None).disable      # pytest's stderr is not a terminal
    assert progress(range(3), enabled=False).disable
    hook, runner = ProgressBarHook(), _runner()
    hook.before_val_epoch(runner)
    hook.after_val_iter(runner, 0)
    hook.after_val_epoch(runner, {})
    assert capsys.readouterr().err == ''


def test_sim_progress_counts_its_stages(bars, capsys):
    rng = np.random.default_rng(0)
    qg, gg = rng.random((5, 12)), rng.random((12, 12))
    gg = (gg + gg.T) / 2
    np.fill_diagonal(gg, 0)
    quiet = similarity_inference(qg, gg, K=3, k_q=2, k_g=3)
    loud = similarity_inference(qg, gg, K=3, k_q=2, k_g=3, progress=True)
    np.testing.assert_array_equal(quiet, loud)
    assert [(b.n, b.total) for b in bars] == [(0, 3), (3, 3)]   # a hidden bar counts nothing
    assert 'SIM (official)' in capsys.readouterr().err
    similarity_inference(qg, gg, mode='equations', K=3, k_q=2, k_g=3, components='graph',
                         progress=True)
    assert (bars[-1].desc, bars[-1].n, bars[-1].total) == ('SIM (equations)', 2, 2)
