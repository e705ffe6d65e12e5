"""Argument checks shared by the CPAL parts (one error format for all)."""
from typing import Any, Callable, Sequence


def check_int(owner: str, name: str, value: Any, minimum: int) -> None:
    """Refuse anything but an int (not a bool) ``>= minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) \
            or value < minimum:
        raise ValueError(f'{owner}: `{name}` must be an int >= {minimum}, '
                         f'but got {value!r}')


def check_choice(owner: str, name: str, value: Any,
                 choices: Sequence[str]) -> None:
    """Refuse a value outside ``choices``."""
    if value not in choices:
        raise ValueError(f'{owner}: `{name}` must be one of {tuple(choices)}, '
                         f'but got {value!r}')


def check_number(owner: str, name: str, value: Any, expected: str,
                 ok: Callable[[float], bool]) -> None:
    """Refuse a non-number or a number for which ``ok`` is False."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not ok(value):
        raise ValueError(f'{owner}: `{name}` must be a number {expected}, '
                         f'but got {value!r}')


def check_bool(owner: str, name: str, value: Any) -> None:
    """Refuse anything but a bool."""
    if not isinstance(value, bool):
        raise ValueError(
            f'{owner}: `{name}` must be a bool, but got {value!r}')
