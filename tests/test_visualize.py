"""tools/visualize.py: every subcommand on tiny synthetic setups (untrained models), checked
against rankings, colours and images computed here independently of the tool."""
import json
import os
import os.path as osp
import re
import shlex
import sys

import cv2
import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools'))
FIX = osp.join(ROOT, 'tests', 'fixtures')
TINY_IR, TINY_SAP, TINY_MCMA = (osp.join(FIX, f'tiny_{n}.py') for n in ('ir', 'sap', 'mcma'))
GREEN, RED, BLUE, GREY = (0, 190, 0), (220, 0, 0), (40, 90, 230), (150, 150, 150)
TILE = ['--tile', '64', '32']   # the tiny worlds' image size: tiles are the images, unscaled


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def visualize(*argv):
    import visualize as tool
    return tool.main([str(a) for a in argv])


def read_png(path):
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, path
    return img[..., ::-1]


def read_json(png):
    with open(osp.splitext(str(png))[0] + '.json') as f:
        return json.load(f)


def frame(img, box):
    """Colour of a tile's frame (its top-left corner pixel, inside the 3-pixel border)."""
    return tuple(int(v) for v in img[box[1] + 1, box[0] + 1])


def interior(img, box, border=3):
    return img[box[1] + border:box[3] - border, box[0] + border:box[2] - border]


def sheet_size(rows, cells_per_block, title=True, header=0, h=64, w=32, block_gap=16,
               legend=28):
    """(H, W) of a sheet by the layout documented in asym_plugins/visualization/sheet.py
    (every figure of tools/visualize.py has a legend strip under its rows)."""
    cw, ch = w + 6, 14 + h + 6
    blocks = [n * cw + (n - 1) * 4 for n in cells_per_block]
    width = 2 * 6 + sum(blocks) + block_gap * (len(blocks) - 1)
    height = 2 * 6 + (16 if title else 0) + rows * (header + ch) + (rows - 1) * 4 + legend
    return height, width


def untrained_checkpoint(cfg_path, out):
    from mmengine.registry import MODELS

    from asym_plugins.visualization.sources import load_config
    cfg = load_config(cfg_path)
    torch.manual_seed(0)
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()}, str(out))
    return str(out)


def market_order(dist, q_pid, q_cam, g_pids, g_cams, k):
    d = np.where((g_pids == q_pid) & (g_cams == q_cam), np.inf, dist)
    order = np.argsort(d, kind='stable')[:k]
    return order[np.isfinite(d[order])].tolist()


def numpy_distance(qf, gf):
    """Euclidean distance of L2-normalised features (tiny_ir's test_evaluator)."""
    qf = qf / np.linalg.norm(qf, axis=1, keepdims=True)
    gf = gf / np.linalg.norm(gf, axis=1, keepdims=True)
    return np.sqrt(np.maximum(((qf[:, None, :] - gf[None]) ** 2).sum(-1), 0))


# ------------------------------------------------------------------------------ ranked lists
@pytest.fixture(scope='module')
def ir_run(tmp_path_factory):
    """tools/test.py on the tiny infrared world with an untrained model: features npz."""
    import test as test_tool
    tmp = tmp_path_factory.mktemp('ir')
    ckpt = untrained_checkpoint(TINY_IR, tmp / 'untrained.pth')
    npz = tmp / 'feats.npz'
    test_tool.main([TINY_IR, ckpt, '--work-dir', str(tmp / 'wd'), '--save-features', str(npz)])
    with np.load(npz) as z:
        feats = {k: z[k] for k in z.files}
    return tmp, ckpt, npz, feats


def check_ranked_block(img, rec, feats, qi, expected_order):
    g_pids = feats['g_pids']
    assert rec['gallery'] == expected_order
    assert rec['gallery_pids'] == [int(g_pids[j]) for j in expected_order]
    assert rec['distances'] == sorted(rec['distances'])
    for j, box in zip(expected_order, rec['boxes']):
        want = GREEN if g_pids[j] == feats['q_pids'][qi] else RED
        assert frame(img, box) == want


def test_npz_has_image_paths_and_ranklist_matches_an_independent_ranking(ir_run):
    tmp, _, npz, feats = ir_run
    assert len(feats['q_img_paths']) == len(feats['qf'])
    assert all(p.startswith('synthetic/infrared/query/') for p in feats['q_img_paths'])
    out = tmp / 'rank.png'
    visualize('ranklist', '--features', npz, '--config', TINY_IR, '--out', out, '--topk', 6,
              '--num-queries', 5, *TILE)
    img, info = read_png(out), read_json(out)
    assert info['metric'] == 'euclidean' and info['normalize'] is True  # from test_evaluator
    queries = [r['query'] for r in info['rows']]
    assert queries == sorted(set(np.linspace(0, len(feats['qf']) - 1, 5).round().astype(int)))
    assert img.shape[:2] == sheet_size(5, [1, 6])
    dist = numpy_distance(feats['qf'], feats['gf'])
    n_green = 0
    for r in info['rows']:
        qi = r['query']
        assert r['pid'] == feats['q_pids'][qi]
        assert frame(img, r['query_box']) == BLUE
        order = market_order(dist[qi], feats['q_pids'][qi], feats['q_camids'][qi],
                             feats['g_pids'], feats['g_camids'], 6)
        check_ranked_block(img, r['ranked'], feats, qi, order)
        n_green += sum(r['ranked']['match'])
    assert 0 < n_green < 30   # both colours are exercised
    # The query tile shows the query image (the tiny world renders at the tile size).
    from asym_plugins.data.synthetic import SyntheticWorld
    world = SyntheticWorld('infrared', seed=0, num_train_ids=8, num_test_ids=4,
                           img_size=(64, 32))
    rec = world.records('query')[queries[1]]
    np.testing.assert_array_equal(interior(img, info['rows'][1]['query_box']),
                                  world.render(rec)['img'])


def test_ranklist_from_config_and_checkpoint_equals_the_npz_route(ir_run):
    tmp, ckpt, npz, _ = ir_run
    a, b = tmp / 'a.png', tmp / 'b.png'
    visualize('ranklist', '--config', TINY_IR, '--checkpoint', ckpt, '--out', a, *TILE)
    visualize('ranklist', '--features', npz, '--config', TINY_IR, '--out', b, *TILE)
    ra, rb = read_json(a)['rows'], read_json(b)['rows']
    assert [r['ranked']['gallery'] for r in ra] == [r['ranked']['gallery'] for r in rb]
    np.testing.assert_allclose([r['ranked']['distances'] for r in ra],
                               [r['ranked']['distances'] for r in rb], atol=1e-5)
    np.testing.assert_array_equal(read_png(a), read_png(b))


def test_sim_before_after_match_independent_rankings(ir_run):
    from asym_plugins.methods.sim import similarity_inference
    tmp, _, npz, feats = ir_run
    out = tmp / 'sim.png'
    visualize('sim', '--features', npz, '--config', TINY_IR, '--out', out, '--topk', 5,
              '--num-queries', 4, *TILE)
    img, info = read_png(out), read_json(out)
    assert img.shape[:2] == sheet_size(4, [1, 5, 5])
    d_qg = numpy_distance(feats['qf'], feats['gf'])
    d_gg = numpy_distance(feats['gf'], feats['gf'])
    d_sim = similarity_inference(d_qg.astype(np.float32), d_gg.astype(np.float32),
                                 mode='official')
    changed = 0
    for r in info['rows']:
        qi = r['query']
        args = (feats['q_pids'][qi], feats['q_camids'][qi], feats['g_pids'], feats['g_camids'], 5)
        plain, sim = market_order(d_qg[qi], *args), market_order(d_sim[qi], *args)
        check_ranked_block(img, r['plain'], feats, qi, plain)
        check_ranked_block(img, r['sim'], feats, qi, sim)
        changed += plain != sim
    assert changed > 0  # SIM re-orders something, and the picture shows it


# ------------------------------------------------------------------------------ SAP, MCMA
def test_sap_part_maps_and_teacher_masks(tmp_path):
    from asym_plugins.data.synthetic import SyntheticWorld
    from asym_plugins.methods.sap.part_targets import default_label_map
    ckpt = untrained_checkpoint(TINY_SAP, tmp_path / 'sap.pth')
    out = tmp_path / 'sap.png'
    visualize('sap', '--config', TINY_SAP, '--checkpoint', ckpt, '--out', out,
              '--num-images', 3, *TILE)
    img, info = read_png(out), read_json(out)
    k = info['num_parts']
    assert k == 4 and info['mask_source'] == 'teacher'
    assert img.shape[:2] == sheet_size(3, [3 + k + 1], title=False, block_gap=4)
    world = SyntheticWorld('occluded', seed=0, num_train_ids=8, num_test_ids=3,
                           img_size=(64, 32))
    recs = world.records('query')
    lut = np.array(default_label_map(k))
    for row, idx in zip(info['boxes'], info['split_indices']):
        boxes = row[0]
        assert len(boxes) == 3 + k + 1 and all(frame(img, b) == GREY for b in boxes)
        r = world.render(recs[idx])
        np.testing.assert_array_equal(interior(img, boxes[0]), r['img'])
        teacher = interior(img, boxes[1]).astype(int)
        cols = lut[r['mask']]  # head / upper+bag / lower / shoes; occluder = background
        same = (teacher == r['img']).all(-1)
        assert same[cols == 0].all() and not same[cols > 0].any()
        # Each part keeps its colour: the head column is the PART_COLOURS head yellow blend.
        head = cols == 1
        if head.any():
            want = (0.45 * r['img'][head] + 0.55 * np.array([255, 215, 0])).round()
            np.testing.assert_allclose(teacher[head], want, atol=1)


def test_sap_part_maps_are_distributions_on_the_patch_grid():
    from asym_plugins.methods.sap import SAPModel
    model = SAPModel(backbone=dict(type='ReIDViT', img_size=(64, 32), patch_size=16, stride=12,
                                   arch=dict(embed_dims=32, depth=2, num_heads=2,
                                             mlp_ratio=2.0)), num_classes=5).eval()
    x = torch.rand(2, 3, 64, 32)
    feats = model(x, mode='tensor')
    maps = model.part_maps(x)
    assert maps['proxy'].shape == (2, 4, 5, 2) and maps['cls'].shape == (2, 5, 2)
    torch.testing.assert_close(maps['proxy'].sum((-2, -1)), torch.ones(2, 4))
    torch.testing.assert_close(maps['cls'].sum((-2, -1)), torch.ones(2))
    scaled = maps['proxy_scaled'].flatten(2)
    torch.testing.assert_close(scaled.amax(-1), torch.ones(2, 4))
    torch.testing.assert_close(scaled.amin(-1), torch.zeros(2, 4))
    torch.testing.assert_close(maps['assignment'], maps['proxy_scaled'].argmax(1))
    assert int(maps['assignment'].min()) >= 0 and int(maps['assignment'].max()) < 4
    torch.testing.assert_close(model(x, mode='tensor'), feats)  # inference unchanged


def test_mcma_caption_rows(tmp_path):
    from asym_plugins.data.synthetic import SyntheticWorld
    ckpt = untrained_checkpoint(TINY_MCMA, tmp_path / 'mcma.pth')
    out = tmp_path / 'mcma.png'
    visualize('mcma', '--config', TINY_MCMA, '--checkpoint', ckpt, '--out', out, '--topk', 4,
              '--num-queries', 3, *TILE)
    img, info = read_png(out), read_json(out)
    assert img.shape[:2] == sheet_size(3, [1, 4], header=30)
    world = SyntheticWorld('text', seed=0, num_train_ids=8, num_test_ids=3, img_size=(64, 32))
    recs = world.records('query')
    captions = [(i, c) for i, r in enumerate(recs) for c in r['captions']]
    pids = np.array([r['pid'] for r in recs])
    for r in info['rows']:
        src, caption = captions[r['query']]
        assert r['caption'] == caption and r['source_image'] == src
        assert frame(img, r['source_box']) == BLUE
        np.testing.assert_array_equal(interior(img, r['source_box']),
                                      world.render(recs[src])['img'])
        ranked = r['ranked']
        assert len(ranked['gallery']) == 4 and ranked['distances'] == sorted(ranked['distances'])
        assert ranked['gallery_pids'] == pids[ranked['gallery']].tolist()
        for j, box in zip(ranked['gallery'], ranked['boxes']):
            assert frame(img, box) == (GREEN if pids[j] == pids[src] else RED)
            np.testing.assert_array_equal(interior(img, box), world.render(recs[j])['img'])


# ------------------------------------------------------------------------------ world sheets
def test_world_sheets_every_preset(tmp_path):
    from asym_plugins.data.synthetic import SyntheticWorld
    from asym_plugins.visualization import overlay_mask
    common = ['--seed', 3, '--num-train-ids', 2, '--num-test-ids', 3, '--img-size', 64, 32,
              '--ids', 3, '--max-query', 2, '--max-gallery', 3]
    visualize('world', '--preset', 'all', '--out-dir', tmp_path, *common)
    visualize('world', '--preset', 'occluded', '--masks', '--out-dir', tmp_path, *common)
    for preset in ('holistic', 'occluded', 'partial', 'infrared', 'text'):
        png = tmp_path / f'world_{preset}.png'
        img, info = read_png(png), read_json(png)
        world = SyntheticWorld(preset, seed=3, num_train_ids=2, num_test_ids=3,
                               img_size=(64, 32))
        assert info['pids'] == world.pids('query')
        text = preset == 'text'
        by_uid = {r['uid']: r for s in ('query', 'gallery') for r in world.records(s)}
        for pid, uids, row in zip(info['pids'], info['uids'], info['boxes']):
            blocks = ([] if text else [('query', BLUE)]) + [('gallery', GREY)]
            for (split, colour), boxes in zip(blocks, row):
                assert len(boxes) == len(uids[split]) > 0
                for uid, box in zip(uids[split], boxes):
                    rec = by_uid[uid]
                    assert rec['pid'] == pid and rec['split'] == split
                    assert frame(img, box) == colour
                    np.testing.assert_array_equal(interior(img, box), world.render(rec)['img'])
                    if preset == 'infrared' and split == 'query':
                        assert rec['modality'] == 'infrared'
        if text:
            first = [by_uid[u['gallery'][0]]['captions'][0] for u in info['uids']]
            assert info['captions'] == [f'"{c}"' for c in first]
    masked, info = read_png(tmp_path / 'world_occluded_masks.png'), \
        read_json(tmp_path / 'world_occluded_masks.png')
    world = SyntheticWorld('occluded', seed=3, num_train_ids=2, num_test_ids=3, img_size=(64, 32))
    rec = [r for r in world.records('query') if r['uid'] == info['uids'][0]['query'][0]][0]
    r = world.render(rec)
    tile = interior(masked, info['boxes'][0][0][0])
    np.testing.assert_array_equal(tile, overlay_mask(r['img'], r['mask']))
    assert (tile[r['mask'] == 0] == r['img'][r['mask'] == 0]).all()
    assert (tile[r['mask'] == 6] != r['img'][r['mask'] == 6]).any(-1).mean() > 0.9  # occluder


# ------------------------------------------------------------------------------ errors, docs
def test_clear_errors(tmp_path, ir_run):
    from asym_plugins.engine.cli import UserError
    _, ckpt, npz, feats = ir_run
    with pytest.raises(FileNotFoundError, match='checkpoint'):
        visualize('ranklist', '--config', TINY_IR, '--checkpoint', tmp_path / 'no.pth',
                  '--out', tmp_path / 'x.png')
    old = tmp_path / 'old.npz'
    np.savez(old, **{k: v for k, v in feats.items() if 'img_paths' not in k})
    with pytest.raises(KeyError, match='q_img_paths'):
        visualize('ranklist', '--features', old, '--out', tmp_path / 'x.png')
    with pytest.raises(FileNotFoundError, match='--config'):
        visualize('ranklist', '--features', npz, '--out', tmp_path / 'x.png')
    with pytest.raises(UserError, match='unknown preset'):
        visualize('world', '--preset', 'underwater', '--out-dir', tmp_path)
    with pytest.raises(UserError, match='--features'):
        visualize('sim', '--out', tmp_path / 'x.png')
    with pytest.raises(UserError, match='SAPModel'):
        visualize('sap', '--config', TINY_IR, '--checkpoint', ckpt, '--out', tmp_path / 'x.png')
    with pytest.raises(ValueError, match='out of range'):
        visualize('ranklist', '--features', npz, '--config', TINY_IR, '--queries', 10 ** 6,
                  '--out', tmp_path / 'x.png')


def test_docs_commands_parse():
    """Every `python tools/visualize.py ...` line of docs/visualize.md is a valid command."""
    import visualize as tool
    with open(osp.join(ROOT, 'docs', 'visualize.md')) as f:
        text = f.read().replace('\\\n', ' ')
    cmds = re.findall(r'^\s*(?:OMP_NUM_THREADS=\d+ )?python tools/visualize\.py (.+)$', text,
                      re.M)
    assert {c.split()[0] for c in cmds} == set(tool.COMMANDS)
    for c in cmds:
        tool.parse_args(shlex.split(c.split('#')[0]))


def test_image_source_reads_real_files_from_disk(tmp_path):
    from asym_plugins.visualization.sources import ImageSource
    img = np.random.RandomState(0).randint(0, 255, (20, 10, 3)).astype(np.uint8)
    path = str(tmp_path / 'market' / '0001_c1s1_000151_01.jpg').replace('.jpg', '.png')
    os.makedirs(osp.dirname(path))
    cv2.imwrite(path, img[..., ::-1])
    np.testing.assert_array_equal(ImageSource().load(path), img)
    with pytest.raises(FileNotFoundError, match='not found'):
        ImageSource().load(str(tmp_path / 'missing.png'))
