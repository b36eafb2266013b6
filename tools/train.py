"""Train a model from a config with MMEngine's Runner.

Examples::
    python tools/train.py configs/baseline/synthetic.py
    python tools/train.py configs/sap/occluded_duke.py --work-dir work_dirs/sap --amp
    python tools/train.py CONFIG --epochs 5          # shorter budget, schedule scaled
    python tools/train.py CONFIG --resume            # latest checkpoint of --work-dir
    python tools/train.py CONFIG --resume work_dirs/x/epoch_4.pth
    python tools/train.py CONFIG --cfg-options train_dataloader.batch_size=32
    bash tools/dist_train.sh CONFIG 8                # 8 processes on one machine
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import asym_plugins  # noqa: E402,F401  (registers the asym scope)
from asym_plugins.engine import prepare_runtime_cfg  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a Re-ID model (asym-reid, MMEngine).')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='folder for logs and checkpoints')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from a checkpoint path, or from the latest checkpoint in '
                             'the work dir when no path is given')
    parser.add_argument('--epochs', type=int,
                        help='train for this many epochs, the schedule (LR milestones, warm-up, '
                             'validation and checkpoint intervals) scaled to match')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision (CUDA)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. model.backbone.depth=50')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isfile(args.config):
        raise FileNotFoundError(f'config {args.config!r} does not exist (configs live under '
                                'configs/<method>/<dataset>.py).')
    cfg = prepare_runtime_cfg(Config.fromfile(args.config), args)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()
    return runner


if __name__ == '__main__':
    main()
