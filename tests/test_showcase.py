"""tools/showcase.py runs its rows side by side through tools/train.py --epochs, tabulates each
run's own last validation record, is deterministic for a seed, and fails loudly."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import showcase  # noqa: E402

TINY = 'tests/fixtures/tiny_synthetic.py'


def _last_record(run_dir):
    files = [osp.join(d, 'scalars.json') for d, _, fs in os.walk(run_dir) if 'scalars.json' in fs]
    with open(files[0]) as f:
        last = [json.loads(line) for line in f if 'mAP' in line][-1]
    return {k: v for k, v in last.items() if k.split('/')[-1] not in ('time', 'data_time')}


@pytest.mark.slow
def test_showcase_rows_are_their_runs_and_deterministic(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(showcase, 'EXPERIMENTS', [
        showcase.Row('base', 'holistic', 'tiny A', 'tiny-a', TINY, [], 1, True, 0.1),
        showcase.Row('base', 'holistic', 'tiny B', 'tiny-b', TINY, [], 1, True, 0.2),
        showcase.Row('base', 'holistic', 'left out', 'tiny-c', TINY, [], 1, False, 0.1)])
    runs = showcase.main(['--work-dir', str(tmp_path), '--jobs', '2'])
    assert [r['label'] for r in runs] == ['tiny A', 'tiny B']
    out = capsys.readouterr().out
    for run in runs:
        # the row's metrics are the last record of that run's own scalars.json
        last = _last_record(osp.join(tmp_path, run['name'] + '-s0'))
        assert run['metrics'] == last
        assert f"| {run['label']} | 1 | 0 | {last['R1']:.1f} | {last['mAP']:.1f} |" in out
    # same config, same seed, trained side by side: bit-identical results
    assert runs[0]['metrics'] == runs[1]['metrics']
    saved = json.load(open(osp.join(tmp_path, 'showcase.json')))
    assert saved['runs'] == runs
    assert open(osp.join(tmp_path, 'showcase.md')).read().strip() == \
        showcase.format_table(saved['runs'])
    # --render prints the same table from the results file
    showcase.main(['--render', osp.join(tmp_path, 'showcase.json')])
    assert showcase.format_table(saved['runs']) in capsys.readouterr().out
    # --collect tabulates the finished runs again without training (same metrics)
    again = showcase.main(['--work-dir', str(tmp_path), '--jobs', '2', '--collect'])
    assert [r['metrics'] for r in again] == [r['metrics'] for r in runs]
    with pytest.raises(showcase.MissingInputError, match='no finished run'):
        showcase.main(['--work-dir', str(tmp_path / 'empty'), '--collect'])
    # every next step the showcase printed works as printed, in order
    steps = _run_next_steps(out)
    assert [s.split()[1] for s in steps] == ['tools/test.py', 'tools/visualize.py',
                                             'tools/summarize.py']
    assert osp.isfile(osp.join(ROOT, steps[0].split('--save-features ')[1]))


def _run_next_steps(out):
    """Run the commands printed under 'Next, try ...' as a user pasting them would."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith('Next, try'))
    steps = []
    for line in lines[start + 1:]:
        if not line.startswith('  python '):
            break
        steps.append(line.strip())
    for step in steps:
        proc = subprocess.run([sys.executable] + step.split()[1:], cwd=ROOT,
                              capture_output=True, text=True,
                              env=dict(os.environ, OMP_NUM_THREADS='1'))
        assert proc.returncode == 0, step + '\n' + proc.stdout[-2000:] + proc.stderr[-2000:]
    return steps


@pytest.mark.slow
def test_sim_next_steps_work_as_printed(tmp_path, monkeypatch, capsys):
    """The SIM row's next steps: save features, re-rank them offline, draw SIM's before/after."""
    monkeypatch.setattr(showcase, 'EXPERIMENTS', [
        showcase.Row('sim', 'infrared->visible', 'BoT + SIM', 'sim-tiny',
                     'configs/sim/synthetic_ir_bot.py', [], 1,
                     True, 0.1)])
    runs = showcase.main(['--work-dir', str(tmp_path), '--jobs', '1'])
    assert runs[0]['metrics'] and 'sim/mAP' in runs[0]['metrics']
    steps = _run_next_steps(capsys.readouterr().out)
    assert [s.split()[1] for s in steps] == ['tools/test.py', 'tools/rerank.py',
                                             'tools/visualize.py']
    assert osp.isfile(osp.join(ROOT, steps[2].split('--out ')[1].split()[0]))


def test_a_failed_run_exits_non_zero(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(showcase, 'EXPERIMENTS', [
        showcase.Row('base', 'holistic', 'broken', 'broken', 'configs/does_not_exist.py', [], 1,
                     True, 0.1)])
    with pytest.raises(SystemExit) as exc:
        showcase.main(['--work-dir', str(tmp_path), '--jobs', '1'])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert 'FAILED: broken-s0' in err
    assert '| broken | 1 | 0 | failed |' in open(osp.join(tmp_path, 'showcase.md')).read()


def test_table_pools_seeds_as_mean_and_std():
    runs = [dict(method='m', scenario='s', label='L', epochs=2, seed=seed,
                 metrics={'reid/R1': r1, 'reid/mAP': 50.0, 'sim/R1': 1.0, 'sim/mAP': 2.0})
            for seed, r1 in ((0, 10.0), (1, 20.0), (2, 30.0))]
    table = showcase.format_table(runs)
    # mean 20, sample std 10 (hand values)
    assert '| m | s | L | 2 | 0, 1, 2 | 20.0 +- 10.0 | 50.0 +- 0.0 | 1.0 +- 0.0 | 2.0 +- 0.0 |' \
        in table


def test_epochs_budget_gets_its_own_work_dir(monkeypatch):
    seen = {}
    monkeypatch.setattr(showcase, 'plan_runs', lambda args: seen.setdefault('a', args) and [])
    monkeypatch.setattr(showcase, 'EXPERIMENTS', [])
    showcase.main(['--epochs', '3'])
    assert seen['a'].work_dir.endswith(osp.join('work_dirs', 'showcase_e3'))


def test_progress_is_read_from_the_training_log(tmp_path):
    log = tmp_path / 'x.log'
    log.write_text('... Epoch(train)  [3][ 5/20]  lr: 1e-3\n... Epoch(train)  [3][10/20]\n')
    assert showcase.epochs_done(str(log)) == 2.5
    assert showcase.epochs_done(str(tmp_path / 'missing.log')) == 0.0


def test_eta_after_resume_counts_only_the_runs_trained_now(tmp_path):
    """--resume: a reused run's full log is not progress of this invocation (the ETA read 0
    min at 55% while two 40-epoch runs had just started)."""
    logs = {}
    for name, epoch in (('old', 4), ('new', 2)):
        logs[name] = tmp_path / f'{name}.log'
        logs[name].write_text(f'Epoch(train)  [{epoch}][4/4]\n')
    runs = [dict(id=n, epochs=4, minutes=4.0, log=str(p)) for n, p in logs.items()]
    progress = showcase.Progress(runs, 4.0, reused={'old'})
    progress.finished.add('old')
    progress.start -= 10 * 60  # ten minutes for half of the one run trained now
    done, text = progress.line(started={'old', 'new'})
    assert done == 6 and text.startswith('ETA 10 min'), text
    everything = showcase.Progress(runs, 4.0)  # without --resume both runs are this work
    everything.start -= 10 * 60
    assert everything.line({'new'})[1].startswith('ETA 3 min')


def _abl_run(row, seed, r1, mAP, **extra):
    m = {'R1': r1, 'mAP': mAP, 'mINP': mAP / 2, 'step': row.epochs, **extra}
    return dict(method=row.method, scenario=row.scenario, label=row.label, name=row.name,
                seed=seed, epochs=row.epochs, config=row.config, options=list(row.options),
                rerank=[list(x) for x in row.rerank], metrics=m)


def test_ablation_tables_and_showcase_from_ablation(tmp_path, capsys):
    rows = {r.name: r for r in showcase.ABLATIONS}
    runs = [_abl_run(rows['mos-occ-bot'], 0, 30.0, 31.0),
            _abl_run(rows['mos-occ-bot'], 1, 34.0, 33.0),
            _abl_run(rows['mos-occ-mos'], 0, 50.0, 48.0),
            _abl_run(rows['mos-occ-mos'], 1, 46.0, 44.0),
            _abl_run(rows['sim-ir-abl'], 0, 29.0, 29.0, **{'sim/R1': 27.0, 'sim/mAP': 33.0,
                                                          'sim_graph/R1': 26.0}),
            _abl_run(rows['sim-ir-abl'], 1, 31.0, 30.0, **{'sim/R1': 29.0, 'sim/mAP': 35.0,
                                                          'sim_graph/R1': 28.0})]
    doc = dict(command='python tools/showcase.py --ablation', ablation=True, runs=runs)
    text = showcase.render(doc)
    # mean +- sample std over the seeds, per row; re-ranked variants are rows of their own;
    # gains paired by seed over the table's first row (MoS R1: 50 - 30, 46 - 34 -> 16 +- 5.7)
    assert '| BoT baseline | 15 | 0, 1 | 32.0 +- 2.8 | 32.0 +- 1.4 | 16.0 +- 0.7 | - | - |' \
        in text
    assert '| MoS | 15 | 0, 1 | 48.0 +- 2.8 | 46.0 +- 2.8 | 23.0 +- 1.4 | +16.0 +- 5.7 | ' \
        '+14.0 +- 4.2 |' in text
    assert '| BoT + SIM, released values | 25 | 0, 1 | 28.0 +- 1.4 | 34.0 +- 1.4 |  | ' \
        '-2.0 +- 0.0 | +4.5 +- 0.7 |' in text
    assert '| BoT + graph inference, released values | 25 | 0, 1 | 27.0 +- 1.4 |  |  | ' \
        '-3.0 +- 0.0 |  |' in text
    assert '| BoT | 25 | 0, 1 | 30.0 +- 1.4 | 29.5 +- 0.7 | 14.8 +- 0.4 | - | - |' in text
    assert text.index('mos (occluded)') < text.index('sim (infrared->visible)')
    json.dump(doc, open(tmp_path / 'ablation.json', 'w'))
    out = showcase.main(['--from-ablation', str(tmp_path / 'ablation.json'),
                         '--work-dir', str(tmp_path / 'sc')])
    assert [(r['name'], r['seed']) for r in out] == [
        ('mos-occ-bot', 0), ('mos-occ-bot', 1), ('mos-occ-mos', 0), ('mos-occ-mos', 1),
        ('sim-ir-bot', 0), ('sim-ir-bot', 1)]
    table = showcase.format_table(out)
    assert '| sim | infrared->visible | BoT, then + SIM (same model) | 25 | 0, 1 | 30.0 +- 1.4 | ' \
           '29.5 +- 0.7 | 28.0 +- 1.4 | 34.0 +- 1.4 |' in table
    saved = json.load(open(tmp_path / 'sc' / 'showcase.json'))
    assert showcase.render(saved) == table
    # a run that is not the showcase row (other options) is refused, not silently mixed in
    runs[0]['options'] = ['model.something=1']
    json.dump(doc, open(tmp_path / 'ablation.json', 'w'))
    with pytest.raises(showcase.ConfigError, match='mos-occ-bot'):
        showcase.main(['--from-ablation', str(tmp_path / 'ablation.json'),
                       '--work-dir', str(tmp_path / 'sc')])


def test_every_row_option_addresses_an_existing_key():
    """A row's ``--cfg-options`` change keys the config has (a reordered hook list or a renamed
    key would otherwise switch the wrong thing, or nothing, without an error)."""
    from mmengine.config import Config
    for row in showcase.EXPERIMENTS + showcase.ABLATIONS:
        cfg = Config.fromfile(osp.join(ROOT, row.config))
        for opt in row.options:
            path = opt.split('=')[0].split('.')
            assert path[0] in cfg, f'{row.name}: {opt}: no key {path[0]} in {row.config}'
            node = cfg[path[0]]
            for i, key in enumerate(path[1:-1], 1):  # down to the last list element named
                if isinstance(node, list):
                    node = node[int(key)]
                    assert path[i + 1] in node, f'{row.name}: {opt}: element {key} has no ' \
                                                f'{path[i + 1]} in {row.config}'
                elif key in node and isinstance(node[key], (dict, list)):
                    node = node[key]
                else:
                    break
    hooks = Config.fromfile(osp.join(ROOT, showcase._SAP)).custom_hooks
    assert hooks[1]['type'] == 'TeacherDistillationHook'  # the rows' custom_hooks.1.teacher


def test_data_rows_write_the_world_their_config_reads(tmp_path, monkeypatch):
    """A row trained on an on-disk world (``Row.data``) writes it where its config reads it, in
    a folder whose summary records the world's settings; a folder written with other settings
    stops the showcase instead of being trained on."""
    from mmengine.config import Config
    for row in showcase.ABLATIONS:
        if row.data:
            summary, _ = showcase._world_of(row.data)
            root = osp.relpath(summary[:-len('.summary.json')], ROOT)
            cfg = Config.fromfile(osp.join(ROOT, row.config))
            assert cfg.train_dataloader.dataset.data_root == root
            assert cfg.test_dataloader.dataset.gallery.data_root == root
    monkeypatch.setattr(showcase, 'ROOT', str(tmp_path))
    monkeypatch.setattr(showcase.subprocess, 'run', lambda cmd, **kw: pytest.fail(
        f'rewrote an existing world: {cmd}'))
    args = ('--layout', 'sysu_mm01', '--out', 'd', '--img-size', '64', '32',
            '--gallery-imgs-per-id', '3', '4')
    summary, want = showcase._world_of(args)
    assert want == dict(seed=0, img_size=[64, 32], gallery_imgs_per_id=[3, 4])
    from asym_plugins.data.synthetic.writer import write_layout
    written = write_layout('sysu_mm01', str(tmp_path / 'd'), num_train_ids=3, num_test_ids=2,
                           img_size=(64, 32), gallery_imgs_per_id=(3, 4))
    assert written['world'] == dict(seed=0, img_size=[64, 32], gallery_imgs_per_id=[3, 4],
                                    num_test_ids=2, num_train_ids=3)
    assert osp.isfile(summary)
    showcase.ensure_data([dict(data=list(args))])  # same settings: kept (subprocess not called)
    with pytest.raises(showcase.ConfigError, match=r'rm -r d/SYSU-MM01'):
        showcase.ensure_data([dict(data=list(args[:-1]) + ['5'])])
