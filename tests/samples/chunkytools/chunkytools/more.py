"""Routines that go beyond the recipes."""

from itertools import islice

from .recipes import take

__all__ = [
    "chunked",
    "first",
    "ichunked",
]


def chunked(iterable, n, strict=False):
    """Break *iterable* into lists of length *n*.

    >>> list(chunked([1, 2, 3, 4, 5, 6], 3))
    [[1, 2, 3], [4, 5, 6]]

    The last list is shorter when the length of *iterable* is not divisible by *n*:

    >>> for chunk in chunked(
    ...     [1, 2, 3, 4, 5], 3
    ... ):
    ...     print(chunk)
    [1, 2, 3]
    [4, 5]

    With *strict*, a short last chunk is an error:

    >>> chunked([1, 2, 3], 2, strict=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: chunked: iterable is not divisible by n.
    """
    iterator = iter(iterable)
    result = []
    while True:
        chunk = take(n, iterator)
        if not chunk:
            break
        if strict and len(chunk) != n:
            # The message names chunked, as more-itertools' own does.
            raise ValueError("chunked: iterable is not divisible by n.")
        result.append(chunk)
    return result


def ichunked(iterable, n):
    """Like chunked, but yields iterators.

    >>> [list(c) for c in ichunked([1, 2, 3], 2)]
    [[1, 2], [3]]
    """
    for chunk in chunked(iterable, n):
        yield iter(chunk)


def first(iterable, default=None):
    """The first item of *iterable*, or *default*.

    >>> first([3, 4])
    3
    """
    return next(islice(iterable, 1), default)
