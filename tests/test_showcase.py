"""tools/showcase.py runs its rows side by side through tools/train.py --epochs and tabulates
each run's own last validation record."""
import json
import os
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import showcase  # noqa: E402


def test_showcase_two_tiny_rows(tmp_path, monkeypatch, capsys):
    tiny = 'tests/fixtures/tiny_synthetic.py'
    monkeypatch.setattr(showcase, 'EXPERIMENTS', [
        ('base', 'holistic', 'tiny A', tiny, ['randomness.seed=0'], 1, True, 0.1),
        ('base', 'holistic', 'tiny B', tiny, ['randomness.seed=1'], 1, True, 0.2),
        ('base', 'holistic', 'left out', tiny, [], 1, False, 0.1)])
    rows = showcase.main(['--work-dir', str(tmp_path), '--jobs', '2'])
    assert [r[2] for r in rows] == ['tiny A', 'tiny B']
    table = capsys.readouterr().out
    for label, metrics in ((r[2], r[4]) for r in rows):
        # the row's metrics are the last record of that run's own scalars.json
        run_dir = osp.join(tmp_path, f'base-holistic-{label.replace(" ", "_")}')
        files = [osp.join(d, 'scalars.json') for d, _, fs in os.walk(run_dir)
                 if 'scalars.json' in fs]
        with open(files[0]) as f:
            last = [json.loads(line) for line in f if 'mAP' in line][-1]
        assert metrics == last
        assert f'| {label} | 1 | {last["mAP"]:.1f} | {last["R1"]:.1f} |' in table
    assert osp.isfile(osp.join(tmp_path, 'showcase.md'))


def test_progress_is_read_from_the_training_log(tmp_path):
    log = tmp_path / 'x.log'
    log.write_text('... Epoch(train)  [3][ 5/20]  lr: 1e-3\n... Epoch(train)  [3][10/20]\n')
    assert showcase.epochs_done(str(log)) == 2.5
    assert showcase.epochs_done(str(tmp_path / 'missing.log')) == 0.0
