"""What the flags default to, once for every layer (the post-renderer, the cluster commands, the steps): the
names of the GKE guide's example and the GA release it installs."""

from __future__ import annotations

# The GA release the guide installs; its chart, as upstream publishes it.
TARGET_VERSION = "v1.0.0"
CHART = "oci://registry.k8s.io/gateway-api-inference-extension/charts/inferencepool"
# The guide's HTTPRoute and Gateway.
ROUTE = "llm-route"
GATEWAY = "inference-gateway"
# The guide's GA release beside the alpha one: `<alpha pool>-ga`.
GA_SUFFIX = "-ga"
# A traffic stage's analysis, for LLM completions: a stage may lose at most 1 request in 100, and the slowest 5%
# must answer within 5 s (the guide's request asks for 100 tokens); 20 requests, stopped at 120 s whatever is left.
MIN_SUCCESS = 0.99
MAX_P95_S = 5.0
ANALYSIS_REQUESTS = 20
ANALYSIS_TIMEOUT_S = 120.0
# A stage judged from the EPPs' metrics: the same 1 in 100 and 5 s, over the last 5 minutes of real traffic, and
# no verdict on fewer than 20 requests; Prometheus has 10 s to answer each query.
METRICS_WINDOW = "5m"
MAX_ERROR_RATIO = 0.01
MIN_REQUESTS = ANALYSIS_REQUESTS
METRICS_TIMEOUT_S = 10.0
