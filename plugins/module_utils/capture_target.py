# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab.vpc collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The capture target's layout and rules, in one place.

Where the capture role's files live on the target, which of them restart the capture or reload
systemd-networkd when they change, how the underlay interface, the links' MTU and the link
manager are chosen. Imported on the target by the modules capture_target_info and
capture_target, and on the controller by the capture_target action; standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

SYSTEMD_DIR = "/etc/systemd/system"
CAPTURE_UNIT = "mirrorlab-capture@%s.service"
LINK_UNIT = "mirrorlab-capture-link@%s.service"
CAPTURE_TEMPLATE_UNIT = "mirrorlab-capture@.service"
LINK_TEMPLATE_UNIT = "mirrorlab-capture-link@.service"
HOUSEKEEPING_SERVICE = "mirrorlab-capture-housekeeping.service"
HOUSEKEEPING_TIMER = "mirrorlab-capture-housekeeping.timer"
# The units the role installs in SYSTEMD_DIR, each rendered from templates/<unit>.j2.
UNITS = (CAPTURE_TEMPLATE_UNIT, HOUSEKEEPING_SERVICE, HOUSEKEEPING_TIMER)
DROPIN_FILE = "50-capture.conf"
NETWORKD_ATTACH_FILE = "50-mirrorlab-capture.conf"
NETWORKD_FILE = re.compile(r"^50-mirrorlab-.+\.(netdev|network)$")
DROPIN_DIR = re.compile(r"^mirrorlab-capture@(?P<link>[^/]+)\.service\.d$")
LINK_UNIT_NAME = re.compile(r"^mirrorlab-capture(-link)?@(?P<link>[^/]+)\.service$")
# VXLAN over IPv4: outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14.
VXLAN_OVERHEAD = 50

# What a changed file asks for once every file is written (in this order).
RELOAD = "reload"  # systemctl daemon-reload
NETWORKD = "networkd"  # networkctl reload, then networkctl reconfigure <underlay>
RESTART = "restart"  # daemon-reload, then restart the capture on every link
NOTHING = "none"
EFFECTS = (NOTHING, RELOAD, NETWORKD, RESTART)


def unit_path(unit):
    return os.path.join(SYSTEMD_DIR, unit)


def dropin_dir(link):
    return unit_path(CAPTURE_UNIT % link) + ".d"


def networkd_paths(networkd_dir, link):
    """The .netdev and .network files of a link."""
    base = os.path.join(networkd_dir, "50-mirrorlab-%s" % link)
    return [base + ".netdev", base + ".network"]


def attach_dir(networkd_dir, network_file):
    """The drop-in directory of the underlay's .network file (networkd reads NAME.network.d in
    /etc for a .network file in /run)."""
    return os.path.join(networkd_dir, os.path.basename(network_file) + ".d")


def link_of_dropin_dir(name):
    """The link of a drop-in directory name of the capture unit, else None."""
    match = DROPIN_DIR.match(name)
    return match.group("link") if match else None


def link_of_unit(name):
    """The link of a capture or link unit's name (mirrorlab-capture[-link]@<link>.service), else None."""
    match = LINK_UNIT_NAME.match(name)
    return match.group("link") if match else None


def is_role_networkd_file(name):
    return bool(NETWORKD_FILE.match(name)) or name == NETWORKD_ATTACH_FILE


def choose_underlay(interface, default_routes, global_addresses, links):
    """(underlay, problem): the given interface, else the default route's, else the first with
    a global IPv4 address; problem names capture_interface when there is none or it is absent."""
    names = [link.get("ifname") for link in links]
    chosen = interface
    if not chosen:
        chosen = next((route.get("dev") for route in default_routes if route.get("dev")), "")
    if not chosen:
        chosen = next((a.get("ifname") for a in global_addresses if a.get("ifname") not in (None, "lo")), "")
    known = ", ".join(name for name in names if name)
    if not chosen:
        return "", ("capture_interface: no default route and no interface with a global IPv4 address: "
                    "set capture_interface (interfaces: %s)" % known)
    if chosen not in names:
        return "", "capture_interface: interface %s does not exist (interfaces: %s)" % (chosen, known)
    return chosen, None


def link_mtu(capture_mtu, links, underlay):
    """capture_mtu when set (> 0), else the underlay's MTU less the VXLAN overhead."""
    if int(capture_mtu or 0) > 0:
        return int(capture_mtu)
    return next(link for link in links if link.get("ifname") == underlay)["mtu"] - VXLAN_OVERHEAD


def network_file(networkctl_status):
    """The .network file systemd-networkd applies to a link (networkctl status), else ''."""
    match = re.search(r"Network File: (/\S+)", networkctl_status or "")
    return match.group(1) if match else ""


def choose_manager(link_manager, network_file_found, underlay):
    """(manager, problem): networkd when it manages the underlay (auto), else a unit."""
    if link_manager == "auto":
        return ("networkd" if network_file_found else "unit"), None
    if link_manager == "networkd" and not network_file_found:
        return "", ("capture_link_manager is networkd but systemd-networkd does not manage %s (no .network "
                    "file): use capture_link_manager auto or unit." % underlay)
    return link_manager, None
