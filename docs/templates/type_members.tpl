{{- /* The description cell of a field. */ -}}
{{- define "type_members" -}}
{{- if eq .Name "metadata" -}}
Standard object metadata; see the Kubernetes API reference for `metadata`.
{{- else -}}
{{ template "escape" .Doc }}
{{- end -}}
{{- end -}}

{{- /* escape makes prose safe in Markdown and in table cells: angle brackets
       (as in "<namespace>/<name>") would be read as HTML tags. */ -}}
{{- define "escape" -}}
{{ . | replace "<" "&lt;" | replace ">" "&gt;" | markdownRenderFieldDoc }}
{{- end -}}

{{- /* The validation cell of a field: OpenAPI markers, list type, and the
       messages of the field's own CEL rules. A rule that comes with the
       field's type is listed with that type instead. */ -}}
{{- define "field_validation" -}}
{{- $parts := list -}}
{{- range .Validation }}{{ $parts = append $parts (. | replace ": {}" "" | markdownRenderFieldDoc) }}{{ end -}}
{{- with index .Markers "listType" }}{{ $parts = append $parts (printf "list type: %v" (index . 0)) }}{{ end -}}
{{- $own := index .Markers "kubebuilder:validation:XValidation" -}}
{{- if and $own (not (deepEqual $own (index .Type.Markers "kubebuilder:validation:XValidation"))) -}}
{{- range $own }}{{ $parts = append $parts (printf "rule: %s" (.Message | replace "<" "&lt;" | replace ">" "&gt;" | markdownRenderFieldDoc)) }}{{ end -}}
{{- end -}}
{{- join " <br />" $parts -}}
{{- end -}}

{{- /* field_rules lists the fields' own CEL rules under a type's table. */ -}}
{{- define "field_rules" -}}
{{- $lines := list -}}
{{- range .Members -}}
{{- $name := .Name -}}
{{- $own := index .Markers "kubebuilder:validation:XValidation" -}}
{{- if and $own (not (deepEqual $own (index .Type.Markers "kubebuilder:validation:XValidation"))) -}}
{{- range $own }}{{ $lines = append $lines (printf "- `%s`: %s<br />rule: `%s`" $name (.Message | replace "<" "&lt;" | replace ">" "&gt;") .Rule) }}{{ end -}}
{{- end -}}
{{- end -}}
{{- if $lines }}

Rules checked at admission (CEL):

{{ join "\n" $lines }}
{{- end -}}
{{- end -}}
