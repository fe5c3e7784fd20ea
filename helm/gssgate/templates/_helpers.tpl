{{/* Names and labels. */}}
{{- define "gssgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gssgate.fullname" -}}
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

{{- define "gssgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gssgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gssgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "gssgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "gssgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gssgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gssgate.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Secret and ConfigMap names: the user's existing object, or the one this chart makes. */}}
{{- define "gssgate.keytabSecret" -}}
{{- default (printf "%s-keytab" (include "gssgate.fullname" .)) .Values.kerberos.keytab.secretName }}
{{- end }}

{{- define "gssgate.krb5ConfigMap" -}}
{{- default (printf "%s-krb5" (include "gssgate.fullname" .)) .Values.kerberos.existingConfigMap }}
{{- end }}

{{- define "gssgate.keysSecret" -}}
{{- printf "%s-keys" (include "gssgate.fullname" .) }}
{{- end }}

{{- define "gssgate.sessionSecret" -}}
{{- default (include "gssgate.keysSecret" .) .Values.proxy.session.existingSecret }}
{{- end }}

{{- define "gssgate.assertionSecret" -}}
{{- default (include "gssgate.keysSecret" .) .Values.proxy.assertion.existingSecret }}
{{- end }}

{{- define "gssgate.handleSecret" -}}
{{- default (include "gssgate.keysSecret" .) .Values.broker.handleKey.existingSecret }}
{{- end }}

{{/* True when this chart has to generate at least one key into its own Secret. */}}
{{- define "gssgate.generatesKeys" -}}
{{- if or (not .Values.proxy.session.existingSecret) (not .Values.proxy.assertion.existingSecret) (and .Values.broker.handleKey.enabled (not .Values.broker.handleKey.existingSecret)) }}true{{- end }}
{{- end }}

{{/* Fixed paths inside the pod; the daemons' configs and the mounts both use these. */}}
{{- define "gssgate.paths" -}}
config: /etc/gssgate/config
krb5: /etc/gssgate/krb5
keytab: /etc/gssgate/keytab
proxyKeys: /etc/gssgate/proxy-keys
brokerKeys: /etc/gssgate/broker-keys
depositDir: /run/gssgate-deposit
rcache: /var/lib/gssgate/rcache
store: /var/lib/gssgate/store
{{- end }}

{{/* The hardened container securityContext shared by all three containers (the app's can be
     overridden key by key with app.securityContext). */}}
{{- define "gssgate.containerSecurityContext" -}}
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Checks the schema cannot express. */}}
{{- define "gssgate.validate" -}}
{{- $v := .Values -}}
{{- if or (eq (int $v.app.uid) (int $v.proxy.runAsUser)) (eq (int $v.app.uid) (int $v.broker.runAsUser)) -}}
{{- fail "app.uid must differ from proxy.runAsUser and broker.runAsUser: the app would own the daemons' sockets and files" -}}
{{- end -}}
{{- if eq (int $v.app.gid) (int $v.proxy.runAsGroup) -}}
{{- fail "app.gid must differ from proxy.runAsGroup: that group may connect to the broker's deposit socket" -}}
{{- end -}}
{{- if and $v.broker.handleKey.enabled (gt (int $v.replicaCount) 1) -}}
{{- fail "broker.handleKey.enabled needs replicaCount 1: with one handle key in every pod, a pod's proxy would mint handles for credentials that only another pod's broker holds (see values.yaml)" -}}
{{- end -}}
{{- if eq (int $v.proxy.runAsGroup) (int $v.podSecurityContext.fsGroup) -}}
{{- fail "proxy.runAsGroup must differ from podSecurityContext.fsGroup: every container (the app too) has the fsGroup, and the deposit socket belongs to proxy.runAsGroup" -}}
{{- end -}}
{{- end }}

{{/* Deep merge of (list DST SRC) into DST, SRC winning, maps merged key by key. Not sprig's
     mergeOverwrite: that skips `false` and `0` in SRC, so `lifetime: 0` would be ignored. */}}
{{- define "gssgate.mergeInto" -}}
{{- $dst := index . 0 -}}
{{- range $k, $val := index . 1 -}}
{{- if and (kindIs "map" $val) (kindIs "map" (get $dst $k)) -}}
{{- include "gssgate.mergeInto" (list (get $dst $k) $val) -}}
{{- else -}}
{{- $_ := set $dst $k $val -}}
{{- end -}}
{{- end -}}
{{- end }}
