"""Every tool stops on a user mistake with one "tool: error: ..." line and exit code 2 (no
traceback); --debug shows the traceback (visualize.py, train.py, test.py and rerank.py have
their own tests)."""
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

CASES = [
    (['tools/summarize.py', 'no_such_work_dir'], 'is not a folder'),
    (['tools/regdb_trials.py', 'configs/baseline/synthetic.py', '--collect-only'],
     'no RegDB dataset'),
    (['tools/torchreid_train.py', 'configs/torchreid/sysu_mm01_agw.yaml'],
     'missing local input'),
    (['tools/sim_table.py', 'no_equals_sign.npz'], 'expected NAME=FEATURES.npz'),
    (['tools/showcase.py', '--render', 'no_such_results.json'], 'no such results file'),
    (['tools/showcase.py', '--seeds', '0', '0'], 'a seed is repeated'),
    (['tools/visualize.py', 'ranklist', '--features', 'unused.npz', '--out', 'fig.jpg'],
     'give a path ending in .png'),
    (['tools/make_synthetic.py', '--layout', 'market1501', '--out', 'unused',
      '--num-test-ids', '1'], 'at least 2 identities'),
]


@pytest.mark.parametrize('argv,message', CASES, ids=[' '.join(c[0][:2]) for c in CASES])
def test_user_mistake_is_one_line_and_exit_2(argv, message, tmp_path):
    proc = subprocess.run([sys.executable] + argv, cwd=ROOT, capture_output=True, text=True)
    tool = osp.basename(argv[0])
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f'{tool}: error: ' in proc.stderr and message in proc.stderr
    assert 'Traceback' not in proc.stderr
    debug = subprocess.run([sys.executable] + argv + ['--debug'], cwd=ROOT,
                           capture_output=True, text=True)
    assert debug.returncode == 1 and 'Traceback' in debug.stderr and message in debug.stderr
