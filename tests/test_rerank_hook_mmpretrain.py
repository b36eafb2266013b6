"""The re-rank hooks on a real OpenMMLab retrieval experiment (mmpretrain, the ``[mmpretrain]``
extra): mmpretrain's own InShop ArcFace retrieval config (ImageToImageRetriever, whose
``prototype_vecs`` are the gallery features, scored by RetrievalRecall / RetrievalAveragePrecision
from ``pred_score``), made tiny (model, images) and given a tiny InShop folder the test writes.
The only additions for SIM are ``custom_imports`` and one ``custom_hooks`` entry."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import require
from mmengine.config import Config
from mmengine.runner import Runner
from test_rerank_hook import docs_snippet

from asym_plugins.hooks import RerankHook, SIMRerankHook
from asym_plugins.hooks.rerank_sources import cosine_to_distance
from asym_plugins.methods.sim import similarity_inference

mmpretrain = require('mmpretrain')



@pytest.fixture(autouse=True)
def _numpy_in1d(monkeypatch):
    """mmpretrain 1.2.0's retrieval metrics call ``np.in1d``, which NumPy 2.4 removed; its
    replacement ``np.isin`` is the same for the 1-D arrays they pass (docs/sim.md)."""
    if not hasattr(np, 'in1d'):
        monkeypatch.setattr(np, 'in1d', np.isin, raising=False)


SIM = dict(lam=0.1, K=3, k_q=4, k_g=4, n_graph=6, alpha=0.5)
TRAIN_ITEMS, TEST_ITEMS, PER_ITEM_TRAIN, PER_ITEM_GALLERY, PER_ITEM_QUERY = 6, 5, 4, 3, 2


def _write_inshop(root, seed=0):
    """A tiny InShop folder: Img/<item>/<n>.jpg and Eval/list_eval_partition.txt."""
    rng = np.random.RandomState(seed)
    lines = []
    for item in range(TRAIN_ITEMS + TEST_ITEMS):
        colour = rng.randint(0, 256, 3)
        stripes = rng.randint(2, 8)
        if item < TRAIN_ITEMS:
            splits = ['train'] * PER_ITEM_TRAIN
        else:
            splits = ['gallery'] * PER_ITEM_GALLERY + ['query'] * PER_ITEM_QUERY
        for n, split in enumerate(splits):
            img = np.zeros((40, 40, 3), np.float32) + colour
            img[::stripes] = 255 - colour
            img += rng.randn(40, 40, 3) * 40
            name = f'id_{item:02d}/{n:02d}.jpg'
            path = osp.join(root, 'Img', name)
            os.makedirs(osp.dirname(path), exist_ok=True)
            cv2.imwrite(path, np.clip(img, 0, 255).astype(np.uint8))
            lines.append(f'{name} id_{item:02d} {split}')
    os.makedirs(osp.join(root, 'Eval'), exist_ok=True)
    with open(osp.join(root, 'Eval', 'list_eval_partition.txt'), 'w') as f:
        f.write(f'{len(lines)}\nimage_name item_id evaluation_status\n' + '\n'.join(lines) + '\n')


def _docs_config(tmp_path):
    """docs/sim.md's kind-3 config, written beside a copy of mmpretrain's own configs."""
    import shutil
    src = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs')
    dst = tmp_path / 'configs'
    for sub in ('_base_', 'arcface'):
        shutil.copytree(osp.join(src, sub), dst / sub)
    name = 'resnet50-arcface_8xb32_inshop_sim.py'
    (dst / 'arcface' / name).write_text(docs_snippet(f'# configs/arcface/{name}'))
    return str(dst / 'arcface' / name)


def _config(root, work_dir, hook=None, cfg_file=None):
    """mmpretrain's own InShop retrieval config (or ``cfg_file``), tiny; ``hook``: the one
    added hook line."""
    configs = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs')
    cfg = Config.fromfile(cfg_file or osp.join(configs, 'arcface',
                                               'resnet50-arcface_8xb32_inshop.py'))
    # tiny scale (a 3-stage-wide ResNet-18 on 32x32 images, one epoch); nothing else changes
    cfg.model.image_encoder = [dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
                               dict(type='GlobalAveragePooling')]
    cfg.model.head.update(num_classes=TRAIN_ITEMS, in_channels=64)
    sizes = dict(Resize=dict(scale=36), RandomCrop=dict(crop_size=32),
                 CenterCrop=dict(crop_size=32))
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader,
                   cfg.model.prototype):
        loader.update(batch_size=4, num_workers=0)
        loader.dataset.data_root = str(root)
        for step in loader.dataset.pipeline:
            step.update(sizes.get(step['type'], {}))
    cfg.train_cfg.max_epochs = 1
    cfg.randomness = dict(seed=0)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = osp.basename(str(work_dir))
    cfg.default_hooks.logger.interval = 1
    if hook is not None:
        cfg.custom_imports = dict(imports=['asym_plugins'])                     # <- added
        cfg.custom_hooks = cfg.custom_hooks + [hook]                            # <- added
    return cfg


def _hand_metrics(runner):
    """Query features of the trained model, the gallery it holds, SIM by hand (Euclidean
    distances of L2-normalised features, computed here from the features), scored with
    mmpretrain's own metric functions."""
    from mmpretrain.evaluation import RetrievalAveragePrecision, RetrievalRecall
    model = runner.model
    model.eval()
    feats, targets = [], []
    gallery = model.prototype_vecs
    with torch.no_grad():
        for batch in runner.test_dataloader:
            data = model.data_preprocessor(batch, False)
            feats.append(model.extract_feat(data['inputs'])[-1])   # the neck's tuple
            for s in batch['data_samples']:
                t = torch.zeros(len(gallery))
                t[s.gt_label] = 1
                targets.append(t)
    qf, target = torch.cat(feats), torch.stack(targets)
    qn, gn = F.normalize(qf, dim=1), F.normalize(gallery, dim=1)
    d_sim = similarity_inference(torch.cdist(qn, gn), torch.cdist(gn, gn), mode='official',
                                 **SIM)

    def score(s):
        return {'Recall@1': RetrievalRecall.calculate(s, target, topk=1)[0].item(),
                'mAP@10': float(RetrievalAveragePrecision.calculate(s, target, topk=10))}
    return score(qn @ gn.t()), score(-d_sim), len(qf)


@pytest.mark.slow
def test_sim_hook_on_mmpretrain_retriever(tmp_path):
    _write_inshop(tmp_path / 'inshop')
    plain_runner = Runner.from_cfg(_config(tmp_path / 'inshop', tmp_path / 'plain'))
    plain_runner.train()
    plain = plain_runner.test()

    # the config of docs/sim.md (kind 3), with SIM's values for a 15-image gallery
    cfg = _config(tmp_path / 'inshop', tmp_path / 'sim', cfg_file=_docs_config(tmp_path))
    assert cfg.custom_imports.imports == ['asym_plugins']
    assert [h['type'] for h in cfg.custom_hooks] == [
        'PrepareProtoBeforeValLoopHook', 'SyncBuffersHook', 'asym.SIMRerankHook']
    cfg.custom_hooks[-1].update(SIM, query_chunk=6)   # batches 4, 4, 2: chunks of 8 and 2
    runner = Runner.from_cfg(cfg)
    runner.train()
    val_logged = {k: v for k, v in runner.message_hub.log_scalars.items() if 'sim/' in k}
    out = runner.test()

    # the plain metrics are those of the experiment without the hook
    assert set(plain) == {'retrieval/Recall@1', 'retrieval/mAP@10'}
    for k, v in plain.items():
        assert out[k] == pytest.approx(v, abs=1e-6)
    hand_plain, hand_sim, n_query = _hand_metrics(runner)
    assert n_query == TEST_ITEMS * PER_ITEM_QUERY     # 3 batches of 4, 4, 2 queries
    for key in ('Recall@1', 'mAP@10'):
        assert out[f'retrieval/{key}'] == pytest.approx(hand_plain[key], abs=1e-4)
        assert out[f'retrieval/sim/{key}'] == pytest.approx(hand_sim[key], abs=1e-4)
    assert out['retrieval/sim/mAP@10'] != pytest.approx(out['retrieval/mAP@10'], abs=1e-3)
    # validation during training logged the SIM keys too
    assert {'val/retrieval/sim/Recall@1', 'val/retrieval/sim/mAP@10'} <= set(val_logged)
    # the model and the metrics are left as they were (no instance wrappers)
    assert 'matching' not in vars(runner.model)
    for metric in runner.test_evaluator.metrics:
        assert not {'process', 'evaluate'} & set(vars(metric))


def test_k_reciprocal_on_mmpretrain_retriever_is_refused(tmp_path):
    _write_inshop(tmp_path / 'inshop')
    hook = dict(type='asym.RerankHook', reranker=dict(type='KReciprocalReranker', k1=4, k2=2))
    runner = Runner.from_cfg(_config(tmp_path / 'inshop', tmp_path / 'krr', hook))
    with pytest.raises(ValueError, match='all queries at once'):
        runner.test()


def test_cosine_to_distance_keeps_ranking():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(7, 16, generator=g), torch.randn(11, 16, generator=g)
    cos = F.normalize(a, dim=1) @ F.normalize(b, dim=1).t()
    d = cosine_to_distance(cos)
    want = torch.cdist(F.normalize(a, dim=1), F.normalize(b, dim=1))
    torch.testing.assert_close(d, want, atol=1e-5, rtol=0)
    assert torch.equal(torch.argsort(d, dim=1), torch.argsort(-cos, dim=1))
    assert float(cosine_to_distance(torch.tensor([1.0 + 1e-6]))) == 0.0   # rounding above 1


def test_model_scores_need_a_conversion():
    from mmengine.registry import DefaultScope
    from mmpretrain.models import ImageToImageRetriever

    # mmpretrain's own scope, as its configs set it (another test of this worker may have left
    # an 'asym' DefaultScope instance behind, whose registry has no mmpretrain ResNet)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = ImageToImageRetriever(
            image_encoder=[dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
                           dict(type='GlobalAveragePooling')],
            prototype=torch.randn(5, 64), similarity_fn=lambda a, b: a @ b.t())

    class Evaluator:
        metrics = [mmpretrain.evaluation.RetrievalRecall(topk=1)]

    with pytest.raises(ValueError, match='score_to_distance'):
        SIMRerankHook(**SIM)._wrap_evaluator(Evaluator(), model)
    # no reachable ranking at all: the error names what it looked for and how to point it
    with pytest.raises(RuntimeError, match="compute_distmat.*'matching'.*gallery_attr="):
        SIMRerankHook(**SIM)._wrap_evaluator(Evaluator(), torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match='all queries'):
        RerankHook(reranker=dict(type='KReciprocalReranker'),
                   score_to_distance='cosine')._wrap_evaluator(Evaluator(), model)


_WORKER = r"""
import json, sys
import numpy as np
if not hasattr(np, 'in1d'):
    np.in1d = np.isin          # mmpretrain 1.2.0 on NumPy >= 2.4 (see the fixture above)
from mmengine.config import Config
from mmengine.runner import Runner
cfg_file, out_file = sys.argv[1], sys.argv[2]
cfg = Config.fromfile(cfg_file)
import os
import torch.distributed as dist
# gloo on CPU (MMEngine's init_dist would call torch.cuda.set_device); the model is DDP-wrapped
dist.init_process_group('gloo', rank=int(os.environ['RANK']),
                        world_size=int(os.environ['WORLD_SIZE']))
cfg.launcher = 'pytorch'
cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None)   # CPU DDP
out = Runner.from_cfg(cfg).test()
if dist.get_rank() == 0:
    json.dump(out, open(out_file, 'w'))
"""


@pytest.mark.slow
def test_sim_hook_distributed_equals_one_rank(tmp_path):
    """Two ranks (gloo, CPU) split the queries (and the gallery the retriever extracts); the
    logged SIM recall equals the one-process run's."""
    import json
    import socket
    import subprocess
    import sys
    _write_inshop(tmp_path / 'inshop')
    hook = dict(type='asym.SIMRerankHook', **SIM)
    one = Runner.from_cfg(_config(tmp_path / 'inshop', tmp_path / 'one', hook)).test()

    cfg = _config(tmp_path / 'inshop', tmp_path / 'two', hook)
    cfg.dump(str(tmp_path / 'two.py'))
    (tmp_path / 'worker.py').write_text(_WORKER)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    procs = []
    for rank in range(2):
        env = dict(os.environ, OMP_NUM_THREADS='1', RANK=str(rank), LOCAL_RANK=str(rank),
                   WORLD_SIZE='2', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
        procs.append(subprocess.Popen(
            [sys.executable, str(tmp_path / 'worker.py'), str(tmp_path / 'two.py'),
             str(tmp_path / 'two.json')], env=env, cwd=str(tmp_path),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    two = json.loads((tmp_path / 'two.json').read_text())
    # RetrievalRecall gathers every rank's results; so does its SIM shadow. (mmpretrain 1.2.0's
    # RetrievalAveragePrecision averages only rank 0's own results, plain and shadow alike.)
    assert two['retrieval/Recall@1'] == pytest.approx(one['retrieval/Recall@1'])
    assert two['retrieval/sim/Recall@1'] == pytest.approx(one['retrieval/sim/Recall@1'])
    assert 'retrieval/sim/mAP@10' in two


def _retriever_loop(hooks, model, queries, labels, batch_size, metrics):
    """A test loop by hand: the hooks' before_test, model.predict + evaluator.process per
    batch, after_test_iter, evaluate, after_test (what MMEngine's TestLoop calls)."""
    from mmengine.evaluator import Evaluator
    from mmpretrain.structures import DataSample
    evaluator = Evaluator(metrics)
    for hook in hooks:
        hook._wrap_evaluator(evaluator, model)
    with torch.no_grad():
        for i in range(0, len(queries), batch_size):
            samples = [DataSample().set_gt_label(labels[j])
                       for j in range(i, min(i + batch_size, len(queries)))]
            evaluator.process(model.predict(queries[i:i + batch_size], samples))
            for hook in hooks:
                hook.after_test_iter(None, i)
    out = evaluator.evaluate(len(queries))
    for hook in hooks:
        hook.after_test(None)
    return out


def _clustered_retriever():
    """An identity-encoder ``ImageToImageRetriever`` holding 18 gallery vectors of 6 clustered
    identities, with 12 queries (2 per identity) and their gallery labels."""
    from mmpretrain.models import ImageToImageRetriever
    g = torch.Generator().manual_seed(3)
    centers = torch.randn(6, 8, generator=g)
    gallery = centers.repeat_interleave(3, 0) + 0.8 * torch.randn(18, 8, generator=g)
    q_ids = torch.arange(6).repeat_interleave(2)
    queries = centers[q_ids] + 0.8 * torch.randn(12, 8, generator=g)
    labels = [torch.nonzero(torch.arange(18) // 3 == p).flatten().tolist() for p in q_ids]
    model = ImageToImageRetriever(image_encoder=torch.nn.Linear(8, 8), prototype=gallery)
    torch.nn.init.eye_(model.image_encoder.weight)
    torch.nn.init.zeros_(model.image_encoder.bias)
    return model, gallery, queries, labels


def test_two_hooks_batch_by_batch_on_a_retriever():
    """Kind 3 without a Runner: uneven batches and chunks, two SIM hooks stacked (official and
    equations, own prefixes), a callable score_to_distance; values equal SIM by hand on all
    queries at once."""
    from mmpretrain.evaluation import RetrievalAveragePrecision, RetrievalRecall
    model, gallery, queries, labels = _clustered_retriever()
    eq = dict(SIM, mode='equations')
    hooks = [SIMRerankHook(query_chunk=7, **SIM),     # batches 5, 5, 2: chunks of 10 and 2
             SIMRerankHook(prefix='simeq', score_to_distance=cosine_to_distance, **eq)]
    out = _retriever_loop(hooks, model, queries, labels, 5,
                          [RetrievalRecall(topk=(1, 2)), RetrievalAveragePrecision(topk=5)])

    qn, gn = F.normalize(queries, dim=1), F.normalize(gallery, dim=1)
    target = torch.zeros(12, 18)
    for i, lab in enumerate(labels):
        target[i, lab] = 1
    for prefix, kw in (('sim', SIM), ('simeq', eq)):
        d = similarity_inference(torch.cdist(qn, gn), torch.cdist(gn, gn), **kw)
        r1, r2 = RetrievalRecall.calculate(-d, target, topk=(1, 2))
        ap = RetrievalAveragePrecision.calculate(-d, target, topk=5)
        assert out[f'retrieval/{prefix}/Recall@1'] == pytest.approx(r1.item(), abs=1e-4)
        assert out[f'retrieval/{prefix}/Recall@2'] == pytest.approx(r2.item(), abs=1e-4)
        assert out[f'retrieval/{prefix}/mAP@5'] == pytest.approx(float(ap), abs=1e-4)
    plain = RetrievalAveragePrecision.calculate(qn @ gn.t(), target, topk=5)
    assert out['retrieval/mAP@5'] == pytest.approx(float(plain), abs=1e-4)
    assert out['retrieval/sim/mAP@5'] != pytest.approx(out['retrieval/mAP@5'], abs=1e-3)
    # both hooks removed their listeners: the model and the metrics are as they were
    assert 'matching' not in vars(model) and '_asym_rerank_dispatch' not in vars(model)


def test_retriever_errors_name_the_fix():
    from mmpretrain.evaluation import RetrievalRecall
    from mmpretrain.models import ImageToImageRetriever
    model = ImageToImageRetriever(image_encoder=torch.nn.Linear(4, 4),
                                  prototype=torch.randn(6, 4))
    queries, labels = torch.randn(3, 4), [[0], [1], [2]]
    # a model that never scores through the named method
    with pytest.raises(RuntimeError, match="did not call score_batch.*query_method="):
        model.score_batch = lambda feats: None
        _retriever_loop([SIMRerankHook(query_method='score_batch', **SIM)], model, queries,
                        labels, 3, [RetrievalRecall(topk=1)])
    # gallery features under another name
    with pytest.raises(RuntimeError, match="'gallery'.*gallery_attr="):
        _retriever_loop([SIMRerankHook(gallery_attr='gallery', **SIM)], model, queries, labels,
                        3, [RetrievalRecall(topk=1)])


def test_retriever_with_its_own_similarity_fn():
    """A retriever scoring with its own ``similarity_fn`` (a dot product of L2-normalised
    features, i.e. a cosine): with ``score_to_distance='cosine'`` the gallery-gallery scores come
    from that function too, and the SIM values equal SIM by hand."""
    from mmpretrain.evaluation import RetrievalRecall
    from mmpretrain.models import ImageToImageRetriever
    g = torch.Generator().manual_seed(4)
    gallery = F.normalize(torch.randn(9, 4, generator=g), dim=1)
    queries = F.normalize(gallery[::2] + 0.5 * torch.randn(5, 4, generator=g), dim=1)
    labels = [[i, (i + 1) % 9] for i in range(0, 9, 2)]
    calls = []

    def dot(a, b):
        calls.append((len(a), len(b)))
        return a @ b.t()
    model = ImageToImageRetriever(image_encoder=torch.nn.Linear(4, 4), prototype=gallery,
                                  similarity_fn=dot)
    torch.nn.init.eye_(model.image_encoder.weight)
    torch.nn.init.zeros_(model.image_encoder.bias)
    out = _retriever_loop([SIMRerankHook(score_to_distance='cosine', **SIM)], model, queries,
                          labels, 2, [RetrievalRecall(topk=(1, 3))])
    assert (9, 9) in calls                   # the gallery-gallery scores: the model's function
    target = torch.zeros(5, 9)
    for i, lab in enumerate(labels):
        target[i, lab] = 1
    d = similarity_inference(torch.cdist(queries, gallery), torch.cdist(gallery, gallery), **SIM)
    r1, r3 = RetrievalRecall.calculate(-d, target, topk=(1, 3))
    assert out['retrieval/sim/Recall@1'] == pytest.approx(r1.item(), abs=1e-4)
    assert out['retrieval/sim/Recall@3'] == pytest.approx(r3.item(), abs=1e-4)
