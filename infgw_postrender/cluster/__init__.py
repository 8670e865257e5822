"""The cluster commands: read the cluster with kubectl, plan, and change it step by step.

kube and helm wrap the real binaries; clock, waits, backends (the route invariant) and state (backups keyed by
cluster) are shared; then one module per task: detect, crds, shift, verify, cleanup, objectives, status. The paths:
settings (what a migration is given), judge (where it stands, from the cluster), prepare (checked before any
step), steps (each path's steps), run (running them).
In: a kube context and namespace. Out: changes made only through kubectl, each checked before and after.
"""
