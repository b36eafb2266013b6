"""Pictures of results as PNG: ranked lists, SIM before / after, SAP's part maps, MCMA's text
queries, sample sheets of the synthetic world (docs/visualize.md).

Examples::
    python tools/visualize.py ranklist --config CFG --checkpoint CKPT --out rank.png
    python tools/visualize.py ranklist --features feats.npz --config CFG --out rank.png
    python tools/visualize.py sim --features feats.npz --config configs/sim/synthetic_ir.py \
        --out sim.png
    python tools/visualize.py sap --config configs/sap/synthetic_occluded.py --checkpoint CKPT \
        --out sap.png
    python tools/visualize.py mcma --config configs/mcma/synthetic_text.py --checkpoint CKPT \
        --out mcma.png
    python tools/visualize.py world --preset all --masks --out-dir world/

Every ranked picture also writes ``<out>.json``: per row the query, the ranked gallery
indices, their pids, distances, match flags and the pixel box of every tile.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402

from asym_plugins.engine.cli import ConfigError, add_debug_flag, run_cli  # noqa: E402

PRESETS = ('holistic', 'occluded', 'partial', 'infrared', 'text')


# ---------------------------------------------------------------------------- arguments
def _source_args(p: argparse.ArgumentParser) -> None:
    from mmengine.config import DictAction
    p.add_argument('--features', metavar='NPZ',
                   help='features of tools/test.py --save-features (with image paths)')
    p.add_argument('--config', help='config: builds the model (with --checkpoint) or provides '
                                    'the images and distance settings of --features')
    p.add_argument('--checkpoint', help='checkpoint of --config (features computed here)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config keys')
    p.add_argument('--metric', choices=['euclidean', 'sqeuclidean', 'cosine'],
                   help="distance (default: the config's test_evaluator, else euclidean)")
    p.add_argument('--normalize', action=argparse.BooleanOptionalAction, default=None,
                   help='L2-normalise features first (default: the test_evaluator\'s '
                        'normalize_feature; --features alone: off, SIM: on)')


def _ranked_args(p: argparse.ArgumentParser, topk: int = 10) -> None:
    p.add_argument('--out', required=True, help='output .png (a .json is written next to it)')
    p.add_argument('--topk', type=int, default=topk, help='gallery images per row')
    p.add_argument('--num-queries', type=int, default=8,
                   help='rows, queries spread evenly over the query set')
    p.add_argument('--queries', type=int, nargs='+', help='explicit query indices instead')
    p.add_argument('--tile', type=int, nargs=2, default=(128, 64), metavar=('H', 'W'),
                   help='size of each image in the picture')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('ranklist', help='query + top-k gallery, green = same identity')
    _source_args(p)
    _ranked_args(p)

    p = sub.add_parser('sim', help='ranked lists before (left) and after SIM (right)')
    _source_args(p)
    _ranked_args(p, topk=8)
    p.add_argument('--mode', choices=['official', 'equations'], default='official')
    p.add_argument('--preset', choices=['sysu_mm01', 'regdb'], default=None,
                   help="SIM hyper-parameters (default sysu_mm01's)")
    for name in ('lam', 'alpha'):
        p.add_argument(f'--{name}', type=float)
    for name in ('K', 'k_q', 'k_g'):
        p.add_argument(f'--{name.replace("_", "-")}', dest=name, type=int)

    p = sub.add_parser('sap', help="SAP student's part / attention maps and teacher masks")
    p.add_argument('--config', required=True)
    p.add_argument('--checkpoint', required=True)
    p.add_argument('--cfg-options', nargs='+', action=_dict_action())
    p.add_argument('--split', choices=['query', 'gallery'], default='query')
    p.add_argument('--num-images', type=int, default=6)
    p.add_argument('--indices', type=int, nargs='+', help='indices within --split')
    p.add_argument('--tile', type=int, nargs=2, default=(128, 64), metavar=('H', 'W'))
    p.add_argument('--out', required=True)

    p = sub.add_parser('mcma', help='text queries (captions) and the retrieved images')
    p.add_argument('--config', required=True)
    p.add_argument('--checkpoint', required=True)
    p.add_argument('--cfg-options', nargs='+', action=_dict_action())
    _ranked_args(p, topk=5)

    p = sub.add_parser('world', help='sample sheets of the synthetic world per scenario')
    p.add_argument('--preset', nargs='+', default=['all'], help=f'{PRESETS} or all')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--num-train-ids', type=int, help='world size (default: the preset\'s)')
    p.add_argument('--num-test-ids', type=int)
    p.add_argument('--img-size', type=int, nargs=2, default=(128, 64), metavar=('H', 'W'))
    p.add_argument('--ids', type=int, default=6, help='identities (rows) per sheet')
    p.add_argument('--max-query', type=int, default=3)
    p.add_argument('--max-gallery', type=int, default=5)
    p.add_argument('--masks', action='store_true', help='blend the part masks over the images')
    p.add_argument('--out-dir', required=True, help='writes world_<preset>.png there')
    for sp in sub.choices.values():
        add_debug_flag(sp)
    args = parser.parse_args(argv)
    if getattr(args, 'topk', 1) < 1:
        parser.error('--topk must be >= 1')
    return args


def _dict_action():
    from mmengine.config import DictAction
    return DictAction


# ---------------------------------------------------------------------------- helpers
def _write(out: str, img: np.ndarray, info: Dict) -> str:
    from asym_plugins.visualization import save_png
    save_png(out, img)
    with open(osp.splitext(out)[0] + '.json', 'w') as f:
        json.dump(info, f, indent=1)
    print(f'wrote {out} ({img.shape[1]}x{img.shape[0]}) and its .json')
    return out


def _evaluator_settings(cfg) -> Dict:
    if cfg is None:
        return {}
    ev = cfg.get('test_evaluator', {})
    ev = ev[0] if isinstance(ev, (list, tuple)) and ev else ev
    return dict(metric=ev.get('metric'), normalize=ev.get('normalize_feature'))


def load_ranking_inputs(args):
    """Features (npz arrays incl. image paths), an ImageSource and distance settings from
    ``--features`` and / or ``--config`` + ``--checkpoint``."""
    from asym_plugins.visualization import sources
    if not args.features and not (args.config and args.checkpoint):
        raise ConfigError('give --features NPZ, or --config and --checkpoint')
    cfg = sources.load_config(args.config, args.cfg_options) if args.config else None
    args._cfg, args._samples = cfg, None
    if args.features:
        feats = sources.load_features_npz(args.features)
        images = sources.ImageSource(sources.test_dataset(cfg) if cfg is not None else None)
    else:
        model = sources.build_model(cfg, args.checkpoint)
        loader = sources.build_test_loader(cfg)
        args._samples = sources.predict(model, loader)
        feats = sources.reid_features(args._samples)
        images = sources.ImageSource(loader.dataset)
    ev = _evaluator_settings(cfg)
    return feats, images, ev


def _distance(feats, args, ev, normalize_default: bool):
    from asym_plugins.visualization import feature_distance
    metric = args.metric or ev.get('metric') or 'euclidean'
    normalize = args.normalize
    if normalize is None:
        normalize = ev['normalize'] if ev.get('normalize') is not None else normalize_default
    return (feature_distance(feats['qf'], feats['gf'], metric, normalize), metric,
            bool(normalize))


def ranked_rows(feats, images, dists: List, queries: List[int], topk: int):
    """Rows of ``query | ranked list per distance matrix`` and their JSON records."""
    from asym_plugins.visualization import query_cell, ranked_gallery, ranklist_block
    rows, orders = [], []
    for d in dists:
        orders.append(ranked_gallery(d[queries], feats['q_pids'][queries], feats['g_pids'],
                                     feats['q_camids'][queries], feats['g_camids'], topk))
    for r, qi in enumerate(queries):
        row = [[query_cell(images.load(str(feats['q_img_paths'][qi])), feats['q_pids'][qi],
                           feats['q_camids'][qi])]]
        for d, order in zip(dists, orders):
            row.append(ranklist_block(order[r], np.asarray(d[qi]), feats['q_pids'][qi],
                                      feats['g_pids'],
                                      lambda j: images.load(str(feats['g_img_paths'][j]))))
        rows.append(row)
    return rows, orders


def _records(feats, dists, orders, queries, boxes, names):
    from asym_plugins.visualization import ranklist_record
    out = []
    for r, qi in enumerate(queries):
        rec = dict(query=int(qi), pid=int(feats['q_pids'][qi]),
                   camid=int(feats['q_camids'][qi]), img_path=str(feats['q_img_paths'][qi]),
                   query_box=boxes[r][0][0])
        for b, (name, d, order) in enumerate(zip(names, dists, orders)):
            rec[name] = ranklist_record(qi, order[r], np.asarray(d[qi]), feats['q_pids'][qi],
                                        feats['g_pids'], boxes[r][b + 1])
        out.append(rec)
    return out


# ---------------------------------------------------------------------------- subcommands
def ranking_legend(what: str) -> str:
    """The legend of a ranked-list figure whose cell labels show ``what``."""
    return ('Left: the query (label: identity, camera). Then its gallery by rank, label '
            f'"rank: {what}"; frame green = same identity as the query, red = another identity '
            "(gallery images of the query's identity from its own camera are left out).")


def method_distance(feats, args, cfg, samples):
    """The config's own ranking when its test metric defines one (e.g. MoSMetric's Jaccard
    distance with CP), else ``None``. ``--metric`` asks for a plain feature distance instead."""
    import torch

    from asym_plugins.evaluation.metrics.reid_metric import ReIDMetric
    from asym_plugins.registry import METRICS
    if cfg is None or args.metric:
        return None
    ev = cfg.get('test_evaluator', {})
    ev = ev[0] if isinstance(ev, (list, tuple)) and ev else ev
    if not isinstance(ev, dict) or 'type' not in ev:
        return None
    cls = METRICS.get(ev['type'])
    if cls is None or getattr(cls, 'compute_distmat', None) in (
            None, ReIDMetric.compute_distmat):
        return None
    metric = METRICS.build(ev)
    if samples:  # predictions carry what the metric reads from them (MoS: the CP prior)
        metric.process({}, samples[:1])
    try:
        dist = metric.compute_distmat(torch.as_tensor(feats['qf']).float(),
                                      torch.as_tensor(feats['gf']).float())
    except ValueError as e:
        raise ConfigError(f'{e} (or pass --metric euclidean for a plain feature distance)')
    return dist, cls.__name__


def cmd_ranklist(args):
    from asym_plugins.visualization import SheetLayout, compose_sheet, pick_queries
    feats, images, ev = load_ranking_inputs(args)
    own = method_distance(feats, args, getattr(args, '_cfg', None), getattr(args, '_samples',
                                                                            None))
    if own is not None:
        dist, metric = own
        normalize, what = None, f'{metric} distance'
    else:
        dist, metric, normalize = _distance(feats, args, ev, normalize_default=False)
        what = f'{metric} distance'
    dist = np.asarray(dist)
    queries = pick_queries(args.num_queries, len(feats['q_pids']), args.queries)
    rows, orders = ranked_rows(feats, images, [dist], queries, args.topk)
    img, boxes = compose_sheet(rows, SheetLayout(size=tuple(args.tile)),
                               titles=['query', f'top-{args.topk} (by {what})'],
                               legend=ranking_legend(what))
    info = dict(command='ranklist', metric=metric, normalize=normalize, topk=args.topk,
                rows=_records(feats, [dist], orders, queries, boxes, ['ranked']))
    return _write(args.out, img, info)


def cmd_sim(args):
    from asym_plugins.methods.sim import similarity_inference
    from asym_plugins.visualization import (
        SheetLayout,
        compose_sheet,
        feature_distance,
        pick_queries,
    )
    feats, images, ev = load_ranking_inputs(args)
    d_qg, metric, normalize = _distance(feats, args, ev, normalize_default=True)
    d_gg = feature_distance(feats['gf'], feats['gf'], metric, normalize)
    hp = {k: getattr(args, k) for k in ('lam', 'alpha', 'K', 'k_q', 'k_g')
          if getattr(args, k) is not None}
    d_sim = similarity_inference(d_qg, d_gg, mode=args.mode, preset=args.preset, **hp)
    dists = [d_qg.numpy(), np.asarray(d_sim)]
    queries = pick_queries(args.num_queries, len(feats['q_pids']), args.queries)
    rows, orders = ranked_rows(feats, images, dists, queries, args.topk)
    img, boxes = compose_sheet(rows, SheetLayout(size=tuple(args.tile)),
                               titles=['query', f'{metric} distance', 'after SIM'],
                               legend=ranking_legend('distance') + ' Middle: ranked by the '
                               f'{metric} distance; right: the same query after SIM '
                               f'({args.mode} mode).')
    info = dict(command='sim', metric=metric, normalize=normalize, topk=args.topk,
                mode=args.mode, preset=args.preset, params=hp,
                rows=_records(feats, dists, orders, queries, boxes, ['plain', 'sim']))
    return _write(args.out, img, info)


def cmd_sap(args):
    from asym_plugins.methods.sap.teachers import build_teacher
    from asym_plugins.visualization import SheetLayout, compose_sheet, pick_queries, sources
    from asym_plugins.visualization.sap_maps import sap_rows, teacher_config
    cfg = sources.load_config(args.config, args.cfg_options)
    model = sources.build_model(cfg, args.checkpoint)
    if not hasattr(model, 'part_maps'):
        raise ConfigError(f'{type(model).__name__} has no part_maps(); the sap '
                         'subcommand needs a SAPModel config (configs/sap/)')
    dataset = sources.build_test_loader(cfg).dataset
    side = [i for i in range(len(dataset))
            if dataset.get_data_info(i).get('split', args.split) == args.split]
    if not side:
        raise ConfigError(f'the test set has no {args.split} sample')
    picked = pick_queries(args.num_images, len(side), args.indices)
    teacher_cfg = teacher_config(cfg)
    teacher = build_teacher(teacher_cfg) if teacher_cfg else None
    rows, info = sap_rows(model, dataset, [side[i] for i in picked], teacher)
    img, boxes = compose_sheet(
        rows, SheetLayout(size=tuple(args.tile), block_gap=4),
        legend='Per row: the image (identity, camera), the teacher\'s part masks, the student\'s '
               'parts (a patch shown in the colour of its strongest part, kept where that part\'s '
               'scaled proxy map >= 0.5), each part\'s proxy map and the CLS attention (heat: '
               'red high, blue low). Same colour = same part in teacher and student.')
    info.update(command='sap', split=args.split, split_indices=picked,
                teacher=repr(teacher) if teacher else None, boxes=boxes)
    return _write(args.out, img, info)


def mcma_inputs(cfg, checkpoint):
    """Caption queries and image gallery of an MCMA config's test set: text / image features,
    pids, the captions and each caption's source image."""
    import torch

    from asym_plugins.visualization import sources
    model = sources.build_model(cfg, checkpoint)
    loader = sources.build_test_loader(cfg)
    samples = sources.predict(model, loader)
    caps, src, text = [], [], []
    for i, s in enumerate(samples):
        if 'text_features' not in s:
            continue
        c = list(s.metainfo.get('captions') or [])
        t = s.text_features.cpu().float()
        if len(c) != t.shape[0]:
            raise ValueError(f'sample {i}: {t.shape[0]} text features for {len(c)} captions')
        caps += c
        src += [i] * len(c)
        text.append(t)
    if not text:
        raise ConfigError('no sample carries text_features: the mcma subcommand needs '
                         'an MCMA config whose test set has captions (configs/mcma/)')
    return dict(text=torch.cat(text), image=torch.stack([s.pred_feature.cpu().float()
                                                         for s in samples]),
                pids=np.array([int(s.metainfo['pid']) for s in samples]), captions=caps,
                source=np.array(src), dataset=loader.dataset)


def cmd_mcma(args):
    from asym_plugins.visualization import (
        BLUE,
        Cell,
        SheetLayout,
        compose_sheet,
        feature_distance,
        pick_queries,
        ranked_gallery,
        ranklist_block,
        ranklist_record,
        sources,
    )
    cfg = sources.load_config(args.config, args.cfg_options)
    m = mcma_inputs(cfg, args.checkpoint)
    dist = feature_distance(m['text'], m['image'], 'cosine').numpy()  # IRRA: cosine
    q_pids = m['pids'][m['source']]
    queries = pick_queries(args.num_queries, len(q_pids), args.queries)
    order = ranked_gallery(dist[queries], q_pids[queries], m['pids'], topk=args.topk,
                           rule='none')
    load = lambda j: sources.dataset_image(m['dataset'], j)  # noqa: E731
    rows = []
    for r, qi in enumerate(queries):
        src = Cell(load(m['source'][qi]), BLUE, f'src {q_pids[qi]}')
        rows.append([[src], ranklist_block(order[r], dist[qi], q_pids[qi], m['pids'], load)])
    layout = SheetLayout(size=tuple(args.tile), row_header_h=30)
    img, boxes = compose_sheet(rows, layout, titles=['caption of', f'top-{args.topk} images'],
                               row_headers=[m['captions'][qi] for qi in queries],
                               legend='Above each row: the caption used as the query. Blue '
                               'frame: the image the caption describes; then the gallery by '
                               'cosine similarity, label "rank: distance", green = the '
                               'described identity, red = another identity.')
    info = dict(command='mcma', metric='cosine', topk=args.topk, rows=[
        dict(query=int(qi), caption=m['captions'][qi], source_image=int(m['source'][qi]),
             source_box=boxes[r][0][0],
             ranked=ranklist_record(qi, order[r], dist[qi], q_pids[qi], m['pids'],
                                    boxes[r][1]))
        for r, qi in enumerate(queries)])
    return _write(args.out, img, info)


def cmd_world(args):
    from asym_plugins.data.synthetic import SyntheticWorld
    from asym_plugins.visualization import save_png, world_sheet
    presets = list(PRESETS) if 'all' in args.preset else args.preset
    bad = sorted(set(presets) - set(PRESETS))
    if bad:
        raise ConfigError(f'unknown preset(s) {bad}; choose from {list(PRESETS)} or all')
    os.makedirs(args.out_dir, exist_ok=True)
    written = []
    for preset in presets:
        world = SyntheticWorld(preset, seed=args.seed, num_train_ids=args.num_train_ids,
                               num_test_ids=args.num_test_ids, img_size=tuple(args.img_size))
        img, info = world_sheet(world, args.ids, args.max_query, args.max_gallery, args.masks)
        out = osp.join(args.out_dir, f'world_{preset}{"_masks" if args.masks else ""}.png')
        save_png(out, img)
        with open(osp.splitext(out)[0] + '.json', 'w') as f:
            json.dump(info, f, indent=1)
        print(f'wrote {out} ({img.shape[1]}x{img.shape[0]})')
        written.append(out)
    return written


COMMANDS = dict(ranklist=cmd_ranklist, sim=cmd_sim, sap=cmd_sap, mcma=cmd_mcma,
                world=cmd_world)


def main(argv: Optional[List[str]] = None):
    args = parse_args(argv)
    out = getattr(args, 'out', None)
    if out is not None and not str(out).lower().endswith('.png'):
        raise ConfigError(f'--out {out}: the figure is written as PNG; give a path ending in '
                          '.png (a .json with the numbers is written next to it)')
    return COMMANDS[args.command](args)


if __name__ == '__main__':
    run_cli(main)
