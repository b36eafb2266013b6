"""MMEngine metric for text -> image person retrieval (IRRA protocol)."""
from typing import Any, Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric

from asym_plugins.registry import METRICS

from ..protocols import evaluate_text_to_image
from .reid_metric import get_field, to_cpu_feature


@METRICS.register_module()
class TextImageMetric(BaseMetric):
    """Text -> image retrieval: R1, R5, R10, mAP, mINP in percent (``docs/datasets.md``).

    Each data sample is a gallery image: ``pred_feature`` (its image feature) and ``pid``; an
    image that carries captions also gives ``text_features`` (Tensor ``(n_captions, D)``), and each
    caption becomes a query with the image's pid. Every caption is ranked against every image
    by the cosine similarity of L2-normalised features, without any camera filter.

    Examples::
        >>> test_evaluator = dict(type='TextImageMetric')
    """
    default_prefix: Optional[str] = None

    def __init__(self, ranks: Sequence[int] = (1, 5, 10), collect_device: str = 'cpu',
                 prefix: Optional[str] = None, collect_dir: Optional[str] = None,
                 device: str = 'cpu') -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        self.ranks = tuple(int(k) for k in ranks)
        self.device = device
        self.features: Optional[Dict[str, torch.Tensor]] = None

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        for sample in data_samples:
            try:
                feature = to_cpu_feature(get_field(sample, 'pred_feature'))
                pid = int(get_field(sample, 'pid'))
                text = get_field(sample, 'text_features', None)
            except KeyError as e:
                raise KeyError(f'TextImageMetric: {e.args[0]}. The model must set '
                               '`pred_feature` (image) and, for captioned images, '
                               '`text_features` (n_captions, D) in predict mode') from None
            if text is not None:
                text = to_cpu_feature(text)
                text = text.reshape(1, -1) if text.dim() == 1 else text
            self.results.append(dict(feature=feature, pid=pid, text_features=text))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        image_feats = torch.stack([r['feature'] for r in results])
        image_pids = torch.tensor([r['pid'] for r in results], dtype=torch.long)
        texts = [r for r in results if r['text_features'] is not None
                 and r['text_features'].shape[0] > 0]
        if not texts:
            raise ValueError('TextImageMetric: no sample carries `text_features`: the text '
                             'queries are missing (does the model encode the captions in '
                             'predict mode?)')
        text_feats = torch.cat([r['text_features'] for r in texts])
        text_pids = torch.cat([torch.full((r['text_features'].shape[0],), r['pid'],
                                          dtype=torch.long) for r in texts])
        self.features = dict(text_feats=text_feats, image_feats=image_feats,
                             text_pids=text_pids, image_pids=image_pids)
        return self.evaluate_features(**self.features)

    def evaluate_features(self, text_feats, image_feats, text_pids, image_pids
                          ) -> Dict[str, float]:
        res = evaluate_text_to_image(torch.as_tensor(text_feats).to(self.device),
                                     torch.as_tensor(image_feats).to(self.device),
                                     text_pids, image_pids, max_rank=max(self.ranks))
        return res.to_dict(self.ranks)
