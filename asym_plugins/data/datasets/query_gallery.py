"""``QueryGalleryDataset``: query then gallery in one dataset, for MMEngine's single test loader."""
import copy
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from mmengine.dataset import BaseDataset

from asym_plugins.registry import DATASETS

from .base import DatasetFormatError

DatasetLike = Union[dict, BaseDataset]


@DATASETS.register_module()
class QueryGalleryDataset(BaseDataset):
    """Concatenate a query and a gallery dataset: indices ``0..num_query-1`` are the query.

    MMEngine runs one test dataloader per evaluator; the Re-ID metric needs both sides, so this
    wrapper serves the query samples first, then the gallery samples. Each sample keeps its
    ``split`` field (``'query'`` / ``'gallery'``, set by :class:`ReIDDataset`) and the metric
    separates them by it. ``metainfo`` holds ``num_query`` and ``num_gallery`` (plus the
    ``query_num_pids``, ``gallery_num_pids``, ``..._num_cams`` and, for caption datasets,
    ``query_num_captions``).

    Args:
        query: the query dataset, a config dict (built from ``DATASETS``) or an instance.
        gallery: the gallery dataset, likewise.
        pipeline: transforms applied to every sample here. When None (default) each sample
            goes through its own dataset's pipeline (``query.pipeline`` / ``gallery.pipeline``).
        **kwargs: passed to :class:`mmengine.dataset.BaseDataset` (``serialize_data``,
            ``lazy_init``...). ``test_mode`` is always True.

    Examples::
        >>> test_dataloader = dict(dataset=dict(
        ...     type='QueryGalleryDataset',
        ...     query=dict(type='Market1501', data_root='data/market1501', split='query'),
        ...     gallery=dict(type='Market1501', data_root='data/market1501', split='gallery'),
        ...     pipeline=test_pipeline))
    """

    def __init__(self, query: DatasetLike, gallery: DatasetLike,
                 pipeline: Optional[Sequence[Union[dict, Callable]]] = None,
                 metainfo: Optional[dict] = None, **kwargs):
        self.query = self._build(query, 'query')
        self.gallery = self._build(gallery, 'gallery')
        self._own_pipeline = pipeline is not None
        kwargs['test_mode'] = True
        kwargs.pop('data_root', None)
        super().__init__(metainfo=metainfo, pipeline=list(pipeline or []), **kwargs)

    @staticmethod
    def _build(ds: DatasetLike, side: str) -> BaseDataset:
        if isinstance(ds, dict):
            ds = DATASETS.build(copy.deepcopy(ds))
        if not hasattr(ds, '__len__') or not hasattr(ds, 'get_data_info'):
            raise TypeError(f'QueryGalleryDataset: {side} must be a dataset config dict or a '
                            f'BaseDataset instance; got {type(ds).__name__}.')
        if hasattr(ds, 'full_init'):
            ds.full_init()
        return ds

    #: Settings that must agree between the two sides when they are the same dataset class
    #: (RegDB ``trial`` / ``mode``: a mixed pair puts one modality on both sides; SYSU-MM01
    #: ``search_mode``).
    SHARED_SETTINGS = ('trial', 'mode', 'search_mode')

    def _check_sides(self) -> None:
        q, g = self.query, self.gallery
        if type(q) is not type(g):
            return
        for key in self.SHARED_SETTINGS:
            qv, gv = getattr(q, key, None), getattr(g, key, None)
            if qv != gv:
                raise ValueError(
                    f'QueryGalleryDataset ({type(q).__name__}): query {key}={qv!r} but gallery '
                    f'{key}={gv!r}; both sides must use the same {key} (set '
                    f'<val/test>_dataloader.dataset.query.{key} and .gallery.{key} alike).')

    def load_data_list(self) -> List[dict]:
        self._check_sides()
        for side, ds in (('query', self.query), ('gallery', self.gallery)):
            if len(ds) == 0:
                raise DatasetFormatError(
                    f'QueryGalleryDataset: the {side} dataset ({type(ds).__name__}, data_root '
                    f'{getattr(ds, "data_root", "?")!r}) is empty; the test needs both a query '
                    'and a gallery.')
        data_list = []
        for side, ds in (('query', self.query), ('gallery', self.gallery)):
            for i in range(len(ds)):
                info = ds.get_data_info(i)
                info.pop('sample_idx', None)
                info.setdefault('split', side)
                data_list.append(info)
        self._metainfo.update(self._side_metainfo())
        return data_list

    def _side_metainfo(self) -> Dict[str, Any]:
        meta = dict(num_query=len(self.query), num_gallery=len(self.gallery))
        for side, ds in (('query', self.query), ('gallery', self.gallery)):
            for key in ('num_pids', 'num_cams', 'num_captions'):
                if key in ds.metainfo:
                    meta[f'{side}_{key}'] = ds.metainfo[key]
        meta.setdefault('dataset_type', type(self.gallery).__name__)
        return meta

    def prepare_data(self, idx: int) -> Any:
        if self._own_pipeline:
            return super().prepare_data(idx)
        num_query = len(self.query)
        if idx < 0:
            idx += len(self)
        if idx < num_query:
            return self.query.prepare_data(idx)
        return self.gallery.prepare_data(idx - num_query)
