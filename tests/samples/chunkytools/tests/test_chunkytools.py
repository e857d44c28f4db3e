import chunkytools as ct
from chunkytools import chunked


def test_chunked_through_the_package():
    assert chunked("abcd", 2) == [["a", "b"], ["c", "d"]]
    assert ct.chunked("abc", 2) == [["a", "b"], ["c"]]


def test_star_import_exports_every_public_name():
    namespace = {}
    exec("from chunkytools import *", namespace)
    assert set(ct.more.__all__) | set(ct.recipes.__all__) <= set(namespace)


def test_a_local_of_the_same_name_is_left_alone():
    chunked = 3  # a local, not the function
    assert chunked == 3
