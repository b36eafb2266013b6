"""Registries of the ``asym`` scope, children of MMEngine's root registries.

Everything registered here is visible to MMEngine's ``Runner`` when a config says
``default_scope = 'asym'`` or ``custom_imports = dict(imports=['asym_plugins'])``; a config of
another scope names our classes as ``'asym.ClassName'``. ``locations`` let MMEngine import the
defining modules lazily, so building from a registry never needs a prior ``import``.
"""
from mmengine import registry as mmengine_registry
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

SCOPE = 'asym'

MODELS = Registry('model', parent=MMENGINE_MODELS, scope=SCOPE,
                  locations=['asym_plugins.models', 'asym_plugins.methods'])
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope=SCOPE,
                    locations=['asym_plugins.data'])
DATA_SAMPLERS = Registry('data sampler', parent=MMENGINE_DATA_SAMPLERS, scope=SCOPE,
                         locations=['asym_plugins.data'])
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, scope=SCOPE,
                      locations=['asym_plugins.data'])
METRICS = Registry('metric', parent=MMENGINE_METRICS, scope=SCOPE,
                   locations=['asym_plugins.evaluation'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope=SCOPE,
                 locations=['asym_plugins.hooks'])
# Empty ``asym`` children of every other MMEngine root registry (runner, loops, optimizers,
# schedulers, visualizers, ...), as OpenMMLab codebases define them: with ``default_scope =
# 'asym'`` MMEngine looks each of these up by scope, and without a child it logs "Failed to
# search registry with scope asym ... may cause unexpected failure" on every build.
_MMENGINE_ONLY = ('RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'STRATEGIES', 'MODEL_WRAPPERS',
                  'WEIGHT_INITIALIZERS', 'OPTIMIZERS', 'OPTIM_WRAPPERS',
                  'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'EVALUATOR', 'TASK_UTILS',
                  'VISUALIZERS', 'VISBACKENDS', 'LOG_PROCESSORS', 'INFERENCERS', 'FUNCTIONS')
MMENGINE_CHILDREN = {
    name: Registry(getattr(mmengine_registry, name).name,
                   parent=getattr(mmengine_registry, name), scope=SCOPE)
    for name in _MMENGINE_ONLY}

# New registries of this package (no MMEngine parent).
RERANKERS = Registry('reranker', scope=SCOPE,
                     locations=['asym_plugins.evaluation.rerankers', 'asym_plugins.methods'])
TEACHERS = Registry('teacher', scope=SCOPE, locations=['asym_plugins.methods'])

__all__ = ['SCOPE', 'MODELS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'METRICS', 'HOOKS',
           'RERANKERS', 'TEACHERS']
