"""Shared benchmark harness: every side in its own process, same threads, warm-up, median of 3.

Rules it enforces (README, "Development"):

* each *side* (our code, a peer's code) runs in a fresh child process launched with the same
  thread settings (``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` and
  ``torch.set_num_threads``), so neither inherits the other's heap, caches or patches;
* the child prepares its inputs (untimed), runs a warm-up, then ``--repeat`` timed calls
  (``time.perf_counter``; CUDA is synchronised) and reports their median;
* thread modes: ``1`` (1 thread), ``2`` (2 threads), ``2+load`` (2 threads while the harness
  keeps ``--load-procs`` busy-looping processes running beside the child; it starts and stops
  them itself) and ``1+load`` (1 thread beside the same load: the like-for-like reference for
  ``2+load``, since the load takes CPU time from any side, threaded or not);
* peak memory comes from a *separate* child run (peak RSS growth over the call, Linux
  ``VmHWM`` reset through ``/proc/self/clear_refs``, else the process's ``ru_maxrss``; CUDA:
  ``max_memory_allocated``), never from instrumentation inside timed code (no tracemalloc);
* the table prints one row per (mode, side) and ratios only between sides of the same task in
  the same mode (like for like), plus each side's 2-thread / 1-thread ratios (with and
  without the load).

A benchmark script uses it like this::

    import harness                                   # tools/benchmarks/ is on sys.path

    def side_ours(args, data_dir):                   # runs in the child process
        x = load(data_dir)
        return harness.Prepared(run=lambda: ours(x), to_json=lambda out: out.tolist())

    SIDES = {'ours': side_ours, 'peer': side_peer}

    def main():
        p = argparse.ArgumentParser(); harness.add_arguments(p); args = p.parse_args()
        if harness.is_child(args):
            return harness.child_main(args, SIDES)
        with harness.data_dir() as d:
            save_inputs(args, d)
            harness.run(args, [harness.Side('ours', 'our code'), harness.Side('peer', ...)],
                        data=d, reference='ours', check=compare_results)
"""
import argparse
import contextlib
import json
import os
import os.path as osp
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

RESULT_TAG = 'HARNESS_RESULT '
MODES = ('1', '2', '1+load', '2+load')
MODE_LABEL = {'1': '1 thread', '2': '2 threads', '1+load': '1 thread + load',
              '2+load': '2 threads + load'}
THREAD_ENV = ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS',
              'NUMEXPR_NUM_THREADS', 'VECLIB_MAXIMUM_THREADS')


class Prepared(NamedTuple):
    """What a side's factory returns (in the child).

    ``run``: the timed call; ``warmup``: untimed call(s) before timing (default: ``run``);
    ``to_json``: turns ``run``'s output into JSON data the parent can compare across sides;
    ``sync``: called after each call inside the timed region (e.g. ``torch.cuda.synchronize``);
    ``cuda_device``: when set, peak memory is CUDA ``max_memory_allocated`` on it;
    ``memory_warmup``: the warm-up of the memory run (default: none). Keep it small: after a
    full-size warm-up the allocator reuses the freed pages and the call's growth reads ~0.
    """
    run: Callable[[], object]
    warmup: Optional[Callable[[], object]] = None
    to_json: Optional[Callable[[object], object]] = None
    sync: Optional[Callable[[], None]] = None
    cuda_device: Optional[object] = None
    memory_warmup: Optional[Callable[[], object]] = None


class Side(NamedTuple):
    """A side of the comparison: ``name`` (key of the child's factory table) and a table label;
    ``modes`` limits the thread modes it runs in (``None``: all requested)."""
    name: str
    label: str
    modes: Optional[Sequence[str]] = None


# --------------------------------------------------------------------------- arguments
def add_arguments(parser: argparse.ArgumentParser, quick_help: Optional[str] = None) -> None:
    """Add the harness options (and the hidden child options) to a benchmark's parser."""
    g = parser.add_argument_group('harness')
    g.add_argument('--quick', action='store_true',
                   help=quick_help or 'small problem, 1 thread, 1 timed call, no memory run: '
                   'a correctness smoke run (< 60 s)')
    g.add_argument('--modes', nargs='+', choices=MODES, default=None,
                   help='thread modes (default: all four; --quick: 1)')
    g.add_argument('--repeat', type=int, default=None,
                   help='timed calls per child; the median is reported (default 3; --quick 1)')
    g.add_argument('--warmup', type=int, default=1, help='untimed warm-up calls per child')
    g.add_argument('--rounds', type=int, default=1,
                   help='child processes per side and mode, launched alternately (A B A B ..); '
                   'the median is over all their timed calls')
    g.add_argument('--load-procs', type=int, default=2,
                   help="busy processes started beside the child in the '+load' modes")
    g.add_argument('--no-memory', action='store_true', help='skip the peak-memory runs')
    g.add_argument('--memory-only', action='store_true', help='only the peak-memory runs')
    g.add_argument('--json-out', default=None, help='also write the table as JSON here')
    g.add_argument('--harness-child', default=None, help=argparse.SUPPRESS)
    g.add_argument('--harness-threads', type=int, default=1, help=argparse.SUPPRESS)
    g.add_argument('--harness-task', choices=['time', 'memory'], default='time',
                   help=argparse.SUPPRESS)
    g.add_argument('--harness-data', default=None, help=argparse.SUPPRESS)


def resolve(args) -> None:
    """Fill the defaults that depend on ``--quick``."""
    if args.modes is None:
        args.modes = ['1'] if args.quick else list(MODES)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.quick:
        args.no_memory = True
    if args.memory_only:
        args.modes, args.no_memory = [], False
    if args.repeat < 1 or args.rounds < 1 or args.warmup < 0:
        raise SystemExit('--repeat and --rounds must be >= 1, --warmup >= 0')


def is_child(args) -> bool:
    return bool(getattr(args, 'harness_child', None))


@contextlib.contextmanager
def data_dir(prefix: str = 'asym_bench_'):
    """A temporary folder for the inputs shared by the children (removed afterwards)."""
    d = tempfile.mkdtemp(prefix=prefix)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------- child side
def set_threads(n: int) -> None:
    """Same thread settings in every child: env (read by OpenMP/BLAS at load) + torch."""
    for k in THREAD_ENV:
        os.environ[k] = str(n)
    if 'torch' in sys.modules or _importable('torch'):
        import torch
        torch.set_num_threads(n)
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(1)


def _importable(mod: str) -> bool:
    import importlib.util
    return importlib.util.find_spec(mod) is not None


def _status_kb(key: str) -> Optional[int]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets VmHWM (peak RSS) to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def _maxrss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 2**20 if sys.platform == 'darwin' else r / 1024


def child_main(args, factories: Dict[str, Callable]) -> None:
    """Run one side in this (child) process and print one ``HARNESS_RESULT`` JSON line."""
    resolve(args)
    set_threads(args.harness_threads)
    name = args.harness_child
    if name not in factories:
        raise SystemExit(f'unknown side {name!r}; known: {sorted(factories)}')
    t0 = time.perf_counter()
    prep = factories[name](args, args.harness_data)
    setup_s = time.perf_counter() - t0
    sync = prep.sync or (lambda: None)
    if args.harness_task == 'time':
        warm = prep.warmup or prep.run
        for _ in range(args.warmup):
            warm()
            sync()
    elif prep.memory_warmup is not None:
        prep.memory_warmup()
        sync()
    out = None
    rec = dict(side=name, threads=args.harness_threads, setup_s=setup_s)
    if args.harness_task == 'time':
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            out = prep.run()
            sync()
            times.append(time.perf_counter() - t)
        rec['times'] = times
    else:
        if prep.cuda_device is not None:
            import torch
            torch.cuda.synchronize(prep.cuda_device)
            torch.cuda.reset_peak_memory_stats(prep.cuda_device)
            base = torch.cuda.memory_allocated(prep.cuda_device)
            out = prep.run()
            sync()
            rec['peak_mb'] = (torch.cuda.max_memory_allocated(prep.cuda_device) - base) / 2**20
            rec['peak_kind'] = 'CUDA peak allocated over the call'
        elif _reset_peak() and _status_kb('VmRSS') is not None:
            rss0 = _status_kb('VmRSS')
            out = prep.run()
            sync()
            rec['peak_mb'] = (_status_kb('VmHWM') - rss0) / 1024
            rec['peak_kind'] = 'peak RSS growth over the call'
        else:
            out = prep.run()
            sync()
            rec['peak_mb'] = _maxrss_mb()
            rec['peak_kind'] = 'process peak RSS (ru_maxrss)'
    rec['result'] = prep.to_json(out) if prep.to_json else None
    sys.stdout.flush()
    print(RESULT_TAG + json.dumps(rec), flush=True)


# --------------------------------------------------------------------------- parent side
# A busy loop that also ends when its parent goes away (a killed benchmark leaves no load behind).
_BUSY = ('import os\np = os.getppid()\nwhile os.getppid() == p:\n'
         '    for _ in range(200000):\n        pass\n')


@contextlib.contextmanager
def background_load(num: int):
    """``num`` busy-looping processes for the duration of the block (stopped by their pid).

    They stop by themselves when this process dies, and SIGTERM (e.g. ``timeout``) is turned
    into an exception while they run, so the ``finally`` below stops them too.
    """
    import signal
    procs = [subprocess.Popen([sys.executable, '-c', _BUSY],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(num)]
    old = None
    if _is_main_thread():
        def _term(signum, frame):
            raise SystemExit(f'stopped by signal {signum}')
        old = signal.signal(signal.SIGTERM, _term)
    try:
        time.sleep(0.2)  # let them reach the loop
        yield procs
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _is_main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def _child_argv(script: str, argv: Sequence[str], side: str, threads: int, task: str,
                data: Optional[str]) -> List[str]:
    cmd = [sys.executable, script, *argv, '--harness-child', side, '--harness-threads',
           str(threads), '--harness-task', task]
    if data is not None:
        cmd += ['--harness-data', data]
    return cmd


def launch(script: str, argv: Sequence[str], side: str, threads: int, task: str,
           data: Optional[str], timeout: Optional[float] = None) -> dict:
    """Run one child; return its parsed result (raises with its output on failure)."""
    env = dict(os.environ)
    for k in THREAD_ENV:
        env[k] = str(threads)
    proc = subprocess.run(_child_argv(script, argv, side, threads, task, data), env=env,
                          capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_TAG)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f'side {side!r} ({task}, {threads} threads) failed with exit code '
                           f'{proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}')
    return json.loads(lines[-1][len(RESULT_TAG):])


def _parent_argv() -> List[str]:
    """The parent's own command line, minus options that only concern the parent."""
    out, skip = [], 0
    drop_with_value = {'--json-out'}
    for a in sys.argv[1:]:
        if skip:
            skip -= 1
            continue
        if a in drop_with_value:
            skip = 1
            continue
        if any(a.startswith(k + '=') for k in drop_with_value):
            continue
        out.append(a)
    return out


def _progress(msg: str) -> None:
    print(f'[harness] {msg}', file=sys.stderr, flush=True)


def _threads(mode: str) -> int:
    return int(mode[0])


def run(args, sides: Sequence[Side], data: Optional[str] = None,
        reference: Optional[str] = None, check: Optional[Callable[[Dict[str, object]], str]] = None,
        title: str = '', script: Optional[str] = None, argv: Optional[Sequence[str]] = None,
        timeout: Optional[float] = None) -> dict:
    """Time every side in every requested mode, then (optionally) measure peak memory.

    ``check(results)`` receives ``{side: result}`` (the JSON of each side's output, from the
    first child of each side) and returns a one-line verdict; it must raise (AssertionError)
    when the sides disagree. Returns the table as a dict (also written to ``--json-out``).
    """
    resolve(args)
    script = osp.abspath(script or sys.modules['__main__'].__file__)
    argv = list(_parent_argv() if argv is None else argv)
    rows, results = [], {}
    for mode in args.modes:
        active = [s for s in sides if s.modes is None or mode in s.modes]
        times: Dict[str, List[float]] = {s.name: [] for s in active}
        setup: Dict[str, float] = {}
        ctx = (background_load(args.load_procs) if mode.endswith('+load')
               else contextlib.nullcontext())
        with ctx:
            for _ in range(args.rounds):
                for s in active:
                    r = launch(script, argv, s.name, _threads(mode), 'time', data, timeout)
                    _progress(f'{MODE_LABEL[mode]}: {s.label} '
                              + ' '.join(_fmt_s(t) for t in r['times']) + ' s')
                    times[s.name] += r['times']
                    setup.setdefault(s.name, r['setup_s'])
                    results.setdefault(s.name, r['result'])
        for s in active:
            rows.append(dict(mode=mode, side=s.name, label=s.label, times=times[s.name],
                             median=statistics.median(times[s.name]), setup_s=setup[s.name]))
    memory = {}
    if not args.no_memory:
        for s in sides:
            r = launch(script, argv, s.name, 1, 'memory', data, timeout)
            _progress(f'peak memory: {s.label} {r["peak_mb"]:.0f} MB')
            memory[s.name] = (r['peak_mb'], r['peak_kind'])
            results.setdefault(s.name, r['result'])
    failure = None
    try:
        verdict = check(results) if check else None
    except AssertionError as e:
        failure = verdict = f'MISMATCH between sides: {e}'
    table = dict(title=title, rows=rows, memory={k: v[0] for k, v in memory.items()},
                 memory_kind=next((v[1] for v in memory.values()), None), verdict=verdict,
                 reference=reference, repeat=args.repeat, rounds=args.rounds,
                 load_procs=args.load_procs, results=results)
    print_table(table, sides)
    if args.json_out:
        with open(args.json_out, 'w') as f:
            json.dump(table, f, indent=1)
    if failure:
        raise SystemExit(failure)
    return table


def _fmt_s(x: float) -> str:
    if x < 1:
        return f'{x:.3g}'
    return f'{x:.2f}' if x < 100 else f'{x:.1f}'


def print_table(table: dict, sides: Sequence[Side]) -> None:
    """Print the timing table: median and every timed call per (mode, side), like-for-like
    ratios against the reference side in the same mode, and each side's thread ratios."""
    ref = table['reference']
    labels = {s.name: s.label for s in sides}
    width = max([len(s.label) for s in sides] + [4])
    title = table['title']
    print()
    if title:
        print(f'== {title} ==')
    load = table['load_procs']
    print(f'each side in its own process; warm-up, then {table["repeat"]} timed call(s) per '
          f'process x {table["rounds"]} process(es); median. "+ load": {load} busy processes '
          'run beside it.')
    head = f'{"mode":<17} {"side":<{width}} {"median s":>9} {"calls (s)":<24}'
    if ref:
        head += f' {"vs " + labels.get(ref, ref):>14}'
    print(head)
    print('-' * len(head))
    by = {(r['mode'], r['side']): r for r in table['rows']}
    for r in table['rows']:
        calls = ' '.join(_fmt_s(t) for t in r['times'][:5])
        line = (f'{MODE_LABEL[r["mode"]]:<17} {r["label"]:<{width}} {_fmt_s(r["median"]):>9} '
                f'{calls:<24}')
        if ref:
            rr = by.get((r['mode'], ref))
            if rr is None or r['side'] == ref:
                line += f' {"1.00x" if r["side"] == ref else "-":>14}'
            else:
                line += f' {r["median"] / rr["median"]:>13.2f}x'
        print(line)
    if ref:
        print(f'(vs column: this side\'s median / {labels.get(ref, ref)}\'s median in the same '
              'mode; > 1 = slower than it)')
    pairs = (('2', '1'), ('2+load', '1+load'), ('2+load', '1'))
    lines = []
    for s in sides:
        got = [f'{MODE_LABEL[a]} / {MODE_LABEL[b]} = '
               f'{by[(a, s.name)]["median"] / by[(b, s.name)]["median"]:.2f}'
               for a, b in pairs if (a, s.name) in by and (b, s.name) in by]
        if got:
            lines.append(f'  {labels[s.name]}: ' + ', '.join(got))
    if lines:
        print('threads, same side (< 1: the second thread helps; > 1: it costs):')
        print('\n'.join(lines))
    if table['memory']:
        print(f'peak memory (separate 1-thread run, {table["memory_kind"]}): ' + ', '.join(
            f'{labels[k]} {v:.0f} MB' for k, v in table['memory'].items()))
    if table['verdict']:
        print(f'results: {table["verdict"]}')
    sys.stdout.flush()


def run_single(args, sides: Sequence[Side], **kw) -> dict:
    """Alias of :func:`run` for benchmarks without a peer (no ratio column)."""
    return run(args, sides, reference=None, **kw)
