"""Every benchmark's ``--quick`` mode runs and prints its table (correctness only, no timing
asserts), and the shared harness does what the benchmarks rely on."""
import contextlib
import io
import os
import os.path as osp
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
BENCH = osp.join(ROOT, 'tools', 'benchmarks')
sys.path.insert(0, BENCH)

import bench_eval  # noqa: E402
import harness  # noqa: E402

from asym_plugins.evaluation.rank import evaluate_rank  # noqa: E402

BENCHMARKS = sorted(f for f in os.listdir(BENCH) if f.startswith('bench_') and f.endswith('.py'))


def test_every_benchmark_has_a_quick_mode():
    assert {'bench_eval.py', 'bench_mos.py', 'bench_sap.py', 'bench_mcma.py',
            'bench_synthetic.py', 'bench_rerank.py'} <= set(BENCHMARKS)
    for script in BENCHMARKS:
        with open(osp.join(BENCH, script)) as f:
            src = f.read()
        assert 'harness.add_arguments' in src or "'--quick'" in src, f'{script} has no --quick'


@pytest.mark.slow
@pytest.mark.parametrize('script', BENCHMARKS)
def test_quick_mode_runs_and_prints_its_table(script):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, osp.join(BENCH, script), '--quick'], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900)
    out = proc.stdout
    assert proc.returncode == 0, f'{script} --quick failed:\n{out[-3000:]}\n{proc.stderr[-3000:]}'
    if script == 'bench_rerank.py' and 'median s' not in out:
        # Until bench_rerank.py prints the harness table, it must still print its result lines.
        assert out.strip(), 'bench_rerank.py --quick printed nothing'
        return
    assert '== ' in out and 'median s' in out, out[-2000:]
    rows = [ln for ln in out.splitlines() if ln.startswith('1 thread ')]
    assert rows, out[-2000:]
    assert 'results: ' in out and 'MISMATCH' not in out, out[-2000:]


def test_bench_eval_quick_peers_agree_with_ours():
    """Our evaluator and torchreid's own python evaluator (conftest: never our replacement)
    give the same numbers, check() says so, and it refuses a peer that differs."""
    from conftest import torchreid_evaluate_rank
    qf, gf, qp, gp, qc, gc = bench_eval.make_data(120, 600, 40, 6, 32, 0)
    d = ((qf[:, None, :] - gf[None]) ** 2).sum(-1).astype(np.float32)  # brute-force distances
    ours = evaluate_rank(d, qp, gp, qc, gc, 50)
    cmc, mAP = torchreid_evaluate_rank(d, qp, gp, qc, gc, 50)
    res = {'ours': bench_eval._result(ours.cmc, ours.mAP, ours.mINP, ours.num_valid),
           'torchreid-py': bench_eval._result(cmc, mAP)}
    assert 'same numbers' in bench_eval.check(res)
    res['torchreid-py']['mAP'] += 1e-3
    with pytest.raises(AssertionError, match='torchreid python'):
        bench_eval.check(res)


def test_bench_eval_peer_source_errors_name_the_option(tmp_path):
    with pytest.raises(SystemExit, match='--torchreid-src'):
        bench_eval.find_pyx('torchreid', str(tmp_path / 'missing'))
    with pytest.raises(SystemExit, match='--fastreid-src .*rank_cylib/rank_cy.pyx'):
        bench_eval.find_pyx('fastreid', str(tmp_path))
    (tmp_path / 'torchreid' / 'metrics' / 'rank_cylib').mkdir(parents=True)
    pyx = tmp_path / 'torchreid' / 'metrics' / 'rank_cylib' / 'rank_cy.pyx'
    pyx.write_text('# placeholder')
    assert bench_eval.find_pyx('torchreid', str(tmp_path)) == str(pyx)


def test_evaluate_rank_same_with_two_threads_and_restores_them():
    """The CPU evaluation runs its kernels on one thread; the result is bit-identical to a
    1-thread run and torch's thread setting is put back."""
    qf, gf, qp, gp, qc, gc = bench_eval.make_data(200, 900, 50, 6, 16, 1)
    d = ((qf[:, None, :] - gf[None]) ** 2).sum(-1).astype(np.float32)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = evaluate_rank(d, qp, gp, qc, gc, 20, return_per_query=True, chunk_size=64)
        torch.set_num_threads(2)
        two = evaluate_rank(d, qp, gp, qc, gc, 20, return_per_query=True, chunk_size=64)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(one.cmc, two.cmc) and one.mAP == two.mAP and one.mINP == two.mINP
    for a, b in zip(one.per_query, two.per_query):
        assert np.array_equal(a, b)


def _alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().split()[2] != 'Z'
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not osp.isdir('/proc/self'), reason='reads /proc to see the load processes')
def test_background_load_busy_while_inside_and_stopped_after():
    with harness.background_load(2) as procs:
        pids = [p.pid for p in procs]
        time.sleep(0.3)
        assert all(p.poll() is None for p in procs)
        ticks = []
        for pid in pids:
            with open(f'/proc/{pid}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
            ticks.append(int(fields[11]) + int(fields[12]))  # utime + stime
        assert all(t > 0 for t in ticks), ticks  # they really burn CPU
    assert not any(_alive(pid) for pid in pids)


@pytest.mark.skipif(not osp.isdir('/proc/self'), reason='reads /proc to see the load processes')
def test_background_load_ends_when_the_benchmark_is_killed():
    """A benchmark killed mid-run (SIGKILL: no clean-up runs) leaves no busy process behind."""
    code = ('import sys, time\nsys.path.insert(0, sys.argv[1])\nimport harness\n'
            'with harness.background_load(2) as ps:\n'
            '    print(" ".join(str(p.pid) for p in ps), flush=True)\n    time.sleep(120)\n')
    parent = subprocess.Popen([sys.executable, '-c', code, BENCH], stdout=subprocess.PIPE,
                              text=True)
    pids = [int(x) for x in parent.stdout.readline().split()]
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    parent.kill()
    parent.wait()
    deadline = time.time() + 30
    while any(_alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids)


def test_harness_table_ratios_are_within_a_mode():
    """The vs column divides by the reference side of the SAME mode, never across modes."""
    rows = [dict(mode='1', side='ours', label='ours', times=[1.0], median=1.0, setup_s=0),
            dict(mode='1', side='peer', label='peer', times=[3.0], median=3.0, setup_s=0),
            dict(mode='2+load', side='ours', label='ours', times=[2.0], median=2.0, setup_s=0),
            dict(mode='2+load', side='peer', label='peer', times=[10.0], median=10.0, setup_s=0)]
    table = dict(title='t', rows=rows, memory={}, memory_kind=None, verdict='ok',
                 reference='ours', repeat=1, rounds=1, load_procs=2, results={})
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        harness.print_table(table, [harness.Side('ours', 'ours'), harness.Side('peer', 'peer')])
    text = buf.getvalue()
    assert '3.00x' in text and '5.00x' in text and '2 threads + load / 1 thread = 2.00' in text
