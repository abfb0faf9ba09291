{{- define "gvDetails" -}}
## {{ .GroupVersionString }}

{{ .Doc | trim }}

Kinds:
{{ range .SortedKinds }}
- {{ $.TypeForKind . | markdownRenderTypeLink }}
{{- end }}

Other types:
{{ range .SortedTypes }}
{{- if and (not .GVK) (markdownShouldRenderType .) }}
- {{ markdownRenderTypeLink . }}
{{- end }}
{{- end }}
{{ range .SortedTypes }}
{{- template "type" . }}
{{- end }}
{{- end -}}
