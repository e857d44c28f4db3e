def area(width, height):
    return width * height


def scale(size, factor):
    return size * factor
