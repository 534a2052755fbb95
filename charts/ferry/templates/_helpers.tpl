{{/*
Names and labels shared by the templates.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "ferry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
"<release>-<chart>", or just the release name when it already contains the chart name
(release "ferry" gives "ferry"), or fullnameOverride.
*/}}
{{- define "ferry.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The name of the operator's objects: "ferry-operator" for release "ferry". */}}
{{- define "ferry.operatorName" -}}
{{- printf "%s-operator" (include "ferry.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{/* chart label value */}}
{{- define "ferry.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "ferry.labels" -}}
helm.sh/chart: {{ include "ferry.chart" . }}
{{ include "ferry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the operator pods (never change them: Deployment selectors are immutable). */}}
{{- define "ferry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The operator's ServiceAccount. */}}
{{- define "ferry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ferry.operatorName" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator image. */}}
{{- define "ferry.operatorImage" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The runtime image: runtimeDefaults.image when set, else runtimeImage. */}}
{{- define "ferry.runtimeImage" -}}
{{- if .Values.runtimeDefaults.image }}
{{- .Values.runtimeDefaults.image }}
{{- else }}
{{- printf "%s:%s" .Values.runtimeImage.repository (.Values.runtimeImage.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Whether leader election is on: when asked for, and always with more than one replica. */}}
{{- define "ferry.leaderElection" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{/* The webhook's Service, MutatingWebhookConfiguration and certificate Secret names. */}}
{{- define "ferry.webhookService" -}}
{{- printf "%s-webhook" (include "ferry.operatorName" .) }}
{{- end }}

{{- define "ferry.webhookSecret" -}}
{{- printf "%s-webhook-tls" (include "ferry.operatorName" .) }}
{{- end }}

{{/*
webhook.url, checked: an https:// URL with a host and nothing after it but an optional port
(the chart adds the path); empty when unset.
*/}}
{{- define "ferry.webhookUrl" -}}
{{- with .Values.webhook.url }}
{{- $u := urlParse (trimSuffix "/" .) }}
{{- if or (ne $u.scheme "https") (not $u.hostname) $u.path $u.query $u.fragment $u.userinfo }}
{{- fail (printf "webhook.url: %q must be https://HOST or https://HOST:PORT (the API server calls HTTPS only; the chart adds the path /mutate-pods)" .) }}
{{- end }}
{{- trimSuffix "/" . }}
{{- end }}
{{- end }}

{{/* The host of webhook.url, when it is set. */}}
{{- define "ferry.webhookUrlHost" -}}
{{- with include "ferry.webhookUrl" . }}{{ (urlParse .).hostname }}{{ end }}
{{- end }}

{{/*
The names the webhook is called by: its Service's DNS names, or the host of webhook.url.
*/}}
{{- define "ferry.webhookDnsNames" -}}
{{- with include "ferry.webhookUrlHost" . }}
{{- . }}
{{- else }}
{{- $svc := include "ferry.webhookService" . -}}
{{- $ns := .Release.Namespace -}}
{{- printf "%s,%s.%s,%s.%s.svc,%s.%s.svc.cluster.local" $svc $svc $ns $svc $ns $svc $ns }}
{{- end }}
{{- end }}
