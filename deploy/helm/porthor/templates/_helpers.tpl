{{/* The chart's name, or nameOverride. */}}
{{- define "porthor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's resource names. */}}
{{- define "porthor.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "porthor.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "porthor.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "porthor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "porthor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "porthor.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "porthor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "porthor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "porthor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding signing.pem and store.key. */}}
{{- define "porthor.keysSecret" -}}
{{- default (printf "%s-keys" (include "porthor.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{/* Copies .in into .out with whole-number floats (how Helm reads YAML numbers) made integers, so that toToml writes 5, not 5.0. */}}
{{- define "porthor.integers" -}}
{{- $out := .out }}
{{- range $key, $value := .in }}
{{- if and (kindIs "float64" $value) (eq $value (float64 (int64 $value))) }}
{{- $_ := set $out $key (int64 $value) }}
{{- else }}
{{- $_ := set $out $key $value }}
{{- end }}
{{- end }}
{{- end }}

{{/* porthor.toml, from .Values.config. */}}
{{- define "porthor.config" -}}
{{- $c := .Values.config }}
{{- $server := dict "listen" "0.0.0.0:8080" }}
{{- with $c.server.trustedProxies }}{{ $_ := set $server "trusted_proxies" . }}{{ end }}
{{- $store := dict "backend" "redis" "redis_url" $c.store.redisUrl "key_prefix" $c.store.keyPrefix "pool_size" (int64 $c.store.poolSize) "encryption_key_file" "/run/secrets/porthor/store.key" }}
{{- $doc := dict "issuer" $c.issuer "server" $server "store" $store "signing" (dict "key_file" "/run/secrets/porthor/signing.pem") "log" (dict "format" "json") }}
{{- with $c.tokens }}{{ $_ := set $doc "tokens" . }}{{ end }}
{{- with $c.throttle }}
{{- $throttle := dict }}
{{- include "porthor.integers" (dict "in" . "out" $throttle) }}
{{- $_ := set $doc "throttle" $throttle }}
{{- end }}
{{- with $c.clients }}{{ $_ := set $doc "clients" . }}{{ end }}
{{- with $c.users }}{{ $_ := set $doc "users" . }}{{ end }}
{{- toToml $doc }}
{{- with $c.extra }}
{{ . }}
{{- end }}
{{- end }}

{{/* The issuer's path ("" at the root of its host): the routes, probes included, live under it. */}}
{{- define "porthor.issuerPath" -}}
{{- (urlParse .Values.config.issuer).path | trimSuffix "/" }}
{{- end }}
