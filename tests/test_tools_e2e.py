"""tools/train.py, tools/test.py and tools/dist_test.sh end to end, and their errors."""
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = osp.join(ROOT, 'tests/fixtures/tiny_synthetic.py')
ENV = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)


def _run(args, check=True, timeout=600):
    out = subprocess.run(args, cwd=ROOT, env=ENV, capture_output=True, text=True,
                         timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(out.stdout[-3000:] + out.stderr[-3000:])
    return out


def _metrics(text):
    """The last test metrics line MMEngine logged: {'R1': .., 'mAP': ..}."""
    lines = [ln for ln in text.splitlines() if 'Epoch(test)' in ln]
    assert lines, text[-2000:]
    return {k: float(v) for k, v in re.findall(r'(R1|R5|R10|mAP|mINP): ([\d.]+)', lines[-1])}


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    wd = tmp_path_factory.mktemp('train')
    _run([sys.executable, 'tools/train.py', TINY, '--work-dir', str(wd)])
    ckpt = wd / 'epoch_2.pth'
    assert ckpt.is_file()
    return wd, ckpt


@pytest.mark.slow
def test_test_py_reports_metrics_and_saves_features(trained, tmp_path):
    wd, ckpt = trained
    npz = tmp_path / 'feats.npz'
    out = _run([sys.executable, 'tools/test.py', TINY, str(ckpt), '--work-dir', str(tmp_path),
                '--save-features', str(npz)])
    m = _metrics(out.stdout + out.stderr)
    assert set(m) >= {'R1', 'R5', 'R10', 'mAP', 'mINP'}
    data = np.load(npz)
    assert data['qf'].shape[0] == len(data['q_pids']) and data['gf'].shape[0] == len(data['g_pids'])
    # The saved features reproduce the logged mAP through the plain evaluation API.
    import torch

    from asym_plugins.evaluation import compute_distance, evaluate_rank
    dist = compute_distance(torch.from_numpy(data['qf']), torch.from_numpy(data['gf']))
    cmc, mAP, _ = evaluate_rank(dist, data['q_pids'], data['g_pids'], data['q_camids'],
                                data['g_camids'])
    assert abs(mAP * 100 - m['mAP']) < 1e-3 and abs(cmc[0] * 100 - m['R1']) < 1e-3


@pytest.mark.slow
def test_dist_test_two_processes_equals_one(trained, tmp_path):
    wd, ckpt = trained
    one = _metrics(_run([sys.executable, 'tools/test.py', TINY, str(ckpt), '--work-dir',
                         str(tmp_path / 'one')]).stdout)
    env_py = dict(PYTHON=sys.executable, PORT='29517')
    out = subprocess.run(['bash', 'tools/dist_test.sh', TINY, str(ckpt), '2', '--work-dir',
                          str(tmp_path / 'two')], cwd=ROOT, env=dict(ENV, **env_py),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    two = _metrics(out.stdout + out.stderr)
    assert two == one


def test_missing_data_root_is_a_clear_error(tmp_path):
    out = _run([sys.executable, 'tools/train.py', 'configs/baseline/market1501.py',
                '--work-dir', str(tmp_path), '--cfg-options',
                f'train_dataloader.dataset.data_root={tmp_path}/nowhere'], check=False)
    assert out.returncode != 0
    assert 'data_root' in out.stderr and 'nowhere' in out.stderr


def test_typo_in_cfg_options_is_refused(tmp_path):
    out = _run([sys.executable, 'tools/train.py', TINY, '--work-dir', str(tmp_path),
                '--cfg-options', 'model.bakbone.out_channels=8'], check=False)
    assert out.returncode != 0 and "did you mean 'model.backbone'" in out.stderr


def test_unknown_type_names_the_registry(tmp_path):
    out = _run([sys.executable, 'tools/train.py', TINY, '--work-dir', str(tmp_path),
                '--cfg-options', 'model.backbone.type=ResNot50'], check=False)
    assert out.returncode != 0 and 'ResNot50' in out.stderr and 'registry' in out.stderr


@pytest.mark.slow
def test_checkpoint_of_another_model_is_refused(trained, tmp_path):
    wd, ckpt = trained
    out = _run([sys.executable, 'tools/test.py', TINY, str(ckpt), '--work-dir', str(tmp_path),
                '--cfg-options', 'model.backbone.out_channels=16'], check=False)
    assert out.returncode != 0
    assert 'does not match the model' in out.stderr and 'shape mismatch' in out.stderr


def test_empty_query_set_is_a_clear_error(tmp_path):
    from asym_plugins.data.datasets import QueryGalleryDataset, ReIDDataset
    with pytest.raises(Exception, match='(?i)empty'):
        QueryGalleryDataset(query=ReIDDataset(data_list=[], split='query', lazy_init=True),
                            gallery=ReIDDataset(data_list=[dict(img_path='a', pid=1, camid=0)],
                                                split='gallery'))
