"""A shop's inventory: prices, baskets and reports."""
