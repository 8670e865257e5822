{{- define "infgw-migration.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- /* The guide's split: the alpha pool at 100-N, the GA pool at N; at 100 only the GA pool remains. */}}
{{- define "infgw-migration.backends" -}}
{{- $weight := int .Values.gaWeight -}}
{{- if lt $weight 100 }}
- group: inference.networking.x-k8s.io
  kind: InferencePool
  name: {{ required "alphaPool is required with gaWeight: the name of the alpha InferencePool that serves traffic today" .Values.alphaPool }}
  weight: {{ sub 100 $weight }}
{{- end }}
- group: inference.networking.k8s.io
  kind: InferencePool
  name: {{ required "gaPool is required with gaWeight: the name of the GA InferencePool" .Values.gaPool }}
  weight: {{ $weight }}
{{- end }}
