"""Caption tokenisation in the data pipeline (runs in the dataloader workers)."""
from typing import Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from asym_plugins.registry import TRANSFORMS

from .text_encoder import load_tokenizer, resolve_text_encoder_path, tokenize

MODES = ('random', 'all', 'first')


@TRANSFORMS.register_module()
class TokenizeCaptions(BaseTransform):
    """Tokenise a sample's captions to a fixed length with the text encoder's tokenizer.

    Place it AFTER ``PackReIDInputs``: it reads the packed data sample's ``captions`` and sets
    two data fields on it, ``text_token_ids`` and ``text_attention_mask`` (int64 ``(C,
    max_length)``), plus the metainfo ``caption_index`` (list of the captions' indices).

    Caption <-> image mapping: a training pair is (image, one caption of that image), drawn
    anew every time the sample is loaded (``mode='random'``, C = 1); at test time every
    caption of an image becomes one text query carrying the image's pid (``mode='all'``).

    Args:
        tokenizer: local tokenizer folder (normally the text encoder's
            ``model.text_encoder.pretrained``); None = the packaged MiniLM.
        max_length: tokens per caption, special tokens included (padded / truncated).
        mode: ``'random'`` (one random caption), ``'all'``, or ``'first'``.
        skip_splits: samples of these splits get no tokens (e.g. ``('gallery',)``).
        require_captions: a sample without captions raises an error (naming its image);
            False leaves it without tokens.

    Examples::
        >>> train_pipeline = [..., dict(type='PackReIDInputs'),
        ...                   dict(type='TokenizeCaptions', max_length=64, mode='random')]
    """

    def __init__(self, tokenizer: Optional[str] = None, max_length: int = 64,
                 mode: str = 'random', skip_splits: Sequence[str] = (),
                 require_captions: bool = True) -> None:
        if mode not in MODES:
            raise ValueError(f'TokenizeCaptions: mode must be one of {MODES}, got {mode!r}.')
        if max_length < 2:
            raise ValueError(f'TokenizeCaptions: max_length={max_length} must be >= 2.')
        self.path = resolve_text_encoder_path(tokenizer, 'TokenizeCaptions.tokenizer')
        self.max_length = int(max_length)
        self.mode = mode
        self.skip_splits = tuple(skip_splits)
        self.require_captions = require_captions
        self._tokenizer = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state['_tokenizer'] = None  # each worker loads its own
        return state

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.path)
        return self._tokenizer

    @cache_randomness
    def _pick(self, num: int) -> int:
        return int(np.random.randint(num))

    def transform(self, results: dict) -> dict:
        sample = results.get('data_samples')
        if sample is None:
            raise KeyError('TokenizeCaptions must come after PackReIDInputs in the pipeline '
                           '(it tokenises the packed data sample\'s captions).')
        if sample.metainfo.get('split') in self.skip_splits:
            return results
        captions = sample.metainfo.get('captions')
        if not captions:
            if self.require_captions:
                raise ValueError(f"TokenizeCaptions: sample {sample.metainfo.get('img_path')!r} "
                                 'has no captions; caption datasets give every train/query '
                                 'image a non-empty list (set require_captions=False to skip).')
            return results
        if isinstance(captions, str):
            captions = [captions]
        if self.mode == 'random':
            index = [self._pick(len(captions))]
        elif self.mode == 'first':
            index = [0]
        else:
            index = list(range(len(captions)))
        ids, mask = tokenize(self.tokenizer, [captions[i] for i in index], self.max_length)
        sample.set_field(ids, 'text_token_ids')
        sample.set_field(mask, 'text_attention_mask')
        sample.set_metainfo(dict(caption_index=index))
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(tokenizer={self.path!r}, max_length={self.max_length}, '
                f'mode={self.mode!r})')
