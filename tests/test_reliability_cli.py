"""Issue 21 items 9-11 and issue 20's CLI stops: config values checked at build time with the
key named, ``--cfg-options`` values with spaces, every missing input listed, saved-feature
files checked, and user mistakes stopping with exit code 2 and no traceback (``--debug``
shows it)."""
import importlib.util
import os
import os.path as osp
import subprocess
import sys
from argparse import ArgumentParser

import numpy as np
import pytest
from mmengine.config import Config, DictAction

import asym_plugins  # noqa: F401
from asym_plugins.engine.cli import (
    USER_ERROR_EXIT,
    CfgOptionsAction,
    ConfigError,
    MissingInputError,
)
from asym_plugins.engine.launch import check_local_paths, validate_cfg
from asym_plugins.evaluation.metrics.reid_metric import (
    FeatureFileError,
    load_features_npz,
    save_features_npz,
)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SYNTHETIC = osp.join(ROOT, 'configs/baseline/synthetic.py')


def _tool(name):
    spec = importlib.util.spec_from_file_location(f'reliability_cli_{name}',
                                                  osp.join(ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train_tool = _tool('train')


def _loader_cfg(**train_dataloader):
    dl = dict(batch_size=8, num_workers=0,
              sampler=dict(type='IdentitySampler', batch_size=8, num_instances=4))
    dl.update(train_dataloader)
    return Config(dict(train_dataloader=dl, train_cfg=dict(max_epochs=4, val_interval=1)))


# -- 9. config values ------------------------------------------------------------------------
@pytest.mark.parametrize('override, key', [
    (dict(batch_size=0), 'train_dataloader.batch_size=0'),          # was ZeroDivisionError
    (dict(batch_size='32'), "train_dataloader.batch_size='32'"),     # was a formatting error
    (dict(num_workers=-1), 'train_dataloader.num_workers=-1'),
    (dict(sampler=dict(type='IdentitySampler', batch_size=8, num_instances=3)),
     'train_dataloader.sampler.num_instances=3'),
])
def test_bad_loader_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace('.', r'\.').replace('[', r'\[')):
        validate_cfg(_loader_cfg(**override))


@pytest.mark.parametrize('value', [0, '10', 2.5, True])
def test_bad_max_epochs_names_the_key(value):
    cfg = _loader_cfg()
    cfg.train_cfg.max_epochs = value
    with pytest.raises(ConfigError, match=r'train_cfg\.max_epochs=.*positive integer'):
        validate_cfg(cfg)


def test_loader_batch_must_equal_the_samplers_p_times_k():
    # Before: loader 16 with sampler 8 silently cut batches of 16 = 2 sampler batches (P 2x).
    with pytest.raises(ConfigError, match=r'train_dataloader\.batch_size=16 but '
                                          r'train_dataloader\.sampler\.batch_size=8'):
        validate_cfg(_loader_cfg(batch_size=16))
    # Only one side given on the command line: the other follows it.
    cfg = _loader_cfg(batch_size=16)
    validate_cfg(cfg, {'train_dataloader.batch_size': 16})
    assert cfg.train_dataloader.sampler.batch_size == 16
    cfg = _loader_cfg(sampler=dict(type='IdentitySampler', batch_size=12, num_instances=4))
    validate_cfg(cfg, {'train_dataloader.sampler.batch_size': 12})
    assert cfg.train_dataloader.batch_size == 12


def test_train_refuses_a_zero_batch_before_building(tmp_path):
    with pytest.raises(ConfigError, match=r'train_dataloader\.batch_size=0'):
        train_tool.main([SYNTHETIC, '--work-dir', str(tmp_path), '--cfg-options',
                         'train_dataloader.batch_size=0'])
    assert not os.listdir(tmp_path)


# -- 10. --cfg-options with spaces; every missing key --------------------------------------------
def _parse(*items, action=CfgOptionsAction):
    p = ArgumentParser()
    p.add_argument('--cfg-options', nargs='+', action=action)
    return p.parse_args(['--cfg-options'] + list(items)).cfg_options


def test_cfg_options_keep_spaces_and_agree_with_mmengine_otherwise():
    ours = _parse('a.data_root=/data/my sets', 'q="x,y"', 'l=[1, 2]', 't=(1,2)', 'i=3',
                  'f=0.5', 'b=true', 'n=None', 's=abc', 'c=1,2')
    assert ours['a.data_root'] == '/data/my sets'    # MMEngine: '/data/mysets'
    assert _parse('a.data_root=/data/my sets', action=DictAction)['a.data_root'] == \
        '/data/mysets'
    assert ours['q'] == 'x,y'
    mm = _parse('l=[1, 2]', 't=(1,2)', 'i=3', 'f=0.5', 'b=true', 'n=None', 's=abc', 'c=1,2',
                action=DictAction)
    assert {k: ours[k] for k in mm} == mm == {'l': [1, 2], 't': (1, 2), 'i': 3, 'f': 0.5,
                                              'b': True, 'n': None, 's': 'abc', 'c': [1, 2]}


def test_every_missing_input_key_is_listed():
    # Before: "(keys: a, b, c (+2 more))" hid two of the five data-root keys.
    cfg = Config.fromfile(osp.join(ROOT, 'configs/sap/occluded_duke.py'))
    with pytest.raises(MissingInputError) as err:
        check_local_paths(cfg)
    msg = str(err.value)
    assert 'more)' not in msg
    for key in ('train_dataloader.dataset.data_root', 'val_dataloader.dataset.query.data_root',
                'val_dataloader.dataset.gallery.data_root',
                'test_dataloader.dataset.query.data_root',
                'test_dataloader.dataset.gallery.data_root'):
        assert key in msg, key
    assert "--cfg-options 'train_dataloader.dataset.data_root=/your/path'" in msg


# -- 11. saved features ------------------------------------------------------------------------
def _features(path, q_pids):
    save_features_npz(str(path), qf=np.eye(3, 4), gf=np.eye(2, 4), q_pids=q_pids,
                      g_pids=np.array([1, 2]), q_camids=np.zeros(3), g_camids=np.ones(2))


def test_float_pids_are_refused_not_truncated(tmp_path):
    # Before: 3.5 -> 3 silently (a different identity).
    _features(tmp_path / 'f.npz', np.array([1.0, 2.0, 3.5]))
    with pytest.raises(FeatureFileError, match=r'q_pids must hold whole numbers.*3\.5'):
        load_features_npz(str(tmp_path / 'f.npz'))
    _features(tmp_path / 'g.npz', np.array([1.0, 2.0, 3.0]))
    out = load_features_npz(str(tmp_path / 'g.npz'))
    assert out['q_pids'].dtype == np.int64 and out['q_pids'].tolist() == [1, 2, 3]
    assert out['q_camids'].tolist() == [0, 0, 0]


def test_truncated_npz_names_the_file(tmp_path):
    _features(tmp_path / 'f.npz', np.array([1, 2, 3]))
    data = (tmp_path / 'f.npz').read_bytes()
    (tmp_path / 'cut.npz').write_bytes(data[:len(data) // 2])
    with pytest.raises(FeatureFileError, match=r"cut\.npz.*cannot be read \(truncated"):
        load_features_npz(str(tmp_path / 'cut.npz'))


# -- issue 20: CLI stops -----------------------------------------------------------------------
def _run(args, **env):
    return subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, PYTHONPATH=ROOT, **env))


def test_cli_stops_without_traceback_and_debug_shows_it(tmp_path):
    missing_data = ['tools/train.py', 'configs/sap/occluded_duke.py', '--work-dir',
                    str(tmp_path / 'w')]
    out = _run(missing_data)
    assert out.returncode == USER_ERROR_EXIT, out.stderr[-2000:]
    assert 'Traceback' not in out.stderr and 'are missing' in out.stderr
    assert 'train.py: error:' in out.stderr
    out = _run(missing_data + ['--debug'])
    assert out.returncode == 1 and 'Traceback' in out.stderr and 'MissingInputError' in out.stderr
    out = _run(missing_data, ASYM_DEBUG='1')
    assert out.returncode == 1 and 'Traceback' in out.stderr


@pytest.mark.parametrize('args, expect', [
    (['tools/test.py', SYNTHETIC, 'no_such.pth'], "checkpoint 'no_such.pth' does not exist"),
    (['tools/train.py', SYNTHETIC, '--cfg-options', 'train_dataloader.bach_size=4'],
     "did you mean 'train_dataloader.batch_size'"),
    (['tools/rerank.py', 'no_such.npz'], "features file 'no_such.npz' does not exist"),
])
def test_other_user_mistakes_exit_2(args, expect):
    out = _run(args)
    assert out.returncode == USER_ERROR_EXIT, out.stderr[-2000:]
    assert 'Traceback' not in out.stderr and expect in out.stderr, out.stderr[-2000:]


def test_unknown_type_is_a_user_mistake_but_a_bug_keeps_its_traceback(tmp_path):
    out = _run(['tools/train.py', SYNTHETIC, '--work-dir', str(tmp_path), '--cfg-options',
                'model.backbone.type=ResNot50'])
    assert out.returncode == USER_ERROR_EXIT, out.stderr[-2000:]
    assert 'Traceback' not in out.stderr
    assert 'error: ResNot50 is not in the asym::model registry' in out.stderr
    from asym_plugins.engine.cli import run_cli

    def buggy(argv):
        return {}['internal']                        # a KeyError that is no user mistake

    with pytest.raises(KeyError, match='internal'):
        run_cli(buggy, [])


@pytest.mark.parametrize('content', [b'', b'epoch 3 weights, honest\n'])
def test_test_py_names_a_damaged_checkpoint(tmp_path, content):
    from asym_plugins.engine.checkpoint import CheckpointFileError
    bad = tmp_path / 'epoch_3.pth'
    bad.write_bytes(content)
    test_tool = _tool('test')
    with pytest.raises(CheckpointFileError, match=r"epoch_3\.pth' (is empty|is not a PyTorch)"):
        test_tool.main([SYNTHETIC, str(bad), '--work-dir', str(tmp_path / 'w')])
