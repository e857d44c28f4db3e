"""Receipts. The local variables here share names with pricing's functions on purpose."""


def receipt(basket, discount=0.0):
    total = basket.total()
    net_price = total * (1 - discount)
    return f"total {total:.2f}, after discount {net_price:.2f}"
