"""One MCMA training step vs the baseline's, each in its own process (``harness.py``).

Both models come from one config (default: the CPU twin ``configs/mcma/synthetic_text.py``);
the baseline is that config with ``shared_decoder=False`` and no reconstruction or
bisimulation loss (the ablation's first row), so the encoders, batch and optimiser are equal.
A step is forward (``mode='loss'``) + backward + AdamW update on one identity-sampled batch of
the config's training data (P x 2 images with one caption each).

* Time: each model in a fresh process with the same thread settings; warm-up step(s), then
  ``--repeat`` timed steps (median), in the harness's thread modes; ratio MCMA / baseline.
* Peak memory: a separate run per model; on CUDA ``torch.cuda.max_memory_allocated`` over one
  step minus the allocation before it, on CPU the peak RSS growth over one step (``VmHWM``
  reset after the warm-up).
* Correctness (also ``--quick``): every loss term is finite, and MCMA reports the
  reconstruction / bisimulation terms the baseline does not have.

Examples::
    python tools/benchmarks/bench_mcma.py --quick
    python tools/benchmarks/bench_mcma.py --repeat 8
    python tools/benchmarks/bench_mcma.py --paper --device cuda --modes 1   # ViT-B/16 + BERT
"""
import argparse
import copy
import math
import os
import os.path as osp
import sys

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(osp.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(1, ROOT)
os.environ.setdefault('HF_HUB_OFFLINE', '1')

import harness  # noqa: E402
import torch  # noqa: E402

BASELINE = dict(shared_decoder=False,
                losses=dict(self_recon=None, cross_recon=None, bisim=None))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--config', default=osp.join(ROOT, 'configs/mcma/synthetic_text.py'))
    p.add_argument('--batch-size', type=int, default=None,
                   help='default: the config\'s (--quick: 8)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--paper', action='store_true',
                   help='ViT-B/16 at 384x128 + a BERT-base-shaped text encoder (random '
                        'weights, built from the MiniLM config), 512-d, 77 tokens')
    harness.add_arguments(p)
    return p.parse_args(argv)


def model_cfg(args, variant: str) -> dict:
    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
    m = copy.deepcopy(cfg.model.to_dict())
    if args.paper:
        m['image_encoder'].update(arch='base', img_size=(384, 128), patch_size=16, stride=16)
        m['image_encoder'].pop('init_cfg', None)
        m['text_encoder'] = dict(pretrained='minilm', load_weights=False, max_length=77,
                                 config_overrides=dict(hidden_size=768, num_hidden_layers=12,
                                                       num_attention_heads=12,
                                                       intermediate_size=3072))
        m.update(embed_dims=512, decoder=dict(depth=2, num_heads=8, mlp_ratio=4.0))
    if variant == 'baseline':
        m['shared_decoder'] = BASELINE['shared_decoder']
        m.setdefault('losses', {}).update(BASELINE['losses'])
    return m


def make_batch(args, num_classes: int):
    """One P x 2 batch of the config's synthetic training data (pipeline applied)."""
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope

    import asym_plugins  # noqa: F401
    import asym_plugins.methods.mcma  # noqa: F401
    from asym_plugins.registry import DATASETS
    init_default_scope('asym')  # the pipeline's transforms live in the asym scope
    cfg = Config.fromfile(args.config)
    loader = cfg.train_dataloader
    bs = args.batch_size or loader.batch_size
    ds_cfg = copy.deepcopy(loader.dataset.to_dict())
    if args.paper:
        ds_cfg['img_size'] = (384, 128)
        for t in ds_cfg['pipeline']:
            if t['type'] == 'Resize':
                t['scale'] = (128, 384)
            if t['type'] == 'TokenizeCaptions':
                t['max_length'] = 77
    dataset = DATASETS.build(ds_cfg)
    by_label = {}
    for i in range(len(dataset)):
        by_label.setdefault(dataset.get_pid(i), []).append(i)
    idx = [j for lab in sorted(by_label)[:bs // 2] for j in by_label[lab][:2]]
    torch.manual_seed(0)
    import numpy as np
    np.random.seed(0)
    batch = pseudo_collate([dataset[i] for i in idx])
    if num_classes is not None:
        for s in batch['data_samples']:
            s.gt_label = s.gt_label % num_classes
    return batch


def build(args, variant: str):
    import asym_plugins  # noqa: F401
    import asym_plugins.methods.mcma  # noqa: F401
    from asym_plugins.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(model_cfg(args, variant)).to(args.device).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    return model, opt


def step(model, opt, batch) -> dict:
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if k.startswith('loss_'))
    opt.zero_grad(set_to_none=True)
    total.backward()
    opt.step()
    return {k: float(v.detach()) for k, v in losses.items() if k.startswith('loss_')}


def side(variant):
    def factory(args, data):
        model, opt = build(args, variant)
        batch = make_batch(args, model.num_classes)
        dev = torch.device(args.device)
        return harness.Prepared(
            run=lambda: step(model, opt, batch),
            memory_warmup=lambda: step(model, opt, batch),  # optimiser state, lazy buffers
            sync=(lambda: torch.cuda.synchronize(dev)) if dev.type == 'cuda' else None,
            cuda_device=dev if dev.type == 'cuda' else None,
            to_json=lambda losses: dict(
                losses=losses, batch=len(batch['inputs']),
                params_m=sum(p.numel() for p in model.parameters()) / 1e6))
    return factory


SIDES = {'baseline': side('baseline'), 'mcma': side('mcma')}


def check(results):
    for v, r in results.items():
        bad = {k: x for k, x in r['losses'].items() if not math.isfinite(x)}
        assert not bad, f'{v}: non-finite loss terms {bad}'
    extra = sorted(set(results['mcma']['losses']) - set(results['baseline']['losses']))
    assert extra, 'MCMA reports no loss term beyond the baseline\'s'
    return (f'all loss terms finite; MCMA adds {", ".join(extra)}; params baseline '
            f'{results["baseline"]["params_m"]:.2f} M, MCMA {results["mcma"]["params_m"]:.2f} M, '
            f'batch {results["mcma"]["batch"]}')


def main(argv=None):
    args = parse_args(argv)
    if args.quick and args.batch_size is None:
        args.batch_size = 8
    if harness.is_child(args):
        return harness.child_main(args, SIDES)
    title = (f'MCMA training step vs baseline, seconds per step, device {args.device}, '
             f'{"paper shapes" if args.paper else osp.relpath(args.config, ROOT)}, batch '
             f'{args.batch_size or "of the config"}')
    sides = [harness.Side('baseline', 'baseline step'), harness.Side('mcma', 'MCMA step')]
    harness.run(args, sides, reference='baseline', check=check, title=title)


if __name__ == '__main__':
    main()
