{{- define "netmon.name" -}}netmon{{- end -}}
{{- define "netmon.labels" -}}
app.kubernetes.io/name: k8s-netmon
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}
{{- define "netmon.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag }}{{- end -}}
