from .base import DatasetFormatError, ReIDDataset

__all__ = ['ReIDDataset', 'DatasetFormatError']
