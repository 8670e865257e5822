"""The post-renderer's data path: a rendered stream in, the converted stream and a per-object report out.

stream (documents of text, edited by splices) -> release (the index of pools and what they own) -> the rewrites,
in pipeline order (pool conversion, renames, references, EPP flags, RBAC) -> generated objectives and route ->
report. Never imports the cluster folder: it is pure text in, text out.
"""
