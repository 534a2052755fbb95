#!/usr/bin/env bash
# The Helm chart's checks, run by `make chart-test` (and so by `make test`): `helm lint
# --strict` and `helm template` with the default values and with ci/options-values.yaml
# (every option on), plus a few facts about what each renders. One line per check,
# `chart check <name> ... ok|FAILED`, which .ci/test-summary.py counts with the Rust tests;
# a failed check prints helm's output. Exits non-zero when any check failed.
#
# Usage: chart-test.sh HELM CHART_DIR
set -uo pipefail
helm=$1
chart=$2
options="$chart/ci/options-values.yaml"
failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# check NAME COMMAND...: runs COMMAND with its output in $out.
check() {
  local name=$1
  shift
  if "$@" >"$out" 2>&1; then
    echo "chart check $name ... ok"
  else
    sed 's/^/    /' "$out"
    echo "chart check $name ... FAILED"
    failed=1
  fi
}

# renders VALUES_ARGS... | expects every pattern given with -e and none given with -n.
render_has() {
  local args=() want=() unwanted=()
  while [ $# -gt 0 ]; do
    case $1 in
      -e) want+=("$2"); shift 2 ;;
      -n) unwanted+=("$2"); shift 2 ;;
      *) args+=("$1"); shift ;;
    esac
  done
  local rendered
  rendered=$("$helm" template ferry "$chart" -n ferry-system "${args[@]}") || return 1
  echo "$rendered"
  local p
  for p in "${want[@]}"; do
    grep -qE -- "$p" <<<"$rendered" || { echo "expected in the render: $p"; return 1; }
  done
  for p in "${unwanted[@]}"; do
    if grep -qE -- "$p" <<<"$rendered"; then echo "not expected in the render: $p"; return 1; fi
  done
}

check lint-defaults "$helm" lint --strict "$chart"
check lint-options "$helm" lint --strict "$chart" -f "$options"
check template-defaults render_has \
  -e '^kind: ClusterRole$' -e '^kind: ServiceAccount$' -e '--leader-election' \
  -n '^kind: ServiceMonitor$' -n '^kind: PodMonitor$' -n 'grafana_dashboard' -n '--namespace='
check template-options render_has -f "$options" \
  -e '^kind: ServiceMonitor$' -e '--namespace=integrations' -e 'image: "registry.example/ferry:pinned"' \
  -e '^kind: PodMonitor$' -e 'grafana_dashboard: "1"' -e 'ferry_processor_delivery_duration_seconds_bucket' \
  -e 'serviceAccountName: existing-operator' -e '--leader-election' \
  -n '^kind: ServiceAccount$'
# webhook.url: the configuration calls it, the certificate is for its host, no Service.
check template-webhook-url render_has --set webhook.url=https://127.0.0.1:9443 \
  -e 'url: "https://127.0.0.1:9443/mutate-pods"' -e '--webhook-dns-names=127.0.0.1$' \
  -n 'name: ferry-operator-webhook$'
check template-webhook-cert-manager render_has --set webhook.certManager.enabled=true \
  -e '^kind: Certificate$' -e 'cert-manager.io/inject-ca-from: ferry-system/ferry-operator-webhook' \
  -e '--webhook-cert-dir=' -n '--webhook-secret='
# A webhook.url the API server cannot call is refused with a message.
check template-refuses-plain-http-webhook-url bash -c \
  '! "$0" template ferry "$1" --set webhook.url=http://127.0.0.1:9443' "$helm" "$chart"
# serviceAccount.create=false without a name is refused with a message, not rendered broken.
check template-refuses-missing-account bash -c \
  '! "$0" template ferry "$1" --set serviceAccount.create=false' "$helm" "$chart"
exit $failed
