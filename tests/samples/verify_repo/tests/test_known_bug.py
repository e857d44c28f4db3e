from shapes import scale


def test_scale_refuses_a_negative_factor():
    # Known bug, already failing on the main branch.
    assert scale(2, -1) is None
