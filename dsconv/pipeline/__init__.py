"""One conversion: reader -> tasks -> writer, with splits, parts, resizing and merging."""
