"""What editors do with issue files: scaffold, check, render to disk.

It sits above ``render`` because it orchestrates load + render + write; nothing
below imports it.
"""
