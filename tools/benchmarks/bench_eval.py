"""Benchmark our evaluator (CMC/mAP/mINP) against the peers' evaluators, like for like.

Sides (each in its own process with the same thread settings, see ``harness.py``):

* ``ours``: ``asym_plugins.evaluation.evaluate_rank``;
* ``torchreid-py``: torchreid's python ``evaluate_rank(use_cython=False)`` as shipped in its
  wheel (a fresh process that never imports our torchreid integration, so nothing is patched);
* ``torchreid-cy``: torchreid's Cython evaluator (``rank_cy.pyx``; not in the PyPI wheel),
  compiled from a source checkout given with ``--torchreid-src`` (``git clone
  https://github.com/KaiyangZhou/deep-person-reid``);
* ``fastreid-cy``: fast-reid's Cython evaluator, compiled from ``--fastreid-src`` (a fast-reid
  checkout, an unpacked ``fastreid`` package, or the wheel from ``pip download fastreid
  --no-deps``). ``pip install fastreid`` does not install beside our stack: fastreid 1.4.0
  pins ``torch==1.13.1`` / ``torchvision==0.14.1``, and with ``--no-deps`` its
  ``fastreid.evaluation`` fails to import on Python >= 3.10 (``from collections import
  Mapping``), so only its Cython file is used.

Warm-up: ours runs a tiny problem and the full one once; the peers run a tiny problem (they
have no lazy set-up; a full warm-up call would cost seconds to a minute each). torchreid's
python evaluator runs in mode ``1`` only unless ``--torchreid-py-modes`` says otherwise.

The Cython files are compiled once (Cython + a C compiler needed) into ``--build-dir``, outside
the repository. All sides run on the SAME saved float32 distance matrix; Market-1501 scale by
default (3,368 queries x 15,913 gallery, 751 identities + distractors with pid 0, 6 cameras);
features are identity centres + camera bias + noise, so the metrics land in a realistic range.
The benchmark asserts that every peer gives our numbers (CMC equal within 1e-6; mAP / mINP
within 1e-5, as the Cython peers sum AP in float32) and prints the table of ``harness.py``.

Usage::
    python tools/benchmarks/bench_eval.py --quick        # 600 x 3000, 1 thread, correctness
    python tools/benchmarks/bench_eval.py --torchreid-src ~/src/deep-person-reid \\
        --fastreid-src ~/src/fast-reid                   # Market scale, 4 thread modes
"""
import argparse
import glob
import hashlib
import importlib.machinery
import importlib.util
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile

import numpy as np

HERE = osp.dirname(osp.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, osp.dirname(osp.dirname(HERE)))
import harness  # noqa: E402

PYX_CANDIDATES = {
    'torchreid': ('torchreid/metrics/rank_cylib/rank_cy.pyx',
                  'torchreid/reid/metrics/rank_cylib/rank_cy.pyx',
                  'metrics/rank_cylib/rank_cy.pyx', 'reid/metrics/rank_cylib/rank_cy.pyx',
                  'rank_cylib/rank_cy.pyx', 'rank_cy.pyx'),
    'fastreid': ('fastreid/evaluation/rank_cylib/rank_cy.pyx', 'evaluation/rank_cylib/rank_cy.pyx',
                 'rank_cylib/rank_cy.pyx', 'rank_cy.pyx'),
}
SRC_OPTION = {'torchreid': '--torchreid-src', 'fastreid': '--fastreid-src'}

_SETUP = """
import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
setup(name='{name}', script_args=['build_ext', '--inplace'],
      ext_modules=cythonize([Extension('{name}', ['{name}.pyx'],
                                        include_dirs=[np.get_include()])],
                            language_level=3, quiet=True))
"""


# --------------------------------------------------------------------------- data
def make_data(num_query, num_gallery, num_ids, num_cams, dim, seed, noise=1.25, cam_scale=0.6):
    """Identity-structured random features (Market-like: ~17% distractors in the gallery)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_ids + 1, dim)).astype(np.float32)
    cam_bias = cam_scale * rng.normal(size=(num_cams, dim)).astype(np.float32)
    num_distractors = int(0.175 * num_gallery)
    g_pids = np.concatenate([rng.integers(1, num_ids + 1, num_gallery - num_distractors),
                             np.zeros(num_distractors, dtype=np.int64)])
    q_pids = rng.integers(1, num_ids + 1, num_query)
    g_cams = rng.integers(0, num_cams, num_gallery)
    q_cams = rng.integers(0, num_cams, num_query)

    def feats(pids, cams):
        x = centres[pids] + cam_bias[cams] + noise * rng.normal(size=(len(pids), dim))
        distractor = pids == 0  # each distractor is a person of its own
        x[distractor] += rng.normal(size=(int(distractor.sum()), dim)) - centres[0]
        return x.astype(np.float32)

    return feats(q_pids, q_cams), feats(g_pids, g_cams), q_pids, g_pids, q_cams, g_cams


def sizes(args):
    return (600, 3000, 150) if args.quick else (args.num_query, args.num_gallery, args.num_ids)


def load_problem(data):
    z = np.load(osp.join(data, 'problem.npz'))
    return tuple(z[k] for k in ('distmat', 'qp', 'gp', 'qc', 'gc'))


def _tiny():
    rng = np.random.default_rng(0)
    ids = np.arange(30) % 5
    return rng.random((4, 30)).astype(np.float32), ids[:4], ids, ids[:4] + 1, ids


# --------------------------------------------------------------------------- Cython peers
def find_pyx(peer: str, src: str) -> str:
    """The peer's ``rank_cy.pyx`` inside ``src`` (a checkout, package folder, .pyx or .whl)."""
    opt = SRC_OPTION[peer]
    if not osp.exists(src):
        raise SystemExit(f'{opt} {src}: no such file or folder; give a {peer} source checkout')
    if src.endswith('.pyx'):
        return src
    if src.endswith('.whl'):
        with zipfile.ZipFile(src) as z:
            names = [n for n in z.namelist() if n.endswith('rank_cylib/rank_cy.pyx')]
            if not names:
                raise SystemExit(f'{opt} {src}: the wheel holds no rank_cylib/rank_cy.pyx')
            text = z.read(names[0])
        out_dir = osp.join(tempfile.gettempdir(), 'asym_bench_cython',
                           f'{peer}_pyx_{hashlib.sha1(text).hexdigest()[:12]}')
        os.makedirs(out_dir, exist_ok=True)
        out = osp.join(out_dir, 'rank_cy.pyx')
        with open(out, 'wb') as f:
            f.write(text)
        return out
    for rel in PYX_CANDIDATES[peer]:
        p = osp.join(src, rel)
        if osp.isfile(p):
            return p
    raise SystemExit(f'{opt} {src}: none of {", ".join(PYX_CANDIDATES[peer])} exists there; '
                     f'give the root of a {peer} source checkout')


def build_cython(peer: str, pyx: str, build_dir: str) -> str:
    """Compile ``pyx`` once into ``build_dir/<peer>_<hash>/`` and return the extension path."""
    with open(pyx, 'rb') as f:
        digest = hashlib.sha1(f.read() + np.__version__.encode()).hexdigest()[:12]
    name = f'{peer}_rank_cy'
    out_dir = osp.join(build_dir, f'{peer}_{digest}_py{sys.version_info[0]}{sys.version_info[1]}')
    built = _built(out_dir, name)
    if built:
        return built[0]
    if importlib.util.find_spec('Cython') is None:
        raise SystemExit(f'{SRC_OPTION[peer]} needs Cython to compile {pyx}: '
                         'pip install cython (and a C compiler)')
    os.makedirs(out_dir, exist_ok=True)
    shutil.copy(pyx, osp.join(out_dir, name + '.pyx'))
    proc = subprocess.run([sys.executable, '-c', _SETUP.format(name=name)], cwd=out_dir,
                          capture_output=True, text=True)
    built = _built(out_dir, name)
    if proc.returncode != 0 or not built:
        raise SystemExit(f'compiling {pyx} ({SRC_OPTION[peer]}) failed; needs Cython and a C '
                         f'compiler:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return built[0]


def _built(out_dir, name):
    return [p for ext in ('*.so', '*.pyd') for p in glob.glob(osp.join(out_dir, name + ext))]


def load_extension(path: str):
    name = osp.basename(path).split('.')[0]
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def peer_pyx(args, peer):
    src = getattr(args, f'{peer}_src')
    return None if src is None else find_pyx(peer, osp.expanduser(src))


# --------------------------------------------------------------------------- sides (children)
def _result(cmc, mAP, mINP=None, num_valid=None):
    return dict(cmc=[float(c) for c in cmc], mAP=float(mAP),
                mINP=None if mINP is None else float(mINP), num_valid=num_valid)


def side_ours(args, data):
    import torch

    from asym_plugins.evaluation.rank import evaluate_rank
    distmat, qp, gp, qc, gc = load_problem(data)
    dev = torch.device(args.device)
    x = distmat if dev.type == 'cpu' else torch.from_numpy(distmat).to(dev)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == 'cuda' else None

    def run():
        return evaluate_rank(x, qp, gp, qc, gc, args.max_rank)

    return harness.Prepared(
        run=run, warmup=lambda: (evaluate_rank(*_tiny(), 10), run()), sync=sync,
        memory_warmup=lambda: evaluate_rank(*_tiny(), 10),
        cuda_device=dev if dev.type == 'cuda' else None,
        to_json=lambda r: _result(r.cmc, r.mAP, r.mINP, r.num_valid))


def side_torchreid_py(args, data):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # "Cython evaluation ... unavailable"
        from torchreid.reid.metrics.rank import evaluate_rank
    if 'asym_plugins.integrations.torchreid' in sys.modules:
        raise RuntimeError('our torchreid integration is loaded: the peer would be patched')
    distmat, qp, gp, qc, gc = load_problem(data)

    def run():
        return evaluate_rank(distmat, qp, gp, qc, gc, args.max_rank, use_cython=False)

    return harness.Prepared(
        run=run, warmup=lambda: evaluate_rank(*_tiny(), 10, use_cython=False),
        memory_warmup=lambda: evaluate_rank(*_tiny(), 10, use_cython=False),
        to_json=lambda r: _result(r[0], r[1]))


def _side_cython(peer):
    def factory(args, data):
        mod = load_extension(build_cython(peer, peer_pyx(args, peer), args.build_dir))
        distmat, qp, gp, qc, gc = load_problem(data)
        qp, gp, qc, gc = (a.astype(np.int64) for a in (qp, gp, qc, gc))

        def run():
            return mod.evaluate_cy(distmat, qp, gp, qc, gc, args.max_rank, False)

        def to_json(r):
            if peer == 'fastreid':  # (cmc, per-query AP, per-query INP)
                return _result(r[0], np.mean(r[1]), np.mean(r[2]), len(r[1]))
            return _result(r[0], r[1])

        def tiny():
            return mod.evaluate_cy(*_tiny(), 10, False)

        return harness.Prepared(run=run, warmup=tiny, memory_warmup=tiny, to_json=to_json)
    return factory


SIDES = {'ours': side_ours, 'torchreid-py': side_torchreid_py,
         'torchreid-cy': _side_cython('torchreid'), 'fastreid-cy': _side_cython('fastreid')}
LABELS = {'ours': 'asym evaluate_rank', 'torchreid-py': 'torchreid python',
          'torchreid-cy': 'torchreid Cython', 'fastreid-cy': 'fast-reid Cython'}


# --------------------------------------------------------------------------- parent
def check(results):
    """Every peer must give our numbers; returns the verdict line."""
    ours = results['ours']
    parts = [f'ours R1 {ours["cmc"][0]:.4%} R5 {ours["cmc"][4]:.4%} mAP {ours["mAP"]:.4%} '
             f'mINP {ours["mINP"]:.4%} ({ours["num_valid"]} valid queries)']
    for name, r in results.items():
        if name == 'ours':
            continue
        dc = float(np.abs(np.asarray(ours['cmc']) - np.asarray(r['cmc'])).max())
        dm = abs(ours['mAP'] - r['mAP'])
        msg = f'{LABELS[name]}: max|dCMC| {dc:.1e}, |dmAP| {dm:.1e}'
        assert dc <= 1e-6 and dm <= 1e-5, msg
        if r['mINP'] is not None:
            di = abs(ours['mINP'] - r['mINP'])
            msg += f', |dmINP| {di:.1e}'
            assert di <= 1e-5 and r['num_valid'] == ours['num_valid'], msg
        parts.append(msg)
    return '; '.join(parts) + ' -> same numbers'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split('\n', 1)[1])
    p.add_argument('--num-query', type=int, default=3368)
    p.add_argument('--num-gallery', type=int, default=15913)
    p.add_argument('--num-ids', type=int, default=751)
    p.add_argument('--dim', type=int, default=256)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--max-rank', type=int, default=50)
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda' for our evaluator")
    p.add_argument('--torchreid-src', default=None,
                   help='deep-person-reid checkout: adds torchreid\'s Cython evaluator')
    p.add_argument('--fastreid-src', default=None,
                   help='fast-reid checkout / fastreid package / wheel: adds fast-reid\'s Cython '
                   'evaluator (pip install fastreid does not install beside torch 2, see above)')
    p.add_argument('--no-torchreid-py', action='store_true',
                   help='leave out torchreid\'s python evaluator (the slowest peer)')
    p.add_argument('--torchreid-py-modes', nargs='+', choices=harness.MODES, default=['1'],
                   help='thread modes of torchreid\'s python evaluator (default: 1; it runs '
                   'about a minute per call at Market scale)')
    p.add_argument('--build-dir', default=osp.join(tempfile.gettempdir(), 'asym_bench_cython'),
                   help='where the Cython peers are compiled (outside the repository)')
    harness.add_arguments(p)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if harness.is_child(args):
        return harness.child_main(args, SIDES)
    harness.resolve(args)
    sides = [harness.Side('ours', LABELS['ours'])]
    if not args.no_torchreid_py:
        sides.append(harness.Side('torchreid-py', LABELS['torchreid-py'],
                                  modes=args.torchreid_py_modes))
    for peer in ('torchreid', 'fastreid'):
        pyx = peer_pyx(args, peer)
        if pyx is not None:
            so = build_cython(peer, pyx, args.build_dir)
            print(f'{peer} Cython evaluator: {pyx} compiled to {so}')
            sides.append(harness.Side(f'{peer}-cy', LABELS[f'{peer}-cy']))
    import torch

    from asym_plugins.evaluation.distance import compute_distance
    nq, ng, nid = sizes(args)
    qf, gf, qp, gp, qc, gc = make_data(nq, ng, nid, 6, args.dim, args.seed)
    distmat = compute_distance(torch.from_numpy(qf), torch.from_numpy(gf), 'sqeuclidean').numpy()
    with harness.data_dir() as d:
        np.savez(osp.join(d, 'problem.npz'), distmat=distmat, qp=qp, gp=gp, qc=qc, gc=gc)
        title = (f'evaluators (CMC/mAP), {nq} queries x {ng} gallery, {nid} ids + distractors, '
                 f'6 cams, float32 distmat {distmat.nbytes / 2**20:.0f} MB; torch '
                 f'{torch.__version__}, numpy {np.__version__}, ours on {args.device}')
        del distmat, qf, gf
        table = harness.run(args, sides, data=d, reference='ours', check=check, title=title)
    peers = [r for r in table['rows'] if r['side'] != 'ours']
    for mode in args.modes:
        ours = [r for r in table['rows'] if r['side'] == 'ours' and r['mode'] == mode]
        ps = [r for r in peers if r['mode'] == mode]
        if ours and ps:
            fastest = min(ps, key=lambda r: r['median'])
            print(f'{harness.MODE_LABEL[mode]}: fastest peer {fastest["label"]} '
                  f'{fastest["median"]:.3g} s = {fastest["median"] / ours[0]["median"]:.1f}x ours')
    return table


if __name__ == '__main__':
    main()
