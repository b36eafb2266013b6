"""Train and test an asym-reid method with torchreid's data manager and engines, from a yaml.

The yaml holds torchreid's usual keys (``model``, ``data``, ``sampler``, ``train``, ``test``,
``loss``...) plus the ``asym`` section (method, synthetic-world sizes, re-ranker, per-method
settings), see ``asym_plugins/integrations/torchreid/config.py``.

Examples::
    python tools/torchreid_train.py configs/torchreid/baseline.yaml
    python tools/torchreid_train.py configs/torchreid/mos.yaml train.max_epoch 2 data.root /tmp/d
    python tools/torchreid_train.py configs/torchreid/agw.yaml       # AGW, with and without SIM
    python tools/torchreid_train.py configs/torchreid/sim.yaml test.evaluate True \\
        model.load_weights log/sim/model/model.pth.tar-8

Prints one ``RESULT <name>: R1=.. mAP=.. mINP=..`` line per evaluation and writes them to
``<data.save_dir>/<asym.results_file>``.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402

from asym_plugins.engine.cli import MissingInputError, run_cli  # noqa: E402
from asym_plugins.integrations.torchreid import compat  # noqa: E402
from asym_plugins.integrations.torchreid import config as cfg_mod  # noqa: E402
from asym_plugins.integrations.torchreid.checkpoint import (  # noqa: E402
    load_pretrained_weights,
    resume_from_checkpoint,
)
from asym_plugins.integrations.torchreid.datasets import DATASET_SPECS, synthetic_dataset_class  # noqa: E402
from asym_plugins.integrations.torchreid.engines import engine_for  # noqa: E402
from asym_plugins.integrations.torchreid.registration import (  # noqa: E402
    build_torchreid_model,
    method_available,
    method_entry,
    register_all,
    register_dataset,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='asym-reid methods in torchreid (yacs yaml).')
    parser.add_argument('config', help='yaml file, e.g. configs/torchreid/mos.yaml')
    parser.add_argument('opts', nargs=argparse.REMAINDER, default=None,
                        help='KEY VALUE pairs overriding the yaml, e.g. train.max_epoch 2 '
                             '(--debug anywhere: the traceback of a stop on an input error)')
    args = parser.parse_args(argv)
    args.opts = [o for o in (args.opts or []) if o != '--debug']
    return args


def _record(results, name, res):
    results[name] = dict(rank1=100 * res['rank1'], mAP=100 * res['mAP'],
                         mINP=100 * res['mINP'], reranker=res.get('reranker'))
    print(f"RESULT {name}: R1={100 * res['rank1']:.1f} mAP={100 * res['mAP']:.1f} "
          f"mINP={100 * res['mINP']:.1f}")


def check_local_inputs(cfg, config_path, specs):
    """Every missing local input of a yaml at once, with the key to change (nothing is
    downloaded; the dataset parsers would otherwise stop at the first one)."""
    missing = []
    parsed = sorted(n for n in set(cfg.data.sources) | set(cfg.data.targets)
                    if 'parser' in specs.get(n, {}))
    if parsed and not os.path.isdir(cfg.data.root):
        missing.append(f'data.root = {cfg.data.root!r}: the dataset folder of '
                       f'{", ".join(parsed)} (layouts: docs/datasets.md)')
    for key in ('pretrained', 'load_weights', 'resume'):
        value = cfg.model.get(key)
        if isinstance(value, str) and value and not os.path.isfile(value):
            what = ('a local ImageNet state_dict, or False to train from scratch'
                    if key == 'pretrained' else 'a checkpoint file')
            missing.append(f'model.{key} = {value!r}: {what}')
    if missing:
        raise MissingInputError(
            f'{config_path}: missing local input(s) (nothing is downloaded); change these keys '
            'in the yaml or on the command line (KEY VALUE):\n  ' + '\n  '.join(missing))


def main(argv=None):
    args = parse_args(argv)
    cfg = cfg_mod.load_yacs_config(args.config, args.opts)
    check_local_inputs(cfg, args.config, DATASET_SPECS)
    method = cfg.asym.method
    entry = method_entry(method)
    ok, reason = method_available(entry)
    if not ok:
        raise RuntimeError(f'{args.config}: method {method!r} is not available here ({reason}).')
    compat.torchreid_module('utils').set_random_seed(cfg.train.seed)
    register_all()
    for name in set(cfg.data.sources) | set(cfg.data.targets):
        spec = DATASET_SPECS.get(name, {})
        if 'synthetic' in spec:
            register_dataset(name, synthetic_dataset_class(spec['synthetic'], name=name,
                                                           **cfg_mod.synthetic_settings(cfg)))
    use_gpu = torch.cuda.is_available()
    data = compat.torchreid_module('data')
    optim = compat.torchreid_module('optim')
    dm_kwargs = cfg_mod.imagedata_kwargs(cfg)
    dm_kwargs['use_gpu'] = use_gpu
    dm = data.ImageDataManager(**dm_kwargs)

    pretrained = cfg.model.pretrained
    model = build_torchreid_model(cfg.model.name, dm.num_train_pids, loss=cfg.loss.name,
                                  pretrained=pretrained, use_gpu=use_gpu,
                                  **cfg_mod.model_kwargs(cfg))
    if cfg.model.load_weights:
        load_pretrained_weights(model, cfg.model.load_weights)
    if use_gpu:
        model = model.cuda()
    optimizer = optim.build_optimizer(model, **cfg_mod.optimizer_kwargs(cfg))
    scheduler = optim.build_lr_scheduler(optimizer, **cfg_mod.lr_scheduler_kwargs(cfg))
    run_kwargs = cfg_mod.engine_run_kwargs(cfg)
    if cfg.model.resume:
        run_kwargs['start_epoch'] = resume_from_checkpoint(cfg.model.resume, model, optimizer,
                                                           scheduler)

    reranker = cfg_mod.reranker_spec(cfg)
    compare = cfg.asym.rerank.compare
    engine = engine_for(method)(dm, model, optimizer, scheduler=scheduler, use_gpu=use_gpu,
                                reranker=None if compare else reranker,
                                **cfg_mod.engine_kwargs(cfg))
    start = time.time()
    run_kwargs['rerank'] = False
    engine.run(**run_kwargs)
    results = {}
    if engine.last_results is None:  # max_epoch == start_epoch: nothing trained, test only
        engine.test(dist_metric=cfg.test.dist_metric, normalize_feature=cfg.test.normalize_feature,
                    ranks=list(cfg.test.ranks))
    main_name = f'{method}' + ('' if (compare or reranker is None) else f'+{reranker["type"]}')
    _record(results, main_name, engine.last_results)
    test_kwargs = dict(dist_metric=cfg.test.dist_metric,
                       normalize_feature=cfg.test.normalize_feature, ranks=list(cfg.test.ranks))
    for name, run in engine.comparison_tests():  # e.g. MoS ranked by J alone
        run(**test_kwargs)
        _record(results, name, engine.last_results)
    if reranker is not None and compare:
        engine.test(rerank=reranker, **test_kwargs)
        _record(results, f'{method}+{reranker["type"]}', engine.last_results)
    summary = dict(config=osp.abspath(args.config), method=method, model=cfg.model.name,
                   sources=list(cfg.data.sources), targets=list(cfg.data.targets),
                   epochs=cfg.train.max_epoch, seconds=round(time.time() - start, 1),
                   torchreid_layout=compat.layout(), results=results)
    os.makedirs(cfg.data.save_dir, exist_ok=True)
    out = osp.join(cfg.data.save_dir, cfg.asym.results_file)
    with open(out, 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=1)
    print(f'Results written to {out}')
    return summary


if __name__ == '__main__':
    run_cli(main)
