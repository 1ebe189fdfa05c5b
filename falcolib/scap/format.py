"""Block types and fixed layouts of the scap file format (libscap scap_savefile.h)."""
from __future__ import annotations

import struct

SHB_BLOCK_TYPE = 0x0A0D0D0A
SHB_MAGIC = 0x1A2B3C4D
MI_BLOCK_TYPE = 0x201
PL_BLOCK_TYPE_V1 = 0x202
FDL_BLOCK_TYPE = 0x203
EV_BLOCK_TYPE = 0x204
IL_BLOCK_TYPE = 0x205
UL_BLOCK_TYPE = 0x206
PL_BLOCK_TYPE_V2 = 0x207
EVF_BLOCK_TYPE = 0x208
PL_BLOCK_TYPE_V3 = 0x209
PL_BLOCK_TYPE_V4 = 0x210
PL_BLOCK_TYPE_V5 = 0x211
PL_BLOCK_TYPE_V6 = 0x212
PL_BLOCK_TYPE_V7 = 0x213
PL_BLOCK_TYPE_V8 = 0x214
PL_BLOCK_TYPE_V9 = 0x215
EV_BLOCK_TYPE_V2 = 0x216
EVF_BLOCK_TYPE_V2 = 0x217
FDL_BLOCK_TYPE_V2 = 0x218
IL_BLOCK_TYPE_V2 = 0x219
UL_BLOCK_TYPE_V2 = 0x220
EV_BLOCK_TYPE_V2_LARGE = 0x221
EVF_BLOCK_TYPE_V2_LARGE = 0x222
# "_INT" numbers: unofficial block types used before the library's release,
# same layouts as the corresponding V1 block (libscap still reads them)
MI_BLOCK_TYPE_INT = 0x8002ABCD
PL_BLOCK_TYPE_V1_INT = 0x8000ABCD
PL_BLOCK_TYPE_V2_INT = 0x8013ABCD
PL_BLOCK_TYPE_V3_INT = 0x8014ABCD
FDL_BLOCK_TYPE_INT = 0x8001ABCD
EV_BLOCK_TYPE_INT = 0x8010ABCD
IL_BLOCK_TYPE_INT = 0x8011ABCD
UL_BLOCK_TYPE_INT = 0x8012ABCD

# block type -> (header length, has flags word, large payload)
EVENT_BLOCKS = {
    EV_BLOCK_TYPE: (22, False, False),
    EV_BLOCK_TYPE_INT: (22, False, False),
    EVF_BLOCK_TYPE: (22, True, False),
    EV_BLOCK_TYPE_V2: (26, False, False),
    EVF_BLOCK_TYPE_V2: (26, True, False),
    EV_BLOCK_TYPE_V2_LARGE: (26, False, True),
    EVF_BLOCK_TYPE_V2_LARGE: (26, True, True),
}

BLOCK_HEADER = struct.Struct("<II")          # block_type, block_total_length
SHB_BODY = struct.Struct("<IHHQ")            # magic, major, minor, section_length
EVT_HDR_V2 = struct.Struct("<QQIHI")         # ts, tid, len, type, nparams
EVT_HDR_V1 = struct.Struct("<QQIH")          # ts, tid, len, type
PPM_EVENT_MAX_SYSDIG_029 = 336               # sysdig 0.29 skips types at or above this

PPME_NOTIFICATION_E = 280  # V1 length of these two is off by 3 (libscap quirk)
PPME_INFRASTRUCTURE_EVENT_E = 286

# scap_fd_type values stored in fd list entries
SCAP_FD_UNKNOWN = 0
SCAP_FD_FILE = 1
SCAP_FD_IPV4_SOCK = 3
SCAP_FD_IPV6_SOCK = 4
SCAP_FD_IPV4_SERVSOCK = 5
SCAP_FD_IPV6_SERVSOCK = 6
SCAP_FD_UNIX_SOCK = 8
SCAP_FD_FILE_V2 = 16

# interface list entry types
SCAP_II_IPV4 = 1
SCAP_II_IPV6 = 2
SCAP_II_IPV4_NOLINKSPEED = 3
SCAP_II_IPV6_NOLINKSPEED = 4

# user list entry kinds
USERBLOCK_TYPE_USER = 0
USERBLOCK_TYPE_GROUP = 1
