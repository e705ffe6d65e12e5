from .wsss_data_sample import WSSSDataSample, stack_labels, stack_valid

__all__ = ['WSSSDataSample', 'stack_labels', 'stack_valid']
