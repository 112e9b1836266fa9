"""The packed-form helpers now live in :mod:`keras_transfer.data.packing`."""

from keras_transfer.data.packing import (  # noqa: F401
    MASK,
    check_sample_domain,
    domains_of,
    is_masked,
    num_rows,
    pack_domains,
    packed_labels,
    stack_rows,
    take,
    unpack_domains,
)
