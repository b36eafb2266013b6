"""tools/summarize.py on a hand-made work_dirs tree whose table is written out by hand."""
import json
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import summarize  # noqa: E402


def _lines(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))


def _train_log(step, loss=1.0):
    return {'lr': 0.001, 'data_time': 0.1, 'loss': loss, 'loss_id': loss, 'acc_id': 50.0,
            'time': 0.5, 'epoch': step, 'iter': step * 10, 'step': step * 10}


@pytest.fixture
def work_dirs(tmp_path):
    wd = tmp_path / 'work_dirs'
    # mos/synthetic_occluded: two validations; a resumed run adds a second timestamp folder.
    run = wd / 'mos' / 'synthetic_occluded'
    _lines(run / '20260101_000000' / 'vis_data' / 'scalars.json', [
        _train_log(1),
        {'R1': 40.0, 'R5': 60.0, 'mAP': 41.25, 'mINP': 20.0, 'data_time': 0.1, 'time': 0.2,
         'step': 5},
        _train_log(6)])
    _lines(run / '20260101_010000' / 'vis_data' / 'scalars.json', [
        {'R1': 49.44, 'R5': 70.0, 'mAP': 40.0, 'mINP': 22.0, 'data_time': 0.1, 'time': 0.2,
         'step': 10}])
    (run / '20260101_010000' / '20260101_010000.log').write_text('log text, not read\n')
    # sim/synthetic_ir: validation, then tools/test.py into the same work dir (test wins in auto).
    run = wd / 'sim' / 'synthetic_ir'
    _lines(run / '20260102_000000' / 'vis_data' / 'scalars.json', [
        {'R1': 3.0, 'mAP': 7.0, 'sim/R1': 5.0, 'sim/mAP': 10.0, 'step': 30}])
    _lines(run / '20260102_010000' / '20260102_010000.json', [
        {'R1': 1.0, 'mAP': 1.0, 'data_time': 0.1, 'time': 0.2, 'step': 10},  # an iteration line
        {'R1': 3.81, 'mAP': 7.38, 'sim/R1': 5.71, 'sim/mAP': 10.23, 'data_time': 0.1,
         'time': 0.2}])
    # a folder with a training log only (no validation yet) gives no row
    _lines(wd / 'sap' / 'running' / '20260103_000000' / 'vis_data' / 'scalars.json',
           [_train_log(1)])
    return wd


def test_table_last_epoch(work_dirs):
    rows = summarize.collect([str(work_dirs)])
    assert summarize.markdown_table(rows) == '\n'.join([
        '| run | from | R1 | R5 | mAP | mINP | sim/R1 | sim/mAP |',
        '|---|---|---:|---:|---:|---:|---:|---:|',
        '| work_dirs/mos/synthetic_occluded | epoch 10 | 49.4 | 70.0 | 40.0 | 22.0 | - | - |',
        '| work_dirs/sim/synthetic_ir | test | 3.8 | - | 7.4 | - | 5.7 | 10.2 |',
    ])


def test_table_best_epoch_validation_only_chosen_metrics(work_dirs):
    rows = summarize.collect([str(work_dirs)], source='val', epoch='best', best_key='mAP')
    assert summarize.markdown_table(rows, metrics=['R1', 'mAP', 'sim/mAP'], digits=2) == \
        '\n'.join([
            '| run | from | R1 | mAP | sim/mAP |',
            '|---|---|---:|---:|---:|',
            '| work_dirs/mos/synthetic_occluded | epoch 5 | 40.00 | 41.25 | - |',
            '| work_dirs/sim/synthetic_ir | epoch 30 | 3.00 | 7.00 | 10.00 |',
        ])


def test_epoch_number_and_run_folder_as_root(work_dirs):
    rows = summarize.collect([str(work_dirs / 'mos' / 'synthetic_occluded')], epoch='5')
    assert rows == [('synthetic_occluded', 'epoch 5',
                     {'R1': 40.0, 'R5': 60.0, 'mAP': 41.25, 'mINP': 20.0})]


def test_pivot_method_by_dataset(work_dirs):
    run = work_dirs / 'mos' / 'synthetic_partial'
    _lines(run / '20260104_000000' / 'vis_data' / 'scalars.json',
           [{'R1': 56.7, 'mAP': 58.94, 'step': 15}])
    rows = summarize.collect([str(work_dirs)])
    assert summarize.pivot_table(rows, 'mAP') == '\n'.join([
        '| mAP | synthetic_occluded | synthetic_partial | synthetic_ir |',
        '|---|---:|---:|---:|',
        '| mos | 40.0 | 58.9 | - |',
        '| sim | - | - | 7.4 |',
    ])
    assert summarize.pivot_table(rows, 'sim/mAP') == '\n'.join([
        '| sim/mAP | synthetic_ir |',
        '|---|---:|',
        '| sim | 10.2 |',
    ])


def test_metric_order_plain_then_protocol_then_sim():
    names = ['sim/mAP', 'mAP', 'mINP', 'R10', 'R1', 't2v_mAP', 't2v_R1', 'v2t_R1', 'sim/R1']
    assert summarize.order_metrics(names) == [
        'R1', 'R10', 'mAP', 'mINP', 't2v_R1', 't2v_mAP', 'v2t_R1', 'sim/R1', 'sim/mAP']


def test_torchreid_results_json(tmp_path):
    run = tmp_path / 'tr' / 'sim'
    run.mkdir(parents=True)
    (run / 'results.json').write_text(json.dumps({'results': {
        'sim': {'rank1': 3.8, 'mAP': 7.1, 'reranker': None},
        'sim+sim': {'rank1': 3.2, 'mAP': 8.2, 'reranker': 'SIMReranker(...)'}}}))
    rows = summarize.collect([str(tmp_path / 'tr')])
    assert summarize.markdown_table(rows) == '\n'.join([
        '| run | from | R1 | mAP |',
        '|---|---|---:|---:|',
        '| tr/sim:sim | test | 3.8 | 7.1 |',
        '| tr/sim:sim+sim | test | 3.2 | 8.2 |',
    ])


def test_command_line(work_dirs):
    out = subprocess.run([sys.executable, 'tools/summarize.py', str(work_dirs / 'sim'),
                          '--metrics', 'R1', 'sim/R1'], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == '| sim/synthetic_ir | test | 3.8 | 5.7 |'
    empty = subprocess.run([sys.executable, 'tools/summarize.py', str(work_dirs / 'sap')],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert empty.returncode == 1 and 'no logged metrics' in empty.stderr
