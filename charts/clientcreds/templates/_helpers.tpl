{{/*
Names. Every object is "<fullname>-<part>"; fullname is the release name, prefixed to
"<release>-clientcreds" unless it already says clientcreds. With the release named
clientcreds the names are those of `make deploy` (clientcreds-manager, …).
*/}}
{{- define "clientcreds.fullname" -}}
{{- if contains "clientcreds" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-clientcreds" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "clientcreds.manager" -}}
{{- printf "%s-manager" (include "clientcreds.fullname" .) -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "clientcreds.labels" -}}
app.kubernetes.io/name: clientcreds
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: clientcreds
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector of the manager pods: stable across upgrades. */}}
{{- define "clientcreds.selectorLabels" -}}
app.kubernetes.io/name: clientcreds
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end -}}

{{/*
A file the chart carries in files/ (a copy of a source elsewhere in the repository, kept
equal by `make chart-files` and checked by `make verify`), or a clear failure naming it.
*/}}
{{- define "clientcreds.file" -}}
{{- $f := .root.Files.Get (printf "files/%s" .name) -}}
{{- if not $f -}}
{{- fail (printf "%s: the chart has no files/%s (copied from %s by `make chart-files`); this chart cannot render it" .what .name .source) -}}
{{- end -}}
{{- $f -}}
{{- end -}}

{{/* With probes.exec: the emptyDir the manager writes its probe address to, and the file. */}}
{{- define "clientcreds.probeDir" -}}
/run/clientcreds
{{- end -}}

{{- define "clientcreds.probeAddressFile" -}}
{{- printf "%s/health-probe-address" (include "clientcreds.probeDir" .) -}}
{{- end -}}
