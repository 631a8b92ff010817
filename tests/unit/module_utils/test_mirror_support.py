"""The documented list of instance types supported as mirror sources (mirror_support.py)."""

import datetime

import pytest

from ansible_collections.mirrorlab.vpc.plugins.module_utils.mirror_support import SOURCE_INSTANCE_SUPPORT
from ansible_collections.mirrorlab.vpc.plugins.module_utils.mirror_support import source_support
from ansible_collections.mirrorlab.vpc.plugins.module_utils.mirror_support import split_instance_type


def test_the_structure_names_its_page_and_date():
    assert SOURCE_INSTANCE_SUPPORT["url"].startswith("https://docs.aws.amazon.com/vpc/latest/mirroring/")
    datetime.date.fromisoformat(SOURCE_INSTANCE_SUPPORT["retrieved"])
    # Supported Xen families are a subset of the Xen families, and no family is both Xen and
    # an excluded Nitro family.
    assert SOURCE_INSTANCE_SUPPORT["supported_xen_families"] <= SOURCE_INSTANCE_SUPPORT["xen_families"]
    assert not SOURCE_INSTANCE_SUPPORT["xen_families"] & SOURCE_INSTANCE_SUPPORT["unsupported_nitro_families"]
    for family in SOURCE_INSTANCE_SUPPORT["unsupported_nitro_families"] | SOURCE_INSTANCE_SUPPORT["xen_families"]:
        assert family == family.lower() and "." not in family


@pytest.mark.parametrize(
    "instance_type, supported, words",
    [
        ("t3.small", True, None),
        ("m5.24xlarge", True, None),
        ("m8i.large", True, None),  # a Nitro family the page does not exclude
        ("c4.large", True, None),  # a supported Xen family
        ("X1E.xlarge", True, None),  # case does not matter
        ("t2.micro", False, "non-Nitro"),
        ("m3.medium", False, "non-Nitro"),
        ("m6i.large", False, "family m6i"),
        ("m7i-flex.large", False, "family m7i-flex"),
        ("hpc7g.16xlarge", False, "family hpc7g"),
        ("c5.metal", False, "bare metal"),
        ("m7i.metal-24xl", False, "bare metal"),
        ("i3.metal", False, "bare metal"),
    ],
)
def test_source_support(instance_type, supported, words):
    ok, reason = source_support(instance_type)
    assert ok is supported
    if supported:
        assert reason is None
    else:
        assert words in reason and instance_type.split(".")[0].lower() in reason.lower()
        assert SOURCE_INSTANCE_SUPPORT["retrieved"] in reason


@pytest.mark.parametrize("bad", ["", "m5", ".large", "m5."])
def test_split_rejects_non_types(bad):
    with pytest.raises(ValueError):
        split_instance_type(bad)
