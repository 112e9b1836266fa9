"""Fetch and verify data files: ``python -m keras_transfer.datasets [names]``."""

from __future__ import annotations

import argparse
import sys

from ._files import DATA_DIR_ENV, DATA_URL_ENV, fetch, get_data_dir, list_files


def main(argv: list[str] | None = None) -> int:
    """Download (if allowed) and verify the named files, or all of them.

    Example
    -------
    >>> from keras_transfer.datasets.__main__ import main
    >>> main(["--no-download", "digits/usps/usps.mat"])  # doctest: +SKIP
    ok       .../digits/usps/usps.mat
    0
    """
    parser = argparse.ArgumentParser(
        prog="python -m keras_transfer.datasets",
        description="Download and verify keras_transfer benchmark data files.",
    )
    parser.add_argument("names", nargs="*", help="files to fetch (default: all)")
    parser.add_argument(
        "--data-dir", help=f"data directory (default: ${DATA_DIR_ENV} or ~/...)"
    )
    parser.add_argument("--base-url", help=f"mirror URL (default: ${DATA_URL_ENV})")
    parser.add_argument("--no-download", action="store_true", help="only verify")
    parser.add_argument("--list", action="store_true", help="list files and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name in list_files():
            print(name)
        return 0
    print(f"data directory: {get_data_dir(args.data_dir)}")
    failed = 0
    for name in args.names or list_files():
        try:
            path = fetch(
                name,
                args.data_dir,
                download=not args.no_download,
                base_url=args.base_url,
            )
        except (OSError, ValueError) as e:
            failed += 1
            print(f"FAILED   {name}: {e}")
        else:
            print(f"ok       {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
