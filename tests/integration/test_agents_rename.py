"""The rename agent on real code: bot/demo/sample_repo (see its README)."""

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.agents.base import AgentLimits, AgentRequest
from bot.agents.rename import RenameAgent
from bot.core.errors import AgentFailed, LeaseLost
from tests.runner_support import SAMPLE


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    target = tmp_path / "work"
    shutil.copytree(SAMPLE, target)
    return target


def rename(checkout, old, new, *, timeout=60.0, stop=None, **extra):
    request = AgentRequest(
        checkout=checkout,
        command={"name": "rename", "old": old, "new": new, **extra},
        limits=AgentLimits(timeout=timeout),
        stop=stop or threading.Event(),
        home=checkout.parent,
    )
    return RenameAgent().run(request)


def read(checkout, path):
    return (checkout / path).read_text()


def unchanged(checkout, path):
    return read(checkout, path) == (SAMPLE / path).read_text()


def sample_tests_pass(checkout):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "checks"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return True


def test_renaming_a_function_follows_every_import_style(checkout):
    result = rename(checkout, "net_price", "price_before_tax")
    pricing = read(checkout, "inventory/pricing.py")
    assert "def price_before_tax(gross):" in pricing
    assert "return price_before_tax(self.total())" in pricing
    report = read(checkout, "inventory/report.py")
    assert "from inventory.pricing import Basket, price_before_tax" in report
    assert "{price_before_tax(gross):.2f}" in report
    audit = read(checkout, "inventory/audit.py")
    assert "pricing.price_before_tax(gross)" in audit  # from inventory import pricing
    assert "inventory.pricing.price_before_tax(basket.total())" in audit  # import inventory.pricing
    assert "Renamed the function inventory.pricing.net_price" in result.log


def test_a_same_named_local_variable_is_left_alone(checkout):
    rename(checkout, "net_price", "price_before_tax")
    assert unchanged(checkout, "inventory/receipt.py")
    # In report.py the local shadows the imported function inside doubled().
    assert "    net_price = gross * 2\n    return net_price\n" in read(
        checkout, "inventory/report.py"
    )


def test_the_package_tests_still_pass_after_a_function_rename(checkout):
    rename(checkout, "inventory.pricing.net_price", "price_before_tax")
    assert "price_before_tax(12.0)" in read(checkout, "checks/check_inventory.py")
    assert sample_tests_pass(checkout)


def test_renaming_a_method_renames_overrides_and_calls_and_keeps_the_tests_green(checkout):
    result = rename(checkout, "Basket.total", "grand_total")
    pricing = read(checkout, "inventory/pricing.py")
    assert "def total" not in pricing
    assert pricing.count("def grand_total(self):") == 2  # Basket and the GiftBasket override
    receipt = read(checkout, "inventory/receipt.py")
    assert "    total = basket.grand_total()\n" in receipt  # the local `total` keeps its name
    assert "please review" in result.log
    assert "inventory/receipt.py:5" in result.log
    assert sample_tests_pass(checkout)


def test_renaming_a_module_level_name_by_its_full_dotted_path(checkout):
    rename(checkout, "inventory.pricing.TAX_RATE", "VAT_RATE")
    pricing = read(checkout, "inventory/pricing.py")
    assert "VAT_RATE = 0.2" in pricing
    assert "(1 + VAT_RATE)" in pricing


def test_paths_limit_which_files_change(checkout):
    rename(checkout, "net_price", "price_before_tax", paths=["inventory/**"])
    assert "price_before_tax" in read(checkout, "inventory/report.py")
    assert unchanged(checkout, "checks/check_inventory.py")


def test_an_unknown_symbol_is_refused_with_similar_names(checkout):
    with pytest.raises(AgentFailed) as caught:
        rename(checkout, "net_prize", "x")
    error = caught.value
    assert error.reason_code == "unknown_symbol"
    assert not error.retryable
    assert "inventory/pricing.py:6 (inventory.pricing.net_price)" in error.message
    assert unchanged(checkout, "inventory/pricing.py")


def test_an_ambiguous_symbol_is_refused_with_every_candidate(checkout):
    with pytest.raises(AgentFailed) as caught:
        rename(checkout, "total", "grand_total")
    error = caught.value
    assert error.reason_code == "ambiguous_symbol"
    assert not error.retryable
    assert "inventory/pricing.py:19 (inventory.pricing.Basket.total)" in error.message
    assert "inventory/pricing.py:27 (inventory.pricing.GiftBasket.total)" in error.message


@pytest.mark.parametrize("new", ["2fast", "class", "has space", "other.module.name"])
def test_a_new_name_that_is_not_a_plain_identifier_is_refused(checkout, new):
    with pytest.raises(AgentFailed) as caught:
        rename(checkout, "net_price", new)
    assert caught.value.reason_code == "bad_instruction"


def test_the_new_name_may_repeat_the_dotted_prefix(checkout):
    rename(checkout, "inventory.pricing.net_price", "inventory.pricing.price_before_tax")
    assert "def price_before_tax" in read(checkout, "inventory/pricing.py")


def test_a_new_name_already_defined_beside_the_symbol_is_refused(checkout):
    with pytest.raises(AgentFailed) as caught:
        rename(checkout, "net_price", "TAX_RATE")
    assert caught.value.reason_code == "name_taken"
    assert "inventory/pricing.py:3" in caught.value.message


def test_a_missing_name_is_a_bad_instruction(checkout):
    with pytest.raises(AgentFailed) as caught:
        rename(checkout, "", "x")
    assert caught.value.reason_code == "bad_instruction"


def test_running_out_of_time_is_a_retryable_timeout_and_changes_nothing(checkout):
    with pytest.raises(AgentFailed) as caught:
        rename(checkout, "net_price", "price_before_tax", timeout=0.0)
    assert caught.value.reason_code == "agent_timeout"
    assert caught.value.retryable
    assert unchanged(checkout, "inventory/pricing.py")


def test_a_lost_lease_stops_the_rename(checkout):
    stop = threading.Event()
    stop.set()
    with pytest.raises(LeaseLost):
        rename(checkout, "net_price", "price_before_tax", stop=stop)
    assert unchanged(checkout, "inventory/pricing.py")


def test_a_file_rope_cannot_parse_is_named_in_the_failure(checkout):
    (checkout / "inventory" / "broken.py").write_text(
        "from inventory.pricing import net_price\ndef (:\n"
    )
    with pytest.raises(AgentFailed) as caught:
        rename(checkout, "net_price", "price_before_tax")
    assert caught.value.reason_code == "syntax_error"
    assert "inventory/broken.py (line 2)" in caught.value.message
    assert not caught.value.retryable
