"""Cross-checks between the two ways of computing a net total."""

import inventory.pricing
from inventory import pricing


def audit(basket):
    by_item = sum(pricing.net_price(gross) for _, gross in basket.items)
    by_total = inventory.pricing.net_price(basket.total())
    return abs(by_item - by_total) < 0.05
