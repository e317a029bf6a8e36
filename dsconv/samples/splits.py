"""Split sizes shared by the sample generators."""


def split_sizes(n: int, names: tuple[str, str, str]) -> dict[str, int]:
    """About 70/20/10 %, but never an empty split, so every reader path is exercised."""
    if n < 3:
        raise ValueError(f"need at least 3 items to fill three splits, got {n}")
    second = max(1, round(0.2 * n))
    third = max(1, round(0.1 * n))
    return {names[0]: n - second - third, names[1]: second, names[2]: third}


def assign(n: int, names: tuple[str, str, str]) -> list[str]:
    """Split name for each index: contiguous blocks in `names` order."""
    return [name for name, size in split_sizes(n, names).items() for _ in range(size)]
