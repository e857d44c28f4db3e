"""A one-line report per basket."""

from inventory.pricing import Basket, net_price


def line(name, gross):
    return f"{name}: {net_price(gross):.2f} net"


def basket_report(basket: Basket):
    return "; ".join(line(name, gross) for name, gross in basket.items)


def doubled(gross):
    """A local that shadows the imported function: a rename must leave it alone."""
    net_price = gross * 2
    return net_price
