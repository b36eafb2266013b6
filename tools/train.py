"""Train a model from a config with MMEngine's Runner.

Examples::
    python tools/train.py configs/baseline/synthetic.py
    python tools/train.py configs/sap/occluded_duke.py --work-dir work_dirs/sap --amp
    python tools/train.py CONFIG --epochs 5          # shorter budget, schedule scaled
    python tools/train.py CONFIG --resume            # latest checkpoint of --work-dir (must exist)
    python tools/train.py CONFIG --resume auto       # resume if there is a checkpoint, else start
    python tools/train.py CONFIG --resume work_dirs/x/epoch_4.pth
    python tools/train.py CONFIG --cfg-options train_dataloader.batch_size=32
    bash tools/dist_train.sh CONFIG 8                # 8 processes on one machine

A user mistake (missing data or weights, bad config key or value, a work dir in use by another
training, nothing to resume) stops with the message and exit code 2; ``--debug`` (or
``ASYM_DEBUG=1``) shows the traceback. One training at a time per work dir (lock file
``.asym_train.lock``); runs with ``--cfg-options`` and no ``--work-dir`` get their own default
folder (``work_dirs/<method>/<name>@<key-value>``).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mmengine.config import Config  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import asym_plugins  # noqa: E402,F401  (registers the asym scope)
from asym_plugins.engine import prepare_runtime_cfg  # noqa: E402
from asym_plugins.engine.cli import CfgOptionsAction, MissingInputError, add_debug_flag, run_cli  # noqa: E402
from asym_plugins.engine.launch import apply_resume, log_data_summary  # noqa: E402
from asym_plugins.engine.workdir import WorkDirLock, is_main_rank, remove_stale_tmp  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a Re-ID model (asym-reid, MMEngine).')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='folder for logs and checkpoints')
    parser.add_argument('--resume', nargs='?', type=str, const='latest',
                        help='resume from a checkpoint path; with no value from the latest '
                             'valid checkpoint of the work dir (stops when there is none); '
                             '"auto": resume when there is one, else train from scratch')
    parser.add_argument('--epochs', type=int,
                        help='train for this many epochs, the schedule (LR milestones, warm-up, '
                             'validation and checkpoint intervals) scaled to match')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision (CUDA)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config keys, e.g. model.backbone.depth=50 (a value '
                             "keeps its spaces: 'data_root=/data/my sets')")
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isfile(args.config):
        raise MissingInputError(f'config {args.config!r} does not exist (configs live under '
                                'configs/<method>/<dataset>.py).')
    resume, args.resume = args.resume, None
    cfg = prepare_runtime_cfg(Config.fromfile(args.config), args)
    lock = WorkDirLock(cfg.work_dir) if is_main_rank() else None
    if lock is not None:
        lock.acquire()
    try:
        if lock is not None:
            remove_stale_tmp(cfg.work_dir)
        apply_resume(cfg, resume)
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
        runner.train()
        log_data_summary()
    finally:
        if lock is not None:
            lock.release()
    return runner


if __name__ == '__main__':
    run_cli(main)
