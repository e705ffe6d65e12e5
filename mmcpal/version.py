"""Version of mmcpal."""
__version__ = '0.1.0'
