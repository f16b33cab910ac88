{{- define "prometheus.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name }}{{- end -}}
{{- end -}}
{{- define "prometheus.server.fullname" -}}{{ include "prometheus.fullname" . }}-{{ .Values.server.name }}{{- end -}}
{{- define "pushgateway.fullname" -}}{{ include "prometheus.fullname" . }}-{{ .Values.pushgateway.name }}{{- end -}}
