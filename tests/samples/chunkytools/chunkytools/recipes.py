"""Recipes from the itertools documentation."""

from itertools import islice

__all__ = ["take", "grouper"]


def take(n, iterable):
    """The first *n* items of *iterable*, as a list.

    >>> take(2, "abc")
    ['a', 'b']
    """
    return list(islice(iterable, n))


def grouper(iterable, n):
    """Groups of *n*, the last one padded with None.

    >>> from chunkytools import chunked
    >>> grouper("abcde", 2) == [tuple(c) + (None,) * (2 - len(c)) for c in chunked("abcde", 2)]
    True
    >>> import chunkytools
    >>> chunkytools.chunked("ab", 1)
    [['a'], ['b']]
    """
    from chunkytools.more import chunked

    return [tuple(c) + (None,) * (n - len(c)) for c in chunked(iterable, n)]
