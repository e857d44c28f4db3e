from inventory import audit, pricing, receipt, report
from inventory.pricing import Basket, GiftBasket, net_price


def test_net_price_removes_tax():
    assert net_price(12.0) == 10.0


def test_basket_totals():
    basket = Basket().add("tea", 6.0).add("cake", 6.0)
    assert basket.total() == 12.0
    assert basket.net_total() == 10.0


def test_gift_basket_is_free():
    assert GiftBasket().add("tea", 6.0).total() == 0.0


def test_report_and_audit_agree():
    basket = Basket().add("tea", 6.0)
    assert report.basket_report(basket) == "tea: 5.00 net"
    assert audit.audit(basket)
    assert pricing.net_price(6.0) == 5.0


def test_receipt_keeps_its_local_names():
    assert receipt.receipt(Basket().add("tea", 10.0), 0.5) == "total 10.00, after discount 5.00"


def test_a_shadowing_local_still_works():
    assert report.doubled(2.0) == 4.0
