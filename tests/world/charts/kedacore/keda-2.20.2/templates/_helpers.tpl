{{- define "keda.labels" -}}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
app.kubernetes.io/component: operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ .Values.operator.name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "keda.image" -}}
{{- $image := index . 0 -}}{{- $root := index . 1 -}}
{{- $registry := $root.Values.global.image.registry | default $image.registry | default "" -}}
{{- if $registry }}{{ $registry }}/{{ end }}{{ $image.repository }}:{{ $image.tag | default $root.Chart.AppVersion }}
{{- end -}}

{{/* The metadata every KEDA CRD carries. */}}
{{- define "keda.crd-metadata" -}}
labels:
  app.kubernetes.io/name: {{ .Values.operator.name }}
  {{- include "keda.labels" . | nindent 2 }}
{{- end -}}

{{/* A permissive version for the CRDs whose objects the test world does not act on. */}}
{{- define "keda.crd-open-version" -}}
- name: v1alpha1
  served: true
  storage: true
  subresources:
    status: {}
  schema:
    openAPIV3Schema:
      type: object
      properties:
        spec:
          type: object
          x-kubernetes-preserve-unknown-fields: true
        status:
          type: object
          x-kubernetes-preserve-unknown-fields: true
{{- end -}}
