{{/* Names, labels and the environment shared by the Portal templates. */}}

{{- define "portal.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "portal.fullname" -}}
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

{{- define "portal.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "portal.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: pass (dict "root" $ "component" "server"). */}}
{{- define "portal.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portal.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "portal.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "portal.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "portal.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "portal.workspacesNamespace" -}}
{{- default .Release.Namespace .Values.workspaces.namespace }}
{{- end }}

{{/* The URL users and agents reach Portal at. */}}
{{- define "portal.accessURL" -}}
{{- if .Values.accessURL }}
{{- .Values.accessURL | trimSuffix "/" }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- printf "%s://%s" (ternary "https" "http" (gt (len .Values.ingress.tls) 0)) (first .Values.ingress.hosts) }}
{{- else }}
{{- printf "http://%s.%s.svc.cluster.local:%v" (include "portal.fullname" .) .Release.Namespace .Values.service.port }}
{{- end }}
{{- end }}

{{/* The environment of every Portal process (server and worker): settings and Secrets. */}}
{{- define "portal.env" -}}
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
- name: PORTAL_ACCESS_URL
  value: {{ include "portal.accessURL" . | quote }}
{{- with .Values.wildcardAccessURL }}
- name: PORTAL_WILDCARD_ACCESS_URL
  value: {{ . | quote }}
{{- end }}
# The pod's own address too, for probes and in-cluster callers that use it.
- name: PORTAL_ALLOWED_HOSTS
  value: "$(POD_IP),{{ include "portal.fullname" . }},{{ include "portal.fullname" . }}.{{ .Release.Namespace }}.svc,{{ include "portal.fullname" . }}.{{ .Release.Namespace }}.svc.cluster.local"
- name: PORTAL_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "database.existingSecret: the Secret with PostgreSQL's URL" .Values.database.existingSecret }}
      key: {{ .Values.database.key }}
- name: PORTAL_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "redis.existingSecret: the Secret with Redis's URL" .Values.redis.existingSecret }}
      key: {{ .Values.redis.key }}
- name: PORTAL_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ required "secretKey.existingSecret: the Secret with the secret key" .Values.secretKey.existingSecret }}
      key: {{ .Values.secretKey.key }}
{{- with .Values.stateEncryption.existingSecret }}
- name: PORTAL_STATE_ENCRYPTION_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.stateEncryption.key }}
{{- end }}
{{- with .Values.firstUser.existingSecret }}
{{- range $var, $key := dict "PORTAL_FIRST_USER_USERNAME" "username" "PORTAL_FIRST_USER_EMAIL" "email" "PORTAL_FIRST_USER_PASSWORD" "password" }}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.firstUser.existingSecret }}
      key: {{ $key }}
{{- end }}
{{- end }}
- name: PORTAL_DATABASE_POOL_SIZE
  value: {{ .Values.database.poolSize | quote }}
- name: PORTAL_BUILD_SANDBOX
  value: {{ .Values.builds.sandbox | quote }}
- name: PORTAL_DANGEROUS_ALLOW_UNSANDBOXED_BUILDS
  value: {{ .Values.builds.dangerousAllowUnsandboxed | quote }}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Writable directories under a read-only root file system. */}}
{{- define "portal.volumeMounts" -}}
- name: data
  mountPath: /var/lib/portal
- name: tmp
  mountPath: /tmp
{{- end }}

{{- define "portal.volumes" -}}
- name: data
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- end }}
