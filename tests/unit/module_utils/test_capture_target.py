"""The capture target's rules (plugins/module_utils/capture_target.py): the underlay, the links'
MTU, the link manager, and the layout the module and the action share."""

import pytest

from ansible_collections.mirrorlab.vpc.plugins.module_utils import capture_target as ct

LINKS = [{"ifname": "lo", "mtu": 65536}, {"ifname": "ens5", "mtu": 9001}, {"ifname": "ens6", "mtu": 1500}]
ROUTES = [{"dst": "default", "gateway": "10.0.0.1", "dev": "ens6"}]
ADDRESSES = [{"ifname": "lo"}, {"ifname": "ens5"}, {"ifname": "ens6"}]


@pytest.mark.parametrize("interface,routes,addresses,expected", [
    ("ens5", ROUTES, ADDRESSES, "ens5"),  # given wins
    ("", ROUTES, ADDRESSES, "ens6"),  # the default route's
    ("", [], ADDRESSES, "ens5"),  # the first with a global IPv4 address, never lo
    ("", [{"dst": "default"}], [{"ifname": "lo"}, {"ifname": "ens6"}], "ens6"),
])
def test_underlay_is_given_then_default_route_then_first_global_address(interface, routes, addresses, expected):
    assert ct.choose_underlay(interface, routes, addresses, LINKS) == (expected, None)


def test_underlay_problems_name_capture_interface():
    chosen, problem = ct.choose_underlay("eth9", ROUTES, ADDRESSES, LINKS)
    assert chosen == "" and problem == "capture_interface: interface eth9 does not exist (interfaces: lo, ens5, ens6)"
    chosen, problem = ct.choose_underlay("", [], [{"ifname": "lo"}], LINKS)
    assert chosen == "" and problem.startswith(
        "capture_interface: no default route and no interface with a global IPv4 address: set capture_interface")


def test_link_mtu_is_given_or_underlay_less_vxlan_overhead():
    assert ct.link_mtu(0, LINKS, "ens5") == 9001 - 50 == 8951
    assert ct.link_mtu("0", LINKS, "ens6") == 1450
    assert ct.link_mtu(1400, LINKS, "ens5") == 1400


def test_manager_follows_networkd():
    status = "● 2: ens5\n     Network File: /run/systemd/network/70-ens5.network\n     State: routable\n"
    assert ct.network_file(status) == "/run/systemd/network/70-ens5.network"
    assert ct.network_file("") == "" and ct.network_file(None) == ""
    assert ct.choose_manager("auto", "/run/systemd/network/70-ens5.network", "ens5") == ("networkd", None)
    assert ct.choose_manager("auto", "", "ens5") == ("unit", None)
    assert ct.choose_manager("unit", "/x.network", "ens5") == ("unit", None)
    assert ct.choose_manager("networkd", "", "ens5") == (
        "", "capture_link_manager is networkd but systemd-networkd does not manage ens5 (no .network file): "
            "use capture_link_manager auto or unit.")


def test_layout_names():
    assert ct.dropin_dir("capv777") == "/etc/systemd/system/mirrorlab-capture@capv777.service.d"
    assert ct.link_of_dropin_dir("mirrorlab-capture@capv777.service.d") == "capv777"
    assert ct.link_of_dropin_dir("mirrorlab-capture@.service") is None
    assert ct.link_of_dropin_dir("mirrorlab-capture-link@capture0.service.d") is None
    assert [ct.link_of_unit(u) for u in ("mirrorlab-capture@capv777.service", "mirrorlab-capture-link@capture0.service",
                                         "mirrorlab-capture-housekeeping.service", "mirrorlab-capture@.service")] == \
        ["capv777", "capture0", None, None]
    assert ct.networkd_paths("/etc/systemd/network", "capture0") == [
        "/etc/systemd/network/50-mirrorlab-capture0.netdev", "/etc/systemd/network/50-mirrorlab-capture0.network"]
    assert ct.attach_dir("/etc/systemd/network", "/run/systemd/network/70-ens5.network") == \
        "/etc/systemd/network/70-ens5.network.d"
    assert [n for n in ("50-mirrorlab-capture0.netdev", "50-mirrorlab-x.network", "50-mirrorlab-capture.conf",
                        "70-ens5.network", "50-other.netdev", "50-mirrorlab-capture0.netdev~")
            if ct.is_role_networkd_file(n)] == ["50-mirrorlab-capture0.netdev", "50-mirrorlab-x.network",
                                                 "50-mirrorlab-capture.conf"]
