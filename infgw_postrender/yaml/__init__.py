"""YAML text in and out, without a round trip where possible.

reader: block YAML as charts render it -> (value, the position and quoting of every scalar), or Unsupported.
emitter: plain values -> block YAML in the same layout. roundtrip: ruamel.yaml, for what the reader cannot read.
"""
