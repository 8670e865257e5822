"""The two APIs as data: mapping.yaml (groups, kinds, fields, what refers to a pool, EPP flags, priorities,
CRD pins, each with its upstream source) and the names the chart derives from a release.

In: nothing but mapping.yaml. Out: read-only lookups that every other folder uses; nothing here imports them.
"""
