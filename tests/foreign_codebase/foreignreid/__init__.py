"""A stand-in for another MMEngine-based Re-ID codebase (its own scope, model and metric),
written without any knowledge of asym_plugins: the SIM hook must wrap its metric as it is."""
import numpy as np
import torch
from mmengine.dataset import BaseDataset
from mmengine.evaluator import BaseMetric
from mmengine.model import BaseModel
from mmengine.registry import DATASETS as ROOT_DATASETS
from mmengine.registry import METRICS as ROOT_METRICS
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import Registry
from mmengine.structures import BaseDataElement

MODELS = Registry('model', parent=ROOT_MODELS, scope='foreignreid')
DATASETS = Registry('dataset', parent=ROOT_DATASETS, scope='foreignreid')
METRICS = Registry('metric', parent=ROOT_METRICS, scope='foreignreid')


@DATASETS.register_module()
class FeatureFileDataset(BaseDataset):
    """Reads an npz of precomputed descriptors: x, pid, camid, is_query."""

    def __init__(self, npz, **kwargs):
        self.npz = npz
        super().__init__(ann_file='', serialize_data=False, test_mode=True, **kwargs)

    def load_data_list(self):
        d = np.load(self.npz)
        return [dict(x=d['x'][i], pid=int(d['pid'][i]), camid=int(d['camid'][i]),
                     is_query=bool(d['is_query'][i])) for i in range(len(d['pid']))]

    def prepare_data(self, idx):
        info = self.get_data_info(idx)
        return dict(inputs=torch.as_tensor(info['x']),
                    data_samples=BaseDataElement(metainfo=dict(
                        pid=info['pid'], camid=info['camid'], is_query=info['is_query'])))


@MODELS.register_module()
class DescriptorNet(BaseModel):
    """Outputs one feature per sample (a fixed linear map of the input descriptor)."""

    def __init__(self, dim):
        super().__init__()
        self.proj = torch.nn.Linear(dim, dim, bias=False)
        torch.nn.init.eye_(self.proj.weight)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        feats = self.proj(torch.stack(inputs) if isinstance(inputs, list) else inputs)
        if mode == 'predict':
            for s, f in zip(data_samples, feats):
                s.feat = f
            return data_samples
        return feats


def average_precision(dist_row, match):
    order = np.argsort(dist_row, kind='stable')
    hits = match[order]
    if not hits.any():
        return None
    cum = np.cumsum(hits)
    return float((cum[hits] / (np.flatnonzero(hits) + 1)).mean())


@METRICS.register_module()
class ForeignRetrievalMetric(BaseMetric):
    """This codebase's own metric: cosine distance, all gallery items, mAP and top-1."""

    default_prefix = 'foreign'

    def process(self, data_batch, data_samples):
        for s in data_samples:
            self.results.append(dict(feat=s['feat'].detach().cpu(), pid=int(s['pid']),
                                     camid=int(s['camid']), is_query=bool(s['is_query'])))

    def pairwise_distance(self, a, b):
        a = torch.nn.functional.normalize(a, dim=1)
        b = torch.nn.functional.normalize(b, dim=1)
        return (1 - a @ b.t()).numpy()

    def compute_metrics(self, results):
        q = [r for r in results if r['is_query']]
        g = [r for r in results if not r['is_query']]
        dist = self.pairwise_distance(torch.stack([r['feat'] for r in q]),
                                      torch.stack([r['feat'] for r in g]))
        g_pids = np.array([r['pid'] for r in g])
        aps, top1 = [], []
        for i, r in enumerate(q):
            ap = average_precision(dist[i], g_pids == r['pid'])
            if ap is not None:
                aps.append(ap)
                top1.append(float(g_pids[np.argmin(dist[i])] == r['pid']))
        return dict(mAP=100 * float(np.mean(aps)), top1=100 * float(np.mean(top1)))
