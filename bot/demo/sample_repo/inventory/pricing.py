"""Prices with and without tax."""

TAX_RATE = 0.2


def net_price(gross):
    """The price without tax."""
    return round(gross / (1 + TAX_RATE), 2)


class Basket:
    def __init__(self):
        self.items = []

    def add(self, name, gross):
        self.items.append((name, gross))
        return self

    def total(self):
        return round(sum(gross for _, gross in self.items), 2)

    def net_total(self):
        return net_price(self.total())


class GiftBasket(Basket):
    def total(self):
        return 0.0
