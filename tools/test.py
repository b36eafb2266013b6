"""Evaluate a checkpoint on a config's test set; optionally save the features for re-ranking.

Examples::
    python tools/test.py configs/baseline/synthetic.py work_dirs/baseline/synthetic/epoch_10.pth
    python tools/test.py CONFIG CKPT --save-features feats.npz   # then: tools/rerank.py feats.npz
    bash tools/dist_test.sh CONFIG CKPT 2

A user mistake (missing data, weights or checkpoint, a checkpoint of another model, a bad
config key or value) stops with the message and exit code 2; ``--debug`` (or ``ASYM_DEBUG=1``)
shows the traceback.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mmengine.config import Config  # noqa: E402

import asym_plugins  # noqa: E402,F401
from asym_plugins.engine import prepare_runtime_cfg  # noqa: E402
from asym_plugins.engine.cli import CfgOptionsAction, MissingInputError, add_debug_flag, run_cli  # noqa: E402
from asym_plugins.engine.launch import log_data_summary, runner_with_checkpoint  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a Re-ID model (asym-reid, MMEngine).')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='folder for logs and metrics')
    parser.add_argument('--save-features', metavar='NPZ',
                        help='write query/gallery features, pids and camids to this .npz')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config keys, e.g. test_evaluator.metric=cosine')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def _set_save_features(cfg, path):
    evaluators = cfg.test_evaluator
    evaluators = evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]
    for ev in evaluators:
        ev['save_features'] = os.path.abspath(path)


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isfile(args.config):
        raise MissingInputError(f'config {args.config!r} does not exist.')
    cfg = Config.fromfile(args.config)
    args.amp, args.resume = False, None
    args.work_dir_per_options = False   # default: the training's folder, whatever the options
    cfg = prepare_runtime_cfg(cfg, args)   # names missing data roots / weights first
    if not os.path.isfile(args.checkpoint):
        raise MissingInputError(f'checkpoint {args.checkpoint!r} does not exist.')
    cfg.load_from = None  # loaded strictly below
    if args.save_features:
        _set_save_features(cfg, args.save_features)
    runner = runner_with_checkpoint(cfg, args.checkpoint, config_path=args.config)
    metrics = runner.test()
    log_data_summary()
    return metrics


if __name__ == '__main__':
    run_cli(main)
