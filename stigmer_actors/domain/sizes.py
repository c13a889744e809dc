"""How big one execution's state may be: small enough for any gRPC client to receive.

A state travels whole, in one message: as the reply to create, update and updateStatus,
from get, on every subscribe stream, and as an entry of a list page. gRPC clients refuse
messages over 4 MiB unless they are configured otherwise, so a state stored beyond that
could be written once and then never read by a standard client again. A change whose
merged state would be bigger than ``MAX_STATE_BYTES`` is therefore refused before it is
stored. The limit leaves room under 4 MiB for a list page's envelope (``total_pages``, a
``next_page_token`` of up to 1.4 KB, an entry's tag and length), so a page holding one
state of the largest size still fits; pages of several states are bounded by the same
``MAX_STATE_BYTES`` (``store/listing.py``).
"""

from __future__ import annotations

from stigmer_actors.domain.errors import ResourceExhausted

CLIENT_RECEIVE_BYTES = 4 * 1024 * 1024
"""grpc's default limit on a message a client receives: what a standard client accepts."""
LIST_ENVELOPE_BYTES = 4 * 1024
"""Room left in a message for what a list page adds around its entries."""
MAX_STATE_BYTES = CLIENT_RECEIVE_BYTES - LIST_ENVELOPE_BYTES
"""The largest serialized execution the engine stores (4,190,208 bytes)."""


def check_state_size(size: int, execution_id: str) -> None:
    """RESOURCE_EXHAUSTED, naming both sizes, for a state of ``size`` bytes over the limit.

    RESOURCE_EXHAUSTED is what grpc answers for a request over the server's receive limit,
    and what a runner already treats as a refused status (``client/status_builder.py``).
    """
    if size > MAX_STATE_BYTES:
        raise ResourceExhausted(
            f"execution {execution_id} would be {size:,} bytes after this change, over the "
            f"limit of {MAX_STATE_BYTES:,} bytes for one execution (what any gRPC client "
            f"receives: 4 MiB, less room for a list page); nothing was changed"
        )


def entry_bytes(size: int) -> int:
    """What a state of ``size`` bytes adds to a list response: its tag, length and bytes."""
    return 1 + max(1, (size.bit_length() + 6) // 7) + size
