# -*- coding: utf-8 -*-

# Copyright: Contributors to the mirrorlab project
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The experiment model, declared once: every ``mirrorlab_*`` variable and every ``capture_*``
variable of the capture role, with its type, default, range, pattern or choices, the backend it
applies to and its one-line documentation, and the AWS limits with the page they come from.

Nothing here validates anything by itself: ``validation.check`` walks these declarations
(experiment.py for the model, capture_vars.py for the capture role), the docs and argument
specs are generated from them (scripts/model_docs.py; tests/unit/module_utils/test_model_docs.py
fails when a committed copy differs), and the other places that need a limit import it from
here. A new key of the model is one ``Option`` in ``EXPERIMENT`` plus its use.

Documentation text uses Markdown backticks (``\\`x\\```); the generator turns them into
Ansible's ``C(x)`` for argument specs and module docs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

PREFIX = "mirrorlab_"
CAPTURE_PREFIX = "capture_"
BACKENDS = ("lab", "aws")
BOTH = BACKENDS
LAB = ("lab",)
AWS = ("aws",)

# --- Limits, each with the page it was read from --------------------------------------------
# The pages were read on READ (their text, through a stored copy of the page); when AWS changes
# a page, change the number here and the date: every check, template and document follows.
READ = "2026-12-01"
PAGES = {
    "quotas": "https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-quotas.html",
    "session_api": "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateTrafficMirrorSession.html",
    "rule_api": "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateTrafficMirrorFilterRule.html",
    "vxlan": "https://datatracker.ietf.org/doc/html/rfc7348#section-5",
    "vpc_cidr": "https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html",
}

VNI_MIN, VNI_MAX = 0, 16777215  # a 24-bit VXLAN network identifier (vxlan; session_api VirtualNetworkId)
VNI_DEFAULT = 12345  # mirrorlab's: the session's VNI and the capture link's, unless set
SESSION_NUMBER_MIN, SESSION_NUMBER_MAX = 1, 32766  # session_api SessionNumber: "Valid values are 1-32766"
PACKET_LENGTH_MIN, PACKET_LENGTH_MAX = 1, 8500  # session_api PacketLength: "Valid values are 1-8500"
SESSIONS_PER_SOURCE_ENI = 3  # quotas: sessions per source network interface, not adjustable
RULES_PER_FILTER = 10  # quotas: filter rules per filter, not adjustable
# quotas: sources per target: 100 for a few of the largest instance sizes, 10 for all others;
# the model keeps to 10 (the capture instance is a small type).
SOURCES_PER_ENI_TARGET = 10
RULE_NUMBER_MIN, RULE_NUMBER_MAX = 1, 32766  # rule_api RuleNumber, unique per direction
RULE_DESCRIPTION_MAX = 255  # rule_api Description
VPC_PREFIX_MIN, VPC_PREFIX_MAX = 16, 28  # vpc_cidr: "between /16 and /28"
VXLAN_PORT = 4789  # vxlan: the IANA-assigned VXLAN port, on which AWS sends the mirrored packets
# Not AWS limits, mirrorlab's own:
TARGET_COUNT_MIN, TARGET_COUNT_MAX = 1, 10  # capture instances the target-instance stack can hold
EXPIRE_AFTER_MAX = 720  # hours (30 days) an AWS deployment may be given before its sessions expire
# The deployment name prefixes stack and resource names (an ALB's name, at most 32 characters,
# is "<deployment>-alb" plus a suffix): 1-23 characters. One regular expression, valid in Python
# and in CloudFormation's AllowedPattern.
# The tag on every resource of a deployment, its value the deployment name: what mirrorlab may
# update or delete (module_utils/ownership.py).
DEPLOYMENT_TAG = "mirrorlab:deployment"
DEPLOYMENT_PATTERN = r"^[a-z]([a-z0-9-]{0,21}[a-z0-9])?$"
# The experiment's argument specs (the role's and experiment_info's) take every mirrorlab_*
# variable as "raw": experiment_info checks the declared type itself, so that a wrong type is
# refused naming the variable and the rule. Ansible's own coercion would say
# "<class '..._AnsibleTaggedDict'> cannot be converted to a list" before the model is read.
ARGSPEC_TYPE = "raw"
# Protocol of a normalized filter rule that matches every protocol (the AWS API's "no protocol").
ALL_PROTOCOLS = -1

ID_PATTERN = r"^%s-[0-9a-f]{8}([0-9a-f]{9})?$"


def aws_id_pattern(kind):
    """The pattern of an AWS resource id of ``kind`` (``vpc``, ``subnet``, ``eni``, ``i``, ``vpce``)."""
    return ID_PATTERN % kind


def aws_id_rule(kind):
    return "must be an id like %s-0123456789abcdef0, got %%r" % kind


class Option(object):
    """One variable or nested key of the model.

    type      str, int, bool, path, dict or list
    default   the value when it is not given (deep-copied)
    doc       one line of documentation
    backends  the backends it applies to (documentation; both unless said)
    choices   the allowed values (in order)
    minimum, maximum  integer range (maximum None = no upper bound)
    zero      integers: 0 is allowed too and means this (e.g. "the whole packet")
    nullable  null is a valid value
    pattern   regular expression a string must match (``re.match``)
    allow_empty  "" is valid whatever the pattern says
    not_in    values refused although they match
    rule      the message when the value breaks the rule ("must be ...", %r = the value)
    elements  list: "dict" (with ``options`` or ``variants``) or the ``Option`` of one item
    options   dict (or list of dict): the nested keys
    variants  list of dict: {discriminator value: Variant}, the discriminator key is ``type``
    min_items, unique  list rules
    none_is_default  null means "the default" (instead of a value to check)
    kind      a named check in the validator that the declaration alone cannot express
    settable  capture keys: None = set through mirrorlab_capture; a text = why not
    """

    def __init__(self, name, type, default=None, doc="", backends=BOTH, choices=None, minimum=None, maximum=None,
                 zero=None, nullable=False, pattern=None, allow_empty=False, not_in=(), rule=None, elements=None,
                 options=None, variants=None, min_items=None, unique=False, none_is_default=False, kind=None,
                 settable=None, item="item"):
        self.name = name
        self.type = type
        self.default = default
        self.doc = doc
        self.backends = tuple(backends)
        self.choices = tuple(choices) if choices is not None else None
        self.minimum = minimum
        self.maximum = maximum
        self.zero = zero
        self.nullable = nullable
        self.pattern = pattern
        self.allow_empty = allow_empty
        self.not_in = tuple(not_in)
        self.rule = rule
        self.elements = elements
        self.options = list(options) if options is not None else None
        self.variants = variants
        self.min_items = min_items
        self.unique = unique
        self.none_is_default = none_is_default
        self.kind = kind
        self.settable = settable
        self.item = item
        if type == "dict" and self.options is not None and default is None:
            self.default = dict((option.name, option.default) for option in self.options)

    def option(self, name):
        for option in self.options or ():
            if option.name == name:
                return option
        raise KeyError(name)

    def __repr__(self):
        return "Option(%r)" % self.name


class Variant(object):
    """One kind of item of a list of mappings told apart by their ``type``.

    ``options`` are its keys besides ``type``; ``groups`` are tuples of keys of which exactly
    one must be given (a group of one key: that key is required)."""

    def __init__(self, doc, options=(), groups=(), backends=BOTH):
        self.doc = doc
        self.options = list(options)
        self.groups = tuple(tuple(group) for group in groups)
        self.backends = tuple(backends)


REGION_PATTERN = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$"
LB_ARN_PATTERN = r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:loadbalancer/(app|net|gwy)/[^/]+/[0-9a-f]+$"
LB_NAME_PATTERN = r"^(?!internal-)[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$"
CERT_ARN_PATTERN = r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$"
PRESETS = ("all_tcp", "alb_client", "alb_target")
DIRECTIONS = ("ingress", "egress")
ACTIONS = ("accept", "reject")

SOURCE_VARIANTS = {
    "sample_service": Variant("the sample service's ALB (on the lab: the lab's ALB)"),
    "load_balancer": Variant("a load balancer by `name` or `arn` (on the lab: the lab's ALB)", [
        Option("name", "str", doc="load balancer name", pattern=LB_NAME_PATTERN,
               rule="must be a load balancer name (1-32 letters, digits, '-'), got %r"),
        Option("arn", "str", doc="load balancer ARN", pattern=LB_ARN_PATTERN,
               rule="must be an elasticloadbalancing load balancer ARN, got %r"),
    ], groups=[("name", "arn")]),
    "instance": Variant("EC2 instances by `id` or `tags`", [
        Option("id", "str", doc="instance id", pattern=aws_id_pattern("i"), rule=aws_id_rule("i")),
        Option("tags", "dict", doc="tag names to values; every instance carrying them", kind="tag_map",
               rule="must be a mapping of tag names to values"),
    ], groups=[("id", "tags")], backends=AWS),
    "ecs_service": Variant("the tasks of an ECS service (on the lab: the backend)", [
        Option("cluster", "str", doc="cluster name or ARN", rule="must be a string (a name or an ARN)"),
        Option("service", "str", doc="service name or ARN", rule="must be a string (a name or an ARN)"),
    ], groups=[("cluster",), ("service",)]),
    "network_interface": Variant("one ENI by `id` (on the lab: a lab ENI id, see docs/lab.md)", [
        Option("id", "str", doc="ENI id", pattern=aws_id_pattern("eni"), rule=aws_id_rule("eni")),
    ], groups=[("id",)]),
}

RULE_OPTIONS = [
    Option("direction", "str", doc="as seen by the source ENI", choices=DIRECTIONS),
    Option("number", "int", doc="unique per direction; lower is evaluated first",
           minimum=RULE_NUMBER_MIN, maximum=RULE_NUMBER_MAX),
    Option("action", "str", doc="`accept`: mirrored, `reject`: not mirrored", choices=ACTIONS),
    Option("protocol", "str", default="all", doc="`tcp`, `udp`, `icmp`, `all` or a number 0-255"),
    Option("source_cidr", "str", doc="IPv4 or IPv6 CIDR (a bare address is /32 or /128)"),
    Option("destination_cidr", "str", doc="same IP family as `source_cidr`"),
    Option("source_ports", "str", doc="`N` or `N-M` (0-65535), tcp and udp only; omitted = any"),
    Option("destination_ports", "str", doc="`N` or `N-M` (0-65535), tcp and udp only; omitted = any"),
    Option("description", "str", default="", doc="at most %d characters" % RULE_DESCRIPTION_MAX),
]
REQUIRED_RULE_KEYS = ("direction", "number", "action", "source_cidr", "destination_cidr")
FILTER_OPTIONS = [
    Option("preset", "str", "all_tcp", "ignored when `rules` is given (presets below)", choices=PRESETS),
    Option("rules", "list", [], "at most %d rules (AWS quota per filter), see below" % RULES_PER_FILTER,
           elements="dict", options=RULE_OPTIONS, none_is_default=True, rule="must be a list of rules"),
]
# One more session on every source ENI (mirrorlab_session.extra[]): its own number, filter, VNI.
EXTRA_SESSION_OPTIONS = [
    Option("session_number", "int", None, "required; unique among the ENI's sessions, lowest first",
           minimum=SESSION_NUMBER_MIN, maximum=SESSION_NUMBER_MAX),
    Option("vni", "int", None, "its VNI; null = `mirrorlab_session.vni`; another VNI gets its own capture link",
           minimum=VNI_MIN, maximum=VNI_MAX, nullable=True),
    Option("packet_length", "int", None, "null = the whole packet", minimum=PACKET_LENGTH_MIN,
           maximum=PACKET_LENGTH_MAX, nullable=True),
    Option("filter", "dict", kind="filter", doc="its filter, like `mirrorlab_filter`", options=FILTER_OPTIONS),
]
# mirrorlab_target.type: what the sessions send to.
TARGET_TYPES = ("instance", "gateway_load_balancer_endpoint")

EXPERIMENT = [
    Option("backend", "str", "lab", "where the experiment runs; set by the inventory (`inventories/lab`, `inventories/aws`)",
           choices=BACKENDS),
    Option("deployment", "str", "mirrorlab",
           "deployment name: prefix of the stack names, value of the tag `mirrorlab:deployment` on every resource",
           pattern=DEPLOYMENT_PATTERN, kind="deployment_name",  # the hook names what breaks the pattern
           rule="must be 1-23 characters: a lower-case letter, then lower-case letters, digits or '-', "
                "not ending in '-' (it prefixes CloudFormation stack names), got %r"),
    Option("region", "str", "eu-west-1", "the AWS region", backends=AWS, pattern=REGION_PATTERN,
           rule="must be an AWS region name such as eu-west-1, got %r"),
    Option("network", "dict", doc="the VPC", options=[
        Option("vpc_cidr", "str", "10.0.0.0/16", "the VPC's CIDR; lab: the lab VPC; AWS: with `vpc_id`, or checked against the export",
               kind="vpc_cidr",
               rule="must be an IPv4 CIDR from /%d to /%d with no host bits set (AWS VPC rule), got %%r"
                    % (VPC_PREFIX_MIN, VPC_PREFIX_MAX)),
        Option("vpc_id", "str", "", "the VPC's id; empty = import it from the `import_prefix` exports", backends=AWS,
               pattern=aws_id_pattern("vpc"), allow_empty=True, none_is_default=True, rule=aws_id_rule("vpc")),
        Option("subnet_ids", "list", [], "at least 2 subnets in different zones when `vpc_id` is given; refused without it",
               backends=AWS, elements=Option("subnet_id", "str", pattern=aws_id_pattern("subnet"), rule=aws_id_rule("subnet")),
               none_is_default=True, unique="must not list a subnet twice", rule="must be a list of subnet ids"),
        Option("import_prefix", "str", "infra-vpc",
               "exports `<prefix>-VpcId`, `<prefix>-VpcCidr`, `<prefix>-PublicSubnets`, `<prefix>-PrivateSubnets`",
               backends=AWS, pattern=r"^[A-Za-z0-9][A-Za-z0-9:-]{0,200}$",
               rule="must be a CloudFormation export name prefix (letters, digits, '-', ':'), got %r"),
    ]),
    Option("sources", "list", [{"type": "sample_service"}],
           "what to mirror; each source ENI gets one session, so a source is listed once",
           elements="dict", variants=SOURCE_VARIANTS, min_items=1, item="source", kind="sources",
           rule="must be a non-empty list of sources, e.g. [{type: sample_service}]"),
    Option("filter", "dict", kind="filter", doc="the mirror filter: a preset, or rules with AWS semantics",
           options=FILTER_OPTIONS),
    Option("session", "dict", doc="the mirror sessions (one per source ENI)", options=[
        Option("vni", "int", VNI_DEFAULT, "VXLAN network identifier of every session (the capture link's VNI)",
               minimum=VNI_MIN, maximum=VNI_MAX),
        Option("session_number", "int", 1, "the sessions' priority on their ENI, lowest first",
               minimum=SESSION_NUMBER_MIN, maximum=SESSION_NUMBER_MAX),
        Option("packet_length", "int", None, "bytes mirrored of each packet; null = the whole packet",
               minimum=PACKET_LENGTH_MIN, maximum=PACKET_LENGTH_MAX, nullable=True),
        Option("vni_per_eni", "bool", False, "each source ENI's session gets its own VNI: `vni` + the ENI's position in "
                                             "the source ENIs sorted by id (0, 1, ...); `vni-map.json` next to the "
                                             "fetched pcaps names the ENI, zone and source of each VNI"),
        Option("extra", "list", [], "up to %d more sessions on every source ENI (AWS quota: %d per source ENI), each "
                                    "with its own `session_number`, filter and VNI; a packet goes to the "
                                    "lowest-numbered session whose filter accepts it, once"
               % (SESSIONS_PER_SOURCE_ENI - 1, SESSIONS_PER_SOURCE_ENI),
               elements="dict", options=EXTRA_SESSION_OPTIONS, none_is_default=True, kind="extra_sessions",
               rule="must be a list of sessions, e.g. [{session_number: 2, filter: {preset: alb_target}}]"),
    ]),
    Option("target", "dict", doc="the capture target", options=[
        Option("type", "str", "instance", "`instance`: capture instances made by mirrorlab; "
                                          "`gateway_load_balancer_endpoint`: the sessions go to an existing "
                                          "GWLB endpoint (`gwlb_endpoint_id`, AWS only; the lab refuses it)",
               choices=TARGET_TYPES),
        Option("gwlb_endpoint_id", "str", "", "the Gateway Load Balancer endpoint, with `type: gateway_load_balancer_endpoint`",
               backends=AWS, pattern=aws_id_pattern("vpce"), allow_empty=True, rule=aws_id_rule("vpce")),
        Option("count", "int", 1, "capture instances (lab: machines); above 1 they sit behind an NLB (UDP 4789; the lab: "
                                  "a stand-in that keeps each flow on one machine)",
               minimum=TARGET_COUNT_MIN, maximum=TARGET_COUNT_MAX),
        Option("instance_type", "str", "t3.small", "a Nitro type (known Xen families such as t2, m4, c4, i3 are refused)",
               backends=AWS, pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$", kind="nitro_instance_type",
               rule="must be an EC2 instance type such as t3.small, got %r"),
        Option("spot", "bool", False, "a spot instance", backends=AWS),
    ]),
    Option("expire_after", "int", 0, "hours after which an EventBridge Scheduler schedule in the account deletes the "
                                     "mirroring stack (the billed sessions) without the user's machine; a re-run of "
                                     "site.yml sets it anew from then (docs/cost.md)", backends=AWS,
           minimum=1, maximum=EXPIRE_AFTER_MAX, zero="never"),
    Option("capture", "dict", {}, doc="the capture role's settings, each key a `capture_<key>` variable without its prefix",
           kind="capture", rule="must be a mapping (see the capture role's capture_* variables)"),
    Option("discard_captures", "bool", False, "teardown.yml deletes the pcap files (AWS: and the archive) instead of "
                                              "copying them to `./captures/<deployment>/<target>/<link>/` first"),
    Option("https", "bool", False, "an HTTPS listener (443, the TLS policy of ELBSecurityPolicy-TLS13-1-2-2021-06) on the "
                                   "sample service; AWS: without `mirrorlab_certificate_arn` a self-signed certificate is "
                                   "imported to ACM; lab: a self-signed certificate made by the same role"),
    Option("certificate_arn", "str", "", "ACM certificate of the HTTPS listener; only with `mirrorlab_https: true`",
           backends=AWS, pattern=CERT_ARN_PATTERN, allow_empty=True,
           rule="must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>) or empty, got %r"),
]

# --- The capture role's variables (roles/capture, prefix capture_) -------------------------------
NAME_PATTERN = r"^[a-z_][a-z0-9_-]{0,31}$"
SET_BY_PLAYBOOKS = "is set by the playbooks (site.yml configures the capture, teardown.yml removes it)"

CAPTURE = [
    Option("state", "str", "present", "`present` configures and starts the capture; `absent` stops it and removes "
                                      "links, units, helper and configuration", choices=("present", "absent"),
           settable=SET_BY_PLAYBOOKS),
    Option("purge_files", "bool", False, "with `capture_state: absent`, also delete the pcap files and the capture group",
           settable=SET_BY_PLAYBOOKS),
    Option("vni", "int", VNI_DEFAULT, "the mirror session's VNI (AWS: read from the deployed sessions); its link is "
                                      "`capture_link_name`", minimum=VNI_MIN, maximum=VNI_MAX,
           settable="is the session's VNI: set mirrorlab_session.vni"),
    Option("link_name", "str", "capture0", "name of the link of `capture_vni`",
           pattern=r"^(?!capv[0-9]+$)[a-zA-Z][a-zA-Z0-9_-]{0,14}$",
           rule="must be 1-15 characters (letters, digits, _ -), start with a letter and not look like capv<VNI>, got %r"),
    Option("extra_vnis", "list", [], "VNIs of further sessions; one more link each, named `capv<VNI>`",
           elements=Option("vni", "int", minimum=VNI_MIN, maximum=VNI_MAX)),
    Option("interface", "str", "", "the underlay interface the VXLAN packets arrive on; empty = the default route's "
                                   "interface, else the first with a global IPv4 address (the lab sets it)",
           backends=AWS, pattern=r"^[a-zA-Z0-9_.:-]{1,15}$", allow_empty=True,
           rule="must be empty (detect) or an interface name of at most 15 characters, got %r"),
    Option("dstport", "int", VXLAN_PORT, "VXLAN UDP port (AWS Traffic Mirroring uses %d)" % VXLAN_PORT,
           minimum=1, maximum=65535),
    Option("mtu", "int", 0, "MTU of the capture links", minimum=68, maximum=65535, zero="the underlay's MTU - 50"),
    Option("link_manager", "str", "auto", "how the links persist: `networkd` (.netdev/.network and a drop-in for the "
                                          "underlay), `unit` (a systemd unit running ip), `auto` = networkd when it "
                                          "manages the underlay", choices=("auto", "networkd", "unit")),
    Option("tool", "str", "tcpdump", "the capture tool", choices=("tcpdump", "dumpcap")),
    Option("dir", "path", "/var/lib/mirrorlab/capture", "directory of the pcap files, one sub-directory per link",
           pattern=r"^/[^\x00-\x20\x7f]*[^/\x00-\x20\x7f]$",
           not_in=("/var", "/var/lib", "/tmp", "/home", "/root", "/etc", "/usr"),
           rule="must be an absolute path without spaces or control characters and a directory of its own "
                "(not /, /var, /tmp, ...), got %r"),
    Option("rotate_seconds", "int", 300, "a new file every N seconds (tcpdump: with the first packet after that)",
           minimum=1),
    Option("rotate_mb", "int", 100, "a new file when one reaches N MB (10^6 bytes)", minimum=1),
    Option("max_total_mb", "int", 2048, "total cap over all links' files in MB; at least 2 x `capture_rotate_mb` x links",
           minimum=1),
    Option("min_free_mb", "int", 1024, "free space (MB) the capture leaves on the file system of `capture_dir`",
           minimum=0),
    Option("housekeeping_seconds", "int", 15, "seconds between two housekeeping passes (archive, cap, floor)",
           minimum=1),
    Option("snaplen", "int", 0, "bytes kept of each packet; 0 = the whole packet", minimum=0, maximum=262144),
    Option("filter", "str", "", "BPF filter (tcpdump syntax), one line; empty = every packet",
           rule="must be one line of BPF (tcpdump syntax), got %r"),
    Option("buffer_kib", "int", 131072, "kernel capture buffer in KiB per link (tcpdump -B; dumpcap -B rounded up "
                                        "to MiB); 128 MiB kept every packet up to the lab ceiling with tcpdump -U, "
                                        "32 MiB lost 1-5% of 1500-byte packets (docs/throughput.md)", minimum=64),
    Option("user", "str", "mirrorlab-capture", "system user the capture runs as (only CAP_NET_RAW and CAP_NET_ADMIN)",
           pattern=NAME_PATTERN, not_in=("root",), rule="must be a system account name (not root), got %r"),
    Option("group", "str", "pcap", "group owning the pcap files (mode 0640); add users to it to let them read the captures",
           pattern=NAME_PATTERN, rule="must be a system group name, got %r"),
    Option("s3_bucket", "str", "", "archive bucket; empty = no archive. Each closed file goes to "
                                   "`s3://BUCKET/PREFIX<host>/<link>/<file>` and is deleted locally only after S3 "
                                   "reports it with the same size (AWS: the target stack's bucket)",
           backends=AWS, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", allow_empty=True,
           rule="must be empty (no archive) or an S3 bucket name (3-63 of a-z 0-9 . -), got %r"),
    Option("s3_prefix", "str", "pcap/", "key prefix in the archive bucket (empty or ending with /)", backends=AWS,
           pattern=r"^[^/\x00-\x1f\x7f][^\x00-\x1f\x7f]*/$", allow_empty=True,
           rule="must be empty or end with / and not start with /, got %r"),
    Option("s3_region", "str", "", "region of the archive bucket; empty = boto3's default (AWS: the model's region)",
           backends=AWS, pattern=REGION_PATTERN, allow_empty=True,
           rule="must be empty or an AWS region name such as eu-west-1, got %r"),
    Option("s3_endpoint_url", "str", "", "S3 endpoint URL (e.g. a moto server); empty = AWS", backends=AWS,
           pattern=r"^https?://[^\x00-\x20\x7f]+$", allow_empty=True,
           rule="must be empty or an http(s) URL, got %r"),
    Option("s3_environment", "dict", {}, "extra environment of the uploader (e.g. credentials where there is no "
                                         "instance role), kept in a root-only file", backends=AWS, kind="environment",
           rule="must be a mapping of environment variables"),
    Option("install_packages", "bool", True, "install the tools with the package manager (needs no network when they "
                                             "are installed)"),
]


def by_name(options):
    return dict((option.name, option) for option in options)


def default_of(options):
    """{name: default} of a list of options (the defaults are not copied: copy before changing)."""
    return dict((option.name, option.default) for option in options)


def template_constants():
    """The model's limits for what cannot import Python: the CloudFormation templates render their
    parameter constraints and the "all protocols" sentinel from these (experiment.constants)."""
    return {
        "deployment_pattern": DEPLOYMENT_PATTERN,
        "vni": {"min": VNI_MIN, "max": VNI_MAX},
        "session_number": {"min": SESSION_NUMBER_MIN, "max": SESSION_NUMBER_MAX},
        "packet_length": {"min": PACKET_LENGTH_MIN, "max": PACKET_LENGTH_MAX},
        "all_protocols": ALL_PROTOCOLS,
    }
