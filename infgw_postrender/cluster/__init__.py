"""The cluster commands: read the cluster with kubectl, plan, and change it step by step.

kube and helm wrap the real binaries; waits, backends (the route invariant) and state (keyed backups) are shared;
then one module per task: detect, crds, shift, verify, cleanup, objectives, steps (the plan that migrate runs).
In: a kube context and namespace. Out: changes made only through kubectl, each checked before and after.
"""
