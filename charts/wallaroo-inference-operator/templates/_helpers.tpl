{{/* Names and labels shared by every template. */}}

{{- define "wio.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release name alone when it already contains the chart's name, else "<release>-<chart>". */}}
{{- define "wio.fullname" -}}
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

{{/* Labels that never change between versions: the Deployment's selector is immutable. */}}
{{- define "wio.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wio.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Labels for every object; `component` is added per object. */}}
{{- define "wio.labels" -}}
app.kubernetes.io/name: {{ include "wio.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: wallaroo-inference-operator
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* metadata.annotations for every object, when there are any. */}}
{{- define "wio.annotations" -}}
{{- with .Values.commonAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "wio.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "wio.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "wio.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The generated settings shared with manifests/ (files/generated/, written by `make chart`). */}}
{{- define "wio.generatedDeployment" -}}
{{- .Files.Get "files/generated/deployment.yaml" }}
{{- end }}
{{- define "wio.generatedRbac" -}}
{{- .Files.Get "files/generated/rbac.yaml" }}
{{- end }}

{{/* Exact namespace names only: a Role cannot be created for a glob. */}}
{{- define "wio.watchNamespaces" -}}
{{- range .Values.watchNamespaces }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" .) }}
{{- fail (printf "watchNamespaces: %q is not a namespace name (globs are not supported: each namespace gets a Role)" .) }}
{{- end }}
{{- end }}
{{- toJson .Values.watchNamespaces }}
{{- end }}
