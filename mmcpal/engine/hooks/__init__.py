"""Training hooks of mmcpal."""
from .context_clustering_hook import ContextClusteringHook

__all__ = ['ContextClusteringHook']
