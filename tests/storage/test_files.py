import os

import pytest

from dsconv.storage.files import (
    FileTooLargeError,
    NotRegularFileError,
    excerpt,
    read_bytes,
    read_text,
)


def test_reads_a_regular_file_within_its_bound(tmp_path):
    file = tmp_path / "a.txt"
    file.write_bytes(b"\xef\xbb\xbfhello")
    assert read_bytes(file, 100) == b"\xef\xbb\xbfhello"
    assert read_text(file, 100) == "hello"


def test_refuses_a_file_over_its_bound(tmp_path):
    file = tmp_path / "big.jpg"
    file.write_bytes(b"x" * 101)
    with pytest.raises(FileTooLargeError, match="over the 100-byte limit"):
        read_bytes(file, 100)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "x.jpg"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFileError, match="a FIFO"):
        read_bytes(fifo, 100)


def test_a_device_and_a_folder_are_refused(tmp_path):
    if os.path.exists("/dev/zero"):
        with pytest.raises(NotRegularFileError, match="a device"):
            read_bytes("/dev/zero", 100)
    with pytest.raises((NotRegularFileError, IsADirectoryError)):
        read_bytes(tmp_path, 100)


def test_excerpt_is_short_and_escaped():
    assert excerpt("a\nb") == "'a\\nb'"
    quoted = excerpt("x" * 500, 10)
    assert quoted == "'xxxxxxxxxx'…"
    assert "\x1b" not in excerpt("\x1b[31mred")


def test_reading_a_small_file_allocates_its_size_not_its_bound(tmp_path):
    """Images are read with a 256 MiB bound: a buffer of the bound for each 60 KB image made
    reading three and a half times slower."""
    import tracemalloc

    from dsconv.storage.files import MAX_IMAGE_BYTES

    file = tmp_path / "a.jpg"
    file.write_bytes(b"x" * 60_000)
    tracemalloc.start()
    try:
        assert len(read_bytes(file, MAX_IMAGE_BYTES)) == 60_000
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_a_file_that_grows_while_read_is_refused(tmp_path, monkeypatch):
    file = tmp_path / "a.jpg"
    file.write_bytes(b"x" * 50)
    monkeypatch.setattr(os, "read", lambda fd, n: b"y" * n)  # it never ends
    with pytest.raises(FileTooLargeError, match="grew"):
        read_bytes(file, 100)
