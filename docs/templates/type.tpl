{{- /* One section per type: what it is, where it is used, its fields. */ -}}
{{- define "type" -}}
{{- $type := . -}}
{{- if markdownShouldRenderType $type }}

### {{ $type.Name }}

{{ $type.Doc | replace "<" "&lt;" | replace ">" "&gt;" }}
{{- with index $type.Markers "kubebuilder:resource" }}
{{- $res := index . 0 }}

- Scope: {{ if eq $res.Scope "Cluster" }}cluster{{ else }}namespaced{{ end }}
{{- with $res.ShortName }}
- Short names: {{ range $i, $n := . }}{{ if $i }}, {{ end }}`{{ $n }}`{{ end }}
{{- end }}
{{- with $res.Categories }}
- Categories: {{ range $i, $n := . }}{{ if $i }}, {{ end }}`{{ $n }}`{{ end }}
{{- end }}
{{- end }}
{{- if index $type.Markers "kubebuilder:subresource:status" }}
- Status subresource: yes (`status` is written by the controller only)
{{- end }}
{{- with index $type.Markers "kubebuilder:printcolumn" }}
- `kubectl get` columns: {{ range $i, $c := . }}{{ if $i }}, {{ end }}{{ $c.Name }}{{ if gt $c.Priority 0 }} (`-o wide`){{ end }}{{ end }}
{{- end }}
{{- if $type.IsAlias }}

Underlying type: {{ markdownRenderTypeLink $type.UnderlyingType }}
{{- end }}
{{- with $type.Validation }}

Validation:
{{ range . }}
- {{ . | replace ": {}" "" | markdownRenderFieldDoc }}
{{- end }}
{{- end }}
{{- with index $type.Markers "kubebuilder:validation:XValidation" }}

Rules checked at admission (CEL):
{{ range . }}
- {{ .Message | replace "<" "&lt;" | replace ">" "&gt;" }}<br />rule: `{{ .Rule }}`
{{- end }}
{{- end }}
{{- with $type.SortedReferences }}

Used in: {{ range $i, $r := . }}{{ if $i }}, {{ end }}{{ markdownRenderTypeLink $r }}{{ end }}
{{- end }}
{{- if $type.Members }}

| Field | Type | Description | Default | Validation |
| --- | --- | --- | --- | --- |
{{- if $type.GVK }}
| `apiVersion` | string | `{{ $type.GVK.Group }}/{{ $type.GVK.Version }}` | | |
| `kind` | string | `{{ $type.GVK.Kind }}` | | |
{{- end }}
{{- range $type.Members }}
| `{{ .Name }}` | {{ markdownRenderType .Type }} | {{ template "type_members" . }} | {{ with .Default }}`{{ . }}`{{ end }} | {{ template "field_validation" . }} |
{{- end }}
{{- template "field_rules" $type }}
{{- end }}
{{- if $type.EnumValues }}

| Value | Description |
| --- | --- |
{{- range $type.EnumValues }}
| `{{ .Name }}` | {{ template "escape" .Doc }} |
{{- end }}
{{- end }}
{{- end }}
{{- end -}}
