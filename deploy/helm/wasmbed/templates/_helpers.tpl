{{- define "wasmbed.namespace" -}}
{{- default .Release.Namespace .Values.namespace -}}
{{- end -}}

{{- /* An image by digest when one is given (what runs is then exactly what
was built and reviewed); by tag, or the chart's appVersion, otherwise. */ -}}
{{- define "wasmbed.image" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (default .chart.AppVersion .image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "wasmbed.labels" -}}
app.kubernetes.io/part-of: wasmbed
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "wasmbed.gatewayService" -}}
{{- printf "%s-gateway.%s.svc:%v" .Release.Name (include "wasmbed.namespace" .) .Values.gateway.port -}}
{{- end -}}

{{- define "wasmbed.podSecurity" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
# Mounted Secrets are group-readable by this group.
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "wasmbed.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}
