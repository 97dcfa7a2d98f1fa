{{/* Chart name, truncated to the DNS label limit. */}}
{{- define "nearpath.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the prefix of every object name. */}}
{{- define "nearpath.fullname" -}}
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

{{/* Name of a component's objects: include "nearpath.componentName" (list . "operator") */}}
{{- define "nearpath.componentName" -}}
{{- $root := index . 0 }}
{{- printf "%s-%s" (include "nearpath.fullname" $root | trunc 45 | trimSuffix "-") (index . 1) }}
{{- end }}

{{/* Labels every object carries: include "nearpath.labels" (list . "operator") */}}
{{- define "nearpath.labels" -}}
{{- $root := index . 0 }}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" }}
{{ include "nearpath.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: nearpath
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of a component: include "nearpath.selectorLabels" (list . "operator") */}}
{{- define "nearpath.selectorLabels" -}}
{{- $root := index . 0 }}
app.kubernetes.io/name: {{ include "nearpath.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* The nearpath image reference. */}}
{{- define "nearpath.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Disk path allow-list: security.allowedPathPrefixes plus the local volume directory. */}}
{{- define "nearpath.allowedPathPrefixes" -}}
{{- $dir := printf "%s/" (trimSuffix "/" .Values.target.localDirectory) }}
{{- $all := .Values.security.allowedPathPrefixes }}
{{- if not (has $dir $all) }}{{ $all = append $all $dir }}{{ end }}
{{- toJson $all }}
{{- end }}

{{/* The allow-list as the CSI driver and the target agents read it. */}}
{{- define "nearpath.allowedPathPrefixesEnv" -}}
- name: NEARPATH_ALLOWED_PATH_PREFIXES
  value: {{ include "nearpath.allowedPathPrefixes" . | quote }}
{{- end }}

{{/* Environment every nearpath process reads (CommonSettings: settings are NEARPATH_* variables).
Each container adds only the variables its own settings model reads (tests/unit/test_chart_agreement.py). */}}
{{- define "nearpath.commonEnv" -}}
- name: NEARPATH_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: NEARPATH_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
{{- end }}

{{/* Names of the wire contract (core/contract.py), spelled once for the templates;
tests/unit/test_chart_agreement.py checks the rendered objects against core/contract.py. */}}
{{- define "nearpath.driverName" -}}nearpath.io{{- end }}
{{- define "nearpath.targetDisabledLabel" -}}nearpath.io/target{{- end }}
{{- define "nearpath.targetDisabledValue" -}}disabled{{- end }}

{{/* Security context of the unprivileged control-plane containers (operator, sidecars). */}}
{{- define "nearpath.restrictedSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Whether Secret access is confined to rbac.secretNamespaces. */}}
{{- define "nearpath.secretsConfined" -}}
{{- if .Values.rbac.secretNamespaces }}true{{ end }}
{{- end }}

{{/* The host preflight init container: include "nearpath.preflightInitContainer" (list . "node") */}}
{{- define "nearpath.preflightInitContainer" -}}
{{- $root := index . 0 }}
{{- $p := $root.Values.preflight -}}
- name: preflight
  image: {{ include "nearpath.image" $root }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  args: ["preflight", "--report-node"]
  env:
    - name: NEARPATH_LOG_LEVEL
      value: {{ $root.Values.logLevel | quote }}
    - name: NEARPATH_LOG_FORMAT
      value: {{ $root.Values.logFormat | quote }}
    - name: NEARPATH_NODE_NAME
      valueFrom:
        fieldRef:
          fieldPath: spec.nodeName
    - name: NEARPATH_ROLE
      value: {{ index . 1 | quote }}
    - name: NEARPATH_HOST_PROC
      value: /host/proc
    - name: NEARPATH_STRICT
      value: {{ $p.strict | quote }}
    - name: NEARPATH_ENFORCE
      value: {{ $p.enforce | quote }}
  # Privileged: enters the host's namespaces (nsenter) and loads kernel modules.
  securityContext:
    privileged: true
  resources:
    {{- toYaml $p.resources | nindent 4 }}
  volumeMounts:
    - name: preflight-host-proc
      mountPath: /host/proc
      readOnly: true
{{- end }}

{{/* The host /proc volume of the preflight init container. */}}
{{- define "nearpath.preflightVolume" -}}
- name: preflight-host-proc
  hostPath:
    path: {{ .Values.preflight.hostProc }}
    type: Directory
{{- end }}
