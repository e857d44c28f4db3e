import shapes
from shapes import area, scale


def test_area_multiplies_the_sides():
    assert area(2, 3) == 6


def test_scale_multiplies_by_the_factor():
    assert scale(2, 5) == 10


def test_the_public_api_is_looked_up_by_name():
    # Plugins find the function by its name: a rename breaks them.
    assert callable(getattr(shapes, "area"))
