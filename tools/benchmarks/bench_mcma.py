"""One MCMA training step vs the baseline's, measured in the same run.

Both models come from one config (default: the CPU twin ``configs/mcma/synthetic_text.py``);
the baseline is that config with ``shared_decoder=False`` and no reconstruction or
bisimulation loss (the ablation's first row), so the encoders, batch and optimiser are equal.
A step is forward (``mode='loss'``) + backward + AdamW update on one identity-sampled batch of
the config's training data (P x 2 images with one caption each).

* Time: ``--steps`` steps per model after ``--warmup``, interleaved (baseline, MCMA, baseline,
  ...) so that a change of machine load hits both; the median step time of each and their
  ratio are printed.
* Peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` over the measured steps minus the
  allocation before them. On CPU, each model runs in a fresh subprocess: after one warm-up
  step the RSS is read, the kernel's high-water mark is reset (``/proc/self/clear_refs``) and
  the peak RSS (``VmHWM``) after the steps minus that RSS is the step's extra memory.

Examples::
    OMP_NUM_THREADS=1 python tools/benchmarks/bench_mcma.py
    python tools/benchmarks/bench_mcma.py --paper --device cuda   # ViT-B/16 + BERT-base shapes
"""
import argparse
import copy
import gc
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
os.environ.setdefault('HF_HUB_OFFLINE', '1')

import torch  # noqa: E402

BASELINE = dict(shared_decoder=False,
                losses=dict(self_recon=None, cross_recon=None, bisim=None))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--config', default=osp.join(ROOT, 'configs/mcma/synthetic_text.py'))
    p.add_argument('--steps', type=int, default=8)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--batch-size', type=int, default=None, help='default: the config\'s')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--paper', action='store_true',
                   help='ViT-B/16 at 384x128 + a BERT-base-shaped text encoder (random '
                        'weights, built from the MiniLM config), 512-d, 77 tokens')
    p.add_argument('--worker', choices=['baseline', 'mcma'], help=argparse.SUPPRESS)
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


def step(model, opt, batch) -> None:
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if k.startswith('loss_'))
    opt.zero_grad(set_to_none=True)
    total.backward()
    opt.step()


def sync(device):
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def _status(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f'{field} not in /proc/self/status')


def worker(args) -> dict:
    """CPU peak memory of one model's training steps, in this (fresh) process."""
    model, opt = build(args, args.worker)
    batch = make_batch(args, model.num_classes)
    step(model, opt, batch)
    gc.collect()
    before = _status('VmRSS')
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # reset VmHWM to the current RSS
    for _ in range(max(1, args.steps // 2)):
        step(model, opt, batch)
    return dict(variant=args.worker, peak_extra_mb=(_status('VmHWM') - before) / 2 ** 20,
                rss_before_mb=before / 2 ** 20)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(worker(args)))
        return
    models = {v: build(args, v) for v in ('baseline', 'mcma')}
    batch = make_batch(args, models['mcma'][0].num_classes)
    print(f'device {args.device}, threads {torch.get_num_threads()}, batch '
          f'{len(batch["inputs"])} ({"paper shapes" if args.paper else args.config})')
    times = {v: [] for v in models}
    for i in range(args.warmup + args.steps):
        for v, (model, opt) in models.items():
            sync(args.device)
            t = time.perf_counter()
            step(model, opt, batch)
            sync(args.device)
            if i >= args.warmup:
                times[v].append(time.perf_counter() - t)
    med = {v: statistics.median(ts) for v, ts in times.items()}
    mem = {}
    if str(args.device).startswith('cuda'):
        for v, (model, opt) in models.items():
            torch.cuda.empty_cache()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            step(model, opt, batch)
            mem[v] = (torch.cuda.max_memory_allocated() - base) / 2 ** 20
        how = 'torch.cuda.max_memory_allocated during a step, minus the allocation before it'
    else:
        for v in models:
            cmd = [sys.executable, osp.abspath(__file__), '--worker', v, '--config', args.config,
                   '--steps', str(args.steps), '--threads', str(args.threads), '--device', 'cpu']
            if args.batch_size:
                cmd += ['--batch-size', str(args.batch_size)]
            if args.paper:
                cmd.append('--paper')
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            mem[v] = json.loads(out.strip().splitlines()[-1])['peak_extra_mb']
        how = ('peak RSS (VmHWM, reset after a warm-up step) minus RSS before the steps, '
               'one fresh process per model')
    params = {v: sum(p.numel() for p in m.parameters()) / 1e6 for v, (m, _) in models.items()}
    for v in models:
        print(f'{v:9s} params {params[v]:7.2f} M   step {med[v] * 1000:8.1f} ms (median of '
              f'{len(times[v])})   peak step memory {mem[v]:8.1f} MiB')
    print(f'MCMA / baseline: time x{med["mcma"] / med["baseline"]:.2f}, '
          f'peak memory x{mem["mcma"] / max(mem["baseline"], 1e-9):.2f}')
    print(f'memory measured as: {how}')


if __name__ == '__main__':
    main()
