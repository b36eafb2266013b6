"""tools/regdb_trials.py: every RegDB dataset of a config switched to the trial, and the mean
+- std over trials computed from the runs' own logged records."""
import json
import os
import os.path as osp
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import regdb_trials  # noqa: E402

from asym_plugins.engine.cli import UserError  # noqa: E402


def _regdb_datasets(node, out):
    if isinstance(node, dict):
        if node.get('type') in regdb_trials.REGDB_TYPES:
            out.append(node)
        for v in node.values():
            _regdb_datasets(v, out)
    elif isinstance(node, (list, tuple)):
        for v in node:
            _regdb_datasets(v, out)
    return out


def test_every_regdb_dataset_of_the_config_gets_the_trial():
    cfg = regdb_trials.trial_config(osp.join(ROOT, 'configs/sim/regdb_agw.py'), 7)
    found = _regdb_datasets(cfg.to_dict(), [])
    # train + query/gallery of val and test: at least 3 distinct places, all on trial 7
    assert len(found) >= 3 and {d['trial'] for d in found} == {7}


def test_a_config_without_regdb_is_refused():
    with pytest.raises(UserError, match='no RegDB dataset'):
        regdb_trials.trial_config(osp.join(ROOT, 'configs/baseline/synthetic.py'), 1)


def _fake_run(run_dir, records):
    d = osp.join(run_dir, '20260101_000000', 'vis_data')
    os.makedirs(d)
    with open(osp.join(d, 'scalars.json'), 'w') as f:
        f.write(json.dumps({'loss': 1.0, 'lr': 0.1, 'step': 1}) + '\n')
        for step, rec in enumerate(records, 1):
            f.write(json.dumps(dict(rec, step=step)) + '\n')


def test_collect_only_reports_mean_and_sample_std(tmp_path, capsys):
    # trial 1 logs two validations (the last counts), trial 2 one
    _fake_run(tmp_path / 'trial1', [{'v2t_R1': 10.0, 'v2t_mAP': 5.0},
                                    {'v2t_R1': 60.0, 'v2t_mAP': 50.0, 't2v_R1': 1.0}])
    _fake_run(tmp_path / 'trial2', [{'v2t_R1': 70.0, 'v2t_mAP': 54.0, 't2v_R1': 3.0}])
    stats = regdb_trials.main([osp.join(ROOT, 'configs/sim/regdb_agw.py'), '--trials', '1', '2',
                               '--collect-only', '--work-dir', str(tmp_path)])
    # hand values: mean(60, 70) = 65, sample std = sqrt(50) = 7.07...
    assert stats['v2t_R1']['mean'] == 65.0 and abs(stats['v2t_R1']['std'] - 50 ** 0.5) < 1e-12
    assert stats['v2t_mAP']['mean'] == 52.0 and stats['t2v_R1']['mean'] == 2.0
    out = capsys.readouterr().out
    assert '| v2t_R1 | 65.00 | 7.07 | 2 |' in out
    saved = json.load(open(tmp_path / 'trials.json'))
    assert saved['trials']['1']['v2t_R1'] == 60.0


def test_missing_trial_run_says_what_to_do(tmp_path):
    with pytest.raises(UserError, match='no validation record'):
        regdb_trials.main([osp.join(ROOT, 'configs/sim/regdb_agw.py'), '--trials', '3',
                           '--collect-only', '--work-dir', str(tmp_path)])
    with pytest.raises(UserError, match='1..10'):
        regdb_trials.main([osp.join(ROOT, 'configs/sim/regdb_agw.py'), '--trials', '11'])
